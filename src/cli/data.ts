/** Where `fergpu train` gets its clips: the synthetic generator, or a folder laid out as root/<label>/<clip or image>. */
import { CachedSource } from '../data/cached.js';
import { SyntheticFer } from '../data/synthetic-faces.js';
import type { ClipSource } from '../data/types.js';
import { ImageFolder } from '../node/image-folder.js';
import type { InputSpec } from '../train/recipes.js';

export interface DataOptions {
  /** 'synthetic' or a folder path. */
  data: string;
  seed: number;
  /** Synthetic: identities in all (a fifth of them held out for testing). */
  identities: number;
  /** Frames per generated clip (video models sample the model's T from them). */
  clipFrames: number;
  onNotice?: (message: string) => void;
}

export interface DataSplit {
  train: ClipSource;
  test: ClipSource;
  describe: string;
}

export function openData(spec: InputSpec, o: DataOptions): DataSplit {
  const frames = spec.frames === 1 ? Math.max(2, Math.min(o.clipFrames, 8)) : Math.max(spec.frames, o.clipFrames);
  if (o.data === 'synthetic') {
    const common = { seed: o.seed, identities: o.identities, frames, height: spec.size, width: spec.size, channels: spec.channels };
    const train = new SyntheticFer({ ...common, split: 'train' });
    const test = new SyntheticFer({ ...common, split: 'test' });
    return { train: new CachedSource(train), test: new CachedSource(test), describe: `synthetic faces (seed ${o.seed}): ${train.size} training clips, ${test.size} held-out clips of ${frames} frames, ${spec.size}×${spec.size}×${spec.channels}` };
  }
  const common = { root: o.data, size: spec.size, channels: spec.channels, frames: spec.frames === 1 ? undefined : spec.frames, seed: o.seed, ...(o.onNotice ? { onNotice: o.onNotice } : {}) };
  const train = new ImageFolder({ ...common, split: 'train' });
  const test = new ImageFolder({ ...common, split: 'test' });
  const ids = train.identities;
  return {
    train,
    test,
    describe: `${o.data}: ${train.size} training clips of ${ids.train} identities, ${test.size} held-out clips of ${ids.test} identities (split by identity, seed ${o.seed}), labels ${train.labels.join(', ')}`,
  };
}
