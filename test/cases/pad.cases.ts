/**
 * pad (TF's Pad / PadV2, used by BlazeFace to widen channels before a residual add): GPU against the CPU
 * reference on odd shapes, size-1 axes, batch > 1, a fill value, i32; the gradient by finite differences; bad
 * paddings refused; and Pad / PadV2 nodes of a TF.js graph model against the same reference.
 */
import { HostTensor } from '../../src/graph/host.js';
import { tidy } from '../../src/graph/scope.js';
import { pad, type Paddings } from '../../src/import/pad.js';
import { loadTfjsGraphModel, type TfjsModelJson } from '../../src/import/tfjs-graph.js';
import { autogradCheck, checkOp, expectClose, randomHost, toGpu } from '../helpers/compare.js';
import { expectThrows, type Suite } from './types.js';

// Pad copies values and writes a constant: exact.
const EXACT = { abs: 0, rel: 0 };

const SHAPES: [number[], Paddings][] = [
  [[5], [[2, 3]]],
  [[1], [[0, 4]]],
  [[3, 7], [[1, 0], [0, 2]]],
  [[2, 5, 7, 3], [[0, 0], [0, 0], [0, 0], [0, 5]]], // BlazeFace: channels widened, batch 2
  [[2, 3, 5, 6], [[1, 1], [2, 0], [0, 3], [1, 2]]], // every axis
  [[1, 1, 1, 1], [[0, 0], [1, 1], [1, 1], [0, 0]]],
  [[3, 1, 4, 1, 2], [[0, 1], [0, 0], [2, 2], [1, 0], [0, 0]]],
  [[4, 6], [[0, 0], [0, 0]]], // nothing to pad: a copy
  [[2, 0, 3], [[0, 0], [1, 1], [0, 0]]], // an empty axis becomes the fill
];

export const padSuite: Suite = {
  name: 'pad',
  cases: [
    {
      name: 'pad: GPU vs CPU on odd shapes, size-1 and empty axes, batch 2, zero and non-zero fill',
      async run(engine) {
        let seed = 1;
        for (const [shape, p] of SHAPES) {
          await checkOp(engine, pad, [randomHost(shape, seed++), p], EXACT);
          await checkOp(engine, pad, [randomHost(shape, seed++), p, -2.5], EXACT);
        }
      },
    },
    {
      name: 'pad: i32 values and fill; the CPU reference places values by hand-computed offsets',
      async run(engine) {
        const x = HostTensor.from([1, -2, 3, -4, 5, -6], [2, 3], 'i32');
        await checkOp(engine, pad, [x, [[1, 0], [0, 1]], 7], EXACT);
        const ref = pad.cpu(HostTensor.from([1, 2, 3, 4], [2, 2]), [[0, 1], [1, 0]], 9);
        expectClose(ref.data, [9, 1, 2, 9, 3, 4, 9, 9, 9], EXACT, 'pad.cpu [2, 2] by [[0, 1], [1, 0]]');
      },
    },
    {
      name: 'pad: backward is the slice of dy the input covers (finite differences)',
      async run(engine) {
        await autogradCheck(engine, 'pad', (x) => pad(x, [[1, 0], [0, 2], [2, 1]], 0.5).mul(x.sum()), [randomHost([2, 3, 4], 11)], { probes: 24 });
      },
    },
    {
      name: 'pad: bad paddings and fill values are refused naming the op and the shape',
      async run(engine) {
        const x = toGpu(engine, randomHost([2, 3], 3));
        try {
          expectThrows(() => pad(x, [[1, 1]]), 'pad', '[2, 3]', 'one [before, after] pair per axis (2)');
          expectThrows(() => pad(x, [[1, 1], [-1, 0]]), 'pad', 'non-negative integers');
          expectThrows(() => pad(x, [[1, 1], [0.5, 0]]), 'pad', 'non-negative integers');
          const xi = engine.tensor([1, 2], [2], 'i32');
          expectThrows(() => pad(xi, [[1, 1]], 0.5), 'pad', 'does not fit i32');
          xi.dispose();
        } finally {
          x.dispose();
        }
      },
    },
    {
      name: 'tfjs graph: Pad and PadV2 nodes (channel widening, as BlazeFace) match the reference; weights survive a tidy',
      async run(engine) {
        const paddings = new Int32Array([0, 0, 1, 0, 0, 2, 0, 3]); // [4, 2]
        const model: TfjsModelJson = {
          format: 'graph-model',
          modelTopology: {
            node: [
              { name: 'x', op: 'Placeholder', attr: { shape: { shape: { dim: [{ size: '-1' }, { size: '3' }, { size: '2' }, { size: '5' }] } } } }, // → [N, 5, 4, 11]
              { name: 'p', op: 'Const', attr: {} },
              { name: 'v', op: 'Const', attr: {} },
              { name: 'padded', op: 'Pad', input: ['x', 'p'], attr: {} },
              { name: 'widened', op: 'PadV2', input: ['padded', 'p', 'v'], attr: {} },
              { name: 'bias', op: 'Const', attr: {} },
              { name: 'y', op: 'AddV2', input: ['widened', 'bias'], attr: {} },
            ],
          },
          weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'p', shape: [4, 2], dtype: 'int32' }, { name: 'v', shape: [], dtype: 'float32' }, { name: 'bias', shape: [11], dtype: 'float32' }] }],
        };
        const bias = Array.from({ length: 11 }, (_, i) => i - 5);
        const bytes = new Uint8Array(4 * 20);
        bytes.set(new Uint8Array(paddings.buffer), 0);
        new DataView(bytes.buffer).setFloat32(32, 1.25, true);
        bias.forEach((b, i) => new DataView(bytes.buffer).setFloat32(36 + 4 * i, b, true));
        const m = loadTfjsGraphModel(engine, model, [bytes.buffer]);
        const hx = randomHost([2, 3, 2, 5], 21);
        const x = toGpu(engine, hx);
        try {
          const pairs: Paddings = [[0, 0], [1, 0], [0, 2], [0, 3]];
          const want = pad.cpu(pad.cpu(hx, pairs, 0), pairs, 1.25);
          want.data.forEach((v, i) => (want.data[i] = v + bias[i % 11]!)); // the bias (an uploaded weight) on channels
          // Twice, each inside a tidy: the weights uploaded by the first call belong to the model and survive it.
          for (const call of ['first', 'second']) {
            const y = tidy(() => m.predict(x));
            if (y.shape.join() !== want.shape.join()) throw new Error(`shape [${y.shape}], expected [${want.shape}]`);
            expectClose((await y.read()) as Float32Array, want.data, EXACT, `Pad → PadV2 graph, ${call} call in a tidy`);
            y.dispose();
          }
        } finally {
          x.dispose();
          m.dispose();
        }
      },
    },
  ],
};
