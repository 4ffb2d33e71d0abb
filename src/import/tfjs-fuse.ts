/**
 * A load-time rewrite of TF.js graphs for the engine: a convolution whose only reader is an Add of another
 * activation, optionally followed by that Add's only reader, a Relu, becomes one node
 * `_FusedConv2DResidual` (the engine's conv2d takes a residual and a ReLU in the same kernel). BlazeFace's 31
 * blocks are conv → AddV2(skip) → Relu: 93 dispatches become 31 and two passes over each activation go away.
 * The fused node keeps the name of the last node it replaces, so readers and outputs are unchanged.
 */
import type { TfNodeDef } from './tfjs-graph.js';

export const RESIDUAL_OP = '_FusedConv2DResidual';

const CONVS = new Set(['Conv2D', '_FusedConv2D']);
const ADDS = new Set(['Add', 'AddV2']);

function refName(ref: string): string | undefined {
  if (ref.startsWith('^')) return undefined;
  return ref.replace(/:\d+$/, '');
}

/** Only a bias (or nothing) fused into the convolution: an activation must not run before the add. */
function biasOnly(n: TfNodeDef): boolean {
  if (n.op === 'Conv2D') return true;
  const ops = (n.attr?.fused_ops?.list?.s ?? []).map((s) => atob(s));
  return ops.length === 1 && ops[0] === 'BiasAdd' && Number(n.attr?.num_args?.i ?? 1) === 1;
}

/**
 * Returns the rewritten node list and, for each node folded away, the node it went into. `keep` names nodes that
 * must stay addressable (the model's outputs).
 */
export function fuseResidualConvs(nodes: readonly TfNodeDef[], keep: ReadonlySet<string>): { nodes: TfNodeDef[]; folded: Map<string, string> } {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const readers = new Map<string, string[]>();
  for (const n of nodes) for (const r of n.input ?? []) {
    const name = refName(r);
    if (name !== undefined) readers.set(name, [...(readers.get(name) ?? []), n.name]);
  }
  const only = (name: string): TfNodeDef | undefined => {
    const rs = readers.get(name) ?? [];
    return rs.length === 1 && !keep.has(name) ? byName.get(rs[0]!) : undefined;
  };
  const replaced = new Map<string, TfNodeDef>();
  const folded = new Map<string, string>();
  for (const add of nodes) {
    if (!ADDS.has(add.op) || (add.input ?? []).filter((r) => !r.startsWith('^')).length !== 2) continue;
    const [a, b] = add.input!.map((r) => refName(r)!);
    const pick = [a, b].find((x) => {
      const n = byName.get(x!);
      return n && CONVS.has(n.op) && biasOnly(n) && only(n.name) === add && !folded.has(n.name);
    });
    if (!pick) continue;
    const conv = byName.get(pick)!;
    const other = pick === a ? add.input![1]! : add.input![0]!;
    const otherNode = byName.get(refName(other)!);
    if (!otherNode || otherNode.op === 'Const' || otherNode.name === conv.name) continue;
    const relu = only(add.name);
    const last = relu?.op === 'Relu' ? relu : add;
    const convInputs = (conv.input ?? []).filter((r) => !r.startsWith('^'));
    replaced.set(last.name, {
      name: last.name,
      op: RESIDUAL_OP,
      input: [...convInputs, other],
      attr: { ...conv.attr, _relu: { b: last !== add } },
    });
    folded.set(conv.name, last.name);
    if (last !== add) folded.set(add.name, last.name);
  }
  const out = nodes.filter((n) => !folded.has(n.name)).map((n) => replaced.get(n.name) ?? n);
  return { nodes: out, folded };
}
