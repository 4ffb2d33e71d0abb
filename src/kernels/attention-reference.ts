/** Float64 CPU references of scaled dot-product attention (forward, backward, attention weights). */
import { assert } from '../device/errors.js';
import { HostTensor } from '../graph/host.js';
import type { SdpaPlan } from './attention-plan.js';

export function hostMask(op: string, options: { mask?: unknown } | undefined): HostTensor | undefined {
  const mask = options?.mask;
  assert(mask === undefined || mask instanceof HostTensor, op, () => 'the CPU reference needs the mask as a HostTensor');
  return mask;
}

/** Scaled, masked scores of one (b, h) row in float64. */
function scoresRow(plan: SdpaPlan, q: HostTensor, k: HostTensor, mask: HostTensor | undefined, b: number, h: number, r: number, into: Float64Array): void {
  const { H, n, m, d } = plan;
  const bh = b * H + h;
  const qo = (bh * n + r) * d;
  const ms = plan.maskStrides;
  for (let c = 0; c < m; c++) {
    const ko = (bh * m + c) * d;
    let s = 0;
    for (let i = 0; i < d; i++) s += q.data[qo + i]! * k.data[ko + i]!;
    s *= plan.scale;
    if (mask && ms) {
      const v = mask.data[b * ms[0]! + h * ms[1]! + r * ms[2]! + c * ms[3]!]!;
      s += plan.maskKind === 'keep' ? (v !== 0 ? 0 : -Infinity) : v;
    }
    into[c] = s;
  }
}

export function forwardRef(plan: SdpaPlan, q: HostTensor, k: HostTensor, v: HostTensor, mask: HostTensor | undefined): { out: HostTensor; lse: HostTensor } {
  const { B, H, n, m, dv } = plan;
  const out = HostTensor.zeros(plan.shape);
  const lse = HostTensor.zeros([B, H, n]);
  const s = new Float64Array(m);
  const acc = new Float64Array(dv);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      for (let r = 0; r < n; r++) {
        scoresRow(plan, q, k, mask, b, h, r, s);
        const mx = s.reduce((a, x) => Math.max(a, x), -Infinity);
        if (mx === -Infinity) {
          lse.data[bh * n + r] = -Infinity;
          continue; // every key masked: output stays 0
        }
        acc.fill(0);
        let sum = 0;
        for (let c = 0; c < m; c++) {
          const p = Math.exp(s[c]! - mx);
          sum += p;
          const vo = (bh * m + c) * dv;
          for (let j = 0; j < dv; j++) acc[j] += p * v.data[vo + j]!;
        }
        const oo = (bh * n + r) * dv;
        for (let j = 0; j < dv; j++) out.data[oo + j] = acc[j]! / sum;
        lse.data[bh * n + r] = mx + Math.log(sum);
      }
    }
  }
  return { out, lse };
}

/**
 * dq, dk, dv from the given out and lse (as the kernels use them), in float64; dmask (the mask's shape, summed
 * over its broadcast axes) when the mask is additive, else [0].
 */
export function backwardRef(plan: SdpaPlan, dout: HostTensor, q: HostTensor, k: HostTensor, v: HostTensor, out: HostTensor, lse: HostTensor, mask: HostTensor | undefined): { dq: HostTensor; dk: HostTensor; dv: HostTensor; dmask: HostTensor } {
  const { B, H, n, m, d, dv } = plan;
  const dq = new Float64Array(q.size);
  const dk = new Float64Array(k.size);
  const dvv = new Float64Array(v.size);
  const additive = mask && plan.maskKind === 'add';
  const dmask = new Float64Array(additive ? mask.size : 0);
  const ms = plan.maskStrides;
  const s = new Float64Array(m);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      for (let r = 0; r < n; r++) {
        scoresRow(plan, q, k, mask, b, h, r, s);
        const l = lse.data[bh * n + r]!;
        const oo = (bh * n + r) * dv;
        let delta = 0;
        for (let j = 0; j < dv; j++) delta += dout.data[oo + j]! * out.data[oo + j]!;
        for (let c = 0; c < m; c++) {
          const p = l === -Infinity || s[c] === -Infinity ? 0 : Math.exp(s[c]! - l);
          if (p === 0) continue;
          const vo = (bh * m + c) * dv;
          let dp = 0;
          for (let j = 0; j < dv; j++) {
            dp += dout.data[oo + j]! * v.data[vo + j]!;
            dvv[vo + j] += p * dout.data[oo + j]!;
          }
          if (additive && ms) dmask[b * ms[0]! + h * ms[1]! + r * ms[2]! + c * ms[3]!] += p * (dp - delta);
          const ds = p * (dp - delta) * plan.scale;
          const qo = (bh * n + r) * d;
          const ko = (bh * m + c) * d;
          for (let i = 0; i < d; i++) {
            dq[qo + i] += ds * k.data[ko + i]!;
            dk[ko + i] += ds * q.data[qo + i]!;
          }
        }
      }
    }
  }
  return { dq: HostTensor.from(dq, q.shape), dk: HostTensor.from(dk, k.shape), dv: HostTensor.from(dvv, v.shape), dmask: HostTensor.from(dmask, additive ? mask.shape : [0]) };
}

/** The attention probabilities [B, H, n, m] in float64 (0 for masked keys and for rows with every key masked). */
export function weightsRef(plan: SdpaPlan, q: HostTensor, k: HostTensor, mask: HostTensor | undefined): HostTensor {
  const { B, H, n, m } = plan;
  const p = HostTensor.zeros([B, H, n, m]);
  const s = new Float64Array(m);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let r = 0; r < n; r++) {
        scoresRow(plan, q, k, mask, b, h, r, s);
        const mx = s.reduce((a, x) => Math.max(a, x), -Infinity);
        if (mx === -Infinity) continue;
        let z = 0;
        for (let c = 0; c < m; c++) z += Math.exp(s[c]! - mx);
        const o = ((b * H + h) * n + r) * m;
        for (let c = 0; c < m; c++) p.data[o + c] = Math.exp(s[c]! - mx) / z;
      }
    }
  }
  return p;
}
