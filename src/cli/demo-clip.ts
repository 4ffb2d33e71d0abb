/** The clip the demo shows: a generated face from an identity the shipped weights never trained on. */
import { makeFaceClip } from '../data/synthetic-faces.js';
import type { Clip } from '../data/types.js';

/** Seed and identity count of the shipped weights' training run (see assets/weights/README.md). */
export const SHIPPED_DATA = { seed: 1, identities: 80 } as const;
/** An identity number outside 0..identities − 1: a face no split of the training run contains. */
const DEMO_IDENTITY = 1000;

export function demoClip(size: number, channels: 1 | 3, emotion = 'happiness' as const): Clip {
  return makeFaceClip({ seed: SHIPPED_DATA.seed, identity: DEMO_IDENTITY, emotion, frames: 8, apexFrame: 5, height: size, width: size, channels });
}
