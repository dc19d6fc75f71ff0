// The genai-chat demo page in a real headless Chromium: open it, run a list of steps (set the fake
// model's controls, ask a prompt and wait until the answer and its timeline are complete), save a
// screenshot after each step, and print what happened as JSON lines for the Python test
// (tests/integration/test_demo_page.py) to check.
//
// usage: node chat_page.mjs <page url> <steps json> <screenshot prefix> [chromium executable]
//   steps: [{"ask": "prompt"} | {"controls": {"tps": 20, "firstTokenMs": 300, "throttleAfter": 3, "throttleTimes": 1}}]
//   screenshots: <prefix>-<step number>.png
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { launchChromium } from './chromium.mjs';

const [pageUrl, stepsJson, prefix, executablePath = '/usr/bin/chromium'] = process.argv.slice(2);
const steps = JSON.parse(stepsJson);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const ANSWER = 'li[data-role="assistant"]';

setTimeout(() => {
  emit({ event: 'timeout' });
  process.exit(3);
}, 100_000).unref();

const browser = await launchChromium(executablePath);

async function screenshot(page, n) {
  const path = `${prefix}-${n}.png`;
  mkdirSync(dirname(path), { recursive: true });
  await page.screenshot({ path, fullPage: true });
  emit({ event: 'screenshot', path });
}

let code = 1;
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
  page.on('console', (msg) => emit({ event: 'console', type: msg.type(), text: msg.text() }));
  page.on('pageerror', (err) => emit({ event: 'pageerror', text: String(err) }));
  page.on('websocket', (ws) => emit({ event: 'socket', url: ws.url() }));
  // Nothing may come from anywhere but the emulator (the vendored scripts included).
  const origin = new URL(pageUrl).origin;
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(origin) && !url.startsWith('data:') && !url.startsWith('ws://')) emit({ event: 'foreign', url });
  });

  await page.goto(pageUrl);
  // The Send button is enabled once the subscription has its start_ack.
  await page.waitForSelector('#send:not([disabled])', { timeout: 15_000 });
  emit({ event: 'live', status: await page.textContent('#status') });

  let asked = 0;
  for (const [n, step] of steps.entries()) {
    if (step.controls) {
      const c = step.controls;
      const applied = Number((await page.getAttribute('#model-controls', 'data-applied')) ?? 0);
      for (const [field, id] of [['tps', '#tps'], ['firstTokenMs', '#first-token-ms'], ['throttleAfter', '#throttle-after'], ['throttleTimes', '#throttle-times']]) {
        if (field in c) await page.fill(id, c[field] === null ? '' : String(c[field]));
      }
      await page.click('#apply-controls');
      await page.waitForSelector(`#model-controls[data-applied="${applied + 1}"]`, { timeout: 10_000 });
      emit({ event: 'controls', status: await page.textContent('#controls-status') });
    } else if (step.ask !== undefined) {
      await page.waitForSelector('#send:not([disabled])', { timeout: 15_000 });
      await page.fill('#prompt', step.ask);
      await page.click('#send');
      const index = asked++;
      // Done (or failed for good), the ask's reply in, and the server's records read into the timeline.
      await page.waitForFunction(
        ([selector, i]) => {
          const li = document.querySelectorAll(selector)[i];
          return (
            li &&
            ['done', 'error'].includes(li.dataset.state) &&
            li.dataset.askMs !== undefined &&
            li.querySelector('.timeline').dataset.complete === 'true'
          );
        },
        [ANSWER, index],
        { timeout: 60_000, polling: 100 },
      );
      const answer = await page.$$eval(
        ANSWER,
        (items, i) => {
          const li = items[i];
          return {
            state: li.dataset.state,
            text: li.querySelector('.text').textContent,
            html: li.querySelector('.text').innerHTML,
            error: li.querySelector('.error').hidden ? null : li.querySelector('.error').textContent,
            askMs: li.dataset.askMs === undefined ? null : Number(li.dataset.askMs),
            firstChunkMs: li.dataset.firstChunkMs === undefined ? null : Number(li.dataset.firstChunkMs),
            meta: li.querySelector('.meta').textContent,
            model: li.dataset.model ?? null,
            historyTurns: Number(li.dataset.historyTurns),
            conversationId: li.dataset.conversationId,
            timeline: [...li.querySelectorAll('.timeline li')].map((e) => ({
              kind: e.dataset.kind,
              at: Number(e.dataset.at),
              source: e.dataset.source,
              attempt: e.dataset.attempt === undefined ? null : Number(e.dataset.attempt),
              label: e.querySelector('.what').textContent,
              shown: e.querySelector('.t').textContent,
            })),
          };
        },
        index,
      );
      const user = await page.$$eval('li[data-role="user"] .text', (items, i) => items[i].textContent, index);
      const status = await page.textContent('#status');
      const busy = await page.getAttribute('#log', 'aria-busy');
      emit({ event: 'answer', index, ...answer, user, status, busy });
    }
    await screenshot(page, n + 1);
  }

  emit({
    event: 'page',
    backend: await page.textContent('#backend'),
    backendKind: await page.getAttribute('#backend', 'data-kind'),
    model: await page.textContent('#model'),
    controlsHidden: await page.$eval('#model-controls', (e) => e.hidden),
    controlsDisabled: await page.$eval('#controls-fields', (e) => e.disabled),
    controlsDisabledText: await page.textContent('#controls-disabled'),
    controlsStatus: await page.textContent('#controls-status'),
    pwned: await page.evaluate(() => window.__pwned ?? null),
  });
  if (steps.length === 0) await screenshot(page, 0);
  code = 0;
} catch (err) {
  emit({ event: 'failure', error: String(err?.stack ?? err) });
} finally {
  await browser.close();
}
process.exit(code);
