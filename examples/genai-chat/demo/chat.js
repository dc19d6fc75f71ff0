// GenAI chat over AppSync, in plain browser JavaScript: no build step. Markdown is rendered by the
// vendored `marked` and made safe by the vendored `DOMPurify` (vendor/, with their licences).
//
// Where the API is: `?graphqlUrl=…&realtimeUrl=…&apiKey=…` (for a deployed API), otherwise the
// emulator's `/_emu/config` ({graphqlUrl, realtimeUrl, apiKeys}) on the server that serves the page.
//
// The real-time client speaks AppSync's protocol directly: the auth header object travels in the
// `header-<base64url>` WebSocket subprotocol, then connection_init → connection_ack, start (with
// `payload.data` as a JSON *string* and the same header object in `extensions.authorization`)
// → start_ack, data frames, and `ka` keep-alives.
//
// The conversation: the page keeps the completed turns and sends them with each `ask` as
// `history`; the function passes them to Bedrock's Converse as `messages`.
//
// The timeline under each answer: moments the page sees itself (ask sent, ask answered, each
// chunk's arrival) and, when appsync-emu serves the page, the server's own records of the same
// ask: the resolver's `requestedAt`, the async invocation's record (`/_emu/invocations`: queued,
// each attempt's start and end, retries) and the fake model's calls (`/_emu/llm`: request
// received, first token, in-stream errors), found by the `requestMetadata` the function tags its
// model call with. Every event carries its wall-clock time and the list is drawn in time order.
'use strict';

(() => {
  const SUBSCRIPTION = `subscription OnChunk($conversationId: ID!) {
  onChunk(conversationId: $conversationId) { conversationId seq text done error model }
}`;
  const ASK = `mutation Ask($conversationId: ID!, $prompt: String!, $history: [TurnInput!]) {
  ask(conversationId: $conversationId, prompt: $prompt, history: $history) { conversationId status requestedAt }
}`;
  /** Give up on an answer when nothing arrives for this long (the function's timeout is 120 s). */
  const REPLY_SILENCE_MS = 150_000;
  /** Earlier turns sent with an ask, newest kept (the `ask` resolver accepts at most 40). */
  const MAX_HISTORY_TURNS = 40;
  /** How often the server's records are read again while an answer settles or waits for a retry. */
  const SYNC_EVERY_MS = 200;
  /** Reads of the server's records after an answer ends, before the timeline is drawn as it is. */
  const SETTLE_TRIES = 50;
  /** Converse stop reasons: a model call that ended with anything else failed. */
  const STOP_REASONS = new Set(['end_turn', 'tool_use', 'max_tokens', 'stop_sequence', 'guardrail_intervened', 'content_filtered']);

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

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function clockTime(epochMs) {
    return new Date(epochMs).toLocaleTimeString([], { hour12: false });
  }

  /**
   * What sanitising removes beyond DOMPurify's defaults (scripts, event handlers, javascript: URLs):
   * images, which would load any URL a reply names (a way to leak the conversation), styles and forms.
   */
  const SANITIZE = {
    FORBID_TAGS: ['img', 'picture', 'video', 'audio', 'source', 'style', 'form', 'input', 'button', 'textarea', 'select'],
    FORBID_ATTR: ['style', 'srcset'],
  };

  /** Markdown → HTML with nothing that can run or fetch: the reply is the model's, not ours. */
  function renderMarkdown(element, text) {
    if (!window.marked || !window.DOMPurify) {
      element.textContent = text; // the vendored scripts did not load: show the text as it is
      return;
    }
    element.innerHTML = window.DOMPurify.sanitize(window.marked.parse(text, { gfm: true, breaks: false }), SANITIZE);
  }

  if (window.DOMPurify) {
    // Links in answers open outside the chat and cannot reach back into it.
    window.DOMPurify.addHook('afterSanitizeAttributes', (node) => {
      if (node.tagName === 'A') {
        node.setAttribute('target', '_blank');
        node.setAttribute('rel', 'noopener noreferrer');
      }
    });
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
    let emulator = false;
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
      emulator = true;
    }
    if (!graphqlUrl || !apiKey) throw new Error('the API has no GraphQL URL or no API key');
    realtimeUrl = realtimeUrl || realtimeUrlFor(graphqlUrl);
    return { graphqlUrl, realtimeUrl, apiKey, host: new URL(graphqlUrl).host, emulator };
  }

  /** appsync-emu's own endpoints (`/_emu/…`) on the server that serves the page. */
  const emu = {
    async get(path) {
      try {
        const response = await fetch(path, { headers: { accept: 'application/json' } });
        return response.ok ? await response.json() : null;
      } catch {
        return null;
      }
    },
    llm() {
      return this.get('/_emu/llm?limit=200');
    },
    async setControls(changes) {
      const response = await fetch('/_emu/llm', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(changes),
      });
      const body = await response.json();
      if (!response.ok) throw new Error(body.message || `HTTP ${response.status}`);
      return body;
    },
    /** This ask's async invocation: its event carries the conversation id and the resolver's requestedAt. */
    async invocation(conversationId, requestedAt) {
      const records = (await this.get('/_emu/invocations?limit=200')) || [];
      return (
        records.find(
          (r) => r.requestPayload?.conversationId === conversationId && r.requestPayload?.requestedAt === requestedAt,
        ) || null
      );
    },
    /** The fake model's calls for this ask: the function tags each with requestMetadata. */
    async modelCalls(conversationId, requestedAt) {
      const info = await this.llm();
      return (info?.calls || []).filter(
        (c) => c.requestMetadata?.conversationId === conversationId && c.requestMetadata?.requestedAt === requestedAt,
      );
    },
  };

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

  /**
   * Kinds of timeline events, in the order they happen when they share a millisecond (times are
   * whole milliseconds, so causally ordered events can tie).
   */
  const KIND_ORDER = [
    'sent', 'accepted', 'queued', 'answered', 'started', 'model-request', 'first-token', 'chunk',
    'model-error', 'failed', 'done', 'retry', 'gave-up',
  ];

  /** The moments of one ask, from the page and from the server, drawn in the order they happened. */
  class Timeline {
    constructor() {
      this.events = new Map(); // key → {kind, at, label, source, n}
      this.count = 0;
      this.offsetMs = 0; // server clock minus page clock, when they evidently differ
      this.element = document.createElement('details');
      this.element.className = 'timeline';
      this.element.open = true;
      const summary = document.createElement('summary');
      summary.textContent = 'Timeline';
      this.note = document.createElement('p');
      this.note.className = 'hint';
      this.list = document.createElement('ol');
      this.element.append(summary, this.list, this.note);
    }

    /**
     * Add or replace the event `key`; `at` is epoch ms on the page's clock (`server` times are
     * shifted), `attempt` the Lambda attempt (and model call) it belongs to, if any.
     */
    put(key, kind, at, label, source, attempt = null) {
      if (at === null || at === undefined || Number.isNaN(at)) return;
      const time = source === 'server' ? at - this.offsetMs : at;
      const previous = this.events.get(key);
      this.events.set(key, { kind, at: time, label, source, attempt, n: previous ? previous.n : this.count++ });
    }

    /** Server timestamps against the page's: if the resolver's time is not within the ask's round trip, shift them. */
    align(sentAt, answeredAt, acceptedAt) {
      if (acceptedAt < sentAt - 1 || acceptedAt > answeredAt + 1) {
        this.offsetMs = acceptedAt - Math.round((sentAt + answeredAt) / 2);
        this.note.textContent = `The server's clock differs from this page's by ${this.offsetMs} ms; its times are shifted to match.`;
      }
    }

    ordered() {
      const rank = (kind) => KIND_ORDER.indexOf(kind);
      return [...this.events.values()].sort((a, b) => a.at - b.at || rank(a.kind) - rank(b.kind) || a.n - b.n);
    }

    render() {
      const events = this.ordered();
      const start = events.find((e) => e.kind === 'sent')?.at ?? events[0]?.at ?? 0;
      this.list.replaceChildren(
        ...events.map((event) => {
          const item = document.createElement('li');
          item.dataset.kind = event.kind;
          item.dataset.at = String(event.at);
          item.dataset.source = event.source;
          if (event.attempt !== null) item.dataset.attempt = String(event.attempt);
          const time = document.createElement('span');
          time.className = 't';
          time.textContent = `+${Math.round(event.at - start)} ms`;
          const what = document.createElement('span');
          what.className = 'what';
          what.textContent = event.label;
          const source = document.createElement('span');
          source.className = 'src';
          source.textContent = event.source;
          item.append(time, what, source);
          return item;
        }),
      );
    }

    settled(complete) {
      this.element.dataset.complete = String(complete);
    }
  }

  /** The assistant's answer to one prompt: chunks put in `seq` order until the one marked done. */
  class Answer {
    constructor(prompt, backend, onChange) {
      this.prompt = prompt;
      this.backend = backend;
      this.onChange = onChange;
      this.item = document.createElement('li');
      this.item.className = 'msg assistant';
      this.item.dataset.role = 'assistant';
      const who = document.createElement('span');
      who.className = 'who';
      who.textContent = 'Assistant';
      this.textEl = document.createElement('div');
      this.textEl.className = 'text markdown';
      this.metaEl = document.createElement('p');
      this.metaEl.className = 'meta';
      this.errorEl = document.createElement('p');
      this.errorEl.className = 'error';
      this.errorEl.hidden = true;
      this.timeline = new Timeline();
      this.item.append(who, this.textEl, this.metaEl, this.errorEl, this.timeline.element);
      this.startedAt = performance.now();
      this.attempt = 1;
      this.failures = 0;
      this.coldStarts = new Map(); // attempt → init ms, from the REPORT line of its logs
      this.syncing = false;
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
      return this.state === 'waiting' || this.state === 'streaming' || this.state === 'retrying';
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

    /** `ask` was answered: the round trip on the page's clock and the resolver's time on the server's. */
    asked(sentAt, answeredAt, result) {
      this.askMs = answeredAt - sentAt;
      this.requestedAt = result.requestedAt;
      this.item.dataset.askMs = String(Math.round(this.askMs));
      const acceptedAt = Date.parse(result.requestedAt);
      this.timeline.align(sentAt, answeredAt, acceptedAt);
      this.timeline.put('accepted', 'accepted', acceptedAt, 'mutation accepted: the ask resolver ran', 'server');
      this.timeline.put('answered', 'answered', answeredAt, `ask answered (${result.status}) in ${Math.round(this.askMs)} ms`, 'page');
      this.timeline.render();
      this.showMeta();
      this.sync(!this.active); // the last chunk may have come before the ask's answer
    }

    add(chunk) {
      const arrivedAt = Date.now();
      if (!this.active || (this.state === 'retrying' && chunk.seq === 0)) {
        // Lambda retries a failed event: its answer starts again from seq 0.
        if (!['error', 'retrying'].includes(this.state) || chunk.seq !== 0) return;
        this.attempt += 1;
        this.reset();
        this.errorEl.hidden = true;
      }
      if (chunk.seq < this.next || this.pending.has(chunk.seq)) return; // a duplicate delivery
      this.recordArrival(chunk, arrivedAt);
      this.pending.set(chunk.seq, chunk);
      if (chunk.model) {
        this.model = chunk.model;
        this.item.dataset.model = chunk.model;
        $('model').textContent = chunk.model;
      }
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
        renderMarkdown(this.textEl, this.text);
        if (current.done) {
          if (current.error) this.failed(current.error);
          else this.finished();
          break;
        }
      }
      this.showMeta();
    }

    recordArrival(chunk, at) {
      const key = `${this.attempt}:${chunk.seq}`;
      const size = `${chunk.text.length} char${chunk.text.length === 1 ? '' : 's'}`;
      const attempt = this.attempt > 1 ? ` (attempt ${this.attempt})` : '';
      if (!chunk.done) {
        this.timeline.put(`chunk ${key}`, 'chunk', at, `chunk #${chunk.seq} published, ${size}${attempt}`, 'page', this.attempt);
      } else if (chunk.error) {
        this.timeline.put(`failed ${key}`, 'failed', at, `chunk #${chunk.seq}, the last: the function reports "${chunk.error}"${attempt}`, 'page', this.attempt);
      } else {
        this.timeline.put(`done ${key}`, 'done', at, `done: chunk #${chunk.seq}, the last, ${size}${attempt}`, 'page', this.attempt);
      }
      this.timeline.render();
    }

    finished() {
      this.setState('done');
      this.sync(true);
    }

    /** An attempt ended with an error: final, unless appsync-emu's records show Lambda retrying it. */
    failed(message) {
      this.failures += 1;
      this.errorEl.textContent = message;
      this.errorEl.hidden = false;
      this.setState(this.backend.emulator ? 'retrying' : 'error');
      this.showMeta();
      this.sync(true);
    }

    fail(message) {
      this.errorEl.textContent = message;
      this.errorEl.hidden = false;
      this.setState('error');
      this.showMeta();
    }

    /**
     * Read the server's records of this ask into the timeline. With `settle`, keep reading until
     * they are final for what the page has seen (the attempt recorded and its model calls ended),
     * then mark the timeline complete; while Lambda has a retry pending, keep watching it.
     */
    async sync(settle) {
      if (!this.backend.emulator || !this.requestedAt) {
        if (settle) this.timeline.settled(!this.active);
        return;
      }
      if (this.syncing) {
        this.syncAgain = this.syncAgain || settle;
        return;
      }
      this.syncing = true;
      try {
        let tries = 0;
        for (;;) {
          const conversationId = this.item.dataset.conversationId;
          const [invocation, calls] = await Promise.all([
            emu.invocation(conversationId, this.requestedAt),
            emu.modelCalls(conversationId, this.requestedAt),
          ]);
          this.readServer(invocation, calls);
          const state = invocation?.state;
          if (this.state === 'retrying' && state === 'failed') this.fail(this.errorEl.textContent);
          const callsEnded = calls.every((c) => c.endedAt);
          const recorded = Boolean(invocation) && invocation.attempts.length >= this.attempt;
          const final =
            (this.state === 'done' && state === 'succeeded' && callsEnded) ||
            (this.state === 'error' && (state === 'failed' || !invocation)) ||
            (this.state === 'retrying' && recorded && callsEnded);
          this.timeline.settled(final);
          if (this.syncAgain) {
            this.syncAgain = false;
            settle = true;
            tries = 0;
            continue;
          }
          if (this.state === 'retrying' || (settle && !final && tries < SETTLE_TRIES)) {
            tries += 1;
            await sleep(SYNC_EVERY_MS);
            continue;
          }
          break;
        }
      } finally {
        this.syncing = false;
      }
    }

    readServer(invocation, calls) {
      const timeline = this.timeline;
      const time = (iso) => (iso ? Date.parse(iso) : null);
      if (invocation) {
        const id = invocation.requestId.slice(0, 8);
        timeline.put('queued', 'queued', time(invocation.enqueuedAt), `Event queued for ${invocation.function} (request ${id}…)`, 'server');
        // Attempts are recorded with their start (the invoker's: a cold start's init comes after it)
        // and the function's own duration, not their end, so only the start is drawn.
        // The record keeps the last attempt's log lines; Lambda's REPORT line names a cold start's init.
        const init = (invocation.logs || []).map((line) => /Init Duration: ([\d.]+) ms/.exec(line)).find(Boolean);
        if (init && invocation.attempts.length) this.coldStarts.set(invocation.attempts.length, Math.round(Number(init[1])));
        for (const attempt of invocation.attempts) {
          const notes = attempt.attempt > 1 ? ["Lambda's retry"] : [];
          if (this.coldStarts.has(attempt.attempt)) notes.push(`a cold start: ${this.coldStarts.get(attempt.attempt)} ms of init`);
          const note = notes.length ? ` (${notes.join(', ')})` : '';
          const outcome = attempt.functionError
            ? `; it failed after ${Math.round(attempt.durationMs)} ms (${attempt.errorType || attempt.functionError})`
            : `; it ran ${Math.round(attempt.durationMs)} ms`;
          timeline.put(`started ${attempt.attempt}`, 'started', time(attempt.startedAt), `function started, attempt ${attempt.attempt}${note}${outcome}`, 'server', attempt.attempt);
        }
        if (invocation.state === 'running' && invocation.attempts.length < invocation.approximateInvokeCount) {
          const n = invocation.approximateInvokeCount;
          timeline.put(`started ${n}`, 'started', time(invocation.updatedAt), `function started, attempt ${n}${n > 1 ? " (Lambda's retry)" : ''}`, 'server', n);
        }
        if (invocation.state === 'retry-wait' && invocation.nextAttemptAt) {
          const next = time(invocation.nextAttemptAt);
          const label = `Lambda retries the event at ${clockTime(next)} (in ${((next - time(invocation.updatedAt)) / 1000).toFixed(1)} s)`;
          timeline.put(`retry ${invocation.approximateInvokeCount}`, 'retry', time(invocation.updatedAt), label, 'server', invocation.approximateInvokeCount);
          setStatus(`Attempt ${invocation.approximateInvokeCount} failed; Lambda retries at ${clockTime(next)}…`, 'error');
        }
        if (invocation.state === 'failed') {
          timeline.put('gave-up', 'gave-up', time(invocation.updatedAt), `Lambda gave up (${invocation.condition}): the record went to the on-failure destination`, 'server');
        }
      }
      calls.forEach((call, index) => {
        const n = index + 1;
        timeline.put(`model-request ${n}`, 'model-request', time(call.receivedAt), `model call ${n}: ${call.operation} for ${call.modelId}, ${call.messages} message${call.messages === 1 ? '' : 's'}`, 'server', n);
        timeline.put(`first-token ${n}`, 'first-token', time(call.firstTokenAt), `model's first token (call ${n})`, 'server', n);
        if (call.outcome && !STOP_REASONS.has(call.outcome) && call.outcome !== 'cancelled') {
          timeline.put(`model-error ${n}`, 'model-error', time(call.endedAt), `model call ${n} failed: ${call.outcome} after ${call.outputTokens} tokens`, 'server', n);
        }
      });
      timeline.render();
    }

    showMeta() {
      const parts = [];
      if (this.askMs !== undefined) parts.push(`ask answered in ${Math.round(this.askMs)} ms`);
      if (this.firstChunkMs !== undefined) parts.push(`first chunk after ${Math.round(this.firstChunkMs)} ms`);
      if (this.chunkCount) parts.push(`${this.chunkCount} chunk${this.chunkCount === 1 ? '' : 's'}`);
      if (this.attempt > 1 && this.state === 'done') parts.push(`recovered on attempt ${this.attempt}`);
      if (this.model) parts.push(`${this.backend.label} · ${this.model}`);
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

  /** Which backend answers: appsync-emu's fake model or Bedrock through it; a deployed API is Bedrock. */
  async function describeBackend(api) {
    if (!api.emulator) return { emulator: false, kind: 'bedrock', label: 'Amazon Bedrock', info: null };
    const info = await emu.llm();
    const kind = info?.backend ?? 'unknown';
    const label = { fake: 'the fake model (appsync-emu)', bedrock: 'Amazon Bedrock (through appsync-emu)' }[kind] ?? kind;
    return { emulator: true, kind, label, info };
  }

  /** The fake model's controls (pacing, slow first token, throttle mid-stream) through POST /_emu/llm. */
  function setupControls(backend) {
    const controls = $('model-controls');
    if (!backend.emulator || !backend.info) return () => {};
    controls.hidden = false;
    const status = $('controls-status');
    if (backend.info.controlsDisabled) {
      $('controls-fields').disabled = true;
      $('controls-disabled').textContent = backend.info.controlsDisabled;
      $('controls-disabled').hidden = false;
      return () => {};
    }
    const number = (id) => ($(id).value.trim() === '' ? null : Number($(id).value));
    const show = (values) => {
      $('tps').value = values.tps ?? '';
      $('first-token-ms').value = values.firstTokenMs ?? '';
      $('throttle-after').value = values.throttle ? values.throttle.afterTokens : '';
      $('throttle-times').value = values.throttle ? values.throttle.remaining : 1;
      const pacing = `${values.tps ? `${values.tps} tokens/s` : 'tokens as fast as it can'}, first token after ${values.firstTokenMs ?? 0} ms`;
      const throttle = values.throttle
        ? `the next ${values.throttle.remaining} model call${values.throttle.remaining === 1 ? '' : 's'} fail with ThrottlingException after ${values.throttle.afterTokens} tokens`
        : 'no throttle';
      status.textContent = `Now: ${pacing}; ${throttle}.`;
      controls.dataset.throttle = values.throttle ? String(values.throttle.remaining) : '0';
    };
    show(backend.info.controls);
    controls.addEventListener('submit', async (event) => {
      event.preventDefault();
      const after = number('throttle-after');
      try {
        const body = await emu.setControls({
          tps: number('tps'),
          firstTokenMs: number('first-token-ms'),
          throttle: after === null ? null : { afterTokens: after, times: number('throttle-times') ?? 1 },
        });
        show(body.controls);
        controls.dataset.applied = String(Number(controls.dataset.applied || 0) + 1);
      } catch (err) {
        status.textContent = `Not applied: ${err.message}`;
      }
    });
    return async () => {
      const info = await emu.llm();
      if (info?.controls) show(info.controls);
    };
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
    const backend = await describeBackend(api);
    $('backend').textContent = backend.label;
    $('backend').dataset.kind = backend.kind;
    $('model').textContent = '(named by the first answer)';
    const refreshControls = setupControls(backend);

    /** Completed turns, oldest first: what the next ask sends as `history`. */
    const turns = [];
    let live = false;
    let answer = null;
    const refreshButton = () => {
      sendButton.disabled = !live || (answer !== null && answer.active);
      log.setAttribute('aria-busy', String(answer !== null && answer.active));
    };

    const answerChanged = (changed) => {
      if (changed !== answer) return;
      if (changed.state === 'streaming') setStatus(changed.attempt > 1 ? 'Lambda retried: streaming the answer again…' : 'Streaming the answer…');
      if (changed.state === 'retrying') setStatus('The attempt failed; waiting for Lambda to retry…', 'error');
      if (changed.state === 'done') {
        setStatus('Answer complete.');
        if (changed.text.trim()) turns.push({ role: 'user', text: changed.prompt }, { role: 'assistant', text: changed.text });
        refreshControls();
      }
      if (changed.state === 'error') {
        setStatus('The answer failed.', 'error');
        refreshControls();
      }
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
      let history = turns.slice(-MAX_HISTORY_TURNS);
      if (history.length && history[0].role !== 'user') history = history.slice(1);
      addUserMessage(prompt);
      promptInput.value = '';
      answer = new Answer(prompt, backend, answerChanged);
      answer.item.dataset.conversationId = conversationId;
      answer.item.dataset.historyTurns = String(history.length);
      log.append(answer.item);
      refreshButton();
      setStatus('Asking…');
      const current = answer;
      const sentAt = Date.now();
      current.timeline.put('sent', 'sent', sentAt, `ask sent with ${history.length} earlier turn${history.length === 1 ? '' : 's'}`, 'page');
      current.timeline.render();
      try {
        const data = await postGraphql(api, ASK, { conversationId, prompt, history });
        current.asked(sentAt, Date.now(), data.ask);
        if (current.state === 'waiting') setStatus('Asked. The function is calling the model…');
      } catch (err) {
        current.fail(`ask failed: ${err.message}`);
        current.timeline.settled(true);
      }
    });
  }

  main();
})();
