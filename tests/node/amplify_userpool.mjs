// Amplify v6 as a Cognito app writes it, against appsync-emu: `signIn` at the emulator's Cognito
// endpoint (`Auth.Cognito.userPoolEndpoint`), then `generateClient({ authMode: 'userPool' })` for
// queries (one on a field for the admin group only, two with the API key), a subscription and the
// mutation whose event it receives. Every event is printed as one
// JSON line for the Python test to read.
//
//   node amplify_userpool.mjs <config json> <username> <password> <USER_SRP_AUTH|USER_PASSWORD_AUTH> [happy|tampered]
//
// <config json> is {"endpoint", "apiKey", "cognitoEndpoint", "userPoolId", "userPoolClientId"}. A sign-in that
// fails prints {"event": "signIn-error"} and exits 0: the test decides whether it should have.
// `tampered` signs in, then edits the stored tokens' claims to add the admin group (what a user
// could do to their browser's localStorage) and calls the API with them.
// Node 20 has no global WebSocket and Amplify forces wss://: the README's one-line shim.
import WS from 'ws';
import { Amplify } from 'aws-amplify';
import { generateClient } from 'aws-amplify/api';
import { fetchAuthSession, signIn } from 'aws-amplify/auth';
import { cognitoUserPoolsTokenProvider } from 'aws-amplify/auth/cognito';
import { Hub } from 'aws-amplify/utils';

globalThis.WebSocket = class extends WS {
  constructor(url, protocols) {
    super(String(url).replace(/^wss:/, 'ws:'), protocols);
  }
};

const [configText, username, password, authFlowType, mode = 'happy'] = process.argv.slice(2);
const config = JSON.parse(configText);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const timer = setTimeout(() => {
  emit({ event: 'timeout' });
  process.exit(3);
}, 45000);
const finish = (code) => {
  clearTimeout(timer);
  setTimeout(() => process.exit(code), 300);
};

const stored = new Map();
let tamper = false;
const escalate = (token) => {
  const [header, payload, signature] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  claims['cognito:groups'] = ['admin'];
  return [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.');
};

Amplify.configure({
  Auth: {
    Cognito: {
      userPoolId: config.userPoolId,
      userPoolClientId: config.userPoolClientId,
      userPoolEndpoint: config.cognitoEndpoint,
    },
  },
  API: {
    GraphQL: { endpoint: config.endpoint, region: 'us-east-1', defaultAuthMode: 'userPool', apiKey: config.apiKey },
  },
});
// The tokens live in memory (Node has no localStorage); `tampered` rewrites them as they are read.
// Set after configure, which installs Amplify's default storage.
cognitoUserPoolsTokenProvider.setKeyValueStorage({
  setItem: async (key, value) => void stored.set(key, value),
  getItem: async (key) => {
    const value = stored.get(key) ?? null;
    return tamper && value && /\.(accessToken|idToken)$/.test(key) ? escalate(value) : value;
  },
  removeItem: async (key) => void stored.delete(key),
  clear: async () => stored.clear(),
});

try {
  const result = await signIn({ username, password, options: { authFlowType } });
  emit({ event: 'signIn', isSignedIn: result.isSignedIn, nextStep: result.nextStep?.signInStep });
} catch (err) {
  emit({ event: 'signIn-error', name: err?.name, message: err?.message });
  process.exit(0); // stdout is a pipe: Node writes to it synchronously, so nothing is lost
}

tamper = mode === 'tampered';
const session = await fetchAuthSession();
const access = session.tokens?.accessToken?.payload ?? {};
emit({ event: 'session', sub: access.sub, username: access.username, groups: access['cognito:groups'] ?? [] });

const client = generateClient({ authMode: 'userPool' });
// Amplify rejects with the response ({data, errors}) when it has GraphQL errors.
const call = async (name, query, variables, authMode) => {
  try {
    const r = await client.graphql({ query, variables, ...(authMode ? { authMode } : {}) });
    emit({ event: name, data: r.data });
    return r.data;
  } catch (err) {
    emit({ event: `${name}-error`, data: err?.data ?? null, errors: err?.errors ?? null });
    return null;
  }
};
const me = await call('me', 'query Me { me { sub username groups } }');
if (me) {
  // The admin group's field: an admin reads their own notes through it, anyone else is refused.
  await call('notesOf', 'query Of($owner: ID!) { notesOf(owner: $owner) { items { id } } }', { owner: me.me.sub });
  // A multi-auth app switches mode per call: the API key opens sharedNote and nothing else.
  const shared = 'query S($owner: ID!) { sharedNote(owner: $owner, id: "no-such-note") { id } }';
  await call('apiKey-sharedNote', shared, { owner: me.me.sub }, 'apiKey');
  await call('apiKey-me', 'query Me { me { sub } }', undefined, 'apiKey');
}

const pending = new Set(['mutation', 'data']); // done when the mutation answered and its event arrived
const seen = (what) => {
  pending.delete(what);
  if (pending.size === 0) finish(0);
};
let published = false;
Hub.listen('api', async ({ payload }) => {
  if (payload.event !== 'ConnectionStateChange') return;
  emit({ event: 'state', state: payload.data.connectionState });
  if (payload.data.connectionState === 'Connected' && !published) {
    published = true;
    const r = await client.graphql({
      query: 'mutation Add($text: String!) { addNote(text: $text) { owner id text createdAt } }',
      variables: { text: `from amplify (${authFlowType})` },
    });
    emit({ event: 'mutation', data: r.data });
    seen('mutation');
  }
});

const sub = client.graphql({ query: 'subscription OnNote { onNoteAdded { owner id text createdAt } }' }).subscribe({
  next: ({ data }) => {
    emit({ event: 'data', data });
    sub.unsubscribe();
    seen('data');
  },
  error: (err) => {
    emit({ event: 'subscription-error', errors: err?.errors ?? null, message: String(err?.message ?? err) });
    finish(mode === 'tampered' ? 0 : 2);
  },
});
