/**
 * `matmul`: ours (src/kernels/matmul.ts, the variant chosen by engine.variants.tune()) against
 * tfjs-webgpu on the same Dawn adapter, for square, skinny, batched and fused (bias + relu) problems.
 * Both sides read the result back inside the timed call, so all GPU work is counted the same way.
 */
import type { Engine } from '../../src/device/engine.js';
import type { Tensor } from '../../src/graph/tensor.js';
import { matmul, matmulKernel, type Activation } from '../../src/kernels/matmul.js';
import type { TuneResult } from '../../src/kernels/variants.js';
import { makeRow, randomData, setWaitMode, tfjsWebGPU, timePair, withWaiter, type Row, type Suite, type SuiteContext, type Tf, type TimeOptions } from '../harness.js';

export interface MatmulCase {
  name: string;
  batch: number;
  M: number;
  K: number;
  N: number;
  transB?: boolean;
  /** Adds a bias of length N and this activation (tfjs: tf.fused.matMul). */
  fused?: Activation;
}

const square = (n: number): MatmulCase => ({ name: `square ${n}`, batch: 1, M: n, K: n, N: n });

export const MATMUL_CASES: MatmulCase[] = [
  square(256),
  square(512),
  square(1024),
  { name: 'skinny K', batch: 1, M: 1024, K: 64, N: 1024 },
  { name: 'tall, narrow N', batch: 1, M: 4096, K: 256, N: 64 },
  { name: 'batched', batch: 8, M: 128, K: 128, N: 128 },
  { name: 'dense transB+bias+relu', batch: 1, M: 256, K: 1024, N: 512, transB: true, fused: 'relu' },
];

export const MATMUL_QUICK_CASES: MatmulCase[] = [
  square(64),
  { name: 'skinny K', batch: 1, M: 128, K: 16, N: 128 },
  { name: 'batched', batch: 2, M: 32, K: 32, N: 32 },
  { name: 'dense transB+bias+relu', batch: 1, M: 16, K: 64, N: 32, transB: true, fused: 'relu' },
];

export function caseShape(c: MatmulCase): string {
  return `${c.batch > 1 ? `${c.batch}x` : ''}${c.M}x${c.K}x${c.N}`;
}

export function caseFlops(c: MatmulCase): number {
  return 2 * c.batch * c.M * c.N * c.K;
}

function shapes(c: MatmulCase): { a: number[]; b: number[] } {
  const pre = c.batch > 1 ? [c.batch] : [];
  return { a: [...pre, c.M, c.K], b: c.transB ? [...pre, c.N, c.K] : [...pre, c.K, c.N] };
}

interface Prepared {
  c: MatmulCase;
  ours: () => Promise<Float32Array>;
  tfCall: () => { data(): Promise<unknown>; dispose(): void };
  dispose(): void;
}

/** Uploads the same random operands to both engines and returns the two calls. */
function prepare(engine: Engine, tf: Tf, c: MatmulCase): Prepared {
  const { a: sa, b: sb } = shapes(c);
  const da = randomData(sa.reduce((p, d) => p * d, 1), 11);
  const db = randomData(sb.reduce((p, d) => p * d, 1), 12);
  const dbias = c.fused ? randomData(c.N, 13) : undefined;
  const a = engine.tensor(da, sa);
  const b = engine.tensor(db, sb);
  const bias: Tensor | undefined = dbias ? engine.tensor(dbias, [c.N]) : undefined;
  const ta = tf.tensor(da, sa);
  const tb = tf.tensor(db, sb);
  const tbias = dbias ? tf.tensor(dbias, [c.N]) : undefined;
  const options = { transB: Boolean(c.transB), ...(bias ? { bias, activation: c.fused } : {}) };
  const tfCall = () => {
    if (!c.fused) return tf.matMul(ta, tb, false, Boolean(c.transB));
    // tfjs fuses linear, relu and sigmoid (not tanh, which runs as separate ops).
    if (c.fused === 'tanh') return tf.tidy(() => tf.tanh(tf.add(tf.matMul(ta, tb, false, Boolean(c.transB)), tbias!)));
    return tf.fused.matMul({ a: ta, b: tb, transposeB: Boolean(c.transB), bias: tbias, activation: c.fused === 'none' ? 'linear' : c.fused });
  };
  return {
    c,
    async ours() {
      const out = matmul(a, b, options);
      try {
        return (await engine.read(out)) as Float32Array;
      } finally {
        out.dispose();
      }
    },
    tfCall,
    dispose() {
      for (const t of [a, b, bias]) t?.dispose();
      for (const t of [ta, tb, tbias]) t?.dispose();
    },
  };
}

/** Largest |ours − tfjs| relative to the largest |tfjs| value: a check that both compute the same thing. */
function relDiff(ours: Float32Array, ref: Float32Array): number {
  if (ours.length !== ref.length) return Infinity;
  let diff = 0;
  let scale = 1e-6;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(ours[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return diff / scale;
}

export function matmulTiming(quick: boolean): TimeOptions {
  return quick ? { budgetMs: 150, minIterations: 2, maxIterations: 10 } : { budgetMs: 1500, minIterations: 3, maxIterations: 50 };
}

/** `tune: false` skips engine.variants.tune() (tests: tuning compiles and times every variant). */
export async function runMatmul(ctx: SuiteContext, cases = ctx.quick ? MATMUL_QUICK_CASES : MATMUL_CASES, opts: { tune?: boolean } = {}): Promise<Row[]> {
  const { engine, log } = ctx;
  // Variant choice first (measured now unless a choice for this device is remembered; --retune forces it).
  const t0 = performance.now();
  const tuned: TuneResult[] = opts.tune === false ? [] : await engine.variants.tune(undefined, { force: ctx.flags.has('retune') });
  const tuneMs = performance.now() - t0;
  const mm = tuned.find((t) => t.kernel === matmulKernel.name);
  const chosen = engine.variants.pick(matmulKernel).name;
  const chosenTiming = mm?.timings.find((t) => t.variant === chosen);
  const how = mm ? `tuned now in ${(tuneMs / 1000).toFixed(1)} s: ${mm.timings.map((t) => `${t.variant} ${t.medianMs.toFixed(1)} ms`).join(', ')}` : opts.tune === false ? 'not tuned' : 'remembered for this device';
  log(`matmul: variant ${chosen} (${how})`);
  const variants = ctx.flags.has('all-variants') ? engine.variants.supported(matmulKernel) : [chosen];

  const tf = await tfjsWebGPU();
  const timing = matmulTiming(ctx.quick);
  const rows: Row[] = [];
  try {
    for (const c of cases) {
      const p = prepare(engine, tf, c);
      try {
        // Same answer from both (checked once per case, outside the timings).
        let check: number | undefined;
        for (const wait of ctx.waits) {
          const waiter = setWaitMode(engine, wait);
          const tfRun = async () => {
            const out = p.tfCall();
            try {
              return (await withWaiter(waiter, () => out.data())) as Float32Array;
            } finally {
              out.dispose();
            }
          };
          const ceilings = await ctx.ceilings(wait);
          const ceiling = ceilings.fmaGflops;
          for (const variant of variants) {
            // Forcing only when timing every variant: otherwise the engine's own pick is what is measured.
            if (variants.length > 1) engine.variants.force(matmulKernel.name, variant);
            if (check === undefined || variants.length > 1) check = relDiff(await p.ours(), await tfRun());
            // Alternating slices of ours and tfjs, so drifting load from other work hits both alike.
            const { ours, anchor } = await timePair(`${c.name} ${variant} ${wait}`, p.ours, tfRun, timing);
            const row = makeRow({
              case: c.name,
              shape: caseShape(c),
              wait,
              ours,
              anchor: { name: 'tfjs-webgpu', timing: anchor },
              flops: caseFlops(c),
              fmaCeiling: ceiling,
              extra: {
                variant,
                chosen: variant === chosen,
                fma_ceiling: Number(ceiling.toFixed(2)),
                ceiling_source: ceilings.source,
                max_rel_diff: Number(check.toPrecision(2)),
                tune: mm ? { ms: Math.round(tuneMs), first_ms: chosenTiming ? Math.round(chosenTiming.firstMs) : null, timings: mm.timings } : opts.tune === false ? 'skipped' : 'remembered',
              },
            });
            if (check > 1e-3) log(`matmul: WARNING ${c.name} differs from tfjs by ${check.toExponential(2)} (relative)`);
            log(`matmul: ${wait} ${c.name} ${caseShape(c)} ${variant}: ours ${row.ours_ms} ms, tfjs ${row.anchor_ms} ms, ratio ${row.ratio}, ${row.gflops} GFLOP/s`);
            rows.push(row);
          }
        }
      } finally {
        engine.variants.force(matmulKernel.name, undefined);
        p.dispose();
      }
    }
  } finally {
    engine.variants.force(matmulKernel.name, undefined);
  }
  return rows;
}

export const matmulSuite: Suite = {
  name: 'matmul',
  description: 'matmul (square, skinny, batched, fused bias+relu) against tfjs-webgpu; GFLOP/s and fraction of the FMA ceiling',
  flags: { 'all-variants': 'time every supported variant, not only the chosen one', retune: 'measure the variants again even if a choice is remembered' },
  run: (ctx) => runMatmul(ctx),
};
