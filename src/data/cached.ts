/**
 * Keeps every clip of a source once it has been made: generated faces cost milliseconds per frame to render, and a
 * training run asks for each clip once per epoch. Memory: the source's size × one clip's frames.
 */
import type { Clip, ClipSource } from './types.js';

export class CachedSource implements ClipSource {
  private readonly clips: (Clip | undefined)[];

  constructor(private readonly source: ClipSource) {
    this.clips = new Array<Clip | undefined>(source.size);
  }

  get labels(): readonly string[] {
    return this.source.labels;
  }

  get size(): number {
    return this.source.size;
  }

  get(index: number): Clip {
    return (this.clips[index] ??= this.source.get(index));
  }
}
