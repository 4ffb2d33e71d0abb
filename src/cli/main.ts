/** The `fergpu` command line. */
import { describeAdapter, type Engine } from '../device/engine.js';
import { createEngine, dawnVersion } from '../node/index.js';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { recipeFor, SCHEDULES, type LrScheduleKind, type OptimizerSettings } from '../train/recipes.js';
import { runDemo } from './demo.js';
import { runInfer } from './infer.js';
import { inferTfjsModel } from './infer-tfjs.js';
import { runTrain, type TrainArgs } from './train.js';

const HELP = `fergpu — WebGPU compute engine for facial-emotion-recognition models

Usage:
  fergpu demo                 predict the emotion of a generated face clip with the shipped M1 weights, draw its
                              attention, run the pretrained tfjs emotion model on the astronaut photo
  fergpu train --model M      train a model (m1…m5) and write checkpoints, a JSON log and training curves
      [--config small|paper] [--data synthetic|DIR] [--epochs N] [--batch N] [--lr X] [--weight-decay X]
      [--optimizer adam|adamw|sgd] [--momentum X] [--schedule cosine|constant] [--identities N] [--frames N]
      [--seed N] [--out DIR] [--resume DIR] [--save-every STEPS] [--force] [--quiet]
                              a checkpoint is committed after every epoch (and every STEPS steps); Ctrl-C stops
                              after the current step and saves; --resume DIR checks it and continues into DIR
  fergpu infer --weights FILE CLIP…   emotion probabilities, top emotion and frame weights per clip (a folder of
      [--model M] [--config C] [--json] [--save-attention DIR]        frames, or an image file)
  fergpu infer --model tfjs:PATH/model.json IMAGE… [--box x,y,w,h] [--json]   a TensorFlow.js graph model
  fergpu bench [SUITE…]       run benchmark suites and print their tables (see fergpu bench --list)
  fergpu info [--json]        the WebGPU adapter, its features and limits
  fergpu tune [--force]       measure kernel variants on this device and remember the fastest
  fergpu help                 this text

Data folders are laid out as DIR/<label>/<clip folder of frames, or an image>; labels named after the emotions
(anger, disgust, fear, happiness, sadness, surprise, neutral, or angry/happy/…) keep the models' class order.

Options for every command:
  --busy     let Dawn busy-wait on GPU promises instead of sleeping (the default is polite waiting)
`;

const OPTIONS = {
  busy: { type: 'boolean' },
  json: { type: 'boolean' },
  force: { type: 'boolean' },
  quiet: { type: 'boolean' },
  model: { type: 'string' },
  config: { type: 'string' },
  data: { type: 'string' },
  epochs: { type: 'string' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  'weight-decay': { type: 'string' },
  optimizer: { type: 'string' },
  momentum: { type: 'string' },
  schedule: { type: 'string' },
  identities: { type: 'string' },
  frames: { type: 'string' },
  seed: { type: 'string' },
  out: { type: 'string' },
  resume: { type: 'string' },
  'save-every': { type: 'string' },
  weights: { type: 'string' },
  'save-attention': { type: 'string' },
  box: { type: 'string' },
} as const;

class UsageError extends Error {}

function num(v: string | undefined, name: string, fallback: number, integer = false, least = 0): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  const kind = least === 1 ? 'positive' : 'non-negative';
  if (v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < least) throw new UsageError(`--${name} must be a ${kind} ${integer ? 'integer' : 'number'}, not '${v}'`);
  return n;
}

/** The entries whose value is not undefined (for exactOptionalPropertyTypes). */
function defined<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/**
 * `--epochs -1` reaches parseArgs as an option named `-1` ("argument is ambiguous"): join a value-taking option
 * with a following negative number, so the option's own check names what is wrong.
 */
function joinNegativeValues(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i]!.startsWith('--') ? args[i]!.slice(2) : '';
    const next = args[i + 1];
    if (name in OPTIONS && OPTIONS[name as keyof typeof OPTIONS].type === 'string' && next !== undefined && /^-\d|^-\.\d|^-Infinity$/.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(args[i]!);
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  const [command = 'help', ...rest] = argv;
  if (command === 'bench') return runBench(rest);
  let parsed;
  try {
    parsed = parseArgs({ args: joinNegativeValues(rest), options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    return usageError((e as Error).message);
  }
  const { values: v, positionals } = parsed;
  const open = (): Promise<Engine> => createEngine({ wait: v.busy ? 'busy' : 'polite' });
  try {
    switch (command) {
      case 'demo':
        return await runDemo(await open());
      case 'train': {
        if (!v.model) throw new UsageError('train needs --model (m1, m2, m3, m4 or m5)');
        recipeFor(v.model); // an unknown name fails before the GPU starts
        const optimizer: Partial<OptimizerSettings> = {};
        if (v.optimizer) {
          if (!['adam', 'adamw', 'sgd'].includes(v.optimizer)) throw new UsageError(`--optimizer must be adam, adamw or sgd, not '${v.optimizer}'`);
          optimizer.kind = v.optimizer as OptimizerSettings['kind'];
        }
        if (v.lr) optimizer.lr = num(v.lr, 'lr', 0);
        if (v['weight-decay']) optimizer.weightDecay = num(v['weight-decay'], 'weight-decay', 0);
        if (v.momentum) optimizer.momentum = num(v.momentum, 'momentum', 0);
        if (v.schedule && !(SCHEDULES as readonly string[]).includes(v.schedule)) throw new UsageError(`--schedule must be ${SCHEDULES.join(' or ')}, not '${v.schedule}'`);
        const positive = (name: string, value: string | undefined): number | undefined => (value === undefined ? undefined : num(value, name, 0, true, 1));
        const args: TrainArgs = {
          model: v.model,
          ...defined({
            config: v.config,
            data: v.data,
            epochs: positive('epochs', v.epochs),
            batch: positive('batch', v.batch),
            seed: v.seed === undefined ? undefined : num(v.seed, 'seed', 0, true),
            identities: positive('identities', v.identities),
            clipFrames: positive('frames', v.frames),
            saveEvery: positive('save-every', v['save-every']),
            out: v.out,
            resume: v.resume,
            schedule: v.schedule as LrScheduleKind | undefined,
          }),
          optimizer,
          ...(v.force ? { force: true } : {}),
          ...(v.quiet ? { quiet: true } : {}),
        };
        if (args.identities !== undefined && args.identities < 2) throw new UsageError(`--identities must be at least 2 (one to train on, one held out), not ${args.identities}`);
        // Ctrl-C stops after the step in flight and commits a checkpoint; a second one quits at once, which the
        // checkpoint protocol also survives.
        const stop = new AbortController();
        const onSigint = (): void => {
          if (stop.signal.aborted) process.exit(130);
          console.error('\nfergpu: stopping after the current step to save a checkpoint (Ctrl-C again quits at once; the last checkpoint stays intact)');
          stop.abort();
        };
        process.on('SIGINT', onSigint);
        const engine = await open();
        try {
          const r = await runTrain(engine, { ...args, signal: stop.signal });
          return r.interrupted ? 130 : 0;
        } finally {
          process.off('SIGINT', onSigint);
          engine.destroy();
        }
      }
      case 'infer': {
        if (v.model?.startsWith('tfjs:')) {
          const engine = await open();
          try {
            await inferTfjsModel(engine, v.model.slice('tfjs:'.length), positionals, { ...(v.box ? { box: parseBox(v.box) } : {}), ...(v.json ? { json: true } : {}) });
          } finally {
            engine.destroy();
          }
          return 0;
        }
        if (!v.weights) throw new UsageError('infer needs --weights FILE (a checkpoint from fergpu train), or --model tfjs:PATH/model.json');
        const engine = await open();
        try {
          await runInfer(engine, { weights: v.weights, inputs: positionals, ...(v.model ? { model: v.model } : {}), ...(v.config ? { config: v.config } : {}), ...(v.json ? { json: true } : {}), ...(v['save-attention'] ? { saveAttention: v['save-attention'] } : {}) });
        } finally {
          engine.destroy();
        }
        return 0;
      }
      case 'info': {
        const engine = await open();
        if (v.json) console.log(JSON.stringify({ ...engine.adapter, dawn: dawnVersion() }, null, 2));
        else {
          console.log(`adapter: ${describeAdapter(engine.adapter)}`);
          console.log(`dawn (npm webgpu): ${dawnVersion()}`);
          for (const [k, val] of Object.entries(engine.adapter.limits)) console.log(`  ${k}: ${val}`);
        }
        engine.destroy();
        return 0;
      }
      case 'tune': {
        const engine = await open();
        const results = await engine.variants.tune(undefined, { force: Boolean(v.force) });
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
  } catch (e) {
    if (e instanceof UsageError) return usageError(e.message);
    throw e;
  }
}

function parseBox(s: string): { x: number; y: number; width: number; height: number } {
  const p = s.split(',').map(Number);
  if (p.length !== 4 || !p.every((n) => Number.isFinite(n) && n >= 0) || p[2] === 0 || p[3] === 0) throw new UsageError(`--box must be x,y,width,height in pixels (non-negative, non-zero size), not '${s}'`);
  return { x: p[0]!, y: p[1]!, width: p[2]!, height: p[3]! };
}

/** `fergpu bench …` runs the benchmark bundle (built next to this one by `npm run build`). */
function runBench(args: string[]): Promise<number> {
  const script = fileURLToPath(new URL('./bench.js', import.meta.url));
  if (!existsSync(script)) {
    console.error(`fergpu: ${script} is missing: run \`npm run build\` (or \`npm run bench -- <suite…>\`) first`);
    return Promise.resolve(2);
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: 'inherit' });
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

function usageError(message: string): number {
  console.error(`fergpu: ${message}\n\n${HELP}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    // Never a bare `fergpu: `: an error without a message (a platform AbortError) still says what it is.
    console.error(`fergpu: ${e?.message || e?.name || String(e)}`);
    process.exit(1);
  },
);
