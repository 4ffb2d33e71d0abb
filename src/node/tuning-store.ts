/** Remembers measured kernel-variant choices in a JSON file, so each device is measured once. */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TuningStore } from '../kernels/variants.js';

export function defaultTuningPath(): string {
  const base = process.env.FERGPU_CACHE_DIR ?? (process.env.XDG_CACHE_HOME ? join(process.env.XDG_CACHE_HOME, 'fergpu') : join(homedir(), '.cache', 'fergpu'));
  return join(base, 'tuning.json');
}

/** The remembered choices in `text`, or why the file cannot be used. Entries that are not strings are dropped. */
function parseChoices(text: string): { data: Record<string, string>; problem?: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return { data: {}, problem: `is not valid JSON (${(e as Error).message})` };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { data: {}, problem: `holds ${parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : `a ${typeof parsed}`}, not an object of kernel choices` };
  }
  const data: Record<string, string> = {};
  const dropped: string[] = [];
  for (const [k, v] of Object.entries(parsed)) {
    if (typeof v === 'string') data[k] = v;
    else dropped.push(k);
  }
  return dropped.length ? { data, problem: `has ${dropped.length} entr${dropped.length === 1 ? 'y' : 'ies'} that are not strings (${dropped.slice(0, 3).join(', ')})` } : { data };
}

/**
 * A tuning store backed by `path`. A missing file starts empty; a damaged one (not JSON, not an object of strings)
 * is ignored with a warning and rewritten at once with what was usable, so a bad cache never stops a command.
 */
export function fileTuningStore(path = defaultTuningPath(), warn: (message: string) => void = (m) => console.warn(`warning: ${m}`)): TuningStore {
  let data: Record<string, string> = {};
  let text: string | undefined;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') warn(`${path}: cannot read the kernel tuning cache (${code ?? (e as Error).message}); kernel variants will be measured again`);
  }
  if (text !== undefined) {
    const r = parseChoices(text);
    data = r.data;
    if (r.problem) {
      warn(`${path}: the kernel tuning cache ${r.problem}; ignored and rebuilt (kernel variants are measured again as needed)`);
      save();
    }
  }
  function save(): void {
    const tmp = `${path}.${process.pid}.tmp`;
    try {
      mkdirSync(dirname(path), { recursive: true });
      // A sibling file renamed into place: another process never reads half a cache.
      writeFileSync(tmp, JSON.stringify(data, null, 1));
      renameSync(tmp, path);
    } catch {
      // a read-only home only costs re-measuring next run
      try {
        rmSync(tmp, { force: true });
      } catch {
        // nothing was written
      }
    }
  }
  return {
    get: (key) => (Object.prototype.hasOwnProperty.call(data, key) ? data[key] : undefined),
    set(key, value) {
      data[key] = value;
      save();
    },
  };
}
