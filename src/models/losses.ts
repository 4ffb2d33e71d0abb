/** Losses and penalties the papers add to their classification losses. */
import { fmtShape, ShapeError } from '../device/errors.js';
import type { Tensor } from '../graph/tensor.js';
import { add, mul, sub } from '../kernels/elementwise.js';
import { matmul } from '../kernels/matmul.js';
import { sum } from '../kernels/reduce.js';

/**
 * λ·‖A·Aᵀ − I‖²_F for attention matrices A [..., heads, L] (M2's multi-head penalty, eq. 6), summed over the
 * leading axes. Returns a 0-d tensor.
 */
export function attentionPenalty(a: Tensor, lambda = 1): Tensor {
  if (a.rank < 2) throw new ShapeError('attentionPenalty', `expects attention [..., heads, L], got ${fmtShape(a.shape)}`);
  const heads = a.shape[a.rank - 2]!;
  const aat = matmul(a, a, { transB: true }); // [..., heads, heads]
  const eye = new Float32Array(heads * heads);
  for (let i = 0; i < heads; i++) eye[i * heads + i] = 1;
  const identity = a.engine.tensor(eye, [heads, heads]);
  const d = sub(aat, identity);
  const sq = mul(d, d);
  const total = sum(sq);
  const out = lambda === 1 ? total : mul(total, lambda);
  [aat, identity, d, sq].forEach((t) => t.dispose());
  if (out !== total) total.dispose();
  return out;
}

/** λ·Σ‖p‖² over the given parameters (M4's penalty on its fully connected weights). A 0-d tensor. */
export function l2Penalty(params: readonly Tensor[], lambda: number): Tensor {
  if (params.length === 0) throw new ShapeError('l2Penalty', 'needs at least one parameter');
  let total: Tensor | null = null;
  for (const p of params) {
    const sq = mul(p, p);
    const s = sum(sq);
    sq.dispose();
    if (total) {
      const next: Tensor = add(total, s);
      total.dispose();
      s.dispose();
      total = next;
    } else total = s;
  }
  const out = mul(total!, lambda);
  total!.dispose();
  return out;
}
