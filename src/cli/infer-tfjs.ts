/**
 * `fergpu infer --model tfjs:PATH/model.json IMAGE…`: a TensorFlow.js graph model (the FER2013 mini-Xception
 * emotion model from @vladmandic/human, 64×64 gray in, 7 emotions out) run on the engine, printing each
 * image's emotion probabilities as a table or JSON.
 */
import type { Engine } from '../device/engine.js';
import { emotionInput, FER2013_LABELS, type FaceBox } from '../import/emotion-input.js';
import { readImage } from '../node/image-files.js';
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
    const data = new Float32Array(imagePaths.length * size * size);
    imagePaths.forEach((p, i) => data.set(emotionInput(readImage(p), options.box, size), i * size * size));
    const x = engine.tensor(data, [imagePaths.length, size, size, 1]);
    const y = model.predict(x);
    x.dispose();
    const probs = (await y.read()) as Float32Array;
    y.dispose();
    const classes = y.shape[y.shape.length - 1]!;
    if (classes !== FER2013_LABELS.length) throw new Error(`infer: ${modelJsonPath} outputs ${classes} classes, expected the ${FER2013_LABELS.length} FER2013 emotions`);
    const results = imagePaths.map((image, i) => {
      const p = Array.from(probs.subarray(i * classes, (i + 1) * classes));
      const best = p.indexOf(Math.max(...p));
      return { image, top: FER2013_LABELS[best]!, confidence: p[best]!, probabilities: Object.fromEntries(FER2013_LABELS.map((l, k) => [l, p[k]!])) };
    });
    if (options.json) print(JSON.stringify(results, null, 2));
    else {
      const name = Math.max(5, ...imagePaths.map((p) => p.length));
      print(['image'.padEnd(name), 'top'.padEnd(8), ...FER2013_LABELS.map((l) => l.padStart(8))].join('  '));
      for (const r of results) print([r.image.padEnd(name), r.top.padEnd(8), ...FER2013_LABELS.map((l) => r.probabilities[l]!.toFixed(3).padStart(8))].join('  '));
    }
    return results;
  } finally {
    model.dispose();
  }
}
