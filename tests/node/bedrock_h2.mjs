// The AWS SDK for JavaScript v3's Bedrock Runtime client, unchanged, against appsync-emu, as a
// Lambda function meets it: endpoint, credentials and region from the environment
// (AWS_ENDPOINT_URL_BEDROCK_RUNTIME = the emulator's http:// base URL). The SDK's default handler
// speaks HTTP/2, so on http:// this is h2c with prior knowledge. Prints one JSON line per result.
//
//   node bedrock_h2.mjs MODEL_ID
//
// 1. Converse; 2. ConverseStream (every event); 3. InvokeModelWithResponseStream (every chunk);
// 4. a ConverseStream whose model hangs after two deltas: the two must arrive while it hangs
//    (incremental delivery), then the call is aborted, which resets the stream (RST_STREAM).
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelWithResponseStreamCommand,
} from '@aws-sdk/client-bedrock-runtime';

const [modelId] = process.argv.slice(2);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const client = new BedrockRuntimeClient({ maxAttempts: 1 });
const messages = (text) => [{ role: 'user', content: [{ text }] }];
emit({ event: 'handler', name: client.config.requestHandler.constructor.name });

const whole = await client.send(new ConverseCommand({ modelId, messages: messages('whole') }));
emit({ event: 'converse', text: whole.output.message.content[0].text });

const stream = await client.send(new ConverseStreamCommand({ modelId, messages: messages('stream') }));
const events = [];
for await (const event of stream.stream) events.push(event);
emit({ event: 'converseStream', events });

const body = JSON.stringify({
  anthropic_version: 'bedrock-2023-05-31',
  max_tokens: 100,
  messages: [{ role: 'user', content: 'native' }],
});
const native = await client.send(
  new InvokeModelWithResponseStreamCommand({ modelId, body, contentType: 'application/json', accept: 'application/json' }),
);
const chunks = [];
for await (const item of native.body) chunks.push(JSON.parse(new TextDecoder().decode(item.chunk.bytes)));
emit({ event: 'invokeStream', chunks });

const abort = new AbortController();
const hanging = await client.send(new ConverseStreamCommand({ modelId, messages: messages('hang') }), {
  abortSignal: abort.signal,
});
const before = [];
for await (const event of hanging.stream) {
  if (event.contentBlockDelta) before.push(event.contentBlockDelta.delta.text);
  if (before.length === 2) abort.abort(); // the SDK then resets the stream and ends the iteration
}
emit({ event: 'aborted', before });
client.destroy();
