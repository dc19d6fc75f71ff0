// Stream an Amazon Bedrock reply to AppSync subscribers, a batch of tokens at a time: the
// TypeScript twin of ../chat/app.py, written the way AWS's AppSync + Bedrock samples write it.
//
// AppSync invokes this function asynchronously (`invocationType: 'Event'`) from the `ask`
// mutation with `{conversationId, prompt, history, requestedAt}` (`history`: the earlier turns,
// oldest first). The function calls Bedrock's ConverseStream API with the history and the prompt
// as `messages` and publishes the reply through the IAM-only `sendChunk` mutation; AppSync
// pushes every `sendChunk` to the `onChunk(conversationId)` subscribers over its WebSocket.
// Chunks are numbered from 0 and name the model; the last has `done: true` (and `error` if the model failed, in
// which case the error is thrown again so that Lambda retries the event).
import { BedrockRuntimeClient, ConverseStreamCommand, type Message } from "@aws-sdk/client-bedrock-runtime";
import type { Context } from "aws-lambda";
import { publish, PublishError } from "./publish";

interface Turn {
  role: "user" | "assistant";
  text: string;
}

interface AskEvent {
  conversationId: string;
  prompt: string;
  history?: Turn[];
  requestedAt: string;
}

const MODEL_ID = process.env.MODEL_ID!;
const MAX_TOKENS = Number(process.env.MAX_TOKENS ?? "1024");
const SYSTEM_PROMPT = process.env.SYSTEM_PROMPT ?? "You are a helpful assistant. Answer clearly and concisely.";
const BATCH_MAX_TOKENS = Number(process.env.BATCH_MAX_TOKENS ?? "20");
const BATCH_MAX_MS = Number(process.env.BATCH_MAX_MS ?? "100");
// Bedrock's rule for requestMetadata values (shown in its invocation logs; the emulator's page matches on them).
const METADATA_VALUE = /^[a-zA-Z0-9\s:_@$#=/+,.-]{1,256}$/;

/** Converse `messages`: the earlier turns (the `ask` resolver checked that they alternate), then the prompt. */
function converseMessages(event: AskEvent): Message[] {
  const turns: Turn[] = [...(event.history ?? []), { role: "user", text: event.prompt }];
  return turns.map((turn) => ({ role: turn.role, content: [{ text: turn.text }] }));
}

/** Tags for the model call: which conversation and which ask (values Bedrock cannot take are left out). */
function requestMetadata(event: AskEvent): Record<string, string> {
  const tags: Record<string, string> = { conversationId: String(event.conversationId), requestedAt: String(event.requestedAt ?? "") };
  return Object.fromEntries(Object.entries(tags).filter(([, value]) => METADATA_VALUE.test(value)));
}

// Created once per execution environment and reused by warm invocations.
const bedrock = new BedrockRuntimeClient({});

/** Collects tokens and publishes them in batches: the first token at once, then every N tokens or M ms. */
class ChunkPublisher {
  seq = 0;
  private pending: string[] = [];
  private lastPublish = 0;

  constructor(private readonly conversationId: string) {}

  async add(token: string): Promise<void> {
    this.pending.push(token);
    if (this.pending.length >= BATCH_MAX_TOKENS || Date.now() - this.lastPublish >= BATCH_MAX_MS) {
      await this.send(false);
    }
  }

  finish(error?: string): Promise<void> {
    return this.send(true, error);
  }

  private async send(done: boolean, error?: string): Promise<void> {
    const text = this.pending.join("");
    await publish({ conversationId: this.conversationId, seq: this.seq, text, done, error: error ?? null, model: MODEL_ID });
    this.pending = [];
    this.seq += 1;
    this.lastPublish = Date.now();
  }
}

export const handler = async (event: AskEvent, context: Context) => {
  const { conversationId } = event;
  console.info(`answering conversation ${conversationId} with ${MODEL_ID} (request ${context.awsRequestId})`);
  const chunks = new ChunkPublisher(conversationId);
  const started = Date.now();
  let stopReason: string | undefined;
  try {
    const response = await bedrock.send(
      new ConverseStreamCommand({
        modelId: MODEL_ID,
        messages: converseMessages(event),
        system: [{ text: SYSTEM_PROMPT }],
        inferenceConfig: { maxTokens: MAX_TOKENS },
        requestMetadata: requestMetadata(event),
      }),
    );
    for await (const item of response.stream ?? []) {
      const text = item.contentBlockDelta?.delta?.text;
      if (text) await chunks.add(text);
      if (item.messageStop) stopReason = item.messageStop.stopReason;
    }
  } catch (err) {
    if (err instanceof PublishError) throw err; // AppSync itself is failing: nothing more can be told
    console.error(`model stream failed after ${chunks.seq} chunks`, err);
    await chunks.finish(`The model could not answer (${(err as Error).name ?? "Error"}).`);
    throw err;
  }
  await chunks.finish();
  console.info(`conversation ${conversationId}: ${chunks.seq} chunks in ${Date.now() - started} ms, stop reason ${stopReason}`);
  return { conversationId, chunks: chunks.seq, stopReason };
};
