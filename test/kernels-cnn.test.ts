/** Kernel suites in Node: convolution, normalisation, pooling, softmax family. */
import { runSuiteGroup } from './helpers/run-suites.js';

runSuiteGroup('cnn');
