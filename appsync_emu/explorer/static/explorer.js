// appsync-emu's GraphQL explorer: the vendored GraphiQL, preconfigured for the API this
// emulator serves (docs/DECISIONS.md, "The explorer").
//
// - The auth modes come from `GET /_emu/config`: each API key of the template, IAM signed in
//   the browser with the emulator's credentials (aws4fetch, SigV4, service `appsync`), a token
//   from the local issuer of each Cognito user pool or OIDC provider (`POST /_emu/token`, for the
//   user and groups typed in the bar), or "headers only" (whatever the Headers tab holds, e.g. a
//   token for a Lambda authorizer).
// - Queries and mutations are POSTed to /graphql. Subscriptions use AppSync's real-time
//   protocol, not graphql-ws: a WebSocket on /graphql/realtime offering the `graphql-ws` and
//   `header-<base64url JSON>` subprotocols, `connection_init`, then `start` with the operation
//   as a JSON string in `payload.data` and its own credentials in `extensions.authorization`.
//   The fetcher hands GraphiQL an async iterator of the `data` frames' payloads.
// - URLs are built from the page's own origin: the page only ever talks to the emulator.
(() => {
  'use strict';

  const STORE = 'appsync-emu:explorer:auth';
  const GRAPHQL_URL = new URL('/graphql', location.href).href;
  const REALTIME_URL = GRAPHQL_URL.replace(/^http/, 'ws') + '/realtime';
  const HOST = new URL(GRAPHQL_URL).host;
  const bar = {
    api: document.getElementById('api'),
    auth: document.getElementById('auth'),
    who: document.getElementById('who'),
    user: document.getElementById('user'),
    groups: document.getElementById('groups'),
    status: document.getElementById('status'),
  };

  function say(text, kind = 'info') {
    bar.status.textContent = text;
    bar.status.dataset.kind = kind;
  }

  // ---- auth modes --------------------------------------------------------------------------

  /** Each mode: `http(body)` -> headers for a POST, `connect()` -> the real-time header object,
   *  `start(data)` -> `extensions.authorization` for one subscription. */
  function apiKeyMode(key) {
    const headers = () => ({ 'x-api-key': key });
    return {
      id: `api-key:${key}`,
      label: `API key ${key.length > 12 ? key.slice(0, 8) + '…' + key.slice(-4) : key}`,
      http: async () => headers(),
      connect: async () => ({ host: HOST, ...headers() }),
      start: async () => ({ host: HOST, ...headers() }),
    };
  }

  function iamMode(credentials, region) {
    const usable = window.isSecureContext && window.crypto && window.crypto.subtle && window.aws4fetch;
    // AWS's signing, as Amplify does it: the connection signs a POST to /graphql/connect with
    // body `{}`; each `start` signs a POST to /graphql whose body is exactly `payload.data`.
    const REALTIME_HEADERS = {
      accept: 'application/json, text/javascript',
      'content-encoding': 'amz-1.0',
      'content-type': 'application/json; charset=UTF-8',
    };
    async function sign(url, body, headers) {
      const signer = new window.aws4fetch.AwsV4Signer({
        url,
        method: 'POST',
        headers,
        body,
        accessKeyId: credentials.accessKeyId,
        secretAccessKey: credentials.secretAccessKey,
        sessionToken: credentials.sessionToken || undefined,
        service: 'appsync',
        region,
      });
      const signed = await signer.sign();
      return Object.fromEntries(signed.headers.entries());
    }
    const headerObject = async (url, body) => ({ host: HOST, ...(await sign(url, body, REALTIME_HEADERS)) });
    return {
      id: 'iam',
      label: "IAM (the emulator's credentials)",
      disabled: usable ? null : 'IAM signing needs WebCrypto, which browsers give only to https:// or loopback pages',
      http: async (body) => sign(GRAPHQL_URL, body, { 'content-type': 'application/json' }),
      connect: async () => headerObject(GRAPHQL_URL + '/connect', '{}'),
      start: async (data) => headerObject(GRAPHQL_URL, data),
    };
  }

  /** A JWT minted by the emulator's local issuer for `pool` (a Cognito pool id or an OIDC
   *  provider's name), for the user and groups in the bar; kept until a minute before it expires. */
  function tokenMode(id, pool, label) {
    let cached = null;
    async function token() {
      const user = bar.user.value.trim() || 'alice';
      const groups = bar.groups.value.split(',').map((g) => g.trim()).filter(Boolean);
      const key = JSON.stringify([user, groups]);
      if (cached && cached.key === key && cached.expires > Date.now() + 60_000) return cached.token;
      const res = await fetch('/_emu/token', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user, groups, pool }),
      });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(`POST /_emu/token answered ${res.status}: ${body.message || 'no message'}`);
      // AppSync's docs name the ID token (it carries the user's attributes and custom claims).
      cached = { key, token: body.idToken, expires: Date.now() + body.expiresIn * 1000 };
      say(`token for ${user}${groups.length ? ' (' + groups.join(', ') + ')' : ''}`);
      return cached.token;
    }
    return {
      id,
      label,
      needsUser: true,
      http: async () => ({ authorization: await token() }),
      connect: async () => ({ host: HOST, Authorization: await token() }),
      start: async () => ({ host: HOST, Authorization: await token() }),
    };
  }

  const headersOnlyMode = {
    id: 'headers',
    label: 'Headers tab only',
    http: async () => ({}),
    connect: async () => ({ host: HOST }),
    start: async () => ({ host: HOST }),
  };

  function modesFor(config) {
    const modes = (config.apiKeys || []).map(apiKeyMode);
    if (config.iamCredentials) modes.push(iamMode(config.iamCredentials, config.region || 'us-east-1'));
    for (const pool of config.userPools || []) {
      modes.push(tokenMode(`user-pool:${pool.poolId}`, pool.poolId, `User pool ${pool.name}: a local token`));
    }
    for (const provider of config.oidcProviders || []) {
      modes.push(tokenMode(`oidc:${provider.name}`, provider.name, `OIDC ${provider.name}: a local token`));
    }
    modes.push(headersOnlyMode);
    return modes;
  }

  // ---- the fetcher -------------------------------------------------------------------------

  function operationType(params, opts) {
    const definitions = (opts && opts.documentAST && opts.documentAST.definitions) || [];
    const operations = definitions.filter((d) => d.kind === 'OperationDefinition');
    const chosen = params.operationName
      ? operations.find((d) => d.name && d.name.value === params.operationName)
      : operations.length === 1
        ? operations[0]
        : null;
    if (chosen) return chosen.operation;
    const text = String(params.query || '').replace(/#[^\n]*/g, '');
    return /^\s*subscription\b/.test(text) ? 'subscription' : 'query';
  }

  /** The user's own headers from GraphiQL's Headers tab (they win over the mode's). */
  function userHeaders(opts) {
    const out = {};
    for (const [k, v] of Object.entries((opts && opts.headers) || {})) out[k] = String(v);
    return out;
  }

  async function post(body, mode, extra) {
    const headers = { 'content-type': 'application/json', ...(await mode.http(body)), ...extra };
    const res = await fetch(GRAPHQL_URL, { method: 'POST', headers, body });
    const text = await res.text();
    try {
      return JSON.parse(text);
    } catch {
      return { errors: [{ message: `HTTP ${res.status}: ${text.slice(0, 500)}` }] };
    }
  }

  function base64url(text) {
    const bytes = new TextEncoder().encode(text);
    let binary = '';
    for (const b of bytes) binary += String.fromCharCode(b);
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  let nextId = 0;

  /** One subscription on its own real-time connection, as an async iterator GraphiQL renders. */
  function subscribe(data, mode, extra) {
    const queue = [];
    let wake = null;
    let finished = false;
    let socket = null;
    const id = `explorer-${Date.now().toString(36)}-${++nextId}`;
    const push = (value) => {
      queue.push(value);
      if (wake) wake();
    };
    const finish = () => {
      if (finished) return;
      finished = true;
      if (wake) wake();
      if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000);
    };
    const fail = (message) => {
      push({ errors: [{ message }] });
      finish();
    };
    const errorsOf = (payload) => {
      const errors = payload && payload.errors;
      return Array.isArray(errors) ? errors : errors ? [errors] : [{ message: 'error without details' }];
    };

    (async () => {
      const header = { ...(await mode.connect()), ...extra };
      if (finished) return; // stopped while the credentials were being made
      socket = new WebSocket(REALTIME_URL, ['graphql-ws', 'header-' + base64url(JSON.stringify(header))]);
      socket.onopen = () => socket.send(JSON.stringify({ type: 'connection_init' }));
      socket.onmessage = async (event) => {
        if (finished) return;
        const msg = JSON.parse(event.data);
        switch (msg.type) {
          case 'connection_ack': {
            let authorization;
            try {
              authorization = { ...(await mode.start(data)), ...extra };
            } catch (err) {
              fail(`Could not authorize the subscription: ${err.message || err}`);
              break;
            }
            socket.send(JSON.stringify({ id, type: 'start', payload: { data, extensions: { authorization } } }));
            break;
          }
          case 'start_ack':
            say('subscribed: waiting for events');
            push({ extensions: { explorer: 'Subscribed (start_ack). Waiting for events…' } });
            break;
          case 'data':
            if (msg.id === id) push(msg.payload);
            break;
          case 'error':
            push({ errors: errorsOf(msg.payload) });
            finish();
            break;
          case 'connection_error':
            push({ errors: errorsOf(msg.payload) });
            finish();
            break;
          case 'complete':
            say('subscription complete');
            finish();
            break;
          default: // ka
        }
      };
      socket.onclose = (event) => {
        if (!finished) fail(`The real-time connection closed (code ${event.code}${event.reason ? ': ' + event.reason : ''}).`);
      };
    })().catch((err) => fail(`Could not start the subscription: ${err}`));

    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next() {
        while (queue.length === 0 && !finished) await new Promise((resolve) => (wake = resolve));
        wake = null;
        if (queue.length) return { value: queue.shift(), done: false };
        return { value: undefined, done: true };
      },
      async return() {
        if (socket && socket.readyState === WebSocket.OPEN && !finished) socket.send(JSON.stringify({ type: 'stop', id }));
        finish();
        say('subscription stopped');
        return { value: undefined, done: true };
      },
    };
  }

  function fetcherFor(mode) {
    return (params, opts) => {
      const extra = userHeaders(opts);
      const body = { query: params.query, variables: params.variables || {} };
      if (params.operationName) body.operationName = params.operationName;
      if (operationType(params, opts) === 'subscription') return subscribe(JSON.stringify(body), mode, extra);
      return post(JSON.stringify(body), mode, extra);
    };
  }

  // ---- the page ----------------------------------------------------------------------------

  const DEFAULT_QUERY = `# This is the API your template describes, served by appsync-emu.
#
# Pick how requests are authorized in the bar above: an API key of the template,
# IAM signed with the emulator's credentials, a token from the local issuer of a
# user pool or OIDC provider (for the user and groups you type), or only what the
# Headers tab holds.
# The Docs button on the left browses the schema.
#
# Subscriptions use AppSync's real-time protocol: start one here, run a mutation
# in another browser tab, and watch its event arrive.
`;

  async function main() {
    const response = await fetch('/_emu/config', { headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error(`GET /_emu/config answered ${response.status}: ${await response.text()}`);
    const config = await response.json();
    bar.api.textContent = config.apiName || '';
    const modes = modesFor(config);
    bar.auth.replaceChildren(
      ...modes.map((m) => {
        const option = new Option(m.label, m.id);
        if (m.disabled) {
          option.disabled = true;
          option.title = m.disabled;
        }
        return option;
      }),
    );
    const params = new URLSearchParams(location.search);
    const wanted = params.get('auth') || localStorage.getItem(STORE);
    if (params.has('user')) bar.user.value = params.get('user');
    if (params.has('groups')) bar.groups.value = params.get('groups');
    const usable = modes.filter((m) => !m.disabled);
    const initial = usable.find((m) => m.id === wanted) || usable[0];
    bar.auth.value = initial.id;
    bar.auth.disabled = false;

    const root = ReactDOM.createRoot(document.getElementById('graphiql'));
    const props = {
      defaultQuery: DEFAULT_QUERY,
      query: params.get('query') ?? undefined,
      variables: params.get('variables') ?? undefined,
      defaultEditorToolsVisibility: params.has('variables') ? 'variables' : undefined,
    };
    const render = (mode) => {
      say(`auth: ${mode.label}`);
      bar.who.hidden = !mode.needsUser;
      // A new fetcher makes GraphiQL fetch the schema again, with the new credentials.
      root.render(React.createElement(GraphiQL, { ...props, fetcher: fetcherFor(mode) }));
    };
    bar.auth.addEventListener('change', () => {
      const mode = modes.find((m) => m.id === bar.auth.value);
      localStorage.setItem(STORE, mode.id);
      render(mode);
    });
    render(initial);
  }

  main().catch((err) => {
    say(String(err.message || err), 'error');
    const box = document.getElementById('graphiql');
    box.replaceChildren(Object.assign(document.createElement('p'), { className: 'failed', textContent: String(err) }));
    console.error(err);
  });
})();
