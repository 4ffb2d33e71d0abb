/**
 * Optimisers and schedulers: fused GPU updates against the CPU references over several steps (odd sizes, every
 * option combination that changes the arithmetic), the CPU references against hand-computed PyTorch values,
 * one dispatch per parameter, parameter groups, state dicts, and scheduler sequences worked out by hand.
 */
import type { Engine } from '../../src/device/engine.js';
import { tidy } from '../../src/graph/scope.js';
import type { Tensor } from '../../src/graph/tensor.js';
import { Adam, AdamW, adamUpdateCpu, type AdamOptions } from '../../src/optim/adam.js';
import { loadOptimizerState, saveOptimizerState } from '../../src/optim/checkpoint.js';
import { updateLaunch } from '../../src/optim/launch.js';
import type { Optimizer, BaseHyperParams } from '../../src/optim/optimizer.js';
import { CosineAnnealingWarmRestarts, ReduceLROnPlateau, StepLR, type LrGroups } from '../../src/optim/schedulers.js';
import { SGD, sgdUpdateCpu, type SGDOptions } from '../../src/optim/sgd.js';
import { expectClose, randomHost } from '../helpers/compare.js';
import { expectThrows, type Case, type Suite } from './types.js';

function check(cond: boolean, message: string): void {
  if (!cond) throw new Error(message);
}

/** Parameter sizes: a single element, fewer than a subgroup, and more than a workgroup's worth (not a multiple). */
const SHAPES = [[1], [7], [1031]];
const STEPS = 4;
/** GPU and CPU round at the same points; FMA contraction on the GPU may differ by an ulp per op. */
const TOL = { abs: 2e-6, rel: 2e-5 };

const SGD_DEFAULTS: SGDOptions = { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false };
const ADAM_DEFAULTS: AdamOptions = { lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false };

const sgdCombos: [string, Partial<SGDOptions>][] = [
  ['plain', {}],
  ['weight decay', { weightDecay: 0.05 }],
  ['momentum', { momentum: 0.9 }],
  ['momentum + dampening + weight decay', { momentum: 0.8, dampening: 0.3, weightDecay: 0.01 }],
  ['nesterov + weight decay', { momentum: 0.9, nesterov: true, weightDecay: 0.02 }],
  ['maximize + momentum', { momentum: 0.5, maximize: true }],
];

const adamCombos: [string, boolean, Partial<AdamOptions>][] = [
  ['Adam', false, {}],
  ['Adam + L2 weight decay', false, { weightDecay: 0.1 }],
  ['Adam amsgrad', false, { amsgrad: true }],
  ['Adam maximize + small betas (lerp upper branch)', false, { maximize: true, betas: [0.3, 0.6] }],
  ['AdamW', true, { weightDecay: 0.05 }],
  ['AdamW amsgrad + maximize', true, { weightDecay: 0.05, amsgrad: true, maximize: true }],
  ['Adam eps 1e-3', false, { eps: 1e-3, lr: 0.3 }],
];

interface Rig {
  params: Tensor[];
  host: Float32Array[];
  grads(step: number): Float32Array[];
}

/** Parameters on the GPU with CPU copies, and a deterministic gradient per step (some entries exactly zero). */
function rig(engine: Engine, seed: number): Rig {
  const host = SHAPES.map((s, i) => randomHost(s, seed + i, -2, 2).data as Float32Array);
  const params = host.map((h, i) => engine.tensor(h, SHAPES[i]!));
  return {
    params,
    host: host.map((h) => Float32Array.from(h)),
    grads: (step) =>
      SHAPES.map((s, i) => {
        const g = randomHost(s, seed * 131 + step * 17 + i, -1, 1).data as Float32Array;
        if (g.length > 3) g[3] = 0;
        return g;
      }),
  };
}

function setGrads(engine: Engine, params: Tensor[], grads: Float32Array[]): void {
  params.forEach((p, i) => {
    p.grad?.dispose();
    p.grad = engine.tensor(grads[i]!, p.shape);
  });
}

async function compareParams(params: Tensor[], expected: Float32Array[], what: string): Promise<void> {
  const got = await Promise.all(params.map((p) => p.read()));
  got.forEach((g, i) => expectClose(g, expected[i]!, TOL, `${what}: parameter ${SHAPES[i] ? `[${params[i]!.shape}]` : i}`));
}

function disposeAll(opt: { dispose(): void; zeroGrad(): void }, params: Tensor[]): void {
  opt.zeroGrad();
  opt.dispose();
  params.forEach((p) => p.dispose());
}

/** Reads an optimiser's state buffer for parameter `index` (as numbered by stateDict). */
async function stateBuffer<H extends BaseHyperParams>(opt: Optimizer<H>, index: number, name: string): Promise<Float32Array> {
  const t = opt.stateDict().state[index]?.buffers[name];
  if (!t) throw new Error(`no state '${name}' for parameter ${index}`);
  return (await t.read()) as Float32Array;
}

const cases: Case[] = [
  ...sgdCombos.map(([what, o]): Case => ({
    name: `SGD ${what}: ${STEPS} GPU steps match the CPU reference on sizes 1, 7, 1031`,
    async run(engine) {
      const r = rig(engine, 11);
      const opts = { ...SGD_DEFAULTS, ...o };
      const opt = new SGD(r.params, opts);
      const bufs = opts.momentum !== 0 ? r.host.map((h) => new Float32Array(h.length)) : null;
      for (let s = 0; s < STEPS; s++) {
        const g = r.grads(s);
        setGrads(engine, r.params, g);
        opt.step();
        r.host.forEach((h, i) => sgdUpdateCpu(h, g[i]!, bufs ? bufs[i]! : null, opts, s === 0));
      }
      await compareParams(r.params, r.host, `SGD ${what}`);
      if (bufs) for (let i = 0; i < SHAPES.length; i++) expectClose(await stateBuffer(opt, i, 'momentum_buffer'), bufs[i]!, TOL, `SGD ${what}: momentum buffer ${i}`);
      else check(Object.keys(opt.stateDict().state[0]!.buffers).length === 0, 'SGD without momentum keeps no buffer');
      disposeAll(opt, r.params);
    },
  })),
  ...adamCombos.map(([what, decoupled, o]): Case => ({
    name: `${what}: ${STEPS + 1} GPU steps match the CPU reference on sizes 1, 7, 1031`,
    async run(engine) {
      const r = rig(engine, 23);
      const opts = { ...ADAM_DEFAULTS, ...(decoupled ? { weightDecay: 1e-2 } : {}), ...o };
      const opt = decoupled ? new AdamW(r.params, opts) : new Adam(r.params, opts);
      const state = r.host.map((h) => ({ expAvg: new Float32Array(h.length), expAvgSq: new Float32Array(h.length), maxExpAvgSq: opts.amsgrad ? new Float32Array(h.length) : null }));
      for (let s = 1; s <= STEPS + 1; s++) {
        const g = r.grads(s);
        setGrads(engine, r.params, g);
        opt.step();
        r.host.forEach((h, i) => adamUpdateCpu(h, g[i]!, state[i]!, opts, s, decoupled));
      }
      await compareParams(r.params, r.host, what);
      for (let i = 0; i < SHAPES.length; i++) {
        expectClose(await stateBuffer(opt, i, 'exp_avg'), state[i]!.expAvg, TOL, `${what}: exp_avg ${i}`);
        expectClose(await stateBuffer(opt, i, 'exp_avg_sq'), state[i]!.expAvgSq, TOL, `${what}: exp_avg_sq ${i}`);
        if (opts.amsgrad) expectClose(await stateBuffer(opt, i, 'max_exp_avg_sq'), state[i]!.maxExpAvgSq!, TOL, `${what}: max_exp_avg_sq ${i}`);
      }
      check(opt.stateDict().state[0]!.step === STEPS + 1, 'step count');
      disposeAll(opt, r.params);
    },
  })),
  {
    name: 'every launch form (scalar or vec4 items, 1 or 3 per invocation) matches the CPU reference',
    async run(engine) {
      const saved = { ...updateLaunch };
      try {
        for (const form of [{ vec4: false, perThread: 1 }, { vec4: false, perThread: 3 }, { vec4: true, perThread: 3 }, { vec4: true, perThread: 1 }]) {
          Object.assign(updateLaunch, form);
          const what = `vec4 ${form.vec4}, ${form.perThread} per invocation`;
          const r = rig(engine, 61);
          const sgdOpts = { ...SGD_DEFAULTS, momentum: 0.9, nesterov: true, weightDecay: 0.01 };
          const sgd = new SGD(r.params, sgdOpts);
          const bufs = r.host.map((h) => new Float32Array(h.length));
          for (let s = 0; s < 3; s++) {
            const g = r.grads(s);
            setGrads(engine, r.params, g);
            sgd.step();
            r.host.forEach((h, i) => sgdUpdateCpu(h, g[i]!, bufs[i]!, sgdOpts, s === 0));
          }
          await compareParams(r.params, r.host, `SGD, ${what}`);
          disposeAll(sgd, r.params);
          const a = rig(engine, 62);
          const adamOpts = { ...ADAM_DEFAULTS, amsgrad: true, weightDecay: 0.02 };
          const adam = new AdamW(a.params, adamOpts);
          const state = a.host.map((h) => ({ expAvg: new Float32Array(h.length), expAvgSq: new Float32Array(h.length), maxExpAvgSq: new Float32Array(h.length) }));
          for (let s = 1; s <= 3; s++) {
            const g = a.grads(s);
            setGrads(engine, a.params, g);
            adam.step();
            a.host.forEach((h, i) => adamUpdateCpu(h, g[i]!, state[i]!, adamOpts, s, true));
          }
          await compareParams(a.params, a.host, `AdamW amsgrad, ${what}`);
          disposeAll(adam, a.params);
        }
      } finally {
        Object.assign(updateLaunch, saved);
      }
    },
  },
  {
    name: 'the CPU references reproduce hand-computed PyTorch sequences',
    async run() {
      // Scalars: p = 1, lr = 0.1. Values worked out from torch.optim's update formulas.
      const sgd = (o: Partial<SGDOptions>, grads: number[]): number[] => {
        const p = Float32Array.of(1);
        const buf = Float32Array.of(0);
        return grads.map((g, i) => {
          sgdUpdateCpu(p, Float32Array.of(g), buf, { ...SGD_DEFAULTS, ...o }, i === 0);
          return p[0]!;
        });
      };
      const tol = { abs: 1e-6, rel: 1e-6 };
      expectClose(sgd({}, [1, 1]), [0.9, 0.8], tol, 'plain SGD');
      expectClose(sgd({ weightDecay: 0.1 }, [1]), [0.89], tol, 'SGD weight decay: g = 1 + 0.1·1');
      // buf₁ = g (no dampening on the first step), buf₂ = 0.9·1 + 1 = 1.9, buf₃ = 2.71
      expectClose(sgd({ momentum: 0.9 }, [1, 1, 1]), [0.9, 0.71, 0.439], tol, 'SGD momentum');
      // buf₁ = 1, buf₂ = 0.9 + 0.5·1 = 1.4
      expectClose(sgd({ momentum: 0.9, dampening: 0.5 }, [1, 1]), [0.9, 0.76], tol, 'SGD dampening skips the first step');
      // g + 0.9·buf: 1.9, then 1 + 0.9·1.9 = 2.71
      expectClose(sgd({ momentum: 0.9, nesterov: true }, [1, 1]), [0.81, 0.539], tol, 'SGD nesterov');
      expectClose(sgd({ maximize: true }, [1]), [1.1], tol, 'SGD maximize');

      const adam = (o: Partial<AdamOptions>, grads: number[], decoupled = false): number[] => {
        const p = Float32Array.of(1);
        const s = { expAvg: Float32Array.of(0), expAvgSq: Float32Array.of(0), maxExpAvgSq: Float32Array.of(0) };
        return grads.map((g, i) => {
          adamUpdateCpu(p, Float32Array.of(g), s, { ...ADAM_DEFAULTS, lr: 0.1, ...o }, i + 1, decoupled);
          return p[0]!;
        });
      };
      // A constant gradient moves by lr each step (m̂ = v̂^½ = g).
      expectClose(adam({}, [1, 1, 1]), [0.9, 0.8, 0.7], tol, 'Adam constant gradient');
      // g = 1, −1: m₂ = 0.09 − 0.1 = −0.01, m̂₂ = −0.01/0.19, v̂₂ = 1 → p₂ = 0.9 + 0.1·0.01/0.19
      expectClose(adam({}, [1, -1]), [0.9, 0.9 + (0.1 * 0.01) / 0.19], tol, 'Adam alternating gradient');
      // AdamW: p·(1 − 0.1·0.1) then − 0.1
      expectClose(adam({ weightDecay: 0.1 }, [1], true), [0.89], tol, 'AdamW decoupled decay');
      // Adam L2: g = 1 + 0.5 = 1.5, a constant effective gradient still moves by lr
      expectClose(adam({ weightDecay: 0.5 }, [1]), [0.9], tol, 'Adam L2 decay');
      // amsgrad, g = 2 then 0: v₁ = 0.004, v₂ = 0.003996 < v̂ = 0.004; m₂ = 0.18
      const denom = Math.sqrt(0.004) / Math.sqrt(1 - 0.999 ** 2) + 1e-8;
      expectClose(adam({ amsgrad: true }, [2, 0]), [0.9, 0.9 - (0.1 / 0.19) * (0.18 / denom)], tol, 'Adam amsgrad keeps the maximum');
      const plainDenom = Math.sqrt(0.003996) / Math.sqrt(1 - 0.999 ** 2) + 1e-8;
      expectClose(adam({}, [2, 0]), [0.9, 0.9 - (0.1 / 0.19) * (0.18 / plainDenom)], tol, 'Adam without amsgrad');
    },
  },
  {
    name: 'a step is one dispatch per parameter with a gradient; parameters without one are untouched',
    async run(engine) {
      for (const make of [(ps: Tensor[]) => new SGD(ps, { lr: 0.1, momentum: 0.9 }), (ps: Tensor[]) => new Adam(ps, { amsgrad: true }), (ps: Tensor[]) => new AdamW(ps)]) {
        const r = rig(engine, 5);
        const opt = make(r.params);
        for (let s = 0; s < 3; s++) {
          const g = r.grads(s);
          setGrads(engine, r.params.slice(0, 2), g);
          const before = engine.runtime.counters.dispatches;
          opt.step();
          const n = engine.runtime.counters.dispatches - before;
          check(n === 2, `${opt.name} step ${s}: ${n} dispatches for 2 parameters with gradients`);
        }
        expectClose(await r.params[2]!.read(), r.host[2]!, { abs: 0, rel: 0 }, `${opt.name}: the parameter without a gradient`);
        check(!opt.stateDict().state[2], `${opt.name} made state for a parameter that never had a gradient`);
        opt.zeroGrad();
        check(r.params.every((p) => p.grad === null), 'zeroGrad clears the gradients');
        const before = engine.runtime.counters.dispatches;
        opt.step();
        check(engine.runtime.counters.dispatches === before, 'a step without gradients dispatches nothing');
        disposeAll(opt, r.params);
      }
    },
  },
  {
    name: 'parameter groups use their own lr and weight decay; changing lr does not recompile',
    async run(engine) {
      const r = rig(engine, 41);
      const backbone = { ...ADAM_DEFAULTS, lr: 1e-4, weightDecay: 0.01 };
      const head = { ...ADAM_DEFAULTS, lr: 1e-3, weightDecay: 0 };
      const opt = new AdamW([{ params: r.params.slice(0, 2), lr: backbone.lr }, { params: r.params.slice(2), lr: head.lr, weightDecay: 0 }], { weightDecay: 0.01 });
      check(opt.paramGroups[0]!.lr === 1e-4 && opt.paramGroups[1]!.lr === 1e-3 && opt.paramGroups[1]!.weightDecay === 0 && opt.paramGroups[0]!.betas[1] === 0.999, 'group options');
      const state = r.host.map((h) => ({ expAvg: new Float32Array(h.length), expAvgSq: new Float32Array(h.length), maxExpAvgSq: null }));
      let compiled = 0;
      for (let s = 1; s <= 3; s++) {
        if (s === 3) {
          // A scheduler would do this: the new lr travels in the uniforms.
          opt.paramGroups[0]!.lr = backbone.lr = 5e-5;
          opt.paramGroups[1]!.lr = head.lr = 2e-3;
          compiled = engine.runtime.counters.pipelinesCompiled;
        }
        const g = r.grads(s);
        setGrads(engine, r.params, g);
        opt.step();
        r.host.forEach((h, i) => adamUpdateCpu(h, g[i]!, state[i]!, i < 2 ? backbone : head, s, true));
      }
      check(engine.runtime.counters.pipelinesCompiled === compiled, 'changing lr compiled a pipeline');
      await compareParams(r.params, r.host, 'AdamW with two groups');
      disposeAll(opt, r.params);
    },
  },
  {
    name: 'state survives a tidy scope around the step and memory stays flat over steps',
    async run(engine) {
      const r = rig(engine, 3);
      const opt = new SGD(r.params, { lr: 0.05, momentum: 0.9, weightDecay: 1e-3 });
      const bufs = r.host.map((h) => new Float32Array(h.length));
      const g = r.grads(0);
      setGrads(engine, r.params, g);
      tidy(() => opt.step());
      r.host.forEach((h, i) => sgdUpdateCpu(h, g[i]!, bufs[i]!, opt.paramGroups[0]!, true));
      await engine.sync();
      const live = engine.memory().liveBytes;
      for (let s = 0; s < 30; s++) {
        tidy(() => opt.step());
        r.host.forEach((h, i) => sgdUpdateCpu(h, g[i]!, bufs[i]!, opt.paramGroups[0]!, false));
      }
      await compareParams(r.params, r.host, 'SGD after 31 steps inside tidy');
      check(engine.memory().liveBytes === live, `live bytes moved by ${engine.memory().liveBytes - live} over 30 steps`);
      disposeAll(opt, r.params);
    },
  },
  {
    name: 'stateDict / loadStateDict and a safetensors round trip resume training exactly',
    async run(engine) {
      for (const make of [(ps: Tensor[]) => new SGD(ps, { lr: 0.1, momentum: 0.9, nesterov: true }), (ps: Tensor[]) => new Adam([{ params: ps.slice(0, 1), lr: 0.02 }, { params: ps.slice(1) }], { amsgrad: true })]) {
        const a = rig(engine, 7);
        const optA = make(a.params);
        for (let s = 0; s < 2; s++) {
          setGrads(engine, a.params, a.grads(s));
          optA.step();
        }
        // Two copies of the trained parameters, resumed from a state dict and from a file.
        const current = await Promise.all(a.params.map((p) => p.read()));
        const b = a.params.map((p, i) => engine.tensor(current[i]!, p.shape));
        const c = a.params.map((p, i) => engine.tensor(current[i]!, p.shape));
        const optB = make(b);
        const optC = make(c);
        optA.paramGroups[0]!.lr *= 0.5; // hyper-parameters travel with the state
        optB.loadStateDict(optA.stateDict());
        const bytes = await saveOptimizerState(optA);
        loadOptimizerState(optC, bytes);
        check(optB.paramGroups[0]!.lr === optA.paramGroups[0]!.lr && optC.paramGroups[0]!.lr === optA.paramGroups[0]!.lr, 'lr not restored');
        for (let s = 2; s < 4; s++) {
          const g = a.grads(s);
          setGrads(engine, a.params, g);
          setGrads(engine, b, g);
          setGrads(engine, c, g);
          [optA, optB, optC].forEach((o) => o.step());
        }
        const [ra, rb, rc] = await Promise.all([a.params, b, c].map((ps) => Promise.all(ps.map((p) => p.read()))));
        ra!.forEach((v, i) => {
          expectClose(rb![i]!, v, { abs: 0, rel: 0 }, `${optA.name} resumed from stateDict, parameter ${i}`);
          expectClose(rc![i]!, v, { abs: 0, rel: 0 }, `${optA.name} resumed from safetensors, parameter ${i}`);
        });
        const wrongKind = optA.name === 'SGD' ? new Adam(b) : new SGD(b, { lr: 1 });
        expectThrows(() => loadOptimizerState(wrongKind, bytes), 'loadOptimizerState', `holds ${optA.name} state, not ${wrongKind.name}`);
        disposeAll(optA, a.params);
        disposeAll(optB, b);
        disposeAll(optC, c);
      }
    },
  },
  {
    name: 'loadStateDict refuses state that does not fit, listing the problems',
    async run(engine) {
      const r = rig(engine, 9);
      const opt = new Adam(r.params);
      setGrads(engine, r.params, r.grads(0));
      opt.step();
      const other = [engine.zeros([2]), engine.zeros([7]), engine.zeros([1031])];
      const wrongShape = new Adam(other);
      expectThrows(() => wrongShape.loadStateDict(opt.stateDict()), 'Adam.loadStateDict', "buffer 'exp_avg' is f32 [1], the parameter f32 [2]", "'exp_avg_sq'");
      const twoGroups = new Adam([{ params: other.slice(0, 1) }, { params: other.slice(1) }]);
      expectThrows(() => twoGroups.loadStateDict(opt.stateDict()), 'the state has 1 parameter groups, the optimiser 2');
      const amsgrad = new Adam(r.params.map((p) => engine.zeros(p.shape)), { amsgrad: true });
      const dict = opt.stateDict();
      dict.paramGroups[0]!.amsgrad = true;
      expectThrows(() => amsgrad.loadStateDict(dict), "buffer 'max_exp_avg_sq' is missing");
      disposeAll(opt, r.params);
      [wrongShape, twoGroups, amsgrad].forEach((o) => o.dispose());
      amsgrad.paramGroups[0]!.params.forEach((p) => p.dispose());
      other.forEach((t) => t.dispose());
    },
  },
  {
    name: 'bad options and gradients are refused with clear errors',
    async run(engine) {
      const p = engine.zeros([3]);
      const q = engine.zeros([2, 2]);
      expectThrows(() => new SGD([], { lr: 0.1 }), 'SGD', 'empty parameter list');
      expectThrows(() => new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true }), 'Nesterov', 'zero dampening');
      expectThrows(() => new SGD([p], { lr: 0.1, nesterov: true }), 'Nesterov', 'momentum > 0');
      expectThrows(() => new SGD([p], { lr: -1 }), 'SGD', 'lr = -1');
      expectThrows(() => new Adam([p], { betas: [0.9, 1] }), 'Adam', 'betas[1] = 1');
      expectThrows(() => new Adam([p], { eps: -1 }), 'eps = -1');
      expectThrows(() => new SGD([{ params: [p] }, { params: [p] }], { lr: 0.1 }), 'parameter group 1', 'more than one group');
      expectThrows(() => new SGD([{ params: [p], momentun: 0.9 } as never], { lr: 0.1 }), "unknown option 'momentun'");
      expectThrows(() => new Adam([engine.zeros([2], 'i32')]), 'is not f32');
      const opt = new SGD([p, q], { lr: 0.1 });
      q.grad = engine.zeros([4]);
      expectThrows(() => opt.step(), 'SGD', 'group 0 parameter 1', 'gradient f32 [4] does not match the parameter f32 [2, 2]');
      opt.zeroGrad();
      [p, q].forEach((t) => t.dispose());
    },
  },
  {
    name: 'StepLR follows PyTorch (chainable, per group)',
    async run() {
      const opt: LrGroups = { paramGroups: [{ lr: 0.1 }, { lr: 1 }] };
      const s = new StepLR(opt, 3, 0.1);
      const seen: number[][] = [s.getLastLr()];
      for (let e = 1; e < 8; e++) {
        s.step();
        seen.push(s.getLastLr());
      }
      const want = [0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001];
      expectClose(seen.map((l) => l[0]!), want, { abs: 0, rel: 1e-12 }, 'StepLR group 0');
      expectClose(seen.map((l) => l[1]!), want.map((v) => v * 10), { abs: 0, rel: 1e-12 }, 'StepLR group 1');
      check(opt.paramGroups[0]!.initialLr === 0.1 && opt.paramGroups[0]!.lr === seen[7]![0], 'StepLR writes the groups and records initialLr');
      expectThrows(() => new StepLR(opt, 0), 'StepLR', 'stepSize = 0');
    },
  },
  {
    name: 'CosineAnnealingWarmRestarts follows PyTorch, including fractional epochs',
    async run(engine) {
      const p = engine.zeros([1]);
      const opt = new SGD([p], { lr: 0.1 });
      const s = new CosineAnnealingWarmRestarts(opt, 3, 2, 0.01);
      const seen = [opt.paramGroups[0]!.lr];
      for (let e = 1; e < 10; e++) {
        s.step();
        seen.push(opt.paramGroups[0]!.lr);
      }
      // T_i = 3 (epochs 0–2), then 6 (3–8), then 12: lr = 0.01 + 0.09·(1 + cos(π·T_cur/T_i))/2
      const want = [0.1, 0.0775, 0.0325, 0.1, 0.0939711432, 0.0775, 0.055, 0.0325, 0.0160288568, 0.1];
      expectClose(seen, want, { abs: 1e-10, rel: 0 }, 'CosineAnnealingWarmRestarts');
      // epoch 4.5: n = ⌊log₂(4.5/3 + 1)⌋ = 1, T_cur = 1.5, T_i = 6: 0.01 + 0.09·(1 + cos(π/4))/2
      s.step(4.5);
      expectClose([opt.paramGroups[0]!.lr, s.lastEpoch], [0.0868198052, 4], { abs: 1e-10, rel: 0 }, 'fractional epoch');
      const flat = new CosineAnnealingWarmRestarts({ paramGroups: [{ lr: 1 }] }, 4);
      flat.step(10);
      expectClose(flat.getLastLr(), [0.5], { abs: 1e-12, rel: 0 }, 'T_mult = 1: epoch 10 is T_cur 2 of 4');
      flat.step(9);
      expectClose(flat.getLastLr(), [(1 + Math.SQRT1_2) / 2], { abs: 1e-12, rel: 0 }, 'T_mult = 1: epoch 9 is T_cur 1 of 4');
      expectThrows(() => new CosineAnnealingWarmRestarts(opt, 2, 1.5), 'TMult = 1.5');
      p.dispose();
    },
  },
  {
    name: 'ReduceLROnPlateau follows PyTorch: patience, threshold, cooldown, min_lr, modes',
    async run() {
      const opt: LrGroups = { paramGroups: [{ lr: 0.1 }] };
      const s = new ReduceLROnPlateau(opt, { factor: 0.5, patience: 2, threshold: 0.1, cooldown: 1, minLr: 0.02 });
      const metrics = [1.0, 0.95, 0.95, 0.95, 0.95, ...new Array(12).fill(0.5)];
      const lrs = metrics.map((m) => {
        s.step(m);
        return opt.paramGroups[0]!.lr;
      });
      // Worked out by hand from PyTorch's step(): best 1.0, bad epochs 1, 2, 3 → ×0.5 at epoch 4; cooldown eats epoch 5;
      // 0.5 improves at epoch 6; reductions at 9 (0.025) and 13 (floored to 0.02); at 17 the floor leaves it.
      const want = [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.025, 0.02, 0.02, 0.02, 0.02, 0.02];
      expectClose(lrs, want, { abs: 1e-15, rel: 0 }, 'ReduceLROnPlateau min/rel');

      const acc: LrGroups = { paramGroups: [{ lr: 1 }, { lr: 0.01 }] };
      const m = new ReduceLROnPlateau(acc, { mode: 'max', patience: 1, threshold: 0.01, thresholdMode: 'abs', minLr: [0, 0.005] });
      const seen = [0.5, 0.6, 0.605, 0.61, 0.7].map((v) => {
        m.step(v);
        return acc.paramGroups.map((g) => g.lr);
      });
      // 0.605 and 0.61 do not beat 0.6 + 0.01: the second bad epoch exceeds patience 1.
      expectClose(seen.flat(), [1, 0.01, 1, 0.01, 1, 0.01, 0.1, 0.005, 0.1, 0.005], { abs: 1e-15, rel: 0 }, 'ReduceLROnPlateau max/abs');

      // Defaults: ×0.1 after more than 10 epochs without improvement.
      const d: LrGroups = { paramGroups: [{ lr: 0.1 }] };
      const r = new ReduceLROnPlateau(d);
      for (let e = 0; e < 11; e++) r.step(1);
      check(d.paramGroups[0]!.lr === 0.1, 'reduced before patience ran out');
      r.step(1);
      expectClose([d.paramGroups[0]!.lr], [0.01], { abs: 1e-15, rel: 0 }, 'default reduction');
      expectThrows(() => new ReduceLROnPlateau(d, { factor: 1 }), 'factor = 1');
    },
  },
];

export const optimSuite: Suite = { name: 'optim', cases };
