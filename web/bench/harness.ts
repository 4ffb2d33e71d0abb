/**
 * bench/harness.ts for a browser page: the suites of bench/suites import `../harness.js`, which the bench page's
 * bundle resolves here (web/tools/bench-bundle.ts). Everything platform-neutral is the Node harness's own code
 * (rows, timing with tinybench, tables, random data); what touches Node or Dawn is replaced: the engine and
 * TensorFlow.js's WebGPU backend open `navigator.gpu`, there is one way to wait (the page's event loop resolves
 * GPU promises; rows say 'busy', the engine's default waiter), and results carry the browser instead of Node.
 */
import { createEngine, describeAdapter, type Engine } from '../../src/device/engine.js';
import { busyWaiter, type Waiter, type WaitMode } from '../../src/device/waiter.js';
import type { ResultsFile, Row, Tf } from '../../bench/harness.js';

export * from '../../bench/harness.js';

/** The wait modes a browser has. */
export const WAIT_MODES: readonly WaitMode[] = ['busy'];

export function waiterFor(_mode: WaitMode): Waiter {
  return busyWaiter;
}

export function benchEngine(): Promise<Engine> {
  return createEngine();
}

/** A browser engine has one waiter; the mode is recorded in the rows as given. */
export function setWaitMode(_engine: Engine, _mode: WaitMode): Waiter {
  return busyWaiter;
}

let tfPromise: Promise<Tf> | undefined;

/** TensorFlow.js with its WebGPU backend on this page's navigator.gpu (its own device on the same adapter). */
export function tfjsWebGPU(): Promise<Tf> {
  tfPromise ??= (async () => {
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-webgpu');
    if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs: the WebGPU backend failed to initialise in this browser');
    await tf.ready();
    return tf;
  })();
  return tfPromise;
}

export function repoRoot(): never {
  throw new Error('this suite reads files from the repository and runs in Node only');
}

export function defaultResultsDir(): string {
  return '';
}

/** The Node results header, with the browser where Node's version, CPU count and load average would be. */
export function resultsHeader(engine: Engine, suite: string, waits: readonly WaitMode[], quick: boolean, rows: Row[]): ResultsFile & { browser: string; runtime: 'browser' } {
  return {
    suite,
    device: describeAdapter(engine.adapter),
    dawn: 'browser',
    node: 'browser',
    browser: navigator.userAgent,
    runtime: 'browser',
    wait: waits.length === 1 ? waits[0]! : 'both',
    quick,
    date: new Date().toISOString(),
    cpus: navigator.hardwareConcurrency ?? 0,
    load_1m: { before: 0, after: 0 },
    rows,
  };
}
