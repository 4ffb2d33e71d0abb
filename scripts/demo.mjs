#!/usr/bin/env node
// `npm run demo [-- --browser]`: the Node demo (dist/cli.js demo), or with --browser the web app in headless
// Chromium on the sample photo, with a screenshot (dist/web-tools.js demo). Both are built by scripts/build.mjs.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const browser = args.includes('--browser');
const rest = args.filter((a) => a !== '--browser');
const tool = browser ? ['dist/web-tools.js', 'demo', ...rest] : ['dist/cli.js', 'demo', ...rest];
const r = spawnSync(process.execPath, tool, { stdio: 'inherit' });
process.exit(r.status ?? 1);
