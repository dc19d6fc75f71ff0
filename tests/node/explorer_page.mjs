// The explorer (GraphiQL at `/`) in a real headless Chromium with no network: run a query signed
// with IAM, open the schema's docs, start a subscription (IAM over AppSync's real-time protocol)
// in tab A and one with a user pool token from the local issuer in tab C, run a mutation (API
// key) in tab B, and see its event arrive in A and C. Saves screenshots and prints what happened
// as JSON lines for tests/integration/test_explorer.py.
//
// usage: node explorer_page.mjs <base url> <api key> <user pool auth id> <screenshot dir> [chromium executable]
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { launchChromium } from './chromium.mjs';

const [base, apiKey, poolAuth, shots, executablePath = '/usr/bin/chromium'] = process.argv.slice(2);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const origin = new URL(base);

setTimeout(() => {
  emit({ event: 'timeout' });
  process.exit(3);
}, 90_000).unref();

const QUERY = 'query Who {\n  whoami\n}\n';
const ME = 'query Me {\n  whoami\n  me\n}\n';
const SUBSCRIPTION = 'subscription Notes {\n  onNote {\n    id\n    text\n    by\n  }\n}\n';
const MUTATION = 'mutation Add {\n  addNote(text: "from tab B") {\n    id\n    text\n    by\n  }\n}\n';

// No network: every name but the emulator's own address fails to resolve.
const browser = await launchChromium(executablePath, [`--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE ${origin.hostname}`]);

/** The text in a tab's response editor (GraphiQL's CodeMirror 5). */
const responseText = (page) =>
  page.evaluate(() => document.querySelector('.graphiql-response .CodeMirror')?.CodeMirror.getValue() ?? '');

async function waitForResponse(page, needle, what) {
  try {
    await page.waitForFunction(
      (n) => (document.querySelector('.graphiql-response .CodeMirror')?.CodeMirror.getValue() ?? '').includes(n),
      needle,
      { timeout: 20_000 },
    );
  } catch (err) {
    throw new Error(`${what}: the response never held ${JSON.stringify(needle)}; it holds ${JSON.stringify(await responseText(page))}`);
  }
  return JSON.parse(await responseText(page));
}

/** Open the explorer with `query` in its editor and `auth` chosen (`extra`: more URL parameters), and run it. */
async function run(page, auth, query, extra = '') {
  const url = `${base}/?auth=${encodeURIComponent(auth)}&query=${encodeURIComponent(query)}${extra}`;
  await page.goto(url);
  await page.waitForSelector('.graphiql-execute-button', { timeout: 15_000 });
  // The schema is loaded (with this auth mode) when the docs button can open it.
  await page.waitForFunction(() => !document.querySelector('.graphiql-spinner'), null, { timeout: 15_000 });
  await page.click('.graphiql-execute-button');
}

let code = 1;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
  context.on('request', (req) => emit({ event: 'request', url: req.url() }));
  const watch = (page, tab) => {
    page.on('console', (msg) => emit({ event: 'console', tab, type: msg.type(), text: msg.text() }));
    page.on('pageerror', (err) => emit({ event: 'pageerror', tab, text: String(err) }));
    page.on('websocket', (ws) => {
      emit({ event: 'socket', tab, url: ws.url() });
      ws.on('framesent', (f) => emit({ event: 'frame', tab, dir: 'sent', text: String(f.payload) }));
      ws.on('framereceived', (f) => emit({ event: 'frame', tab, dir: 'received', text: String(f.payload) }));
    });
  };
  mkdirSync(shots, { recursive: true });
  const shot = async (page, name) => {
    const path = join(shots, name);
    await page.screenshot({ path });
    emit({ event: 'screenshot', path });
  };

  // Tab A: a query signed with IAM, then the schema's docs.
  const tabA = await context.newPage();
  watch(tabA, 'A');
  await run(tabA, 'iam', QUERY);
  emit({ event: 'query', auth: await tabA.inputValue('#auth'), response: await waitForResponse(tabA, 'whoami', 'query') });
  await tabA.click('[aria-label="Show Documentation Explorer"]');
  await tabA.waitForSelector('.graphiql-doc-explorer-content', { timeout: 10_000 });
  await tabA.click('.graphiql-doc-explorer-content a:has-text("Mutation")');
  await tabA.waitForSelector('.graphiql-doc-explorer-content :text("addNote")', { timeout: 10_000 });
  emit({ event: 'docs', text: await tabA.textContent('.graphiql-doc-explorer') });
  await shot(tabA, 'explorer-query.png');

  // Tab A: a subscription, IAM-signed over the real-time protocol; waits for its start_ack.
  await run(tabA, 'iam', SUBSCRIPTION);
  await waitForResponse(tabA, 'Waiting for events', 'subscription start');
  emit({ event: 'subscribed' });

  // Tab C: a user pool token minted by the local issuer (POST /_emu/token) for carol in admin,
  // for a query and then a subscription.
  const tabC = await context.newPage();
  watch(tabC, 'C');
  await run(tabC, poolAuth, ME, '&user=carol&groups=admin');
  emit({ event: 'token-query', response: await waitForResponse(tabC, 'carol', 'token query') });
  await run(tabC, poolAuth, SUBSCRIPTION, '&user=carol&groups=admin');
  await waitForResponse(tabC, 'Waiting for events', 'token subscription start');

  // Tab B: without a credential ("Headers tab only", empty), a query and a subscription show
  // AppSync's refusals; then the mutation, with the API key.
  const tabB = await context.newPage();
  watch(tabB, 'B');
  await run(tabB, 'headers', QUERY);
  emit({ event: 'refused', kind: 'query', response: await waitForResponse(tabB, 'errors', 'refused query') });
  await run(tabB, 'headers', SUBSCRIPTION);
  emit({ event: 'refused', kind: 'subscription', response: await waitForResponse(tabB, 'errors', 'refused subscription') });
  await run(tabB, `api-key:${apiKey}`, MUTATION);
  emit({ event: 'mutation', response: await waitForResponse(tabB, 'from tab B', 'mutation') });
  await shot(tabB, 'explorer-mutation.png');

  // Tabs A and C: the event.
  await tabA.bringToFront();
  emit({ event: 'event', tab: 'A', response: await waitForResponse(tabA, 'from tab B', 'subscription event') });
  await shot(tabA, 'explorer-subscription.png');
  await tabC.bringToFront();
  emit({ event: 'event', tab: 'C', response: await waitForResponse(tabC, 'from tab B', 'token subscription event') });
  await shot(tabC, 'explorer-token-subscription.png');
  await tabA.bringToFront();

  // Stopping the subscription sends `stop`.
  await tabA.click('.graphiql-execute-button');
  await tabA.waitForFunction(() => document.getElementById('status').textContent.includes('stopped'), null, {
    timeout: 10_000,
  });
  emit({ event: 'stopped' });
  code = 0;
} catch (err) {
  emit({ event: 'failure', error: String(err?.stack ?? err) });
} finally {
  await browser.close();
}
process.exit(code);
