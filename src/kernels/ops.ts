/** Every op, by name. */
export { abs, add, div, exp, log, maximum, minimum, mul, neg, pow, relu, sigmoid, sqrt, sub, tanh } from './elementwise.js';
export { fill } from './fill.js';
export type { BinaryOp, UnaryOp } from './elementwise.js';
export { matmul, matmulCpu, matmulKernel, type Activation, type HostMatmulOptions, type MatmulOptions, type MatmulPlan } from './matmul.js';
