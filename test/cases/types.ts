/**
 * Kernel test cases, written once and run twice: under vitest in Node (test/kernels.test.ts) and in headless
 * Chromium (test/browser.test.ts). A case throws on failure; it must not import Node-only modules.
 */
import type { Engine } from '../../src/device/engine.js';
import type { TunableKernel } from '../../src/kernels/variants.js';

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

/** Runs `fn` once per variant of `kernel` this device supports, each forced in turn, naming it in a failure. */
export async function eachVariant(engine: Engine, kernel: TunableKernel<never> | TunableKernel<unknown>, fn: (variant: string) => Promise<void>): Promise<void> {
  const k = kernel as TunableKernel<unknown>;
  for (const v of engine.variants.supported(k)) {
    engine.variants.force(k.name, v);
    try {
      await fn(v);
    } catch (e) {
      throw new Error(`[${k.name} = ${v}] ${(e as Error).message}`);
    } finally {
      engine.variants.force(k.name, undefined);
    }
  }
}

/** How many dispatches `fn` records. */
export function dispatchesOf(engine: Engine, fn: () => void): number {
  const before = engine.runtime.counters.dispatches;
  fn();
  return engine.runtime.counters.dispatches - before;
}
