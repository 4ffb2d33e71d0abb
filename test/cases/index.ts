/** Every kernel suite, shared by the Node and browser runs. */
import { autogradSuite } from './autograd.cases.js';
import { elementwiseSuite } from './elementwise.cases.js';
import { modulesSuite } from './modules.cases.js';
import { matmulSuite } from './matmul.cases.js';
import { runtimeSuite } from './runtime.cases.js';
import { reduceSuite } from './reduce.cases.js';
import { layoutSuite } from './layout.cases.js';
import { batchnormSuite } from './batchnorm.cases.js';
import { softmaxSuite } from './softmax.cases.js';
import { poolSuite } from './pool.cases.js';
import { convSuite } from './conv.cases.js';
import { gateSuite } from './gate.cases.js';
import { layernormSuite } from './layernorm.cases.js';
import { dropoutSuite } from './dropout.cases.js';
import type { Suite } from './types.js';
import { attentionSuite } from './attention.cases.js';
import { optimSuite } from './optim.cases.js';
import { safetensorsSuite } from './safetensors.cases.js';

export const suites: Suite[] = [runtimeSuite, elementwiseSuite, autogradSuite, matmulSuite, reduceSuite, layoutSuite, batchnormSuite, softmaxSuite, convSuite, poolSuite, gateSuite, layernormSuite, dropoutSuite];
suites.push(optimSuite, safetensorsSuite);
suites.push(attentionSuite);
suites.push(modulesSuite);
import { m4Suite } from './m4.cases.js';
suites.push(m4Suite);
