/**
 * Every kernel and model suite in one vitest file, so in one worker process, as a long-lived user process would
 * run them: this is the process that used to die in lavapipe's descriptor-pool allocation once evicted bind
 * groups piled up (see BufferPool.putFree). Chromium runs the same cases (test/browser.test.ts).
 */
import { describe, it } from 'vitest';
import { suites } from '../cases/index.js';
import { testEngine } from './node-engine.js';

export function runSuites(): void {
  for (const suite of suites) {
    describe(suite.name, () => {
      for (const c of suite.cases) it(c.name, async () => c.run(await testEngine()));
    });
  }
}
