/**
 * matmul against its float64 CPU reference, every variant forced in turn (buffer, buffer-tiled, texture,
 * texture-subgroup).
 *
 * Tolerance: inputs lie in [-1, 1), so each product is ≤ 1 in magnitude and f32 rounding of a K-term sum
 * grows like √K: |gpu − ref| ≤ 1e-5·√K + 1e-6 + 1e-5·|ref|, plus 1e-5 absolute after sigmoid/tanh (a few ulp
 * of exp). Typical errors seen are 1e-7–3e-6; a wrong element, tile or batch is off by ~0.1 or more.
 */
import type { Engine } from '../../src/device/engine.js';
import type { HostTensor } from '../../src/graph/host.js';
import { matmul, matmulCpu, matmulKernel, type Activation, type HostMatmulOptions } from '../../src/kernels/matmul.js';
import { texturePool } from '../../src/kernels/texture-pool.js';
import { expectClose, randomHost, toGpu } from '../helpers/compare.js';
import { expectThrows, type Case, type Suite } from './types.js';

const VARIANTS = ['buffer', 'buffer-tiled', 'texture', 'texture-subgroup'] as const;

interface Problem {
  a: number[];
  b: number[];
  /** Options for both sides; `biasN` adds a random bias of that length. */
  opts?: Omit<HostMatmulOptions, 'bias'> & { biasN?: number };
}

/** [M, K] × [K, N] written out with transposes applied to the stored shapes. */
function mk(M: number, K: number, N: number, transA = false, transB = false, batchA: number[] = [], batchB: number[] = []): Problem {
  return {
    a: [...batchA, ...(transA ? [K, M] : [M, K])],
    b: [...batchB, ...(transB ? [N, K] : [K, N])],
    opts: { transA, transB },
  };
}

let seed = 1;

/** Runs matmul on the GPU (variant already forced) and compares with the CPU reference. */
async function check(engine: Engine, p: Problem, what: string): Promise<void> {
  const ha = randomHost(p.a, seed++);
  const hb = randomHost(p.b, seed++);
  const { biasN, ...opts } = p.opts ?? {};
  const hbias: HostTensor | undefined = biasN !== undefined ? randomHost([biasN], seed++) : undefined;
  const a = toGpu(engine, ha);
  const b = toGpu(engine, hb);
  const bias = hbias && toGpu(engine, hbias);
  const out = matmul(a, b, { ...opts, ...(bias ? { bias } : {}) });
  try {
    const ref = matmulCpu(ha, hb, { ...opts, ...(hbias ? { bias: hbias } : {}) });
    const desc = `${what}: [${p.a}]${opts.transA ? 'ᵀ' : ''} × [${p.b}]${opts.transB ? 'ᵀ' : ''}${hbias ? ' + bias' : ''} ${opts.activation ?? ''}`;
    if (out.shape.join() !== ref.shape.join()) throw new Error(`${desc}: shape [${out.shape}], expected [${ref.shape}]`);
    const K = p.a[p.a.length - (opts.transA ? 2 : 1)]!;
    const smooth = opts.activation === 'sigmoid' || opts.activation === 'tanh' ? 1e-5 : 0;
    expectClose(await out.read(), ref.data, { abs: 1e-5 * Math.sqrt(K) + 1e-6 + smooth, rel: 1e-5 }, desc);
  } finally {
    [a, b, bias, out].forEach((t) => t?.dispose());
  }
}

/** Forces `variant` for the body; an unsupported variant must refuse clearly instead. */
function perVariant(title: string, body: (engine: Engine, variant: string) => Promise<void>): Case[] {
  return VARIANTS.map((variant) => ({
    name: `[${variant}] ${title}`,
    async run(engine: Engine) {
      if (!engine.variants.supported(matmulKernel).includes(variant)) {
        engine.variants.force('matmul', variant);
        try {
          const a = engine.empty([2, 2]);
          expectThrows(() => matmul(a, a), 'matmul', variant, 'does not run on this device');
          a.dispose();
        } finally {
          engine.variants.force('matmul', undefined);
        }
        return;
      }
      engine.variants.force('matmul', variant);
      try {
        await body(engine, variant);
      } finally {
        engine.variants.force('matmul', undefined);
      }
    },
  }));
}

const ACTIVATIONS: Activation[] = ['none', 'relu', 'sigmoid', 'tanh'];

const cases: Case[] = [
  ...perVariant('odd shapes: 1×1×1, 7×5×3, 33×17×65, 70×129×31, 1×N, M×1, aligned 64×32×96', async (engine, v) => {
    for (const [M, K, N] of [
      [1, 1, 1],
      [7, 3, 5],
      [33, 65, 17],
      [70, 31, 129],
      [1, 37, 45],
      [45, 37, 1],
      [64, 32, 96],
      [5, 300, 6],
    ] as const) {
      await check(engine, mk(M, K, N), v);
    }
  }),
  // One case per layout: each compiles its own buffer-kernel pipelines (slow the first time on lavapipe).
  ...[false, true].flatMap((tA) =>
    [false, true].flatMap((tB) =>
      perVariant(`${tA ? 'transA' : 'A'} × ${tB ? 'transB' : 'B'}, unaligned and vec4-aligned`, async (engine, v) => {
        // Alignment of M, K, N by 4 decides which operands the buffer kernel loads as vec4.
        for (const [M, K, N] of [
          [13, 7, 9],
          [12, 8, 16],
          [33, 12, 9],
          [12, 33, 20],
        ] as const) {
          await check(engine, mk(M, K, N, tA, tB), v);
        }
      }),
    ),
  ),
  ...perVariant('batches: equal, broadcast, one side unbatched', async (engine, v) => {
    await check(engine, mk(9, 11, 13, false, false, [3], [3]), v);
    await check(engine, mk(9, 11, 13, false, false, [2, 1], [3]), v); // [2,1,M,K] × [3,K,N] → [2,3,M,N]
    await check(engine, mk(9, 11, 13, true, true, [1, 3], [2, 1]), v);
    await check(engine, mk(17, 8, 36, false, false, [], [4]), v);
    await check(engine, mk(17, 8, 36, false, true, [2, 3], []), v);
    await check(engine, mk(5, 6, 7, false, false, [2, 1, 3], [4, 1]), v);
  }),
  ...perVariant('bias with each activation', async (engine, v) => {
    for (const activation of ACTIVATIONS) {
      await check(engine, { ...mk(19, 23, 38, false, false, [2], []), opts: { activation, biasN: 38 } }, v);
      await check(engine, { ...mk(8, 12, 4, true, true), opts: { transA: true, transB: true, activation, biasN: 4 } }, v);
      await check(engine, { ...mk(8, 40, 12), opts: { activation } }, v);
    }
  }),
  ...perVariant('empty: K = 0 gives the (activated) bias or zeros; M = 0 and batch 0 give empty outputs', async (engine, v) => {
    await check(engine, mk(3, 0, 4), v);
    await check(engine, { ...mk(3, 0, 5, false, false, [2], []), opts: { biasN: 5, activation: 'sigmoid' } }, v);
    await check(engine, mk(0, 5, 3), v);
    await check(engine, mk(4, 5, 0), v);
    await check(engine, mk(4, 5, 3, false, false, [0], [1]), v);
  }),
  ...perVariant('problems over the texture limits fall back to buffers', async (engine, v) => {
    // More matrices than texture layers: the texture variants must not try to stage them.
    const layers = engine.limits.maxTextureArrayLayers + 1;
    await check(engine, mk(3, 5, 2, false, false, [layers], [1]), v);
    // Wider than 4 × maxTextureDimension2D columns (4 per texel), and K deeper than the texture height.
    const dim = engine.limits.maxTextureDimension2D;
    await check(engine, mk(2, 3, 4 * dim + 5), v);
    await check(engine, mk(2, dim + 3, 3), v);
    await engine.sync(); // surfaces a GPU validation error if a texture over the limit was made
  }),
  ...perVariant('tall A (more rows than a texture holds) is staged in chunks of rows', async (engine, v) => {
    const rows = engine.limits.maxTextureDimension2D + 45;
    await check(engine, mk(rows, 5, 6), v);
    await check(engine, { ...mk(rows, 6, 3, true, false, [2], [1]), opts: { transA: true, biasN: 3, activation: 'relu' } }, v);
  }),
  ...perVariant('repeated calls reuse staging textures and give identical results', async (engine, v) => {
    const a = toGpu(engine, randomHost([2, 40, 50], 91));
    const b = toGpu(engine, randomHost([50, 30], 92));
    const first = matmul(a, b);
    const want = await first.read();
    const created = texturePool(engine).created;
    for (let i = 0; i < 3; i++) {
      const again = matmul(a, b, {});
      expectClose(await again.read(), want, { abs: 0, rel: 0 }, `${v}: call ${i + 2}`);
      again.dispose();
    }
    const grew = texturePool(engine).created - created;
    [a, b, first].forEach((t) => t.dispose());
    if (grew !== 0) throw new Error(`${v}: ${grew} textures created by repeated identical calls`);
  }),
  {
    name: 'bad input names matmul, the shapes and what was expected',
    async run(engine) {
      const a = engine.empty([3, 4]);
      const b = engine.empty([5, 6]);
      const c = engine.empty([4, 6]);
      const v = engine.empty([4]);
      const i = engine.empty([4, 6], 'i32');
      const bb = engine.empty([2, 4, 6]);
      const ab = engine.empty([3, 3, 4]);
      const bias4 = engine.empty([4]);
      try {
        expectThrows(() => matmul(a, b), 'matmul', '[3, 4]', '[5, 6]', 'K = 4', '5');
        expectThrows(() => matmul(a, c, { transA: true }), 'matmul', 'K = 3', '4');
        expectThrows(() => matmul(a, v), 'matmul', 'rank ≥ 2', '[4]');
        expectThrows(() => matmul(a, i), 'matmul', 'f32', 'i32');
        expectThrows(() => matmul(a, c, { bias: bias4 }), 'matmul', 'bias', '[6]', '[4]');
        expectThrows(() => matmul(a, c, { bias: c }), 'matmul', 'bias', '[6]', '[4, 6]');
        expectThrows(() => matmul(ab, bb), 'matmul', 'batch', '[3]', '[2]', 'broadcast');
        expectThrows(() => matmul(a, c, { activation: 'gelu' as Activation }), 'matmul', 'activation', 'gelu');
        expectThrows(() => matmulCpu(randomHost([2, 3], 1), randomHost([4, 2], 2)), 'matmul', 'K = 3', '4');
      } finally {
        [a, b, c, v, i, bb, ab, bias4].forEach((t) => t.dispose());
      }
    },
  },
];

export const matmulSuite: Suite = { name: 'matmul', cases };
