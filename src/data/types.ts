/**
 * What every FER data source hands the trainer: clips of frames (an image is a one-frame clip), channels-last,
 * values in [0, 1]. Synthetic generators, folder readers and the CLI all speak this one shape.
 */

/** The 7 basic expressions, in the order of ../shared/MODELS.md (class index = position). */
export const EMOTIONS = ['anger', 'disgust', 'fear', 'happiness', 'sadness', 'surprise', 'neutral'] as const;
export type Emotion = (typeof EMOTIONS)[number];

export interface Clip {
  /** Frames × height × width × channels, row-major, values in [0, 1]. */
  readonly frames: Float32Array;
  readonly frameCount: number;
  readonly height: number;
  readonly width: number;
  readonly channels: 1 | 3;
  /** Class index into the source's `labels`. */
  readonly label: number;
  /** Who the face belongs to: train/test splits are made by identity so no face is in both. */
  readonly identity: string;
  /** The frame where the expression peaks, when the source knows it. */
  readonly peakFrame?: number;
  /** Where it came from (a folder path, or a description of the generated clip), for messages. */
  readonly source?: string;
}

/** A random-access collection of clips. */
export interface ClipSource {
  readonly labels: readonly string[];
  readonly size: number;
  get(index: number): Clip;
}

/** An 8-bit picture, row-major, interleaved channels (1 = gray, 3 = RGB, 4 = RGBA). */
export interface Image8 {
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3 | 4;
  readonly data: Uint8Array;
}
