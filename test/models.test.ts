/** The model suites (and any suite not grouped elsewhere), in Node. */
import { runSuiteGroup } from './helpers/run-suites.js';

runSuiteGroup('rest');
