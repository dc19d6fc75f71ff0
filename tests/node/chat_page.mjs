// The genai-chat demo page in a real headless Chromium: open it, type a prompt, send it, wait
// until the streamed answer is complete, save a screenshot, and print what happened as JSON
// lines for the Python test (tests/integration/test_demo_page.py) to check.
//
// usage: node chat_page.mjs <page url> <prompt> <screenshot path> [chromium executable]
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { chromium } from 'playwright-core';

const [pageUrl, prompt, screenshot, executablePath = '/usr/bin/chromium'] = process.argv.slice(2);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const ANSWER = 'li[data-role="assistant"]';

setTimeout(() => {
  emit({ event: 'timeout' });
  process.exit(3);
}, 60_000).unref();

// launch() starts Chromium with a fresh temporary profile (user-data-dir) and removes it on close.
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});

let code = 1;
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
  page.on('console', (msg) => emit({ event: 'console', type: msg.type(), text: msg.text() }));
  page.on('pageerror', (err) => emit({ event: 'pageerror', text: String(err) }));
  page.on('websocket', (ws) => emit({ event: 'socket', url: ws.url() }));

  await page.goto(pageUrl);
  // The Send button is enabled once the subscription has its start_ack.
  await page.waitForSelector('#send:not([disabled])', { timeout: 15_000 });
  emit({ event: 'live', status: await page.textContent('#status') });

  await page.fill('#prompt', prompt);
  await page.click('#send');
  await page.waitForSelector(`${ANSWER}[data-state="done"], ${ANSWER}[data-state="error"]`, { timeout: 30_000 });

  const answer = await page.$eval(ANSWER, (li) => ({
    state: li.dataset.state,
    text: li.querySelector('.text').textContent,
    error: li.querySelector('.error').hidden ? null : li.querySelector('.error').textContent,
    askMs: li.dataset.askMs === undefined ? null : Number(li.dataset.askMs),
    firstChunkMs: li.dataset.firstChunkMs === undefined ? null : Number(li.dataset.firstChunkMs),
    meta: li.querySelector('.meta').textContent,
  }));
  // The ask's HTTP reply may land after the last chunk on a fast machine: wait for it too.
  await page.waitForSelector(`${ANSWER}[data-ask-ms]`, { timeout: 10_000 });
  answer.askMs = Number(await page.getAttribute(ANSWER, 'data-ask-ms'));
  const user = await page.textContent('li[data-role="user"] .text');
  const status = await page.textContent('#status');
  const busy = await page.getAttribute('#log', 'aria-busy');
  emit({ event: 'answer', ...answer, user, status, busy });

  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  emit({ event: 'screenshot', path: screenshot });
  code = answer.state === 'done' ? 0 : 2;
} catch (err) {
  emit({ event: 'failure', error: String(err?.stack ?? err) });
} finally {
  await browser.close();
}
process.exit(code);
