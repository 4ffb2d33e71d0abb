/** Every kernel suite against its CPU reference, in Node. The same cases run in Chromium (browser.test.ts). */
import { describe, it } from 'vitest';
import { suites } from './cases/index.js';
import { testEngine } from './helpers/node-engine.js';

for (const suite of suites) {
  describe(suite.name, () => {
    for (const c of suite.cases) it(c.name, async () => c.run(await testEngine()));
  });
}
