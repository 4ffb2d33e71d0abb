/** Scaled dot-product attention: forward, lse, masks, the backward kernels, autograd and errors, per variant. */
import type { Engine } from '../../src/device/engine.js';
import { HostTensor } from '../../src/graph/host.js';
import type { Tensor } from '../../src/graph/tensor.js';
import { sdpaKernel, type HostSdpaOptions, type SdpaOptions } from '../../src/kernels/attention.js';
import * as ops from '../../src/kernels/ops.js';
import { autogradCheck, expectClose, gradCheck, randomHost, toGpu, toHost } from '../helpers/compare.js';
import { expectThrows, type Case, type Suite } from './types.js';

// f32 dot products of up to 2048 terms and an online softmax, against float64 references.
const FWD = { abs: 2e-5, rel: 2e-4 };
const BWD = { abs: 5e-5, rel: 1e-3 };

interface Shape {
  B: number;
  H: number;
  n: number;
  m: number;
  d: number;
  dv: number;
}

// Odd shapes: n = 5 with d = 67, one query row, m not a multiple of any tile, B·H > 1, dv ≠ d, and the
// M5 shape (5 frames × 2048 features, the widest workgroup).
const SHAPES: Shape[] = [
  { B: 1, H: 1, n: 5, m: 5, d: 67, dv: 67 },
  { B: 1, H: 1, n: 1, m: 13, d: 16, dv: 9 },
  { B: 2, H: 3, n: 7, m: 13, d: 8, dv: 5 },
  { B: 1, H: 2, n: 19, m: 11, d: 33, dv: 70 },
  { B: 1, H: 1, n: 5, m: 5, d: 2048, dv: 2048 },
];

function tag(s: Shape): string {
  return `B${s.B} H${s.H} n${s.n} m${s.m} d${s.d} dv${s.dv}`;
}

function inputs(s: Shape, seed: number): [HostTensor, HostTensor, HostTensor] {
  return [randomHost([s.B, s.H, s.n, s.d], seed, -1, 1), randomHost([s.B, s.H, s.m, s.d], seed + 1, -1, 1), randomHost([s.B, s.H, s.m, s.dv], seed + 2, -1, 1)];
}

function variants(engine: Engine): string[] {
  return engine.variants.supported(sdpaKernel);
}

/** Runs `fn` with each supported variant forced in turn (or only the named ones, where supported). */
async function eachVariant(engine: Engine, fn: (variant: string) => Promise<void>, only?: string[]): Promise<void> {
  for (const v of variants(engine).filter((x) => !only || only.includes(x))) {
    engine.variants.force('sdpa', v);
    try {
      await fn(v);
    } catch (e) {
      (e as Error).message = `[variant ${v}] ${(e as Error).message}`;
      throw e;
    } finally {
      engine.variants.force('sdpa', undefined);
    }
  }
}

async function readDispose(t: Tensor): Promise<HostTensor> {
  const h = await toHost(t);
  t.dispose();
  return h;
}

/** GPU forward (out, lse) of host inputs. */
async function gpuForward(engine: Engine, q: HostTensor, k: HostTensor, v: HostTensor, o: HostSdpaOptions = {}): Promise<{ out: HostTensor; lse: HostTensor }> {
  const ts = [q, k, v].map((h) => toGpu(engine, h));
  const mask = o.mask ? toGpu(engine, o.mask) : undefined;
  const r = ops.sdpaForward(ts[0]!, ts[1]!, ts[2]!, { scale: o.scale, mask });
  const res = { out: await readDispose(r.out), lse: await readDispose(r.lse) };
  ts.forEach((t) => t.dispose());
  mask?.dispose();
  return res;
}

async function gpuBackward(engine: Engine, dy: HostTensor, q: HostTensor, k: HostTensor, v: HostTensor, o: HostSdpaOptions = {}): Promise<HostTensor[]> {
  const [tq, tk, tv, tdy] = [q, k, v, dy].map((h) => toGpu(engine, h)) as [Tensor, Tensor, Tensor, Tensor];
  const mask = o.mask ? toGpu(engine, o.mask) : undefined;
  const opts: SdpaOptions = { scale: o.scale, mask };
  const f = ops.sdpaForward(tq, tk, tv, opts);
  const g = ops.sdpaBackward(tdy, tq, tk, tv, f.out, f.lse, opts);
  const res = [await readDispose(g.dq), await readDispose(g.dk), await readDispose(g.dv), await readDispose(g.dmask)];
  [tq, tk, tv, tdy, f.out, f.lse, mask].forEach((t) => t?.dispose());
  return res;
}

/** Masks with -inf entries: a few per row, one row entirely masked when `fullRow` is given. */
function infMask(shape: number[], seed: number, fullRow?: number): HostTensor {
  const r = randomHost(shape, seed, 0, 1);
  const m = shape[shape.length - 1]!;
  const out = HostTensor.zeros(shape);
  for (let i = 0; i < r.size; i++) {
    const row = Math.floor(i / m) % shape[shape.length - 2]!;
    out.data[i] = row === fullRow ? -Infinity : r.data[i]! < 0.3 ? -Infinity : r.data[i]! - 0.5;
  }
  return out;
}

/** Forward (out, lse) and backward (dq, dk, dv) of one problem against the references. */
async function checkAll(engine: Engine, s: Shape, seed: number, o: HostSdpaOptions, what: string): Promise<void> {
  const [q, k, v] = inputs(s, seed);
  const dy = randomHost([s.B, s.H, s.n, s.dv], seed + 3);
  const want = ops.sdpaForwardCpu(q, k, v, o);
  const got = await gpuForward(engine, q, k, v, o);
  expectClose(got.out.data, want.out.data, FWD, `sdpa out ${what} ${tag(s)}`);
  expectClose(got.lse.data, want.lse.data, FWD, `sdpa lse ${what} ${tag(s)}`);
  const wb = ops.sdpaBackwardCpu(dy, q, k, v, want.out, want.lse, o);
  const gb = await gpuBackward(engine, dy, q, k, v, o);
  expectClose(gb[0]!.data, wb.dq.data, BWD, `dq ${what} ${tag(s)}`);
  expectClose(gb[1]!.data, wb.dk.data, BWD, `dk ${what} ${tag(s)}`);
  expectClose(gb[2]!.data, wb.dv.data, BWD, `dv ${what} ${tag(s)}`);
  if (gb[3]!.shape.join() !== wb.dmask.shape.join()) throw new Error(`dmask ${what}: shape [${gb[3]!.shape}], expected [${wb.dmask.shape}]`);
  expectClose(gb[3]!.data, wb.dmask.data, BWD, `dmask ${what} ${tag(s)}`);
}

/** A keep mask (i32, nonzero attends) and the additive mask it means (0 / -inf). */
function keepMask(shape: number[], seed: number, fullRow?: number): { keep: HostTensor; additive: HostTensor } {
  const add = infMask(shape, seed, fullRow);
  const keep = HostTensor.from(Array.from(add.data, (x) => (x === -Infinity ? 0 : 1 + (seed % 3))), shape, 'i32');
  return { keep, additive: HostTensor.from(Array.from(add.data, (x) => (x === -Infinity ? -Infinity : 0)), shape) };
}

const cases: Case[] = [
  {
    name: 'forward and lse match the CPU reference on odd shapes',
    async run(engine) {
      for (const [i, s] of SHAPES.entries()) {
        const [q, k, v] = inputs(s, 10 + i);
        for (const scale of [undefined, 0.1]) {
          const got = await gpuForward(engine, q, k, v, { scale });
          const want = ops.sdpaForwardCpu(q, k, v, { scale });
          expectClose(got.out.data, want.out.data, FWD, `sdpa out ${tag(s)} scale ${scale}`);
          expectClose(got.lse.data, want.lse.data, FWD, `sdpa lse ${tag(s)} scale ${scale}`);
        }
      }
    },
  },
  // One case per variant (each compiles its own pipelines); a variant this device lacks is skipped.
  ...['single-texture', 'single', 'subgroup', 'workgroup'].map(
    (variant): Case => ({
      name: `variant ${variant}: forward and backward, with and without a mask`,
      async run(engine) {
        // Small feature sizes: big unrolled kernels compile slowly on CPU adapters.
        await eachVariant(
          engine,
          async () => {
            await checkAll(engine, SHAPES[0]!, 200, {}, '');
            await checkAll(engine, SHAPES[2]!, 210, { mask: infMask([7, 13], 211, 3), scale: 0.3 }, 'masked');
          },
          [variant],
        );
      },
    }),
  ),
  {
    name: 'texture kernels (problems large enough to stage), with a mask and a fully masked row',
    async run(engine) {
      // n·m·(d + dv) above the staging threshold, m not a multiple of any tile, B·H > 1.
      const s = { B: 1, H: 2, n: 130, m: 127, d: 64, dv: 72 };
      await eachVariant(
        engine,
        async () => {
          // Record which kernels ran: the texture kernels must have served (not a fallback).
          const ran = new Set<string>();
          const runtime = engine.runtime;
          const dispatch = runtime.dispatch.bind(runtime);
          runtime.dispatch = (d) => (ran.add(d.kernel.name), dispatch(d));
          try {
            await checkAll(engine, s, 220, {}, 'texture');
            await checkAll(engine, s, 230, { mask: infMask([130, 127], 231, 17) }, 'texture masked');
          } finally {
            runtime.dispatch = dispatch;
          }
          for (const k of ['sdpa_forward_texture', 'sdpa_backward_query_texture', 'sdpa_backward_keyvalue_texture']) {
            if (!ran.has(k)) throw new Error(`kernel ${k} did not run (ran: ${[...ran].join(', ')})`);
          }
        },
        ['single-texture'],
      );
    },
  },
  {
    name: 'large logits stay finite (online softmax)',
    async run(engine) {
      const s = { B: 1, H: 1, n: 6, m: 21, d: 12, dv: 7 };
      const [q, k, v] = inputs(s, 30);
      const got = await gpuForward(engine, q, k, v, { scale: 300 });
      const want = ops.sdpaForwardCpu(q, k, v, { scale: 300 });
      expectClose(got.out.data, want.out.data, FWD, 'sdpa out, scale 300');
      expectClose(got.lse.data, want.lse.data, { abs: 1e-3, rel: 1e-5 }, 'sdpa lse, scale 300');
    },
  },
  {
    name: 'masks: [n, m] with -inf, key padding [B, 1, 1, m], a fully masked row',
    async run(engine) {
      {
        const s = { B: 2, H: 3, n: 6, m: 11, d: 9, dv: 10 };
        const [q, k, v] = inputs(s, 40);
        const padding = HostTensor.zeros([2, 1, 1, 11]);
        for (let c = 8; c < 11; c++) padding.data[11 + c] = -Infinity; // batch 1 has 8 real keys
        const masks: [string, HostTensor][] = [
          ['[n, m]', infMask([6, 11], 41)],
          ['[B, 1, 1, m]', padding],
          ['[B, H, n, m] with a masked row', infMask([2, 3, 6, 11], 42, 2)],
          ['[1, H, n, 1]', randomHost([1, 3, 6, 1], 43)],
        ];
        for (const [what, mask] of masks) {
          const got = await gpuForward(engine, q, k, v, { mask });
          const want = ops.sdpaForwardCpu(q, k, v, { mask });
          expectClose(got.out.data, want.out.data, FWD, `sdpa out, mask ${what}`);
          expectClose(got.lse.data, want.lse.data, FWD, `sdpa lse, mask ${what}`);
        }
        // The fully masked row (row 2 of every (b, h)) is zeros with lse -inf.
        const got = await gpuForward(engine, q, k, v, { mask: masks[2]![1] });
        for (let bh = 0; bh < 6; bh++) {
          if (got.lse.data[bh * 6 + 2] !== -Infinity) throw new Error(`masked row: lse ${got.lse.data[bh * 6 + 2]}, expected -inf`);
          for (let j = 0; j < 10; j++) if (got.out.data[(bh * 6 + 2) * 10 + j] !== 0) throw new Error('masked row: output is not 0');
        }
      }
    },
  },
  {
    name: 'backward kernels match the CPU reference',
    async run(engine) {
      {
        const cases: [Shape, HostSdpaOptions][] = [
          [SHAPES[0]!, {}],
          [SHAPES[1]!, { scale: 0.1 }],
          [SHAPES[2]!, { mask: infMask([7, 13], 50, 3) }],
          [SHAPES[3]!, {}],
          [SHAPES[4]!, { scale: 0.1 }],
        ];
        for (const [i, [s, o]] of cases.entries()) {
          const [q, k, v] = inputs(s, 60 + i);
          const dy = randomHost([s.B, s.H, s.n, s.dv], 70 + i);
          const { out, lse } = ops.sdpaForwardCpu(q, k, v, o);
          const want = ops.sdpaBackwardCpu(dy, q, k, v, out, lse, o);
          const got = await gpuBackward(engine, dy, q, k, v, o);
          expectClose(got[0]!.data, want.dq.data, BWD, `dq ${tag(s)}`);
          expectClose(got[1]!.data, want.dk.data, BWD, `dk ${tag(s)}`);
          expectClose(got[2]!.data, want.dv.data, BWD, `dv ${tag(s)}`);
          if (i === 2) {
            // Row 3 is fully masked: its dq is exactly zero.
            for (let bh = 0; bh < 6; bh++) for (let j = 0; j < s.d; j++) if (got[0]!.data[(bh * 7 + 3) * s.d + j] !== 0) throw new Error('masked row: dq is not 0');
          }
        }
      }
    },
  },
  {
    name: 'standalone backward ops (query, key, value) match their references',
    async run(engine) {
      const s = SHAPES[3]!;
      const [q, k, v] = inputs(s, 80);
      const dy = randomHost([s.B, s.H, s.n, s.dv], 81);
      const { out, lse } = ops.sdpaForwardCpu(q, k, v);
      const ts = [dy, q, k, v, out, lse].map((h) => toGpu(engine, h)) as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
      const want = ops.sdpaBackwardCpu(dy, q, k, v, out, lse);
      const got: [string, Tensor, HostTensor][] = [
        ['sdpaBackwardQuery', ops.sdpaBackwardQuery(...ts), want.dq],
        ['sdpaBackwardKey', ops.sdpaBackwardKey(...ts), want.dk],
        ['sdpaBackwardValue', ops.sdpaBackwardValue(...ts), want.dv],
      ];
      for (const [name, t, w] of got) expectClose((await readDispose(t)).data, w.data, BWD, name);
      // And through each op's own CPU reference.
      expectClose(ops.sdpaBackwardKey.cpu(dy, q, k, v, out, lse).data, want.dk.data, { abs: 0, rel: 0 }, 'sdpaBackwardKey.cpu');
      ts.forEach((t) => t.dispose());
    },
  },
  {
    name: 'gradients match finite differences (with and without a mask)',
    async run(engine) {
      const checks: [string, Shape, HostSdpaOptions][] = [
        ['n5 d67 → odd', { B: 1, H: 1, n: 5, m: 5, d: 7, dv: 6 }, {}],
        ['B2 H2 n3 m9 scale 0.1', { B: 2, H: 2, n: 3, m: 9, d: 5, dv: 4 }, { scale: 0.1 }],
        ['masked with -inf', { B: 1, H: 2, n: 4, m: 6, d: 3, dv: 5 }, { mask: infMask([4, 6], 90) }],
      ];
      for (const [i, [what, s, o]] of checks.entries()) {
        const [q, k, v] = inputs(s, 100 + i);
        await gradCheck({
          what: `sdpa ${what}`,
          inputs: [q, k, v],
          forward: async ([a, b, c]) => (await gpuForward(engine, a!, b!, c!, o)).out,
          backward: ([a, b, c], dy) => gpuBackward(engine, dy, a!, b!, c!, o),
          tol: { abs: 2e-3, rel: 2e-2 },
        });
      }
    },
  },
  {
    name: 'autograd through sdpa (gradients to q, k and v; mask as a constant)',
    async run(engine) {
      const s = { B: 1, H: 2, n: 3, m: 4, d: 5, dv: 3 };
      const [q, k, v] = inputs(s, 110);
      await autogradCheck(engine, 'sdpa', (a, b, c) => ops.sdpa(a, b, c), [q, k, v]);
      const mask = toGpu(engine, infMask([3, 4], 111));
      await autogradCheck(engine, 'sdpa masked, scale 0.5', (a, b, c) => ops.sdpa(a, b, c, { mask, scale: 0.5 }), [q, k, v]);
      mask.dispose();
      // Only q requires a gradient: the key/value kernel is skipped, dq still arrives.
      const tq = toGpu(engine, q).setRequiresGrad();
      const [tk, tv] = [k, v].map((h) => toGpu(engine, h));
      const y = ops.sdpa(tq, tk!, tv!);
      const dy = toGpu(engine, randomHost(y.shape, 112));
      y.backward(dy);
      const { out, lse } = ops.sdpaForwardCpu(q, k, v);
      expectClose((await toHost(tq.grad!)).data, ops.sdpaBackwardCpu(await toHost(dy), q, k, v, out, lse).dq.data, BWD, 'dq via autograd');
      [tq, tk, tv, y, dy, tq.grad].forEach((t) => t?.dispose());
    },
  },
  {
    name: 'an additive mask that requires a gradient: dmask summed over its broadcast axes (CPU, finite differences, autograd)',
    async run(engine) {
      const s = { B: 2, H: 3, n: 5, m: 7, d: 6, dv: 4 };
      const [q, k, v] = inputs(s, 300);
      // Finite masks (finite differences cannot step -inf), in each broadcast shape, plus -inf entries for the CPU check.
      for (const shape of [[5, 7], [2, 1, 1, 7], [1, 3, 5, 1], [2, 3, 5, 7], [1, 7]]) {
        const mask = randomHost(shape, 301 + shape.length, -1, 1);
        await checkAll(engine, s, 310, { mask }, `mask ${JSON.stringify(shape)}`);
        const tq = toGpu(engine, q);
        const [tk, tv] = [k, v].map((h) => toGpu(engine, h)) as [Tensor, Tensor];
        try {
          await autogradCheck(engine, `sdpa dmask ${JSON.stringify(shape)}`, (m) => ops.sdpa(tq, tk, tv, { mask: m, scale: 0.4 }), [mask], { tol: { abs: 2e-3, rel: 2e-2 } });
        } finally {
          [tq, tk, tv].forEach((t) => t.dispose());
        }
      }
      await checkAll(engine, s, 320, { mask: infMask([2, 3, 5, 7], 321, 1) }, 'mask with -inf and a masked row');
      // Everything at once through autograd: q, k, v and the mask.
      const small = { B: 1, H: 2, n: 3, m: 4, d: 5, dv: 3 };
      await autogradCheck(engine, 'sdpa q, k, v, mask', (a, b, c, m) => ops.sdpa(a, b, c, { mask: m }), [...inputs(small, 330), randomHost([1, 2, 1, 4], 331)], { tol: { abs: 2e-3, rel: 2e-2 } });
    },
  },
  {
    name: 'keep masks (i32, nonzero attends; PyTorch boolean attn_mask) equal the additive -inf mask they mean',
    async run(engine) {
      const s = { B: 2, H: 2, n: 6, m: 9, d: 5, dv: 7 };
      const [q, k, v] = inputs(s, 340);
      const dy = randomHost([s.B, s.H, s.n, s.dv], 341);
      for (const [shape, full] of [[[6, 9], undefined], [[2, 1, 1, 9], undefined], [[2, 2, 6, 9], 4]] as [number[], number | undefined][]) {
        const { keep, additive } = keepMask(shape, 342 + shape.length, full);
        const want = ops.sdpaForwardCpu(q, k, v, { mask: additive });
        expectClose(ops.sdpaForwardCpu(q, k, v, { mask: keep }).out.data, want.out.data, { abs: 0, rel: 0 }, 'keep vs additive CPU');
        const got = await gpuForward(engine, q, k, v, { mask: keep });
        expectClose(got.out.data, want.out.data, FWD, `keep mask ${JSON.stringify(shape)} out`);
        expectClose(got.lse.data, want.lse.data, FWD, `keep mask ${JSON.stringify(shape)} lse`);
        const gb = await gpuBackward(engine, dy, q, k, v, { mask: keep });
        const wb = ops.sdpaBackwardCpu(dy, q, k, v, want.out, want.lse, { mask: additive });
        for (const [i, name] of ['dq', 'dk', 'dv'].entries()) expectClose(gb[i]!.data, wb[name as 'dq'].data, BWD, `keep mask ${name}`);
        if (gb[3]!.size !== 0) throw new Error('a keep mask has no gradient: dmask should be empty');
      }
      // u32 keep masks too, through autograd (the mask takes no gradient).
      const { keep } = keepMask([6, 9], 350);
      const mask = engine.tensor(Uint32Array.from(keep.data), [6, 9], 'u32');
      await autogradCheck(engine, 'sdpa u32 keep mask', (a, b, c) => ops.sdpa(a, b, c, { mask }), [q, k, v]);
      mask.dispose();
    },
  },
  {
    name: 'sdpaWithWeights returns softmax(scale·QKᵀ + mask) per head; both outputs differentiable in one backward call',
    async run(engine) {
      const s = { B: 2, H: 3, n: 5, m: 7, d: 6, dv: 4 };
      const [q, k, v] = inputs(s, 360);
      for (const o of [{}, { scale: 0.3, mask: infMask([5, 7], 361, 2) }, { mask: keepMask([2, 1, 1, 7], 362).keep }] as HostSdpaOptions[]) {
        const want = ops.sdpaWithWeights.cpu(q, k, v, o as SdpaOptions);
        const ts = [q, k, v].map((h) => toGpu(engine, h)) as [Tensor, Tensor, Tensor];
        const mask = o.mask ? toGpu(engine, o.mask) : undefined;
        const r = ops.sdpaWithWeights(...ts, { scale: o.scale, mask });
        const weights = await readDispose(r.weights);
        expectClose((await readDispose(r.out)).data, want.out.data, FWD, 'sdpaWithWeights out');
        expectClose(weights.data, want.weights.data, FWD, 'sdpaWithWeights weights');
        // An independent reference: the composed softmax of the scores.
        if (!o.mask) {
          const scores = ops.mul(ops.matmul(ts[0], ts[1], { transB: true }), 1 / Math.sqrt(s.d));
          const p = ops.softmax(scores, -1);
          expectClose(weights.data, await p.read(), FWD, 'weights vs softmax(QKᵀ/√d)');
          [scores, p].forEach((t) => t.dispose());
        }
        [...ts, mask].forEach((t) => t?.dispose());
      }
      const small = { B: 1, H: 2, n: 3, m: 4, d: 5, dv: 3 };
      const flat = (r: { out: Tensor; weights: Tensor }, which: ('out' | 'weights')[]) => ops.concat(which.map((w) => r[w].reshape([-1])), 0);
      const tol = { tol: { abs: 2e-3, rel: 2e-2 } };
      await autogradCheck(engine, 'sdpaWithWeights out + weights', (a, b, c) => flat(ops.sdpaWithWeights(a, b, c), ['out', 'weights']), inputs(small, 370), tol);
      // The weights do not depend on v: check q and k alone.
      const [sq, sk, sv] = inputs(small, 371);
      const tv = toGpu(engine, sv);
      await autogradCheck(engine, 'sdpaWithWeights weights only', (a, b) => ops.sdpaWithWeights(a, b, tv, { scale: 0.7 }).weights, [sq, sk], tol);
      await autogradCheck(engine, 'sdpaWithWeights both, with a mask gradient', (a, b, m) => flat(ops.sdpaWithWeights(a, b, tv, { mask: m }), ['out', 'weights']), [sq, sk, randomHost([3, 4], 372)], tol);
      tv.dispose();
      // One backward call: the query and key/value kernels run once each for both outputs' gradients.
      const ran: string[] = [];
      const runtime = engine.runtime;
      const dispatch = runtime.dispatch.bind(runtime);
      const ts = inputs(small, 373).map((h) => toGpu(engine, h).setRequiresGrad());
      const mt = toGpu(engine, randomHost([3, 4], 374)).setRequiresGrad();
      const r = ops.sdpaWithWeights(ts[0]!, ts[1]!, ts[2]!, { mask: mt });
      const loss = ops.add(ops.sum(r.out), ops.sum(ops.mul(r.weights, r.weights)));
      runtime.dispatch = (d) => (ran.push(d.kernel.name), dispatch(d));
      try {
        loss.backward();
      } finally {
        runtime.dispatch = dispatch;
      }
      const count = (prefix: string) => ran.filter((n) => n.startsWith(prefix)).length;
      if (count('sdpa_backward_query') !== 1 || count('sdpa_backward_keyvalue') !== 1) throw new Error(`backward kernels ran: ${ran.join(', ')}`);
      if (!ts.every((t) => t.grad) || mt.grad?.shape.join() !== '3,4') throw new Error('a gradient is missing');
      [...ts, mt, r.out, r.weights, loss].forEach((t) => {
        t.grad?.dispose();
        t.dispose();
      });
    },
  },
  {
    name: 'bad shapes and options get clear errors',
    async run(engine) {
      const t = (shape: number[]) => engine.empty(shape);
      const q = t([1, 2, 5, 8]);
      const k = t([1, 2, 7, 8]);
      const v = t([1, 2, 7, 3]);
      expectThrows(() => ops.sdpa(q, t([1, 2, 7, 9]), v), 'sdpa', 'feature sizes differ', '[1, 2, 5, 8]', '[1, 2, 7, 9]');
      expectThrows(() => ops.sdpa(q, k, t([1, 2, 6, 3])), 'sdpa', 'key counts differ', 'm = 7');
      expectThrows(() => ops.sdpa(q, t([1, 3, 7, 8]), v), 'sdpa', 'batch and head axes differ');
      expectThrows(() => ops.sdpa(t([5, 8]), k, v), 'sdpa', 'rank-4');
      expectThrows(() => ops.sdpa(q, k, v, { mask: t([5, 6]) }), 'sdpa', 'mask [5, 6] does not broadcast', '[1, 2, 5, 7]');
      expectThrows(() => ops.sdpa(q, k, v, { scale: NaN }), 'sdpa', 'scale must be a finite number');
      expectThrows(() => ops.sdpaWithWeights(q, k, v, { mask: t([2, 7]) }), 'sdpaWithWeights', 'mask [2, 7] does not broadcast');
      const out = t([1, 2, 5, 3]);
      expectThrows(() => ops.sdpaBackward(out, q, k, v, out, t([1, 2, 4])), 'sdpaBackward', 'lse must be f32 [1, 2, 5]');
      const plain = ops.mul(out, 1);
      expectThrows(() => ops.sdpaBackwardQuery(plain, q, k, v, plain, t([1, 2, 5, 1])), 'sdpaBackwardQuery', 'lse must be');
      [q, k, v, out, plain].forEach((x) => x.dispose());
    },
  },
];

export const attentionSuite: Suite = { name: 'attention', cases };
