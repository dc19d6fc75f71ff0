// Apollo Client 4 with aws-appsync-auth-link and aws-appsync-subscription-link, configured as their
// docs say for a user pool (`auth: { type: 'AMAZON_COGNITO_USER_POOLS', jwtToken }`), against the
// cognito-notes example. Queries and mutations go over HTTP, subscriptions over the real-time
// WebSocket. Every event is printed as one JSON line for the Python test to read.
//
//   node apollo_userpool.mjs <graphql url> <jwt> happy     # me, subscribe, addNote, the event arrives
//   node apollo_userpool.mjs <graphql url> <jwt> refused   # me and a subscription, both refused
//   node apollo_userpool.mjs <graphql url> <jwt> groups <owner>  # notesOf(owner), allowed or not
//
// Node 20 has no global WebSocket; the subscription link maps http:// to ws:// itself. The global
// also reports the server's start_ack: the link's own "connected" control message never reaches
// an Apollo 4 subscriber (Apollo drops results without data), and the test must mutate only once
// the subscription is live.
import WS from 'ws';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { createAuthLink } from 'aws-appsync-auth-link';
import { createSubscriptionHandshakeLink } from 'aws-appsync-subscription-link';

let onStartAck = () => {};
globalThis.WebSocket = class extends WS {
  constructor(url, protocols) {
    super(url, protocols);
    this.addEventListener('message', ({ data }) => {
      if (JSON.parse(String(data)).type === 'start_ack') onStartAck();
    });
  }
};

const [url, jwtToken, mode, owner] = process.argv.slice(2);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const region = 'us-east-1';
const auth = { type: 'AMAZON_COGNITO_USER_POOLS', jwtToken };
const client = new ApolloClient({
  link: ApolloLink.from([
    createAuthLink({ url, region, auth }),
    createSubscriptionHandshakeLink({ url, region, auth }, new HttpLink({ uri: url })),
  ]),
  cache: new InMemoryCache(),
});

const ME = gql`query Me { me { sub username groups } }`;
const ADD = gql`mutation Add($text: String!) { addNote(text: $text) { owner id text createdAt } }`;
const ON_NOTE = gql`subscription OnNote { onNoteAdded { owner id text createdAt } }`;
const NOTES_OF = gql`query Of($owner: ID!) { notesOf(owner: $owner) { items { id text } } }`;

// What a refused call looks like to the app: Apollo 4's error class, the server's errors, and what
// the link reported when Apollo wraps it (UnconventionalError's `cause`).
const describe = (err) => ({
  name: err?.name,
  message: err?.message,
  statusCode: err?.statusCode,
  errors: err?.errors ?? err?.result?.errors ?? null,
  body: err?.bodyText ?? null,
  cause: err?.cause ? JSON.parse(JSON.stringify(err.cause)) : null,
});

async function query(document, variables) {
  try {
    const r = await client.query({ query: document, variables, fetchPolicy: 'no-cache' });
    return { data: r.data ?? null, error: r.error ? describe(r.error) : null };
  } catch (err) {
    return { data: null, error: describe(err) };
  }
}

const timer = setTimeout(() => {
  emit({ event: 'timeout' });
  process.exit(3);
}, 30000);
const finish = (code) => {
  clearTimeout(timer);
  setTimeout(() => process.exit(code), 200);
};

if (mode === 'groups') {
  emit({ event: 'notesOf', ...(await query(NOTES_OF, { owner })) });
  finish(0);
} else {
  emit({ event: 'me', ...(await query(ME)) });
  const pending = new Set(['mutation', 'data']); // done when the mutation answered and its event arrived
  const seen = (what) => {
    pending.delete(what);
    if (pending.size === 0) finish(0);
  };
  onStartAck = async () => {
    emit({ event: 'subscribed' });
    const r = await client.mutate({ mutation: ADD, variables: { text: 'from apollo' } });
    emit({ event: 'mutation', data: r.data });
    seen('mutation');
  };
  const subscription = client.subscribe({ query: ON_NOTE }).subscribe({
    next: (result) => {
      if (result.error) {
        emit({ event: 'subscription-error', error: describe(result.error) });
        finish(mode === 'refused' ? 0 : 2);
        return;
      }
      emit({ event: 'data', data: result.data });
      subscription.unsubscribe();
      seen('data');
    },
    error: (err) => {
      emit({ event: 'subscription-error', error: describe(err) });
      finish(mode === 'refused' ? 0 : 2);
    },
  });
}
