/** The `fergpu` command line. */
import { describeAdapter, type Engine } from '../device/engine.js';
import { createEngine, dawnVersion } from '../node/index.js';
import { runDemo } from './demo.js';

const HELP = `fergpu — WebGPU compute engine for facial-emotion-recognition models

Usage:
  fergpu demo [--busy]      run the demo (a GPU computation checked against the CPU reference)
  fergpu info [--json]      the WebGPU adapter, its features and limits
  fergpu tune [--force]     measure kernel variants on this device and remember the fastest
  fergpu help               this text

Options:
  --busy     let Dawn busy-wait on GPU promises instead of sleeping (the default is polite waiting)
`;

async function main(argv: string[]): Promise<number> {
  const [command = 'help', ...rest] = argv;
  const flags = new Set(rest.filter((a) => a.startsWith('--')));
  const unknownFlag = [...flags].find((f) => !['--busy', '--json', '--force'].includes(f));
  if (unknownFlag) return usageError(`unknown option ${unknownFlag}`);
  const open = (): Promise<Engine> => createEngine({ wait: flags.has('--busy') ? 'busy' : 'polite' });
  switch (command) {
    case 'demo':
      return runDemo(await open());
    case 'info': {
      const engine = await open();
      if (flags.has('--json')) console.log(JSON.stringify({ ...engine.adapter, dawn: dawnVersion() }, null, 2));
      else {
        console.log(`adapter: ${describeAdapter(engine.adapter)}`);
        console.log(`dawn (npm webgpu): ${dawnVersion()}`);
        for (const [k, v] of Object.entries(engine.adapter.limits)) console.log(`  ${k}: ${v}`);
      }
      engine.destroy();
      return 0;
    }
    case 'tune': {
      const engine = await open();
      const results = await engine.variants.tune(undefined, { force: flags.has('--force') });
      if (results.length === 0) console.log('every kernel already has a remembered choice (use --force to measure again)');
      for (const r of results) {
        const t = r.timings.map((x) => `${x.variant} ${x.medianMs.toFixed(2)} ms (first ${x.firstMs.toFixed(0)} ms)`).join(', ');
        console.log(`${r.kernel}: ${r.chosen}   [${t}]`);
      }
      engine.destroy();
      return 0;
    }
    case 'help':
    case '--help':
    case '-h':
      console.log(HELP);
      return 0;
    default:
      return usageError(`unknown command '${command}'`);
  }
}

function usageError(message: string): number {
  console.error(`fergpu: ${message}\n\n${HELP}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`fergpu: ${e.message}`);
    process.exit(1);
  },
);
