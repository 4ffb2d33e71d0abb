/**
 * A real FER dataset on disk, laid out as root/<label>/<clip folder of frames | single image> (a CK+ or FER2013
 * export): labels are the folder names, mapped to the models' class order when they name the 7 emotions.
 * Train/test splits are made by identity (the clip folder's or file's name up to the first '_' or '-'), with a
 * well-mixed hash (data/split.ts); a folder with a single identity cannot be split and is refused.
 */
import { readdirSync, statSync, type Stats } from 'node:fs';
import { extname, join } from 'node:path';
import { clipFromImages } from '../data/resize.js';
import { splitIdentities } from '../data/split.js';
import { EMOTIONS, type Clip, type ClipSource } from '../data/types.js';
import { describeFsError } from './fs-errors.js';
import { readImage } from './image-files.js';

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg']);

export function isImageFile(name: string): boolean {
  return IMAGE_EXT.has(extname(name).toLowerCase());
}

/** The PNG/JPEG frames of a clip folder, sorted by name. */
export function listFrames(dir: string): string[] {
  try {
    return readdirSync(dir).filter(isImageFile).sort().map((f) => join(dir, f));
  } catch (e) {
    throw new Error(describeFsError(dir, e, 'clip folder'));
  }
}

function listFolder(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch (e) {
    throw new Error(describeFsError(dir, e, 'label folder'));
  }
}

/** stat that names the path and the problem (a link loop, no permission) in its error. */
function statOf(path: string): Stats {
  try {
    return statSync(path);
  } catch (e) {
    throw new Error(describeFsError(path, e, 'file or folder'));
  }
}
const ALIASES: Record<string, string> = {
  angry: 'anger', anger: 'anger', disgust: 'disgust', disgusted: 'disgust', fear: 'fear', fearful: 'fear', afraid: 'fear',
  happy: 'happiness', happiness: 'happiness', sad: 'sadness', sadness: 'sadness', surprise: 'surprise', surprised: 'surprise',
  neutral: 'neutral', contempt: 'contempt',
};

export interface ImageFolderOptions {
  root: string;
  /** Square frame size the clips are resized to (a notice is given once when resizing happens). */
  size: number;
  channels: 1 | 3;
  /** Frames sampled evenly per clip; all when absent. */
  frames?: number | undefined;
  split: 'train' | 'test' | 'all';
  testFraction?: number;
  seed?: number;
  onNotice?: (message: string) => void;
}

interface Entry {
  path: string;
  files: string[];
  label: number;
  identity: string;
}

export class ImageFolder implements ClipSource {
  readonly labels: string[];
  /** Distinct identities on each side of the split (both sides are also counted for split 'all'). */
  readonly identities: { train: number; test: number };
  private readonly entries: Entry[];
  private noticed = false;

  constructor(private readonly o: ImageFolderOptions) {
    let names: string[];
    try {
      names = readdirSync(o.root);
    } catch (e) {
      throw new Error(`${describeFsError(o.root, e, 'data folder')} (expected root/<label>/<clip folder or image>)`);
    }
    const dirs = names.filter((d) => statOf(join(o.root, d)).isDirectory()).sort();
    if (dirs.length < 2) throw new Error(`${o.root}: found ${dirs.length} label folder(s); a dataset needs at least 2 (root/<label>/…)`);
    const canonical = dirs.map((d) => ALIASES[d.toLowerCase()]);
    const emotional = canonical.every((c) => c && (EMOTIONS as readonly string[]).includes(c));
    // Emotion folders keep the models' 7-class order (even when a class is missing), so weights mean the same classes.
    this.labels = emotional ? [...EMOTIONS] : dirs;
    const all: Entry[] = [];
    dirs.forEach((d, i) => {
      const label = emotional ? EMOTIONS.indexOf(canonical[i] as (typeof EMOTIONS)[number]) : i;
      for (const item of listFolder(join(o.root, d))) {
        const path = join(o.root, d, item);
        const isDir = statOf(path).isDirectory();
        const files = isDir ? listFrames(path) : isImageFile(item) ? [path] : [];
        if (isDir && files.length === 0) throw new Error(`${path}: empty clip (no PNG or JPEG frames)`);
        if (files.length === 0) continue;
        const identity = item.replace(/\.[^.]*$/, '').split(/[_-]/)[0]!;
        all.push({ path, files, label, identity });
      }
    });
    if (all.length === 0) throw new Error(`${o.root}: no images or clip folders under the label folders`);
    const ids = all.map((e) => e.identity);
    if (o.split === 'all' && new Set(ids).size < 2) {
      this.identities = { train: new Set(ids).size, test: 0 };
      this.entries = all;
      return;
    }
    const split = splitIdentities(ids, o.testFraction ?? 0.2, o.seed ?? 0, o.root);
    this.identities = { train: split.train.size, test: split.test.size };
    this.entries = o.split === 'all' ? all : all.filter((e) => (o.split === 'test' ? split.test : split.train).has(e.identity));
  }

  get size(): number {
    return this.entries.length;
  }

  get(index: number): Clip {
    const e = this.entries[index];
    if (!e) throw new RangeError(`ImageFolder.get: index ${index} outside 0..${this.size - 1}`);
    let files = e.files;
    if (this.o.frames) files = Array.from({ length: this.o.frames }, (_, i) => e.files[this.o.frames === 1 ? e.files.length - 1 : Math.round((i * (e.files.length - 1)) / (this.o.frames! - 1))]!);
    const images = files.map((f) => readImage(f));
    const first = images[0]!;
    if (!this.noticed && (first.width !== this.o.size || first.height !== this.o.size)) {
      this.noticed = true;
      this.o.onNotice?.(`${this.o.root}: images are ${first.width}×${first.height} (first: ${files[0]}), resized to ${this.o.size}×${this.o.size}`);
    }
    return clipFromImages(images, { height: this.o.size, width: this.o.size }, this.o.channels, { label: e.label, identity: e.identity, peakFrame: images.length - 1, source: e.path });
  }
}
