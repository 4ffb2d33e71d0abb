/** Checks for `fergpu infer` and `fergpu demo` that turn careless input into messages naming the file and what was expected. */
import { access, constants, mkdir, stat } from 'node:fs/promises';
import type { ModelFileInfo } from '../train/model-file.js';

export { describeFsError } from '../node/fs-errors.js';

/** Creates `dir` when missing and checks it can be written, before any work is done. */
export async function ensureWritableFolder(dir: string, option: string, hint = 'choose a writable place'): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') throw new Error(`${option} ${dir}: a file is in the way (a folder is needed)`);
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') throw new Error(`${option} ${dir}: cannot create the folder (${code === 'EROFS' ? 'read-only file system' : 'permission denied'}); ${hint}`);
    throw new Error(`${option} ${dir}: cannot create the folder (${(e as Error).message})`);
  }
  if (!(await stat(dir)).isDirectory()) throw new Error(`${option} ${dir}: a file is in the way (a folder is needed)`);
  try {
    await access(dir, constants.W_OK);
  } catch {
    throw new Error(`${option} ${dir}: the folder is not writable (read-only); ${hint}`);
  }
}

const isCount = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min;

/**
 * The metadata a model file carries must describe a usable input and one label per class: a file edited by hand
 * or written by another tool otherwise fails deep inside (or, worse, prints `top undefined`).
 */
export function checkModelInfo(info: ModelFileInfo, file: string): void {
  const where = `${file}: the fergpu metadata`;
  const input = info.input as unknown as Record<string, unknown> | undefined;
  if (typeof input !== 'object' || input === null) throw new Error(`${where} has no 'input' (expected {"frames": ≥1, "size": ≥1, "channels": 1 or 3})`);
  if (!isCount(input.frames, 1)) throw new Error(`${where} gives input.frames = ${JSON.stringify(input.frames)}; expected an integer ≥ 1 (frames per clip)`);
  if (!isCount(input.size, 1)) throw new Error(`${where} gives input.size = ${JSON.stringify(input.size)}; expected an integer ≥ 1 (frame side in pixels)`);
  if (input.channels !== 1 && input.channels !== 3) throw new Error(`${where} gives input.channels = ${JSON.stringify(input.channels)}; expected 1 or 3`);
  if (input.crop !== undefined && !(isCount(input.crop, 1) && input.crop <= input.size)) throw new Error(`${where} gives input.crop = ${JSON.stringify(input.crop)}; expected an integer from 1 to input.size (${input.size})`);
  const labels = info.labels as unknown;
  if (!Array.isArray(labels) || labels.length === 0 || !labels.every((l) => typeof l === 'string' && l !== '')) {
    throw new Error(`${where} gives labels = ${JSON.stringify(labels)}; expected a list of class names`);
  }
  const classes = (info.options as { classes?: unknown } | undefined)?.classes;
  if (classes !== undefined && classes !== labels.length) {
    throw new Error(`${where} lists ${labels.length} labels (${labels.join(', ')}) for a model of ${JSON.stringify(classes)} classes; expected one label per class`);
  }
}
