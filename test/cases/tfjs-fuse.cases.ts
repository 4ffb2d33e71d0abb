/**
 * The importer's conv → Add → Relu fusion (src/import/tfjs-fuse.ts): the rewrite itself (which nodes fold, which
 * must not), and graphs run fused against the same graph with fusion prevented, on odd shapes, both operand
 * orders, a broadcasting Add (unfused fallback), and a folded node asked for as an output.
 */
import type { Engine } from '../../src/device/engine.js';
import { fuseResidualConvs, RESIDUAL_OP } from '../../src/import/tfjs-fuse.js';
import { loadTfjsGraphModel, type TfNodeDef, type TfjsModelJson } from '../../src/import/tfjs-graph.js';
import { expectClose, randomHost } from '../helpers/compare.js';
import { expectThrows, type Suite } from './types.js';

const S = (v: string) => ({ s: btoa(v) });
const convAttr = (fused: boolean) => ({
  padding: S('SAME'),
  strides: { list: { i: ['1', '1', '1', '1'] } },
  data_format: S('NHWC'),
  ...(fused ? { fused_ops: { list: { s: [btoa('BiasAdd')] } }, num_args: { i: '1' } } : {}),
});

/** x [N, 5, 7, 3] → skip = relu(x · w0) [.., 6]; y = relu(add(conv(skip, w1) + b, skip)) or a variation. */
function model(o: { swap?: boolean; relu?: boolean; skipConst?: boolean; extraReader?: boolean; broadcast?: boolean }): { json: TfjsModelJson; weights: ArrayBuffer } {
  const skip = o.skipConst ? 'sb' : o.broadcast ? 'narrow' : 'skip';
  const nodes: TfNodeDef[] = [
    { name: 'x', op: 'Placeholder', attr: { shape: { shape: { dim: [{ size: '-1' }, { size: '5' }, { size: '7' }, { size: '3' }] } } } },
    { name: 'w0', op: 'Const', attr: {} },
    { name: 'w1', op: 'Const', attr: {} },
    { name: 'b1', op: 'Const', attr: {} },
    { name: 'sb', op: 'Const', attr: {} },
    { name: 'w2', op: 'Const', attr: {} },
    { name: 'skip', op: 'Conv2D', input: ['x', 'w0'], attr: convAttr(false) },
    // [N, 5, 7, 1]: an add with it broadcasts over the channels
    ...(o.broadcast ? [{ name: 'narrow', op: 'Conv2D', input: ['x', 'w2'], attr: convAttr(false) }] : []),
    { name: 'conv', op: '_FusedConv2D', input: ['skip', 'w1', 'b1'], attr: convAttr(true) },
    { name: 'add', op: 'AddV2', input: o.swap ? [skip, 'conv'] : ['conv', skip], attr: {} },
    ...(o.relu === false ? [] : [{ name: 'y', op: 'Relu', input: ['add'] }]),
    ...(o.extraReader ? [{ name: 'z', op: 'Neg', input: ['conv'] }] : []),
  ];
  const shapes: [string, number[]][] = [['w0', [1, 1, 3, 6]], ['w1', [3, 3, 6, 6]], ['b1', [6]], ['sb', [6]], ['w2', [1, 1, 3, 1]]];
  const values = shapes.flatMap(([, s], k) => Array.from(randomHost(s, 40 + k).data));
  return {
    json: { format: 'graph-model', modelTopology: { node: nodes }, weightsManifest: [{ paths: ['w.bin'], weights: shapes.map(([name, shape]) => ({ name, shape, dtype: 'float32' })) }] },
    weights: Float32Array.from(values).buffer,
  };
}

/** Runs a graph and the same graph with the add's reader duplicated (so nothing fuses), and compares. */
async function fusedMatchesUnfused(engine: Engine, o: Parameters<typeof model>[0], outputs: string[]): Promise<void> {
  const { json, weights } = model(o);
  const fused = fuseResidualConvs(json.modelTopology.node, new Set(outputs));
  const unfusedJson: TfjsModelJson = { ...json, modelTopology: { node: [...json.modelTopology.node, { name: 'keep_conv', op: 'Identity', input: ['conv'] }, { name: 'keep_add', op: 'Identity', input: ['add'] }] } };
  const a = loadTfjsGraphModel(engine, json, [weights]);
  const b = loadTfjsGraphModel(engine, unfusedJson, [weights]);
  const x = engine.tensor(randomHost([2, 5, 7, 3], 9).data, [2, 5, 7, 3]);
  try {
    const ya = a.execute({ x }, outputs);
    const yb = b.execute({ x }, outputs);
    for (const name of outputs) {
      expectClose((await ya[name]!.read()) as Float32Array, (await yb[name]!.read()) as Float32Array, { abs: 1e-5, rel: 1e-5 }, `${JSON.stringify(o)} output ${name} (${fused.nodes.some((n) => n.op === RESIDUAL_OP) ? 'fused' : 'not fused'})`);
      ya[name]!.dispose();
      yb[name]!.dispose();
    }
  } finally {
    [a, b].forEach((m) => m.dispose());
    x.dispose();
  }
}

export const tfjsFuseSuite: Suite = {
  name: 'tfjs-fuse',
  cases: [
    {
      name: 'fusion rewrite: conv → AddV2 → Relu folds into one node named after the Relu; what must stay stays',
      async run() {
        const ops = (o: Parameters<typeof model>[0], keep: string[] = []) => fuseResidualConvs(model(o).json.modelTopology.node, new Set(keep)).nodes.filter((n) => n.op !== 'Const').map((n) => `${n.name}:${n.op}`);
        const eq = (got: string[], want: string[], what: string) => {
          if (got.join() !== want.join()) throw new Error(`${what}: ${got.join(' ')}, expected ${want.join(' ')}`);
        };
        eq(ops({}), ['x:Placeholder', 'skip:Conv2D', `y:${RESIDUAL_OP}`], 'conv → add → relu');
        eq(ops({ swap: true }), ['x:Placeholder', 'skip:Conv2D', `y:${RESIDUAL_OP}`], 'add(skip, conv)');
        eq(ops({ relu: false }), ['x:Placeholder', 'skip:Conv2D', `add:${RESIDUAL_OP}`], 'conv → add');
        eq(ops({}, ['add']), ['x:Placeholder', 'skip:Conv2D', `add:${RESIDUAL_OP}`, 'y:Relu'], 'the add is an output: the relu stays');
        eq(ops({ extraReader: true }), ['x:Placeholder', 'skip:Conv2D', 'conv:_FusedConv2D', 'add:AddV2', 'y:Relu', 'z:Neg'], 'the conv has another reader');
        eq(ops({ skipConst: true }), ['x:Placeholder', 'skip:Conv2D', 'conv:_FusedConv2D', 'add:AddV2', 'y:Relu'], 'a constant operand is a bias, not a skip');
      },
    },
    {
      name: 'fused conv + residual + ReLU equals the unfused graph (both operand orders, without the ReLU, batch 2, 5×7)',
      async run(engine) {
        await fusedMatchesUnfused(engine, {}, ['y']);
        await fusedMatchesUnfused(engine, { swap: true }, ['y']);
        await fusedMatchesUnfused(engine, { relu: false }, ['add']);
      },
    },
    {
      name: 'a broadcasting add falls back to the unfused path; a folded node asked for is refused by name',
      async run(engine) {
        await fusedMatchesUnfused(engine, { broadcast: true }, ['y']);
        const { json, weights } = model({});
        const m = loadTfjsGraphModel(engine, json, [weights]);
        const x = engine.tensor(randomHost([2, 5, 7, 3], 9).data, [2, 5, 7, 3]);
        try {
          expectThrows(() => m.execute({ x }, ['add']), "node 'add' was fused into 'y'");
        } finally {
          m.dispose();
          x.dispose();
        }
      },
    },
  ],
};
