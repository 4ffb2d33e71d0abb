/** Kernel suites in Node: optimisers, checkpoints, attention kernels, modules and training. */
import { runSuiteGroup } from './helpers/run-suites.js';

runSuiteGroup('training');
