// Amplify v6 (generateClient) against appsync-emu: subscribe over /graphql/realtime with the
// `header-` subprotocol, wait until Amplify reports the subscription live, publish through
// Amplify's own HTTP path, and print every event as one JSON line for the Python test to read.
//
// Node 20 has no global WebSocket, and Amplify forces wss://; this one-line shim (the one the
// README documents) supplies `ws` and maps wss:// back to ws:// for a plain-http emulator.
import WS from 'ws';
import { Amplify } from 'aws-amplify';
import { generateClient } from 'aws-amplify/api';
import { Hub } from 'aws-amplify/utils';

globalThis.WebSocket = class extends WS {
  constructor(url, protocols) {
    super(String(url).replace(/^wss:/, 'ws:'), protocols);
    process.stdout.write(JSON.stringify({ event: 'socket', url: String(url), protocols }) + '\n');
  }
};

const [endpoint, apiKey, room, countText] = process.argv.slice(2);
const expected = Number(countText);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

Amplify.configure({ API: { GraphQL: { endpoint, region: 'us-east-1', defaultAuthMode: 'apiKey', apiKey } } });
const client = generateClient();

const post = `mutation P($room: String!, $text: String!) {
  postMessage(room: $room, author: "amplify", text: $text) { id room author text createdAt __typename }
}`;

let received = 0;
let published = false;
Hub.listen('api', async ({ payload }) => {
  if (payload.event !== 'ConnectionStateChange') return;
  emit({ event: 'state', state: payload.data.connectionState });
  if (payload.data.connectionState === 'Connected' && !published) {
    published = true;
    const r = await client.graphql({ query: post, variables: { room: 'elsewhere', text: 'not for us' } });
    emit({ event: 'mutation', data: r.data });
    for (let i = 0; i < expected; i += 1) {
      await client.graphql({ query: post, variables: { room, text: `m${i}` } });
    }
  }
});

const sub = client
  .graphql({
    query: `subscription S($room: String) { onMessage(room: $room) { id room author text __typename } }`,
    variables: { room },
  })
  .subscribe({
    next: ({ data }) => {
      emit({ event: 'data', data });
      received += 1;
      if (received >= expected) {
        sub.unsubscribe();
        setTimeout(() => process.exit(0), 300);
      }
    },
    error: (err) => {
      emit({ event: 'error', error: JSON.stringify(err?.errors ?? String(err)) });
      process.exit(2);
    },
  });

setTimeout(() => {
  emit({ event: 'timeout', received });
  process.exit(3);
}, 30000);
