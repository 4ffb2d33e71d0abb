/** Every kernel suite, shared by the Node and browser runs. */
import { elementwiseSuite } from './elementwise.cases.js';
import { matmulSuite } from './matmul.cases.js';
import { runtimeSuite } from './runtime.cases.js';
import { reduceSuite } from './reduce.cases.js';
import { layoutSuite } from './layout.cases.js';
import { batchnormSuite } from './batchnorm.cases.js';
import { softmaxSuite } from './softmax.cases.js';
import { poolSuite } from './pool.cases.js';
import { gateSuite } from './gate.cases.js';
import { layernormSuite } from './layernorm.cases.js';
import type { Suite } from './types.js';
import { optimSuite } from './optim.cases.js';
import { safetensorsSuite } from './safetensors.cases.js';

export const suites: Suite[] = [runtimeSuite, elementwiseSuite, matmulSuite, reduceSuite, layoutSuite, batchnormSuite, softmaxSuite, poolSuite, gateSuite, layernormSuite];
suites.push(optimSuite, safetensorsSuite);
