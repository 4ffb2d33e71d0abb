/** Plain-loop CPU references for conv2d and its gradients (float64 accumulation, f32 results). */
import { HostTensor } from '../graph/host.js';
import type { ConvGeometry } from './conv-geometry.js';

/** Calls fn(n, oh, ow, ih, iw, kh, kw) for every output pixel and tap that lands inside the input. */
function forEachTap(g: ConvGeometry, fn: (n: number, oh: number, ow: number, ih: number, iw: number, kh: number, kw: number) => void): void {
  for (let n = 0; n < g.n; n++) {
    for (let oh = 0; oh < g.ho; oh++) {
      for (let ow = 0; ow < g.wo; ow++) {
        for (let kh = 0; kh < g.kh; kh++) {
          const ih = oh * g.sh - g.pt + kh * g.dh;
          if (ih < 0 || ih >= g.h) continue;
          for (let kw = 0; kw < g.kw; kw++) {
            const iw = ow * g.sw - g.pl + kw * g.dw;
            if (iw < 0 || iw >= g.w) continue;
            fn(n, oh, ow, ih, iw, kh, kw);
          }
        }
      }
    }
  }
}

export function conv2dReference(g: ConvGeometry, x: HostTensor, w: HostTensor, bias: HostTensor | undefined, residual: HostTensor | undefined, relu: boolean): HostTensor {
  const acc = new Float64Array(g.n * g.ho * g.wo * g.cout);
  forEachTap(g, (n, oh, ow, ih, iw, kh, kw) => {
    const o = ((n * g.ho + oh) * g.wo + ow) * g.cout;
    const xi = ((n * g.h + ih) * g.w + iw) * g.c;
    const wi = (kh * g.kw + kw) * g.cg * g.cout;
    for (let co = 0; co < g.cout; co++) {
      const c0 = Math.floor(co / g.coutg) * g.cg;
      let s = 0;
      for (let ci = 0; ci < g.cg; ci++) s += x.data[xi + c0 + ci]! * w.data[wi + ci * g.cout + co]!;
      acc[o + co]! += s;
    }
  });
  const out = HostTensor.zeros([g.n, g.ho, g.wo, g.cout]);
  for (let i = 0; i < acc.length; i++) {
    let v = acc[i]!;
    if (bias) v += bias.data[i % g.cout]!;
    if (residual) v += residual.data[i]!;
    out.data[i] = relu ? Math.max(v, 0) : v;
  }
  return out;
}

/** dx = the transposed convolution of dy: each output pixel's gradient flows back through its taps. */
export function conv2dBackwardInputReference(g: ConvGeometry, dy: HostTensor, w: HostTensor): HostTensor {
  const acc = new Float64Array(g.n * g.h * g.w * g.c);
  forEachTap(g, (n, oh, ow, ih, iw, kh, kw) => {
    const o = ((n * g.ho + oh) * g.wo + ow) * g.cout;
    const xi = ((n * g.h + ih) * g.w + iw) * g.c;
    const wi = (kh * g.kw + kw) * g.cg * g.cout;
    for (let c = 0; c < g.c; c++) {
      const grp = Math.floor(c / g.cg);
      const ci = c - grp * g.cg;
      let s = 0;
      for (let j = 0; j < g.coutg; j++) {
        const co = grp * g.coutg + j;
        s += dy.data[o + co]! * w.data[wi + ci * g.cout + co]!;
      }
      acc[xi + c]! += s;
    }
  });
  return HostTensor.from(acc, [g.n, g.h, g.w, g.c]);
}

export function conv2dBackwardWeightReference(g: ConvGeometry, x: HostTensor, dy: HostTensor): HostTensor {
  const acc = new Float64Array(g.kh * g.kw * g.cg * g.cout);
  forEachTap(g, (n, oh, ow, ih, iw, kh, kw) => {
    const o = ((n * g.ho + oh) * g.wo + ow) * g.cout;
    const xi = ((n * g.h + ih) * g.w + iw) * g.c;
    const wi = (kh * g.kw + kw) * g.cg * g.cout;
    for (let co = 0; co < g.cout; co++) {
      const c0 = Math.floor(co / g.coutg) * g.cg;
      const d = dy.data[o + co]!;
      for (let ci = 0; ci < g.cg; ci++) acc[wi + ci * g.cout + co]! += x.data[xi + c0 + ci]! * d;
    }
  });
  return HostTensor.from(acc, [g.kh, g.kw, g.cg, g.cout]);
}

/** Σ dy over N, H and W: the gradient of a per-channel bias. */
export function channelSumReference(dy: HostTensor): HostTensor {
  const c = dy.shape[dy.shape.length - 1]!;
  const acc = new Float64Array(c);
  for (let i = 0; i < dy.size; i++) acc[i % c]! += dy.data[i]!;
  return HostTensor.from(acc, [c]);
}

export function torchWeightToHWIOReference(w: HostTensor): HostTensor {
  const [o, i, kh, kw] = w.shape as [number, number, number, number];
  const out = HostTensor.zeros([kh, kw, i, o]);
  for (let a = 0; a < o; a++) {
    for (let b = 0; b < i; b++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) out.data[((y * kw + x) * i + b) * o + a] = w.data[((a * i + b) * kh + y) * kw + x]!;
      }
    }
  }
  return out;
}
