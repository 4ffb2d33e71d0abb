/** The kernel suites in the browser: runs every case on navigator.gpu and publishes the results. */
import { createEngine, describeAdapter } from '../../src/index.js';
import { suites } from '../cases/index.js';

export interface CaseResult {
  suite: string;
  name: string;
  ok: boolean;
  error?: string;
  ms: number;
}

declare global {
  interface Window {
    __fergpu?: { adapter: string; results: CaseResult[]; done: boolean; fatal?: string };
  }
}

async function main(): Promise<void> {
  const state: NonNullable<Window['__fergpu']> = { adapter: '', results: [], done: false };
  window.__fergpu = state;
  try {
    const engine = await createEngine();
    state.adapter = describeAdapter(engine.adapter);
    const only = new URLSearchParams(location.search).get('suite');
    for (const suite of suites) {
      if (only && suite.name !== only) continue;
      for (const c of suite.cases) {
        const t0 = performance.now();
        try {
          await c.run(engine);
          state.results.push({ suite: suite.name, name: c.name, ok: true, ms: performance.now() - t0 });
        } catch (e) {
          const err = e as Error;
          state.results.push({ suite: suite.name, name: c.name, ok: false, error: `${err.name}: ${err.message}`, ms: performance.now() - t0 });
        }
      }
    }
  } catch (e) {
    state.fatal = (e as Error).message;
  }
  state.done = true;
}

void main();
