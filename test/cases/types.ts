/**
 * Kernel test cases, written once and run twice: under vitest in Node (test/kernels.test.ts) and in headless
 * Chromium (test/browser.test.ts). A case throws on failure; it must not import Node-only modules.
 */
import type { Engine } from '../../src/device/engine.js';

export interface Case {
  name: string;
  run(engine: Engine): Promise<void>;
}

export interface Suite {
  name: string;
  cases: Case[];
}

/** Asserts a function throws an error whose message contains every fragment. */
export function expectThrows(fn: () => unknown, ...fragments: string[]): void {
  let message: string | undefined;
  try {
    fn();
  } catch (e) {
    message = (e as Error).message;
  }
  if (message === undefined) throw new Error(`expected an error mentioning ${fragments.join(', ')}; nothing was thrown`);
  for (const f of fragments) if (!message.includes(f)) throw new Error(`error "${message}" does not mention "${f}"`);
}
