/**
 * Reverse-mode autograd. Ops record a node when an input requires a gradient and recording is on; the node
 * keeps detached handles (same storage) on only what its backward rule needs (sharing the storage, so the user may dispose the
 * originals). `backward()` walks the nodes in reverse topological order, runs each rule (which launches the
 * backward kernels), accumulates gradients, and frees each node's saved tensors as soon as it has run.
 * Nodes are reference-counted: disposing the last tensor that leads to a node frees its saved tensors too.
 *
 * A node may have several outputs (a fused op returning, say, attention output and weights): each output
 * tensor knows its slot, gradients reaching any of them are gathered per slot, and the rule runs once with
 * all of them (null for an output nothing depended on), returning every input's gradient in one call.
 */
import { fmtShape, ShapeError } from '../device/errors.js';
import { keep } from './scope.js';
import type { Tensor } from './tensor.js';

let recording = true;

/** Whether ops record for autograd now. */
export function isGradEnabled(): boolean {
  return recording;
}

/** Runs `fn` without recording (inference, optimiser updates). Synchronous by design. */
export function noGrad<R>(fn: () => R): R {
  const prev = recording;
  recording = false;
  try {
    return fn();
  } finally {
    recording = prev;
  }
}

/** Computes the gradients of the node's inputs from the gradient of its output; null for inputs without one. */
export type BackwardFn = (dy: Tensor) => (Tensor | null)[];

/**
 * The rule of a node with several outputs: the gradient of each output in slot order (null where none reached
 * it; at least one is given) → the gradients of the inputs, null for inputs without one.
 */
export type MultiBackwardFn = (dys: readonly (Tensor | null)[]) => (Tensor | null)[];

export class GradNode {
  private refs: number; // one per output tensor
  private freed = false;

  constructor(
    readonly opName: string,
    /** The tensor inputs, in argument order: the original tensors (for leaves' `.grad`) and whether each needs a gradient. */
    readonly inputs: readonly Tensor[],
    readonly needsGrad: readonly boolean[],
    /** Creator nodes of the inputs (held while this node lives), and which of each creator's outputs the input is. */
    readonly parents: readonly (GradNode | null)[],
    readonly parentSlots: readonly number[],
    private backwardFn: MultiBackwardFn | null,
    private saved: Tensor[],
    /** Shapes of the outputs, in slot order. */
    readonly outputShapes: readonly (readonly number[])[],
  ) {
    this.refs = outputShapes.length;
    for (const p of parents) p?.ref();
  }

  ref(): void {
    this.refs++;
  }

  unref(): void {
    if (--this.refs > 0) return;
    this.release();
    for (const p of this.parents) p?.unref();
  }

  run(dys: readonly (Tensor | null)[]): (Tensor | null)[] {
    if (!this.backwardFn) throw new Error(`backward through ${this.opName} a second time: its saved tensors were freed after the first backward`);
    const grads = this.backwardFn(dys);
    this.release();
    return grads;
  }

  /** Frees the saved tensors (after backward, or when nothing can reach the node any more). */
  private release(): void {
    if (this.freed) return;
    this.freed = true;
    this.saved.forEach((t) => t.dispose());
    this.saved = [];
    this.backwardFn = null;
  }
}

/**
 * Records a node for `out` when recording is on and some input requires a gradient. `makeBackward` receives
 * aliases of the tensors it asks to save (same storage, safe from the user's dispose) and returns the rule.
 */
export function record(
  opName: string,
  inputs: readonly Tensor[],
  out: Tensor,
  save: readonly Tensor[],
  makeBackward: (saved: Tensor[]) => BackwardFn,
): void {
  recordMulti(opName, inputs, [out], save, (saved) => {
    const fn = makeBackward(saved);
    return (dys) => fn(dys[0]!);
  });
}

/**
 * Records one node for several outputs (slot i = outs[i]); the rule receives all their gradients at once.
 * Outputs that can carry no gradient (indices) are left out of `outs`.
 */
export function recordMulti(
  opName: string,
  inputs: readonly Tensor[],
  outs: readonly Tensor[],
  save: readonly Tensor[],
  makeBackward: (saved: Tensor[]) => MultiBackwardFn,
): void {
  if (!recording || outs.length === 0) return;
  const needsGrad = inputs.map((t) => t.requiresGrad);
  if (!needsGrad.some(Boolean)) return;
  // Saved aliases belong to the node, not to any tidy scope that is open now.
  const saved = save.map((t) => keep(t.detach()));
  const node = new GradNode(opName, inputs, needsGrad, inputs.map((t) => t.gradNode), inputs.map((t) => t.gradSlot), makeBackward(saved), saved, outs.map((t) => t.shape));
  outs.forEach((t, i) => t.attachGrad(node, i));
}

/** Adds `g` into `acc` (disposing both inputs) — gradients of a tensor used several times. */
export type Accumulate = (acc: Tensor, g: Tensor) => Tensor;

/**
 * Back-propagates from `root` with output gradient `dy` (default: ones for a one-element root). Leaf tensors that
 * require a gradient receive `.grad` (accumulated over calls, as in PyTorch); intermediate gradients are disposed.
 */
export function backward(root: Tensor, dy: Tensor, accumulate: Accumulate): void {
  if (!root.gradNode) throw new ShapeError('backward', `tensor ${fmtShape(root.shape)} was not computed from tensors that require a gradient (or was computed under noGrad)`);
  if (dy.shape.join() !== root.shape.join()) throw new ShapeError('backward', `gradient ${fmtShape(dy.shape)} does not match tensor ${fmtShape(root.shape)}`);
  const order = topoOrder(root.gradNode);
  // Per node, the gradient gathered so far for each of its outputs.
  const pending = new Map<GradNode, (Tensor | null)[]>();
  const add = (node: GradNode, slot: number, g: Tensor) => {
    let slots = pending.get(node);
    if (!slots) pending.set(node, (slots = node.outputShapes.map(() => null)));
    const acc = slots[slot];
    slots[slot] = acc ? accumulate(acc, g) : g;
  };
  add(root.gradNode, root.gradSlot, dy);
  const prev = recording;
  recording = false;
  try {
    for (const node of order) {
      const gs = pending.get(node);
      if (!gs) continue;
      pending.delete(node);
      let grads: (Tensor | null)[];
      try {
        grads = node.run(gs);
      } finally {
        gs.forEach((g) => g?.dispose());
      }
      grads.forEach((gi, i) => {
        if (!gi) return;
        if (!node.needsGrad[i]) return gi.dispose();
        const input = node.inputs[i]!;
        const parent = node.parents[i];
        if (gi.shape.join() !== input.shape.join()) {
          gi.dispose();
          throw new Error(`backward of ${node.opName}: gradient ${fmtShape(gi.shape)} for input ${i} ${fmtShape(input.shape)}`);
        }
        if (parent) add(parent, node.parentSlots[i]!, gi);
        else input.accumulateGrad(gi, accumulate);
      });
    }
  } finally {
    recording = prev;
    for (const gs of pending.values()) gs.forEach((g) => g?.dispose());
  }
}

/** Nodes reachable from `root`, each before every node it depends on. */
function topoOrder(root: GradNode): GradNode[] {
  const visited = new Set<GradNode>();
  const post: GradNode[] = [];
  const stack: [GradNode, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [node, i] = top;
    if (i < node.parents.length) {
      top[1]++;
      const p = node.parents[i];
      if (p && !visited.has(p)) {
        visited.add(p);
        stack.push([p, 0]);
      }
    } else {
      stack.pop();
      post.push(node);
    }
  }
  return post.reverse();
}
