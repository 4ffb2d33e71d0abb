/**
 * The fused epilogue every convolution kernel shares: bias, residual and ReLU as flag bits 0, 1, 2, with the
 * operands bound at 4 and 5 (a shared 16-byte buffer stands in for absent ones, so one pipeline serves all).
 */
import type { Engine } from '../device/engine.js';
import type { Tensor } from '../graph/tensor.js';
import type { Binding } from './runtime.js';

export interface Epilogue {
  bias?: Tensor | undefined;
  residual?: Tensor | undefined;
  relu: boolean;
}

const dummies = new WeakMap<Engine, Tensor>();

export function epilogueBindings(engine: Engine, l: Omit<Epilogue, 'relu'>): Binding[] {
  let dummy = dummies.get(engine);
  if (!dummy || dummy.isDisposed) dummies.set(engine, (dummy = engine.tensor(new Float32Array(4), [4])));
  return [(l.bias ?? dummy).binding(), (l.residual ?? dummy).binding()];
}

export function epilogueFlags(l: Epilogue): number {
  return (l.bias ? 1 : 0) | (l.residual ? 2 : 0) | (l.relu ? 4 : 0);
}
