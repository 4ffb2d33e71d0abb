/** M1 in a process of its own (see test/helpers/run-suites.ts). */
import { runSuiteGroup } from './helpers/run-suites.js';

runSuiteGroup('m1');
