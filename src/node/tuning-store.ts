/** Remembers measured kernel-variant choices in a JSON file, so each device is measured once. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TuningStore } from '../kernels/variants.js';

export function defaultTuningPath(): string {
  const base = process.env.FERGPU_CACHE_DIR ?? (process.env.XDG_CACHE_HOME ? join(process.env.XDG_CACHE_HOME, 'fergpu') : join(homedir(), '.cache', 'fergpu'));
  return join(base, 'tuning.json');
}

export function fileTuningStore(path = defaultTuningPath()): TuningStore {
  let data: Record<string, string> = {};
  try {
    data = JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>;
  } catch {
    // missing or unreadable: start empty
  }
  return {
    get: (key) => data[key],
    set(key, value) {
      data[key] = value;
      try {
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, JSON.stringify(data, null, 1));
      } catch {
        // a read-only home only costs re-measuring next run
      }
    },
  };
}
