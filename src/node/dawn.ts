/** The WebGPU entry point in Node: Dawn, through the `webgpu` package. */
import { createRequire } from 'node:module';

let cached: GPU | undefined;

export async function dawnGPU(): Promise<GPU> {
  if (cached) return cached;
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  let mod: { create(flags: string[]): GPU; globals: Record<string, unknown> };
  try {
    mod = (await import('webgpu')) as unknown as typeof mod;
  } catch (e) {
    throw new Error(`Cannot load Dawn (npm package 'webgpu'): ${(e as Error).message}. Run 'npm run setup'.`);
  }
  // GPUBufferUsage, GPUMapMode… are globals in browsers; Dawn ships them separately.
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) Object.defineProperty(globalThis, k, { value: v, configurable: true, writable: true });
  }
  cached = mod.create([]);
  return cached;
}

/** Version of the installed `webgpu` package, for reports. */
export function dawnVersion(): string {
  try {
    const req = createRequire(import.meta.url);
    return (req('webgpu/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
