/**
 * The esbuild plugin that lets bench/suites run in a browser page: their `../harness.js` resolves to
 * web/bench/harness.ts, and the Node modules the Node harness imports (node:*, src/node/*) become stubs that throw
 * if called, since the browser harness replaces every function that would. Node only (a build step).
 */
import type { Plugin } from 'esbuild';
import { dirname, join, resolve } from 'node:path';

/** What each stubbed module must export (esbuild fails the build, naming the import, if one is missing). */
const STUBS: Record<string, string[]> = {
  'node:fs': ['existsSync', 'mkdirSync', 'readFileSync', 'renameSync', 'writeFileSync'],
  'node:os': ['cpus', 'loadavg'],
  'node:path': ['dirname', 'join'],
  'node:url': ['fileURLToPath', 'pathToFileURL'],
  'src/node/dawn': ['dawnGPU', 'dawnVersion'],
  'src/node/index': ['createEngine'],
  'src/node/polite-waiter': ['politeWaiter'],
};

/** Suites that read the repository's files or the process's counters: left out of the page's bundle. */
const NODE_SUITES: Record<string, string> = { './soak.js': 'soakSuite', './tfjs-model.js': 'tfjsModelSuite' };

export function browserBenchPlugin(root: string): Plugin {
  const suites = resolve(root, 'bench/suites');
  const harness = resolve(root, 'web/bench/harness.ts');
  return {
    name: 'fergpu-bench-in-browser',
    setup(b) {
      b.onResolve({ filter: /^\.\.\/harness\.js$/ }, (a) => (resolve(a.resolveDir) === suites ? { path: harness } : undefined));
      b.onResolve({ filter: /^\.\/(soak|tfjs-model)\.js$/ }, (a) => (resolve(a.resolveDir) === suites ? { path: a.path, namespace: 'node-suite' } : undefined));
      b.onLoad({ filter: /.*/, namespace: 'node-suite' }, (a) => ({
        contents: `export const ${NODE_SUITES[a.path]} = { name: ${JSON.stringify(a.path.slice(2, -3))}, description: 'runs in Node only', run() { throw new Error('this suite runs in Node only'); } };`,
        loader: 'js',
      }));
      b.onResolve({ filter: /^node:/ }, (a) => ({ path: a.path, namespace: 'stub' }));
      b.onResolve({ filter: /\/node\/(dawn|index|polite-waiter)\.js$/ }, (a) => {
        const full = resolve(a.resolveDir, a.path);
        const rel = full.slice(resolve(root).length + 1).replace(/\.js$/, '');
        return rel in STUBS ? { path: rel, namespace: 'stub' } : undefined;
      });
      b.onLoad({ filter: /.*/, namespace: 'stub' }, (a) => {
        const names = STUBS[a.path];
        if (!names) return { errors: [{ text: `${a.path} is not available in the browser bench (no stub for it in web/tools/bench-bundle.ts)` }] };
        const body = names.map((n) => `export function ${n}() { throw new Error('${a.path}.${n}() is not available in a browser'); }`).join('\n');
        return { contents: body, loader: 'js', resolveDir: dirname(join(root, 'x')) };
      });
    },
  };
}
