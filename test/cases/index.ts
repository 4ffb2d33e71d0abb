/** Every kernel suite, shared by the Node and browser runs. */
import { elementwiseSuite } from './elementwise.cases.js';
import { matmulSuite } from './matmul.cases.js';
import { runtimeSuite } from './runtime.cases.js';
import type { Suite } from './types.js';

export const suites: Suite[] = [runtimeSuite, elementwiseSuite, matmulSuite];
