import type { DType } from '../../src/graph/dtype.js';
import { HostTensor } from '../../src/graph/host.js';
import * as ops from '../../src/kernels/ops.js';
import type { TunableKernel } from '../../src/kernels/variants.js';
import { checkOp, randomHost } from '../helpers/compare.js';
import { expectThrows, eachVariant, type Case, type Suite } from './types.js';

// Copies are bit-exact.
const EXACT = { abs: 0, rel: 0 };

const transposeKernel = ops.transposeKernel as TunableKernel<unknown>;

/** Distinct values of a dtype: i32 negatives, u32 above 2³¹ (their bits must survive the copy). */
function values(shape: number[], seed: number, dtype: DType = 'f32'): HostTensor {
  const r = randomHost(shape, seed, -1, 1);
  if (dtype === 'f32') return r;
  const v = Array.from(r.data, (x, i) => (dtype === 'i32' ? Math.round(x * 1e6) - i : 4_000_000_000 - i * 7));
  return HostTensor.from(v, shape, dtype);
}

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)]));
}

const cases: Case[] = [
  {
    name: 'permute: every permutation of rank 3, rank 1..5 and 8, size-1 axes, each transpose variant',
    async run(engine) {
      await eachVariant(engine, transposeKernel, async () => {
        for (const p of permutations(3)) await checkOp(engine, ops.permute, [values([2, 3, 4], 1), p], EXACT);
        for (const p of permutations(4)) await checkOp(engine, ops.permute, [values([3, 1, 5, 2], 2), p], EXACT);
        const more: [number[], number[]][] = [
          [[7], [0]],
          [[], []],
          [[1, 1], [1, 0]],
          [[2, 1, 3, 4, 2], [4, 2, 0, 3, 1]],
          [[2, 3, 5, 7], [0, 2, 3, 1]], // NCHW → NHWC: a batched transpose after merging
          [[2, 5, 7, 3], [0, 3, 1, 2]], // NHWC → NCHW
          [[4, 5, 6], [-1, 0, 1]],
          [[2, 1, 2, 1, 2, 1, 2, 3], [7, 6, 5, 4, 3, 2, 1, 0]],
          [[3, 0, 2], [2, 0, 1]],
          // Rows of ≥ 32 (a workgroup per few rows, offsets carried from row to row across several axes) and
          // rows longer than one 1024-element chunk.
          [[3, 4, 5, 40], [2, 0, 1, 3]],
          [[2, 3, 5, 2, 37], [3, 0, 2, 1, 4]],
          [[1100, 3], [1, 0]],
          [[2, 1500, 3], [2, 0, 1]],
        ];
        for (const [s, p] of more) await checkOp(engine, ops.permute, [values(s, 3), p], EXACT);
        await checkOp(engine, ops.permute, [values([3, 4, 5], 4, 'i32'), [2, 0, 1]], EXACT);
        await checkOp(engine, ops.permute, [values([3, 4, 5], 5, 'u32'), [1, 2, 0]], EXACT);
      });
    },
  },
  {
    name: 'transpose: tile edges, batches, other axes, integer dtypes, each variant',
    async run(engine) {
      await eachVariant(engine, transposeKernel, async () => {
        await checkOp(engine, ops.transpose, [values([33, 65], 1)], EXACT);
        await checkOp(engine, ops.transpose, [values([70, 129], 2)], EXACT);
        await checkOp(engine, ops.transpose, [values([1, 31], 3)], EXACT);
        await checkOp(engine, ops.transpose, [values([3, 40, 33], 4)], EXACT);
        await checkOp(engine, ops.transpose, [values([2, 3, 4], 5), 0, 2], EXACT);
        await checkOp(engine, ops.transpose, [values([2, 3, 4, 5], 6), 1, -1], EXACT);
        await checkOp(engine, ops.transpose, [values([5, 6], 7), 1, 1], EXACT);
        await checkOp(engine, ops.transpose, [values([37, 41], 8, 'i32')], EXACT);
        await checkOp(engine, ops.transpose, [values([2, 19, 35], 9, 'u32')], EXACT);
      });
    },
  },
  {
    name: 'concat along each axis, f32/i32/u32, empty pieces, one tensor',
    async run(engine) {
      await checkOp(engine, ops.concat, [[values([2, 3, 4], 1), values([1, 3, 4], 2), values([4, 3, 4], 3)], 0], EXACT);
      await checkOp(engine, ops.concat, [[values([2, 3, 4], 4), values([2, 5, 4], 5)], 1], EXACT);
      await checkOp(engine, ops.concat, [[values([2, 3, 4], 6), values([2, 3, 1], 7), values([2, 3, 7], 8)], -1], EXACT);
      await checkOp(engine, ops.concat, [[values([2, 3, 4], 9, 'i32'), values([2, 3, 2], 10, 'i32')], 2], EXACT);
      await checkOp(engine, ops.concat, [[values([3, 1, 2, 1, 5], 11, 'u32'), values([3, 2, 2, 1, 5], 12, 'u32')], 1], EXACT);
      await checkOp(engine, ops.concat, [[values([3, 0], 13), values([3, 5], 14), values([3, 0], 15)], 1], EXACT);
      await checkOp(engine, ops.concat, [[values([257], 16)], 0], EXACT);
      await checkOp(engine, ops.concat, [[values([300, 7], 17), values([300, 9], 18)], 1], EXACT);
    },
  },
  {
    name: 'slice: negative and clamped bounds, steps, axes form, empty results, any dtype',
    async run(engine) {
      const x = values([10], 1);
      await checkOp(engine, ops.slice, [x, [2], [8], [3]], EXACT);
      await checkOp(engine, ops.slice, [x, [-3], [Infinity]], EXACT);
      await checkOp(engine, ops.slice, [x, [-100], [100], [4]], EXACT);
      await checkOp(engine, ops.slice, [x, [7], [2]], EXACT);
      await checkOp(engine, ops.slice, [x, [0], [-1]], EXACT);
      const y = values([4, 5, 6], 2);
      await checkOp(engine, ops.slice, [y, [1, 0, 2], [3, 5, 6], [1, 2, 2]], EXACT);
      await checkOp(engine, ops.slice, [y, [1], [3]], EXACT); // leading axes only: a contiguous block
      await checkOp(engine, ops.slice, [y, [-2, 1], [Infinity, 4], [1, 1], [2, 0]], EXACT);
      await checkOp(engine, ops.slice, [y, [0], [6], [5], [-1]], EXACT);
      await checkOp(engine, ops.slice, [values([2, 3, 1, 4, 5], 3, 'i32'), [0, 1, 0, 1, 1], [2, 3, 1, 4, 5], [1, 1, 1, 2, 3]], EXACT);
      await checkOp(engine, ops.slice, [values([9, 8], 4, 'u32'), [1, 1], [9, 8], [2, 3]], EXACT);
      await checkOp(engine, ops.slice, [values([300, 7], 5), [1, 2], [299, 7]], EXACT);
      await checkOp(engine, ops.slice, [values([3, 2500], 6), [1, 2], [3, -100], [1, 1]], EXACT);
      await checkOp(engine, ops.slice, [values([5, 3, 70], 7), [1, 0, 3], [5, 3, 69], [2, 1, 1]], EXACT);
    },
  },
  {
    name: 'bad permutations, concat shapes and slice arguments name the op and shapes',
    async run(engine) {
      const x = engine.empty([2, 3, 4]);
      const y = engine.empty([2, 5, 4]);
      const z = engine.empty([2, 3, 4], 'i32');
      const v = engine.empty([5]);
      const w = engine.empty([2, 3]);
      expectThrows(() => ops.permute(x, [0, 1]), 'permute', '[0, 1]', '[2, 3, 4]');
      expectThrows(() => ops.permute(x, [0, 1, 1]), 'permute', 'not a permutation', '[2, 3, 4]');
      expectThrows(() => ops.permute(x, [0, 1, 3]), 'permute', 'out of range', '[2, 3, 4]');
      expectThrows(() => ops.transpose(x, 0, 3), 'transpose', 'dimension 3', '[2, 3, 4]');
      expectThrows(() => ops.transpose(v), 'transpose', 'dimension -2', '[5]');
      expectThrows(() => ops.concat([x, y], 0), 'concat', '[2, 5, 4]', '[2, 3, 4]', 'axis 0');
      expectThrows(() => ops.concat([x, z], 0), 'concat', 'i32', 'f32', 'dtypes');
      expectThrows(() => ops.concat([x, w], 0), 'concat', '[2, 3]', 'shapes must match');
      expectThrows(() => ops.concat([x, y], 3), 'concat', 'axis 3', 'out of range');
      expectThrows(() => ops.concat([]), 'concat', 'at least one');
      expectThrows(() => ops.slice(x, [0], [1], [0]), 'slice', 'step 0', '[2, 3, 4]');
      expectThrows(() => ops.slice(x, [0], [1], [-1]), 'slice', 'step -1');
      expectThrows(() => ops.slice(x, [0, 0], [1]), 'slice', 'equal lengths');
      expectThrows(() => ops.slice(x, [0], [1], [1], [3]), 'slice', 'axis 3', 'out of range');
      expectThrows(() => ops.slice(x, [0, 0], [1, 1], [1, 1], [1, -2]), 'slice', 'repeats');
      expectThrows(() => ops.slice(x, [0.5], [1]), 'slice', 'integers');
      [x, y, z, v, w].forEach((t) => t.dispose());
    },
  },
];

export const layoutSuite: Suite = { name: 'layout', cases };
