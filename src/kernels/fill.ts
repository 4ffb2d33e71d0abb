/** fill: a tensor of one value, any dtype. */
import type { Engine } from '../device/engine.js';
import { assert, fmtShape } from '../device/errors.js';
import { typedArrayFor, type DType } from '../graph/dtype.js';
import { HostTensor } from '../graph/host.js';
import { checkShape, sizeOf } from '../graph/shape.js';
import fillWgsl from '../../shaders/fill.wgsl';
import { defineOp, type Plan } from './op.js';
import { Uniforms } from './uniforms.js';

const kernel = { name: 'fill', code: fillWgsl };

function bitsOf(value: number, dtype: DType): number {
  const a = typedArrayFor(dtype, 1);
  a[0] = value;
  return new Uint32Array(a.buffer)[0]!;
}

export const fill = defineOp<[engine: Engine, shape: readonly number[], value: number, dtype?: DType], Plan>({
  name: 'fill',
  differentiable: false,
  check(_engine, shape, value, dtype = 'f32') {
    checkShape('fill', shape);
    assert(dtype === 'f32' || Number.isInteger(value), 'fill', () => `value ${value} is not an integer for dtype ${dtype}`);
    return { shape, dtype };
  },
  gpu(plan, engine, shape, value) {
    const out = engine.empty(shape, plan.dtype);
    const n = sizeOf(shape);
    engine.runtime.dispatch({
      kernel,
      label: `fill ${fmtShape(shape)} ${plan.dtype}`,
      uniforms: new Uniforms().u32(n, bitsOf(value, plan.dtype)),
      bindings: [out.binding()],
      grid: Math.ceil(n / 256),
    });
    return out;
  },
  cpu(plan, _engine, shape, value) {
    const out = HostTensor.zeros(shape, plan.dtype);
    out.data.fill(value);
    return out;
  },
});
