/**
 * A run stopped mid-epoch, saved to bytes (model file with its extra state, optimiser state, epoch progress),
 * rebuilt from those bytes alone and continued, ends bit-identical to an uninterrupted run, for all five models
 * (M4 and M5 use dropout, whose call counter must travel with the checkpoint).
 */
import { describe, expect, it } from 'vitest';
import { openData } from '../src/cli/data.js';
import { decodeSafetensors, encodeSafetensors, safetensorsMetadata } from '../src/io/safetensors.js';
import { loadOptimizerState, saveOptimizerState } from '../src/optim/checkpoint.js';
import { loadModelFile, saveModelFile, type ModelFileInfo } from '../src/train/model-file.js';
import { MODEL_NAMES, makeOptimizer, recipeFor } from '../src/train/recipes.js';
import { Trainer, type EpochProgress, type ForwardModel } from '../src/train/trainer.js';
import { testEngine } from './helpers/node-engine.js';

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => a.byteLength === b.byteLength && a.every((v, i) => v === b[i]);

describe('resume is bit-identical', () => {
  for (const name of MODEL_NAMES) {
    it(`${name}: stopped in epoch 2 and continued from saved bytes = two uninterrupted epochs`, { timeout: 600_000 }, async () => {
      const engine = await testEngine();
      const recipe = recipeFor(name);
      const spec = recipe.input('small');
      const data = openData(spec, { data: 'synthetic', seed: 3, identities: 3, clipFrames: spec.frames === 1 ? 2 : spec.frames });
      const train = { ...data.train, size: 8, labels: data.train.labels, get: (i: number) => data.train.get(i) };
      const options = { ...recipe.options('small', train.labels.length), seed: 7 };
      const settings = { ...recipe.optimizer('small'), lr: 1e-3 };
      const info: ModelFileInfo = { model: recipe.name, config: 'small', options, labels: [...train.labels], input: spec, epoch: 0 };
      const opts = { batchSize: 2, seed: 5, schedule: { epochs: 2 } };
      const fresh = (): { model: ForwardModel; opt: ReturnType<typeof makeOptimizer> } => {
        const model = recipe.create(engine, options) as ForwardModel;
        return { model, opt: makeOptimizer(model.parameters(), settings) };
      };

      const a = fresh();
      const ta = new Trainer(engine, recipe, 'small', a.model, a.opt, opts);
      await ta.trainEpoch(train);
      await ta.trainEpoch(train);
      const wantModel = await saveModelFile(a.model, { ...info, epoch: 2 });
      const wantOpt = await saveOptimizerState(a.opt);
      a.model.dispose();
      a.opt.dispose();

      const b = fresh();
      const tb = new Trainer(engine, recipe, 'small', b.model, b.opt, opts);
      await tb.trainEpoch(train);
      const stop = new AbortController();
      const part = await tb.trainEpoch(train, (r) => r.step === 1 && stop.abort(), { signal: stop.signal });
      const progress = part.interrupted as EpochProgress;
      expect(progress).toMatchObject({ epoch: 2, steps: 4 });
      expect(progress.step).toBeLessThan(4);
      expect(data.train.size).toBeGreaterThanOrEqual(8);
      expect(tb.epoch).toBe(1);
      const savedModel = await saveModelFile(b.model, { ...info, epoch: 1 });
      const savedOpt = await saveOptimizerState(b.opt);
      b.model.dispose();
      b.opt.dispose();

      const c = loadModelFile(engine, savedModel, { model: name, config: 'small' });
      const opt = makeOptimizer(c.model.parameters(), settings);
      loadOptimizerState(opt, savedOpt);
      const tc = new Trainer(engine, recipe, 'small', c.model, opt, opts);
      tc.epoch = 1;
      const end = await tc.trainEpoch(train, undefined, { resume: JSON.parse(JSON.stringify(progress)) as EpochProgress });
      expect(end.interrupted).toBeUndefined();
      expect(tc.epoch).toBe(2);
      expect(equalBytes(await saveModelFile(c.model, { ...info, epoch: 2 }), wantModel), 'model bytes').toBe(true);
      expect(equalBytes(await saveOptimizerState(opt), wantOpt), 'optimiser bytes').toBe(true);
      c.model.dispose();
      opt.dispose();
    });
  }
});

describe('optimiser state values', () => {
  it('refuses NaN moments and negative second moments before upload, naming the file and tensor', async () => {
    const engine = await testEngine();
    const p = engine.tensor([1, 2, 3], [3]).setRequiresGrad(true);
    const opt = makeOptimizer([p], { kind: 'adam', lr: 0.1, weightDecay: 0 });
    p.grad = engine.tensor([0.5, -1, 2], [3]);
    opt.step();
    const bytes = await saveOptimizerState(opt);
    const meta = safetensorsMetadata(bytes);
    const entries = decodeSafetensors(bytes);
    const spoil = (name: string, value: number): Uint8Array => {
      const data = Float32Array.from(entries[name]!.data as Float32Array);
      data[1] = value;
      return encodeSafetensors({ ...entries, [name]: { ...entries[name]!, data } }, meta);
    };
    expect(() => loadOptimizerState(opt, spoil('state.0.exp_avg', NaN), 'run/optimizer.safetensors')).toThrow(/run\/optimizer\.safetensors.*state\.0\.exp_avg.*NaN or infinite/s);
    expect(() => loadOptimizerState(opt, spoil('state.0.exp_avg_sq', -1), 'run/optimizer.safetensors')).toThrow(/state\.0\.exp_avg_sq.*negative/s);
    loadOptimizerState(opt, bytes); // the unspoilt state still loads
    opt.dispose();
    p.dispose();
  });
});
