/** Every kernel and model suite against its CPU reference, in Node, in one process. The same cases run in Chromium (browser.test.ts). */
import { runSuites } from './helpers/run-suites.js';

runSuites();
