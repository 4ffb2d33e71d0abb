/**
 * The app's models, fetched over HTTP: BlazeFace and the mini-Xception emotion net (TF.js graph models from
 * @vladmandic/human, imported onto the engine) and our M1 weights (a fergpu safetensors file, assets/weights/).
 */
import type { Engine } from '../src/device/engine.js';
import { BlazeFace } from '../src/import/blazeface.js';
import { loadTfjsGraphModel, type TfjsGraphModel, type TfjsModelJson } from '../src/import/tfjs-graph.js';
import { loadModelFile, type LoadedModel } from '../src/train/model-file.js';

export interface ModelUrls {
  blazeface: string;
  emotion: string;
  /** Our M1 weights; omit to run without them. */
  m1?: string;
}

/** Where `npm run web` puts them (dist/web/models, dist/web/weights). */
export const DEFAULT_URLS: ModelUrls = {
  blazeface: 'models/blazeface.json',
  emotion: 'models/emotion.json',
  m1: 'weights/m1-small.safetensors',
};

export interface AppModels {
  detector: BlazeFace;
  emotion: TfjsGraphModel;
  m1?: LoadedModel;
  /** Bytes fetched, for the page. */
  bytes: number;
}

async function fetchBytes(url: string): Promise<ArrayBuffer> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`could not fetch ${url}: ${(e as Error).message}`);
  }
  if (!res.ok) throw new Error(`could not fetch ${url}: HTTP ${res.status} ${res.statusText}`);
  return res.arrayBuffer();
}

/** model.json and its shards (paths relative to the JSON's URL), in manifest order. */
export async function fetchTfjsModel(url: string): Promise<{ modelJson: TfjsModelJson; weightBuffers: ArrayBuffer[]; bytes: number }> {
  const jsonBytes = await fetchBytes(url);
  let modelJson: TfjsModelJson;
  try {
    modelJson = JSON.parse(new TextDecoder().decode(jsonBytes)) as TfjsModelJson;
  } catch (e) {
    throw new Error(`${url} is not JSON: ${(e as Error).message}`);
  }
  const base = new URL(url, location.href);
  const paths = (modelJson.weightsManifest ?? []).flatMap((g) => g.paths);
  const weightBuffers = await Promise.all(paths.map((p) => fetchBytes(new URL(p, base).href)));
  return { modelJson, weightBuffers, bytes: jsonBytes.byteLength + weightBuffers.reduce((n, b) => n + b.byteLength, 0) };
}

export async function loadAppModels(engine: Engine, urls: ModelUrls, progress: (what: string) => void = () => {}): Promise<AppModels> {
  progress('fetching models');
  const [face, emo, m1Bytes] = await Promise.all([fetchTfjsModel(urls.blazeface), fetchTfjsModel(urls.emotion), urls.m1 ? fetchBytes(urls.m1) : Promise.resolve(undefined)]);
  progress('importing models onto the engine');
  const detector = BlazeFace.load(engine, face.modelJson, face.weightBuffers);
  const emotion = loadTfjsGraphModel(engine, emo.modelJson, emo.weightBuffers);
  let m1: LoadedModel | undefined;
  if (m1Bytes) {
    m1 = loadModelFile(engine, new Uint8Array(m1Bytes), { model: 'm1' }, urls.m1);
    m1.model.freeze(); // inference only: BN folded into the convs, weights packed once
  }
  return { detector, emotion, ...(m1 ? { m1 } : {}), bytes: face.bytes + emo.bytes + (m1Bytes?.byteLength ?? 0) };
}

export function disposeAppModels(m: AppModels): void {
  m.detector.dispose();
  m.emotion.dispose();
  m.m1?.model.dispose();
}
