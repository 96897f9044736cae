import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { deferCleanup, type CleanupScope } from './cleanup-scope';
import { skipOrFail } from './prerequisites';

/** Debian's Chromium; playwright-core ships no browser of its own. */
export const CHROMIUM_PATH = process.env.MAMORI_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Flags for a headless Chromium on a machine with no network but loopback: without the
 * background-networking ones Chromium keeps trying (and failing) to reach Google's hosts, and a
 * root user needs --no-sandbox.
 */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Where browser tests save their screenshots (ignored by git). */
export const SCREENSHOT_DIR = join(__dirname, '..', '..', '..', 'test', 'output', 'screenshots');

/**
 * Starts headless Chromium (playwright-core gives it a fresh profile folder of its own and
 * removes it on close); closed when the test ends, even after a failure. Returns null (the test
 * skipped) when Chromium is not installed, which fails the test in CI instead.
 */
export async function launchBrowser(t: CleanupScope): Promise<Browser | null> {
  if (!existsSync(CHROMIUM_PATH)) {
    skipOrFail(t, `Chromium not found at ${CHROMIUM_PATH} (Debian package "chromium"; MAMORI_CHROMIUM names another binary)`);
    return null;
  }
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_FLAGS });
  deferCleanup(t, () => browser.close());
  return browser;
}

/** One page in a new isolated context (its own cookies), closed when the test ends. */
export async function openPage(t: CleanupScope, browser: Browser, options: { locale?: string; baseURL: string }): Promise<Page> {
  const context = await browser.newContext({ locale: options.locale ?? 'en-US', baseURL: options.baseURL, viewport: { width: 1440, height: 900 } });
  deferCleanup(t, () => context.close());
  return context.newPage();
}

/** Saves a full-page screenshot under SCREENSHOT_DIR and returns its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
