/**
 * A short training per model on a toy clip source (the class is where a bright square sits): the loss falls and the
 * trainer's bookkeeping (accuracy, confusion, shuffling) is right. The accuracy benchmark does the long runs.
 */
import { describe, expect, it } from 'vitest';
import type { Clip, ClipSource } from '../src/data/types.js';
import { Rng } from '../src/models/random.js';
import { framesFor, lastFrames, makeBatch, sampleFrames } from '../src/train/batches.js';
import { loadModelFile, saveModelFile } from '../src/train/model-file.js';
import { MODEL_NAMES, makeOptimizer, recipeFor } from '../src/train/recipes.js';
import { Trainer, cosineLr, countCorrect, type ForwardModel } from '../src/train/trainer.js';
import { testEngine } from './helpers/node-engine.js';

/** Clips whose class is the quadrant (or centre) of a bright square that grows over the frames. */
function squares(count: number, classes: number, frames: number, size: number, channels: 1 | 3, seed: number): ClipSource {
  const clips: Clip[] = [];
  const rng = new Rng(seed);
  for (let i = 0; i < count; i++) {
    const label = i % classes;
    const data = new Float32Array(frames * size * size * channels);
    for (let f = 0; f < frames; f++) {
      const half = Math.round((size / 8) * (0.5 + (f + 1) / frames));
      const cy = Math.round(size * (label === 0 || label === 1 ? 0.3 : 0.7));
      const cx = Math.round(size * (label === 0 || label === 2 ? 0.3 : 0.7));
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) {
          const on = Math.abs(y - cy) < half && Math.abs(x - cx) < half ? 0.8 : 0.1;
          for (let c = 0; c < channels; c++) data[((f * size + y) * size + x) * channels + c] = on + 0.1 * rng.next();
        }
    }
    clips.push({ frames: data, frameCount: frames, height: size, width: size, channels, label, identity: `toy${i}` });
  }
  return { labels: ['a', 'b', 'c', 'd'].slice(0, classes), size: count, get: (i) => clips[i]! };
}

describe('batches', () => {
  it('samples frames evenly and takes the apex for image models', () => {
    expect(sampleFrames(16, 4)).toEqual([0, 5, 10, 15]);
    expect(sampleFrames(3, 5)).toEqual([0, 1, 1, 2, 2]);
    expect(lastFrames(8, 5)).toEqual([3, 4, 5, 6, 7]);
    expect(lastFrames(3, 5)).toEqual([0, 0, 0, 1, 2]);
    // Image models in training: any frame from the apex (held there) to the end; the apex itself in evaluation.
    const seen = new Set<number>();
    const rng = new Rng(4);
    const peaked = { ...squares(1, 1, 6, 8, 1, 2).get(0), peakFrame: 3 };
    for (let i = 0; i < 40; i++) seen.add(framesFor(peaked, { frames: 1, size: 8, channels: 1 }, rng)[0]!);
    expect([...seen].sort()).toEqual([3, 4, 5]);
    expect(framesFor(peaked, { frames: 1, size: 8, channels: 1 })).toEqual([3]);
    expect(framesFor(peaked, { frames: 3, size: 8, channels: 1, sampling: 'consecutive' })).toEqual([3, 4, 5]);
    const src = squares(2, 2, 3, 8, 3, 1);
    const clip = { ...src.get(0), peakFrame: 1 };
    const b = makeBatch([clip], { frames: 1, size: 8, channels: 1 }, { train: false });
    expect(b.shape).toEqual([1, 8, 8, 1]);
    const p = (8 * 8 + 0) * 3 + 8 * 3; // frame 1, pixel (1, 0)
    const gray = 0.2989 * clip.frames[p]! + 0.587 * clip.frames[p + 1]! + 0.114 * clip.frames[p + 2]!;
    expect(b.data[8]).toBeCloseTo(gray * 2 - 1, 5);
    const crop = makeBatch([clip, clip], { frames: 3, size: 8, channels: 3, crop: 6 }, { train: false });
    expect(crop.shape).toEqual([2, 3, 6, 6, 3]);
    expect(crop.data[0]).toBeCloseTo(clip.frames[(1 * 8 + 1) * 3]! * 2 - 1, 6); // centre crop starts at (1, 1)
    expect(() => makeBatch([clip], { frames: 1, size: 10, channels: 1 }, { train: false })).toThrow(/8×8.*10×10/);
  });
  it('anneals the learning rate by cosine over the planned epochs, and a resumed trainer continues the curve', async () => {
    expect(cosineLr(1, 1, { epochs: 4 })).toBeCloseTo(1, 12);
    expect(cosineLr(1, 3, { epochs: 4 })).toBeCloseTo(0.02 + 0.98 * 0.5, 12);
    expect(cosineLr(2, 9, { epochs: 4, minFactor: 0.1 })).toBeCloseTo(0.2, 12);
    const engine = await testEngine();
    const recipe = recipeFor('m4');
    const model = recipe.create(engine, { ...recipe.options('small', 4), seed: 1 }) as ForwardModel;
    const opt = makeOptimizer(model.parameters(), { kind: 'adam', lr: 0.01, weightDecay: 0 });
    const source = squares(4, 4, 2, 48, 1, 5);
    const trainer = new Trainer(engine, recipe, 'small', model, opt, { batchSize: 4, schedule: { epochs: 3 } });
    const lrs = [(await trainer.trainEpoch(source)).lr, (await trainer.trainEpoch(source)).lr];
    // As after a resume: the group's lr is the annealed one, initialLr (saved with the optimiser) keeps the base.
    const resumed = new Trainer(engine, recipe, 'small', model, opt, { batchSize: 4, schedule: { epochs: 3 } });
    resumed.epoch = 2;
    lrs.push((await resumed.trainEpoch(source)).lr);
    expect(lrs.map((x) => Number(x.toPrecision(6)))).toEqual([0.01, Number(cosineLr(0.01, 2, { epochs: 3 }).toPrecision(6)), Number(cosineLr(0.01, 3, { epochs: 3 }).toPrecision(6))]);
    opt.dispose();
    model.dispose();
  });
  it('counts correct predictions by row argmax', () => {
    expect(countCorrect(Float32Array.of(0, 1, 5, 2, 3, 3), [2, 0], 3)).toBe(1);
  });
});

describe('a short training per model lowers the loss', () => {
  for (const name of MODEL_NAMES) {
    it(name, { timeout: 300_000 }, async () => {
      const engine = await testEngine();
      const recipe = recipeFor(name);
      const spec = recipe.input('small');
      // The toy task at a smaller size than the small configuration where the model allows it.
      const source = squares(8, 4, spec.frames, spec.size, spec.channels, 7);
      const model = recipe.create(engine, { ...recipe.options('small', 4), ...(name === 'm4' ? { dropout: 0 } : {}), ...(name === 'm5' ? { dropout: 0 } : {}) }) as ForwardModel;
      const opt = makeOptimizer(model.parameters(), recipe.optimizer('small'));
      const trainer = new Trainer(engine, recipe, 'small', model, opt, { batchSize: 4, seed: 3 });
      const epochs: number[] = [];
      const steps: number[] = [];
      for (let e = 0; e < 8; e++) epochs.push((await trainer.trainEpoch(source, (r) => steps.push(r.loss))).loss);
      const evalReport = await trainer.evaluate(source);
      expect(steps.every(Number.isFinite)).toBe(true);
      expect(steps.length).toBe(16);
      expect(evalReport.confusion.flat().reduce((a, b) => a + b, 0)).toBe(8);
      expect(epochs[7]!, `${name}: epoch losses ${epochs.map((v) => v.toFixed(3)).join(' ')}`).toBeLessThan(epochs[0]! * 0.8);
      opt.dispose();
      model.dispose();
    });
  }
});

describe('model files', () => {
  it('rebuild the model from metadata and refuse another model or configuration, naming every differing tensor', async () => {
    const engine = await testEngine();
    const recipe = recipeFor('m1');
    const options = recipe.options('small', 7);
    const model = recipe.create(engine, options) as ForwardModel;
    const bytes = await saveModelFile(model, { model: 'm1', config: 'small', options, labels: ['a', 'b', 'c', 'd', 'e', 'f', 'g'], input: recipe.input('small'), epoch: 3 });
    const loaded = loadModelFile(engine, bytes);
    expect(loaded.info.epoch).toBe(3);
    const [a, b] = [model.namedParameters()[5]!, loaded.model.namedParameters()[5]!];
    expect(Array.from(await b[1].read())).toEqual(Array.from(await a[1].read()));
    expect(() => loadModelFile(engine, bytes, { model: 'm2' })).toThrow(/for model m1 .*not m2/);
    let message = '';
    try {
      loadModelFile(engine, bytes, { config: 'paper' });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/configuration 'small', not 'paper'/);
    for (const name of ['stem.conv.weight', 'layer4.1.conv2.weight', 'frame_fc.weight']) expect(message).toContain(name);
    expect(() => loadModelFile(engine, bytes, { model: 'm7' })).toThrow(/unknown model 'm7'/);
    loaded.model.dispose();
    model.dispose();
  });
});
