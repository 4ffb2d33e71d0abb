/** Kernel suites against their CPU references, in Node: the core ops. The same cases run in Chromium (browser.test.ts). */
import { runSuiteGroup } from './helpers/run-suites.js';

runSuiteGroup('core');
