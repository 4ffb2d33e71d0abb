/**
 * pad: a constant border around a tensor, as TF's Pad / PadV2 (and ONNX's constant Pad): `paddings[a] = [before,
 * after]` elements on axis a. Built from the engine's fill and concat kernels, one concat per padded axis (BlazeFace
 * pads only channels, so one fill and one copy), which keeps it exact. Backward: the slice of dy the input covers.
 */
import { assert, fmtShape } from '../device/errors.js';
import { noGrad } from '../graph/autograd.js';
import { HostTensor } from '../graph/host.js';
import type { Tensor } from '../graph/tensor.js';
import { fill } from '../kernels/fill.js';
import { concat, slice } from '../kernels/layout.js';
import { defineOp, type Plan } from '../kernels/op.js';

export type Paddings = readonly (readonly [number, number])[];

interface PadPlan extends Plan {
  paddings: [number, number][];
  value: number;
}

export const pad = defineOp<[x: Tensor, paddings: Paddings, value?: number], PadPlan>({
  name: 'pad',
  check(x, paddings, value = 0) {
    const what = () => `paddings ${JSON.stringify(paddings)} for ${x.dtype} ${fmtShape(x.shape)}`;
    assert(Array.isArray(paddings) && paddings.length === x.shape.length, 'pad', () => `${what()}: needs one [before, after] pair per axis (${x.shape.length})`);
    const p = paddings.map((pair) => {
      assert(Array.isArray(pair) && pair.length === 2 && pair.every((v) => Number.isInteger(v) && v >= 0), 'pad', () => `${what()}: each pair must be two non-negative integers`);
      return [pair[0], pair[1]] as [number, number];
    });
    assert(Number.isFinite(value) && (x.dtype === 'f32' || Number.isInteger(value)), 'pad', () => `${what()}: value ${value} does not fit ${x.dtype}`);
    return { shape: x.shape.map((d, a) => d + p[a]![0] + p[a]![1]), dtype: x.dtype, paddings: p, value };
  },
  gpu(plan, x) {
    return noGrad(() => {
      let y = x;
      plan.paddings.forEach(([before, after], a) => {
        if (before === 0 && after === 0) return;
        const side = (n: number) => fill(x.engine, y.shape.map((d, j) => (j === a ? n : d)), plan.value, x.dtype);
        const parts = [...(before ? [side(before)] : []), y, ...(after ? [side(after)] : [])];
        const next = concat(parts, a);
        for (const t of parts) if (t !== x) t.dispose();
        y = next;
      });
      return y === x ? x.detach() : y;
    });
  },
  cpu(plan, x) {
    const out = HostTensor.zeros(plan.shape, plan.dtype);
    out.data.fill(plan.value);
    const rank = x.shape.length;
    const outStrides = new Array<number>(rank).fill(1);
    for (let a = rank - 2; a >= 0; a--) outStrides[a] = outStrides[a + 1]! * plan.shape[a + 1]!;
    const idx = new Array<number>(rank).fill(0);
    for (let i = 0; i < x.size; i++) {
      let o = 0;
      for (let a = 0; a < rank; a++) o += (idx[a]! + plan.paddings[a]![0]) * outStrides[a]!;
      out.data[o] = x.data[i]!;
      for (let a = rank - 1; a >= 0; a--) {
        if (++idx[a]! < x.shape[a]!) break;
        idx[a] = 0;
      }
    }
    return out;
  },
  backward: {
    grad({ plan, args: [x] }, dy) {
      return [slice(dy, plan.paddings.map((p) => p[0]), plan.paddings.map((p, a) => p[0] + x.shape[a]!))];
    },
  },
});
