// Headless Chromium for the page tests, started the same way by each script: a fresh temporary
// profile (launch() removes it on close), no GPU, no background traffic of its own.
import { chromium } from 'playwright-core';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launchChromium(executablePath, extraArgs = []) {
  return chromium.launch({ executablePath, headless: true, args: [...ARGS, ...extraArgs] });
}
