// Amplify v6 with a Lambda authorizer: generateClient({ authMode: 'lambda', authToken }) runs a
// query over HTTP, subscribes over /graphql/realtime (the token in the `header-` subprotocol and in
// each start's extensions.authorization), publishes through its own HTTP path, and prints every
// event as one JSON line for the Python test (tests/integration/test_lambda_authorizer.py).
//
// Usage: node amplify_lambda_auth.mjs GRAPHQL_URL TOKEN [REFUSED_TOKEN]
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

const [endpoint, authToken, refusedToken] = process.argv.slice(2);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

Amplify.configure({ API: { GraphQL: { endpoint, region: 'us-east-1', defaultAuthMode: 'lambda' } } });
const client = generateClient({ authMode: 'lambda', authToken });

const me = await client.graphql({ query: 'query Me { me { authType resolverContext } }' });
emit({ event: 'query', data: me.data });

if (refusedToken) {
  try {
    await generateClient({ authMode: 'lambda', authToken: refusedToken }).graphql({ query: '{ hello }' });
    emit({ event: 'refused-query', errors: null });
  } catch (err) {
    emit({ event: 'refused-query', errors: err?.errors ?? String(err) });
  }
}

let published = false;
Hub.listen('api', async ({ payload }) => {
  if (payload.event !== 'ConnectionStateChange') return;
  emit({ event: 'state', state: payload.data.connectionState });
  if (payload.data.connectionState === 'Connected' && !published) {
    published = true;
    const r = await client.graphql({ query: 'mutation { post(text: "from amplify") { id text author } }' });
    emit({ event: 'mutation', data: r.data });
  }
});

const sub = client.graphql({ query: 'subscription { onPost { id text author } }' }).subscribe({
  next: ({ data }) => {
    emit({ event: 'data', data });
    sub.unsubscribe();
    setTimeout(() => process.exit(0), 300);
  },
  error: (err) => {
    emit({ event: 'error', error: JSON.stringify(err?.errors ?? String(err)) });
    process.exit(2);
  },
});

setTimeout(() => {
  emit({ event: 'timeout' });
  process.exit(3);
}, 30000);
