// GenAI chat over AppSync, in plain browser JavaScript: no build step, no libraries.
//
// Where the API is: `?graphqlUrl=…&realtimeUrl=…&apiKey=…` (for a deployed API), otherwise the
// emulator's `/_emu/config` ({graphqlUrl, realtimeUrl, apiKeys}) on the server that serves the page.
//
// The real-time client speaks AppSync's protocol directly: the auth header object travels in the
// `header-<base64url>` WebSocket subprotocol, then connection_init → connection_ack, start (with
// `payload.data` as a JSON *string* and the same header object in `extensions.authorization`)
// → start_ack, data frames, and `ka` keep-alives.
'use strict';

(() => {
  const SUBSCRIPTION = `subscription OnChunk($conversationId: ID!) {
  onChunk(conversationId: $conversationId) { conversationId seq text done error }
}`;
  const ASK = `mutation Ask($conversationId: ID!, $prompt: String!) {
  ask(conversationId: $conversationId, prompt: $prompt) { conversationId status requestedAt }
}`;
  /** Give up on an answer when nothing arrives for this long (the function's timeout is 120 s). */
  const REPLY_SILENCE_MS = 150_000;

  const $ = (id) => document.getElementById(id);
  const form = $('ask-form');
  const promptInput = $('prompt');
  const sendButton = $('send');
  const log = $('log');
  const statusLine = $('status');

  function newId() {
    if (crypto.randomUUID) return crypto.randomUUID();
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function base64url(text) {
    let binary = '';
    for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function setStatus(text, kind = 'info') {
    statusLine.textContent = text;
    statusLine.dataset.kind = kind;
  }

  /** AppSync's rule: *.appsync-api.* → *.appsync-realtime-api.*; a custom domain adds /realtime. */
  function realtimeUrlFor(graphqlUrl) {
    const url = new URL(graphqlUrl);
    if (url.hostname.includes('.appsync-api.')) {
      url.hostname = url.hostname.replace('.appsync-api.', '.appsync-realtime-api.');
    } else {
      url.pathname = url.pathname.replace(/\/?$/, '/realtime');
    }
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return url.toString();
  }

  async function loadConfig() {
    const params = new URLSearchParams(location.search);
    let graphqlUrl = params.get('graphqlUrl');
    let realtimeUrl = params.get('realtimeUrl');
    let apiKey = params.get('apiKey');
    if (!graphqlUrl || !apiKey) {
      let config;
      try {
        const response = await fetch('/_emu/config', { headers: { accept: 'application/json' } });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        config = await response.json();
      } catch (err) {
        throw new Error(
          `no API configured (${err.message}): serve this page with appsync-emu, ` +
            'or add ?graphqlUrl=…&realtimeUrl=…&apiKey=… to its URL',
        );
      }
      graphqlUrl = graphqlUrl || config.graphqlUrl;
      realtimeUrl = realtimeUrl || config.realtimeUrl;
      apiKey = apiKey || (config.apiKeys || [])[0];
    }
    if (!graphqlUrl || !apiKey) throw new Error('the API has no GraphQL URL or no API key');
    realtimeUrl = realtimeUrl || realtimeUrlFor(graphqlUrl);
    return { graphqlUrl, realtimeUrl, apiKey, host: new URL(graphqlUrl).host };
  }

  /** One AppSync subscription on its own socket, reconnecting (and re-subscribing) when it drops. */
  class Subscription {
    constructor(api, query, variables, handlers) {
      this.api = api;
      this.query = query;
      this.variables = variables;
      this.handlers = handlers; // {data(payload), live(), down(reason, retryMs), failed(message)}
      this.socket = null;
      this.id = null;
      this.stopped = false;
      this.retryMs = 1000;
      this.keepAliveTimer = null;
    }

    authorization() {
      return { host: this.api.host, 'x-api-key': this.api.apiKey };
    }

    connect() {
      const header = base64url(JSON.stringify(this.authorization()));
      const socket = new WebSocket(this.api.realtimeUrl, ['graphql-ws', `header-${header}`]);
      this.socket = socket;
      socket.onopen = () => socket.send(JSON.stringify({ type: 'connection_init' }));
      socket.onmessage = (event) => this.receive(JSON.parse(event.data));
      socket.onclose = (event) => this.closed(event);
    }

    receive(message) {
      switch (message.type) {
        case 'connection_ack':
          this.connectionTimeoutMs = message.payload?.connectionTimeoutMs ?? 300_000;
          this.alive();
          this.id = newId();
          this.socket.send(
            JSON.stringify({
              id: this.id,
              type: 'start',
              payload: {
                data: JSON.stringify({ query: this.query, variables: this.variables }),
                extensions: { authorization: this.authorization() },
              },
            }),
          );
          break;
        case 'ka':
          this.alive();
          break;
        case 'start_ack':
          if (message.id === this.id) {
            this.retryMs = 1000;
            this.handlers.live();
          }
          break;
        case 'data':
          this.alive();
          if (message.id === this.id) this.handlers.data(message.payload);
          break;
        case 'error':
        case 'connection_error': {
          const errors = message.payload?.errors ?? [];
          const text = errors.map((e) => `${e.errorType ?? 'Error'}: ${e.message ?? ''}`).join('; ') || 'unknown error';
          // A refused subscription (it has an id) or refused credentials will not get better by retrying.
          const fatal =
            message.id !== undefined ||
            errors.some((e) => [400, 401, 403].includes(e.errorCode) || /Unauthorized|BadRequest/.test(e.errorType ?? ''));
          if (fatal) this.stopped = true;
          this.handlers.failed(text);
          this.socket.close();
          break;
        }
        case 'complete':
          this.socket.close();
          break;
        default:
          break;
      }
    }

    /** AppSync sends `ka` about once a minute; silence longer than connectionTimeoutMs means a dead socket. */
    alive() {
      clearTimeout(this.keepAliveTimer);
      this.keepAliveTimer = setTimeout(() => this.socket.close(), this.connectionTimeoutMs);
    }

    closed(event) {
      clearTimeout(this.keepAliveTimer);
      if (this.stopped) return;
      this.handlers.down(event.reason || `closed (${event.code})`, this.retryMs);
      setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 30_000);
    }

    stop() {
      this.stopped = true;
      if (this.id && this.socket?.readyState === WebSocket.OPEN) {
        this.socket.send(JSON.stringify({ id: this.id, type: 'stop' }));
      }
      this.socket?.close();
    }
  }

  /** The assistant's answer to one prompt: chunks put in `seq` order until the one marked done. */
  class Answer {
    constructor(onChange) {
      this.onChange = onChange;
      this.item = document.createElement('li');
      this.item.className = 'msg assistant';
      this.item.dataset.role = 'assistant';
      const who = document.createElement('span');
      who.className = 'who';
      who.textContent = 'Assistant';
      this.textEl = document.createElement('p');
      this.textEl.className = 'text';
      this.metaEl = document.createElement('p');
      this.metaEl.className = 'meta';
      this.errorEl = document.createElement('p');
      this.errorEl.className = 'error';
      this.errorEl.hidden = true;
      this.item.append(who, this.textEl, this.metaEl, this.errorEl);
      this.startedAt = performance.now();
      this.reset();
      this.setState('waiting');
    }

    reset() {
      this.pending = new Map();
      this.next = 0;
      this.text = '';
      this.chunkCount = 0;
      this.textEl.textContent = '';
    }

    get active() {
      return this.state === 'waiting' || this.state === 'streaming';
    }

    setState(state) {
      const changed = state !== this.state;
      this.state = state;
      this.item.dataset.state = state;
      this.armTimeout();
      if (changed) this.onChange?.(this);
    }

    armTimeout() {
      clearTimeout(this.timer);
      if (this.active) this.timer = setTimeout(() => this.fail('No reply arrived in time.'), REPLY_SILENCE_MS);
    }

    asked(ms) {
      this.askMs = ms;
      this.item.dataset.askMs = String(Math.round(ms));
      this.showMeta();
    }

    add(chunk) {
      if (!this.active) {
        // Lambda retries a failed event: its answer starts again from seq 0.
        if (this.state !== 'error' || chunk.seq !== 0) return;
        this.reset();
        this.errorEl.hidden = true;
      }
      if (chunk.seq < this.next || this.pending.has(chunk.seq)) return; // a duplicate delivery
      this.pending.set(chunk.seq, chunk);
      if (this.firstChunkMs === undefined) {
        this.firstChunkMs = performance.now() - this.startedAt;
        this.item.dataset.firstChunkMs = String(Math.round(this.firstChunkMs));
      }
      this.setState('streaming');
      while (this.pending.has(this.next)) {
        const current = this.pending.get(this.next);
        this.pending.delete(this.next);
        this.next += 1;
        this.chunkCount += 1;
        this.text += current.text;
        this.textEl.textContent = this.text;
        if (current.done) {
          if (current.error) this.fail(current.error);
          else this.setState('done');
          break;
        }
      }
      this.showMeta();
    }

    fail(message) {
      this.errorEl.textContent = message;
      this.errorEl.hidden = false;
      this.setState('error');
      this.showMeta();
    }

    showMeta() {
      const parts = [];
      if (this.askMs !== undefined) parts.push(`ask answered in ${Math.round(this.askMs)} ms`);
      if (this.firstChunkMs !== undefined) parts.push(`first chunk after ${Math.round(this.firstChunkMs)} ms`);
      if (this.chunkCount) parts.push(`${this.chunkCount} chunk${this.chunkCount === 1 ? '' : 's'}`);
      this.metaEl.textContent = parts.join(' · ');
    }
  }

  function addUserMessage(text) {
    const item = document.createElement('li');
    item.className = 'msg user';
    item.dataset.role = 'user';
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = 'You';
    const body = document.createElement('p');
    body.className = 'text';
    body.textContent = text;
    item.append(who, body);
    log.append(item);
  }

  async function postGraphql(api, query, variables) {
    const response = await fetch(api.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': api.apiKey },
      body: JSON.stringify({ query, variables }),
    });
    let body;
    try {
      body = await response.json();
    } catch {
      throw new Error(`HTTP ${response.status} with a body that is not JSON`);
    }
    if (body.errors?.length) throw new Error(body.errors.map((e) => e.message).join('; '));
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return body.data;
  }

  async function main() {
    const conversationId = newId();
    $('conversation-id').textContent = conversationId;
    let api;
    try {
      api = await loadConfig();
    } catch (err) {
      setStatus(`Cannot start: ${err.message}`, 'error');
      return;
    }
    $('graphql-url').textContent = api.graphqlUrl;
    $('realtime-url').textContent = api.realtimeUrl;

    let live = false;
    let answer = null;
    const refreshButton = () => {
      sendButton.disabled = !live || (answer !== null && answer.active);
      log.setAttribute('aria-busy', String(answer !== null && answer.active));
    };

    const answerChanged = (changed) => {
      if (changed !== answer) return;
      if (changed.state === 'streaming') setStatus('Streaming the answer…');
      if (changed.state === 'done') setStatus('Answer complete.');
      if (changed.state === 'error') setStatus('The answer failed.', 'error');
      refreshButton();
    };

    const subscription = new Subscription(api, SUBSCRIPTION, { conversationId }, {
      live() {
        live = true;
        setStatus('Connected. Ask away.');
        refreshButton();
      },
      down(reason, retryMs) {
        live = false;
        setStatus(`Disconnected (${reason}); reconnecting in ${Math.round(retryMs / 1000)} s…`, 'error');
        refreshButton();
      },
      failed(message) {
        setStatus(`Real-time error: ${message}`, 'error');
      },
      data(payload) {
        if (payload.errors?.length) setStatus(`Subscription error: ${payload.errors[0].message}`, 'error');
        const chunk = payload.data?.onChunk;
        if (chunk && chunk.conversationId === conversationId && answer !== null) answer.add(chunk);
      },
    });
    subscription.connect();
    window.addEventListener('pagehide', () => subscription.stop());

    promptInput.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const prompt = promptInput.value.trim();
      if (!prompt || sendButton.disabled) return;
      addUserMessage(prompt);
      promptInput.value = '';
      answer = new Answer(answerChanged);
      log.append(answer.item);
      refreshButton();
      setStatus('Asking…');
      const current = answer;
      const started = performance.now();
      try {
        await postGraphql(api, ASK, { conversationId, prompt });
        current.asked(performance.now() - started);
        if (current.state === 'waiting') setStatus('Asked. The function is calling the model…');
      } catch (err) {
        current.fail(`ask failed: ${err.message}`);
      }
    });
  }

  main();
})();
