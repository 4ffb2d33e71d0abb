/**
 * `fergpu infer --model tfjs:PATH/model.json IMAGE…`: a TensorFlow.js graph model (the FER2013 mini-Xception
 * emotion model from @vladmandic/human, 64×64 gray in, 7 emotions out) run on the engine, printing each
 * image's emotion probabilities as a table or JSON. An image that cannot be read, whose --box misses it, or whose
 * result is not finite is reported and the others still print; then the command fails naming it.
 */
import type { Engine } from '../device/engine.js';
import { emotionInput, FER2013_LABELS, type FaceBox } from '../import/emotion-input.js';
import type { Image8 } from '../data/types.js';
import { readImage } from '../node/image-files.js';
import { InferInputsError, type InferFailure } from './infer.js';
import { loadTfjsGraphModelFile } from '../node/tfjs-model-files.js';

export interface InferTfjsOptions {
  /** Face box in pixels, applied to every image (default: the whole image). */
  box?: FaceBox;
  /** Print JSON instead of a table. */
  json?: boolean;
  /** Where lines go (default console.log). */
  print?: (line: string) => void;
}

export interface TfjsEmotionResult {
  image: string;
  top: string;
  confidence: number;
  probabilities: Record<string, number>;
}

/** A face box must overlap the image: one wholly outside would crop nothing but clamped edge pixels. */
export function checkBoxInside(box: FaceBox, img: Image8, image: string): void {
  const inside = box.x < img.width && box.y < img.height && box.x + box.width > 0 && box.y + box.height > 0;
  if (!inside) throw new Error(`${image}: the face box --box ${box.x},${box.y},${box.width},${box.height} lies entirely outside the ${img.width}×${img.height} image`);
}

export async function inferTfjsModel(engine: Engine, modelJsonPath: string, imagePaths: readonly string[], options: InferTfjsOptions = {}): Promise<TfjsEmotionResult[]> {
  const print = options.print ?? ((l: string) => console.log(l));
  if (imagePaths.length === 0) throw new Error('infer: give at least one image (PNG or JPEG)');
  const model = await loadTfjsGraphModelFile(engine, modelJsonPath);
  try {
    const input = model.inputs[0];
    const [, h, w, c] = input?.shape ?? [];
    if (model.inputs.length !== 1 || h !== w || c !== 1 || !(h! > 0)) {
      throw new Error(`infer: ${modelJsonPath} takes ${model.inputs.map((i) => `${i.name} [${i.shape.join(', ')}]`).join(', ')}; this command feeds one [N, S, S, 1] gray face (the FER2013 emotion model)`);
    }
    const size = h!;
    // Each image is read and cropped on its own: a bad one is reported and the others still run.
    const failures: InferFailure[] = [];
    const fail = (image: string, message: string): void => {
      failures.push({ input: image, error: message });
      console.error(`error: ${message}`);
    };
    const ready: { image: string; input: Float32Array }[] = [];
    for (const p of imagePaths) {
      try {
        const img = readImage(p);
        if (options.box) checkBoxInside(options.box, img, p);
        ready.push({ image: p, input: emotionInput(img, options.box, size) });
      } catch (e) {
        fail(p, (e as Error).message);
      }
    }
    const results: TfjsEmotionResult[] = [];
    if (ready.length) {
      const data = new Float32Array(ready.length * size * size);
      ready.forEach((r, i) => data.set(r.input, i * size * size));
      const x = engine.tensor(data, [ready.length, size, size, 1]);
      const y = model.predict(x);
      x.dispose();
      const probs = (await y.read()) as Float32Array;
      y.dispose();
      const classes = y.shape[y.shape.length - 1]!;
      if (classes !== FER2013_LABELS.length) throw new Error(`infer: ${modelJsonPath} outputs ${classes} classes, expected the ${FER2013_LABELS.length} FER2013 emotions`);
      ready.forEach(({ image }, i) => {
        const p = Array.from(probs.subarray(i * classes, (i + 1) * classes));
        if (!p.every(Number.isFinite)) return fail(image, `${image}: the model's output is not finite (${p.map((v) => v.toPrecision(3)).join(', ')}): the weights of ${modelJsonPath} or the image hold NaN or infinite values`);
        const best = p.indexOf(Math.max(...p));
        results.push({ image, top: FER2013_LABELS[best]!, confidence: p[best]!, probabilities: Object.fromEntries(FER2013_LABELS.map((l, k) => [l, p[k]!])) });
      });
    }
    if (options.json) print(JSON.stringify(failures.length ? { results, failed: failures } : results, null, 2));
    else if (results.length) {
      const name = Math.max(5, ...imagePaths.map((p) => p.length));
      print(['image'.padEnd(name), 'top'.padEnd(8), ...FER2013_LABELS.map((l) => l.padStart(8))].join('  '));
      for (const r of results) print([r.image.padEnd(name), r.top.padEnd(8), ...FER2013_LABELS.map((l) => r.probabilities[l]!.toFixed(3).padStart(8))].join('  '));
    }
    if (failures.length) throw new InferInputsError(failures, imagePaths.length);
    return results;
  } finally {
    model.dispose();
  }
}
