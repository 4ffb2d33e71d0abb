#!/usr/bin/env node
// The `fergpu` command: the CLI is bundled by `npm run build` into dist/cli.js.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
if (!existsSync(cli)) {
  console.error("fergpu: dist/cli.js is missing; run 'npm run build' first");
  process.exit(1);
}
await import(pathToFileURL(cli).href);
