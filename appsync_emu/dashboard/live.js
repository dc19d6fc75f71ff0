// The live page at /_emu/: keeps a WebSocket to /_emu/events open and draws what it pushes.
//
// The first frame is a snapshot ({kind: "snapshot", data: {...}}); later frames are arrays of
// events ({seq, kind, at, data}) with kind operation, log, invocation or subscription. Every text
// from the emulator is put in the page with textContent, never parsed as markup: log lines and
// payloads come from users' code.
'use strict';

const MAX_OPERATIONS = 300;
const MAX_LOGS = 500;
const MAX_INVOCATIONS = 200;
const STATE_LABEL = { 'retry-wait': 'retrying' };

const store = {
  invocations: new Map(), // requestId -> {…latest fields, attempts: [], steps: [{state | attempt, failed, at}]}
  operations: [],
  logs: [],
  subscriptions: new Map(), // key -> view
  subscriptionCount: 0,
  skipped: { operations: 0, logs: 0, lines: 0 }, // too many to send: counted, not shown
  seq: 0,
};
const openDetails = new Set(); // request ids whose <details> the user opened
let dirty = false;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key === 'class') node.className = value;
    else if (key.startsWith('data-')) node.setAttribute(key, String(value));
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function clock(ms) {
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function json(value) {
  return JSON.stringify(value, null, 2);
}

// -- the model ---------------------------------------------------------------------------

// A step as the observer keeps it: {state, at}, or {attempt, failed, at} when an attempt ended.
function stepOf(data, at) {
  if (data.attempt) return { attempt: data.attempt.attempt, failed: Boolean(data.attempt.functionError), at };
  return { state: data.state, at };
}

function stepClass(step) {
  if (step.attempt !== undefined) return step.failed ? 'attempt-error' : 'attempt-ok';
  return step.state;
}

function stepLabel(step) {
  if (step.attempt !== undefined) return `attempt ${step.attempt} ${step.failed ? 'error' : 'ok'}`;
  return STATE_LABEL[step.state] || step.state;
}

function applyInvocation(data, at) {
  let inv = store.invocations.get(data.requestId);
  if (!inv) {
    inv = { attempts: [], steps: [], lines: [] };
    store.invocations.set(data.requestId, inv);
    while (store.invocations.size > MAX_INVOCATIONS) {
      store.invocations.delete(store.invocations.keys().next().value);
    }
  }
  for (const [key, value] of Object.entries(data)) {
    if (key !== 'attempt' && !(key === 'payload' && value === null)) inv[key] = value;
  }
  if (data.attempt) inv.attempts.push(data.attempt);
  inv.lines = []; // a running attempt's lines: each step starts or ends one
  inv.steps.push(stepOf(data, at));
}

function applySnapshot(snap) {
  store.seq = snap.seq;
  store.operations = snap.operations.slice(-MAX_OPERATIONS);
  store.logs = snap.logs.slice(-MAX_LOGS);
  store.invocations = new Map();
  for (const inv of snap.invocations) {
    store.invocations.set(inv.requestId, { ...inv, steps: inv.steps || [stepOf(inv, inv.updatedAt)], lines: inv.lines || [] });
  }
  store.subscriptions = new Map(snap.subscriptions.map((s) => [s.key, s]));
  store.subscriptionCount = snap.subscriptionCount;
}

function applyEvent(event) {
  const data = event.data;
  if (event.kind === 'skipped') {
    store.skipped.operations += data.operations;
    store.skipped.logs += data.logs;
    store.skipped.lines += data.lines;
    return;
  }
  store.seq = event.seq;
  if (event.kind === 'operation') {
    store.operations.push({ at: event.at, ...data });
    if (store.operations.length > MAX_OPERATIONS) store.operations.splice(0, store.operations.length - MAX_OPERATIONS);
  } else if (event.kind === 'log') {
    store.logs.push({ at: event.at, ...data });
    if (store.logs.length > MAX_LOGS) store.logs.splice(0, store.logs.length - MAX_LOGS);
  } else if (event.kind === 'invocation') {
    applyInvocation(data, event.at);
  } else if (event.kind === 'line') {
    const inv = store.invocations.get(data.requestId);
    if (inv) inv.lines.push(data.line);
  } else if (event.kind === 'subscription') {
    if (data.open) {
      store.subscriptions.set(data.key, data);
      store.subscriptionCount += 1;
    } else {
      store.subscriptions.delete(data.key);
      store.subscriptionCount = Math.max(0, store.subscriptionCount - 1);
    }
  }
}

// -- drawing -----------------------------------------------------------------------------

function drawInvocation(inv) {
  const start = inv.enqueuedAt;
  const steps = el('ol', { class: 'steps' });
  for (const step of inv.steps) {
    const offset = step.at - start;
    steps.append(el('li', { class: stepClass(step) }, stepLabel(step), el('span', { class: 't' }, `+${Math.max(0, Math.round(offset))} ms`)));
  }
  const meta = [`attempts ${inv.invokeCount}`];
  if (inv.throttleCount) meta.push(`throttled ${inv.throttleCount}×`);
  if (inv.source) meta.push(`from ${inv.source}`);
  if (inv.nextAttemptAt && inv.state === 'retry-wait') meta.push(`next attempt ${clock(inv.nextAttemptAt)}`);
  meta.push(`queued ${clock(start)}`);

  // Logs and records are drawn only while their <details> is open: a redraw stays cheap however
  // much 200 invocations logged.
  const details = el('details', { 'data-request-id': inv.requestId });
  details.open = openDetails.has(inv.requestId);
  details.addEventListener('toggle', () => {
    const was = openDetails.has(inv.requestId);
    if (details.open) openDetails.add(inv.requestId);
    else openDetails.delete(inv.requestId);
    if (details.open !== was) redraw();
  });
  details.append(el('summary', {}, `logs, attempts and destination record`));
  if (details.open) {
    if (inv.attempts.length === 0) details.append(el('div', { class: 'meta' }, 'no attempt has ended yet'));
    for (const attempt of inv.attempts) {
      const outcome = attempt.functionError ? `${attempt.errorType || attempt.functionError}: ${attempt.errorMessage || ''}` : 'ok';
      details.append(el('h3', {}, `attempt ${attempt.attempt} · ${attempt.durationMs} ms · ${outcome}`));
      details.append(el('pre', { class: 'logs' }, (attempt.logs || []).join('\n')));
    }
    if (inv.destinationRecord) {
      details.append(el('h3', {}, 'destination record'));
      details.append(el('pre', { class: 'record' }, json(inv.destinationRecord)));
    }
    if (inv.deliveries && inv.deliveries.length) {
      details.append(el('h3', {}, 'deliveries'));
      details.append(el('pre', {}, json(inv.deliveries)));
    }
    if (inv.lines.length) {
      details.append(el('h3', {}, `attempt ${inv.invokeCount}, running`));
      details.append(el('pre', { class: 'live' }, inv.lines.join('\n')));
    }
    details.append(el('a', { href: `invocations/${encodeURIComponent(inv.requestId)}`, target: '_blank', rel: 'noopener' }, 'whole record (JSON)'));
  }

  const error = inv.error ? `${inv.error.errorType || 'Error'}: ${inv.error.errorMessage || ''}` : null;
  return el(
    'li',
    { class: 'inv', 'data-request-id': inv.requestId, 'data-state': inv.state, 'data-steps': inv.steps.map(stepClass).join(' ') },
    el(
      'div',
      { class: 'top' },
      el('span', { class: 'fn' }, inv.function),
      el('span', { class: `badge ${inv.state}` }, STATE_LABEL[inv.state] || inv.state),
      inv.condition && inv.condition !== 'Success' ? el('span', { class: 'meta' }, inv.condition) : null,
      el('span', { class: 'rid' }, inv.requestId),
    ),
    el('div', { class: 'meta' }, meta.join(' · ')),
    inv.payload ? el('div', { class: 'payload' }, inv.payload) : null,
    steps,
    inv.lines.length ? el('div', { class: 'last-line' }, inv.lines[inv.lines.length - 1]) : null,
    error ? el('div', { class: 'error' }, error) : null,
    details,
  );
}

function drawOperation(op) {
  const what = op.operation ? `${op.operation} ${op.name || '(anonymous)'}` : 'refused';
  const errors = (op.errors || []).map((e) => `${e.errorType ? e.errorType + ': ' : ''}${e.message}${e.path ? ' @ ' + e.path.join('.') : ''}`);
  if (op.errorCount > errors.length) errors.push(`… ${op.errorCount - errors.length} more`);
  return el(
    'tr',
    { class: op.status >= 400 || op.errorCount ? 'bad' : '', 'data-status': op.status },
    el('td', { class: 'when' }, clock(op.at)),
    el('td', {}, what),
    el('td', { class: 'mono' }, op.auth || '–'),
    el('td', { class: 'status num' }, op.status),
    el('td', { class: 'num' }, op.durationMs),
    el('td', { class: 'errs' }, errors.join('\n')),
  );
}

function drawLog(line) {
  return el(
    'tr',
    {},
    el('td', { class: 'when' }, clock(line.at)),
    el('td', { class: 'mono' }, `${line.where} (${line.handler})`),
    el('td', { class: 'line' }, line.line),
  );
}

function drawSubscription(sub) {
  const args = sub.arguments && Object.keys(sub.arguments).length ? JSON.stringify(sub.arguments) : '';
  return el(
    'tr',
    { 'data-field': sub.field, 'data-id': sub.id },
    el('td', { class: 'mono' }, sub.connection || '–'),
    el('td', { class: 'mono' }, sub.id),
    el('td', {}, sub.field + (sub.filtered ? ' (filtered)' : '')),
    el('td', { class: 'mono' }, args),
    el('td', { class: 'when' }, clock(sub.openedAt)),
  );
}

function fill(id, rows, emptyText, columns) {
  const target = document.getElementById(id);
  if (rows.length === 0) {
    const empty = columns ? el('tr', {}, el('td', { class: 'empty', colSpan: columns }, emptyText)) : el('li', { class: 'empty' }, emptyText);
    target.replaceChildren(empty);
  } else {
    target.replaceChildren(...rows);
  }
}

function draw() {
  dirty = false;
  const invocations = [...store.invocations.values()].reverse();
  fill('invocations', invocations.map(drawInvocation), 'No asynchronous (Event) invocation yet.');
  fill('operations', store.operations.slice().reverse().map(drawOperation), 'No GraphQL request yet.', 6);
  fill('logs', store.logs.slice().reverse().map(drawLog), 'No resolver has logged anything yet (console.log, $util.log).', 3);
  fill('subscriptions', [...store.subscriptions.values()].reverse().map(drawSubscription), 'No subscription is open.', 5);
  const active = invocations.filter((i) => i.state !== 'succeeded' && i.state !== 'failed').length;
  document.getElementById('invocations-n').textContent = `${store.invocations.size} shown, ${active} in flight`;
  const more = (n) => (n ? ` (and ${n} more, too many to show)` : '');
  document.getElementById('operations-n').textContent = String(store.operations.length) + more(store.skipped.operations);
  document.getElementById('logs-n').textContent = String(store.logs.length) + more(store.skipped.logs);
  document.getElementById('subscriptions-n').textContent = String(store.subscriptionCount);
  document.getElementById('counts').textContent = `event #${store.seq}`;
}

function redraw() {
  if (!dirty) {
    dirty = true;
    requestAnimationFrame(draw);
  }
}

// -- the feed ----------------------------------------------------------------------------

function setStatus(state, text) {
  const status = document.getElementById('status');
  status.dataset.state = state;
  status.textContent = text;
}

function connect(attempt) {
  const url = new URL('events', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const socket = new WebSocket(url);
  socket.onopen = () => setStatus('live', 'live');
  socket.onmessage = (message) => {
    const frame = JSON.parse(message.data);
    if (Array.isArray(frame)) frame.forEach(applyEvent);
    else if (frame.kind === 'snapshot') applySnapshot(frame.data);
    attempt = 0;
    redraw();
  };
  socket.onclose = (close) => {
    const wait = Math.min(5000, 250 * 2 ** attempt);
    const why = close.code === 1012 ? 'emulator stopped' : 'disconnected';
    setStatus('closed', `${why}; reconnecting in ${(wait / 1000).toFixed(1)} s`);
    setTimeout(() => connect(attempt + 1), wait);
  };
}

draw();
connect(0);
