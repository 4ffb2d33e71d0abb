/**
 * Headless Chromium for the web app, its tests, the browser demo and the browser benchmarks: Debian's chromium
 * (no browser download) driven by playwright-core, with WebGPU on (SwiftShader where there is no GPU). Node only.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type LaunchOptions, type Page } from 'playwright-core';

export const CHROMIUM = process.env.FERGPU_CHROMIUM ?? '/usr/bin/chromium';

const QUIET = ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface LaunchChromiumOptions {
  /** false: start without WebGPU (navigator.gpu is absent), to check what the page says then. */
  webgpu?: boolean;
  /** Extra command-line switches. */
  args?: string[];
  headless?: boolean;
}

export async function launchChromium(o: LaunchChromiumOptions = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: run 'npm run setup' (installs Debian's chromium) or set FERGPU_CHROMIUM`);
  const gpu = o.webgpu === false ? ['--disable-features=WebGPU', '--disable-webgpu'] : ['--enable-unsafe-webgpu'];
  const options: LaunchOptions = { executablePath: CHROMIUM, headless: o.headless ?? true, args: [...gpu, ...QUIET, ...(o.args ?? [])] };
  return chromium.launch(options);
}

/** Collects the page's console and uncaught errors, so a failing test can show what the page said. */
export function pageLog(page: Page): string[] {
  const lines: string[] = [];
  page.on('console', (m) => lines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => lines.push(`pageerror: ${e.message}`));
  return lines;
}
