/**
 * Turning clips into model input: frames sampled evenly to the model's T (or its last T in a row), channels matched, image models fed the
 * clip's apex frame (in training, any frame from the apex on: the expression holds there while the head drifts
 * and the noise changes), random crops in training and the centre crop in evaluation, values mapped from [0, 1] to
 * [−1, 1]. Output is channels-last: [N, T, S, S, C] for video models, [N, S, S, C] for image models.
 */
import type { Clip } from '../data/types.js';
import type { Rng } from '../models/random.js';
import type { InputSpec } from './recipes.js';

export interface HostBatch {
  data: Float32Array;
  shape: number[];
  labels: number[];
}

/** Frame indices sampled evenly over a clip of `count` frames (repeats when the clip is shorter than `t`). */
export function sampleFrames(count: number, t: number): number[] {
  if (t === 1) return [count - 1];
  return Array.from({ length: t }, (_, i) => Math.round((i * (count - 1)) / (t - 1)));
}

/**
 * The frames a model sees: the apex for image models (given `rng`, a random frame from the apex to the end, where
 * the expression is held), T evenly spaced frames for video models.
 */
export function framesFor(clip: Clip, spec: InputSpec, rng?: Rng): number[] {
  if (spec.frames === 1) {
    const apex = clip.peakFrame ?? clip.frameCount - 1;
    return [rng ? apex + Math.floor(rng.next() * (clip.frameCount - apex)) : apex];
  }
  if (spec.sampling === 'consecutive') return lastFrames(clip.frameCount, spec.frames);
  return sampleFrames(clip.frameCount, spec.frames);
}

/** The last `t` frames of a clip of `count` in a row (the first repeated when the clip is shorter). */
export function lastFrames(count: number, t: number): number[] {
  return Array.from({ length: t }, (_, i) => Math.max(0, count - t + i));
}

export function makeBatch(clips: readonly Clip[], spec: InputSpec, opts: { train: boolean; rng?: Rng }): HostBatch {
  const out = spec.crop ?? spec.size;
  const T = spec.frames;
  const C = spec.channels;
  const data = new Float32Array(clips.length * T * out * out * C);
  let o = 0;
  for (const clip of clips) {
    if (clip.height !== spec.size || clip.width !== spec.size) {
      throw new Error(`makeBatch: clip ${clip.source ?? ''} is ${clip.height}×${clip.width}, the model takes ${spec.size}×${spec.size} (resize when loading)`);
    }
    if (clip.frameCount < 1) throw new Error(`makeBatch: clip ${clip.source ?? ''} has no frames`);
    const margin = spec.size - out;
    const [dy, dx] = opts.train && margin > 0 && opts.rng ? [Math.floor(opts.rng.next() * (margin + 1)), Math.floor(opts.rng.next() * (margin + 1))] : [margin >> 1, margin >> 1];
    const frameSize = clip.height * clip.width * clip.channels;
    for (const f of framesFor(clip, spec, opts.train ? opts.rng : undefined)) {
      const frame = clip.frames.subarray(f * frameSize, (f + 1) * frameSize);
      for (let y = 0; y < out; y++) {
        for (let x = 0; x < out; x++) {
          const p = ((y + dy) * clip.width + (x + dx)) * clip.channels;
          if (C === clip.channels) for (let c = 0; c < C; c++) data[o++] = frame[p + c]! * 2 - 1;
          else if (C === 1) data[o++] = (0.2989 * frame[p]! + 0.587 * frame[p + 1]! + 0.114 * frame[p + 2]!) * 2 - 1;
          else for (let c = 0; c < 3; c++) data[o++] = frame[p]! * 2 - 1;
        }
      }
    }
  }
  const shape = T === 1 ? [clips.length, out, out, C] : [clips.length, T, out, out, C];
  return { data, shape, labels: clips.map((c) => c.label) };
}
