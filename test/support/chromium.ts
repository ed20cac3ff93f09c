/**
 * Headless Chromium as every browser test and benchmark starts it: Debian's package (or
 * MLPIPE_CHROMIUM), through playwright-core, with the flags a container without a GPU, a sandbox
 * or a large /dev/shm needs.
 */
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.MLPIPE_CHROMIUM ?? '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-dev-shm-usage',
    ],
  });
}
