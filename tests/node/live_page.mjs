// The emulator's live page (/_emu/) in a real headless Chromium: open it, wait until its feed is
// live, open a subscription (the page lists it), start an Event invocation (the lambda fixture's
// startJob, whose function publishes to that subscription), wait until the page shows it
// succeeded, open its details, save a screenshot, and print what the page showed as JSON lines
// for the Python test (tests/integration/test_live_page.py) to check.
//
// usage: node live_page.mjs <page url> <graphql url> <api key> <job id> <screenshot path> [chromium executable]
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { launchChromium } from './chromium.mjs';

const [pageUrl, graphqlUrl, apiKey, jobId, screenshot, executablePath = '/usr/bin/chromium'] = process.argv.slice(2);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const START = 'mutation S($j: ID!, $t: String!) { startJob(jobId: $j, text: $t) { jobId resultWasNull } }';

setTimeout(() => {
  emit({ event: 'timeout' });
  process.exit(3);
}, 60_000).unref();

const browser = await launchChromium(executablePath);

let code = 1;
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.on('console', (msg) => emit({ event: 'console', type: msg.type(), text: msg.text() }));
  page.on('pageerror', (err) => emit({ event: 'pageerror', text: String(err) }));
  page.on('websocket', (ws) => emit({ event: 'socket', url: ws.url() }));

  await page.goto(pageUrl);
  await page.waitForSelector('#status[data-state="live"]', { timeout: 15_000 });
  emit({ event: 'live' });

  // A subscriber, as an app would open one (AppSync's real-time protocol, from the same page):
  // the live page lists it, and the function's publish reaches it.
  await page.evaluate(
    ({ apiKey, jobId }) =>
      new Promise((resolve, reject) => {
        const auth = { host: location.host, 'x-api-key': apiKey };
        const url = `ws://${location.host}/graphql/realtime?header=${btoa(JSON.stringify(auth))}&payload=e30=`;
        const ws = new WebSocket(url, ['graphql-ws']);
        window.published = [];
        ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init' }));
        ws.onmessage = (message) => {
          const msg = JSON.parse(message.data);
          if (msg.type === 'connection_ack') {
            const query = 'subscription S($id: ID) { onPublish(id: $id) { id text } }';
            const data = JSON.stringify({ query, variables: { id: jobId } });
            ws.send(JSON.stringify({ id: 'page-sub', type: 'start', payload: { data, extensions: { authorization: auth } } }));
          } else if (msg.type === 'start_ack') resolve();
          else if (msg.type === 'data') window.published.push(msg.payload.data.onPublish);
          else if (msg.type !== 'ka') reject(new Error(message.data));
        };
      }),
    { apiKey, jobId },
  );
  await page.waitForSelector('#subscriptions tr[data-field="onPublish"]', { timeout: 10_000 });

  // The ask, from outside the page, as an app would send it.
  const reply = await fetch(graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
    body: JSON.stringify({ query: START, variables: { j: jobId, t: 'shown on the live page' } }),
  });
  emit({ event: 'mutation', status: reply.status, body: await reply.json() });

  // Ours is the invocation whose event (the start the page shows of it) has our job id: earlier
  // tests' are listed too.
  const ours = await page.waitForFunction(
    (job) => {
      for (const li of document.querySelectorAll('li.inv[data-state="succeeded"], li.inv[data-state="failed"]')) {
        if (li.querySelector('.payload')?.textContent.includes(`"jobId":"${job}"`)) return li.dataset.requestId;
      }
      return undefined;
    },
    jobId,
    { timeout: 30_000 },
  );
  const mine = `li.inv[data-request-id="${await ours.jsonValue()}"]`;
  await page.click(`${mine} summary`);
  await page.waitForSelector(`${mine} details[open] pre.record`, { timeout: 5_000 });
  // The function's own mutation (signed with IAM) shows up among the operations too.
  await page.waitForFunction(() => document.querySelectorAll('#operations tr[data-status]').length >= 2, null, { timeout: 15_000 });
  const shown = await page.$eval(mine, (li) => ({
    requestId: li.dataset.requestId,
    state: li.dataset.state,
    steps: li.dataset.steps,
    logs: li.querySelector('pre.logs')?.textContent ?? '',
    record: li.querySelector('pre.record')?.textContent ?? '',
  }));
  const operations = await page.$$eval('#operations tr[data-status]', (rows) => rows.length);
  const subscriptions = await page.$$eval('#subscriptions tr[data-field]', (rows) => rows.map((r) => r.dataset.id));
  await page.waitForFunction(() => window.published.length > 0, null, { timeout: 10_000 });
  const published = await page.evaluate(() => window.published);
  emit({ event: 'invocation', ...shown, operations, subscriptions, published });

  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  emit({ event: 'screenshot', path: screenshot });
  code = shown.state === 'succeeded' ? 0 : 2;
} catch (err) {
  emit({ event: 'failure', error: String(err?.stack ?? err) });
} finally {
  await browser.close();
}
process.exit(code);
