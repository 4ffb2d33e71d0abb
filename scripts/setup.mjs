#!/usr/bin/env node
// Makes a fresh clone ready: npm dependencies, a WebGPU adapter for Dawn, and Chromium for the browser tests.
// Dependency-free (runs before `npm ci`). Fast when everything is already in place: a stamp records what was
// checked. On Debian without a usable adapter it installs Mesa's lavapipe from bookworm-backports (bookworm's
// own Mesa 22.3 is rejected by Dawn) and Debian's chromium.
//   node scripts/setup.mjs [--quiet] [--force] [--no-browser]
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const quiet = args.has('--quiet');
const wantBrowser = !args.has('--no-browser');
const stampPath = join(root, '.cache', 'setup-stamp.json');
const CHROMIUM = process.env.FERGPU_CHROMIUM ?? '/usr/bin/chromium';
const BACKPORTS_LIST = '/etc/apt/sources.list.d/fergpu-bookworm-backports.list';

const log = (msg) => quiet || console.log(`setup: ${msg}`);
const fail = (msg) => {
  console.error(`setup: ${msg}`);
  process.exit(1);
};

function run(cmd, argv, opts = {}) {
  log(`$ ${cmd} ${argv.join(' ')}`);
  const r = spawnSync(cmd, argv, { stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit', cwd: root, ...opts });
  if (r.status !== 0) fail(`'${cmd} ${argv.join(' ')}' failed (exit ${r.status ?? r.signal})`);
}

function lockHash() {
  const lock = join(root, 'package-lock.json');
  return existsSync(lock) ? createHash('sha256').update(readFileSync(lock)).digest('hex').slice(0, 16) : 'none';
}

function readStamp() {
  try {
    return JSON.parse(readFileSync(stampPath, 'utf8'));
  } catch {
    return {};
  }
}

/** Asks Dawn for an adapter in a child process; returns its description or null. */
function probeAdapter() {
  const code = `
    import('webgpu').then(async ({ create, globals }) => {
      Object.assign(globalThis, globals);
      const a = await create([]).requestAdapter();
      console.log(JSON.stringify(a ? { ok: true, name: a.info.description || a.info.device || a.info.vendor } : { ok: false }));
      process.exit(0);
    }).catch((e) => { console.log(JSON.stringify({ ok: false, error: String(e.message || e) })); process.exit(0); });`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
    timeout: 60_000,
  });
  const line = (r.stdout || '').trim().split('\n').pop() || '';
  try {
    const res = JSON.parse(line);
    return res.ok ? res.name : null;
  } catch {
    return null;
  }
}

function isDebianBookworm() {
  try {
    return /VERSION_CODENAME=bookworm/.test(readFileSync('/etc/os-release', 'utf8'));
  } catch {
    return false;
  }
}

function asRoot(cmd, argv) {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot) return run(cmd, argv, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (spawnSync('sudo', ['-n', 'true']).status === 0) return run('sudo', ['-n', 'env', 'DEBIAN_FRONTEND=noninteractive', cmd, ...argv]);
  fail(`'${cmd} ${argv.join(' ')}' needs root; run it yourself or run this script as root`);
}

let aptUpdated = false;
function aptInstall(packages, release) {
  if (!aptUpdated) {
    asRoot('apt-get', ['update', '-qq']);
    aptUpdated = true;
  }
  asRoot('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...(release ? ['-t', release] : []), ...packages]);
}

function installLavapipe() {
  if (!isDebianBookworm()) {
    fail('no WebGPU adapter was found and this is not Debian bookworm, so lavapipe cannot be installed automatically. ' +
      'Install a Vulkan driver (a GPU driver, or Mesa ≥ 24 with lavapipe) and the Vulkan loader, then run again.');
  }
  if (!existsSync(BACKPORTS_LIST) && !/bookworm-backports/.test(safeRead('/etc/apt/sources.list') + listSources())) {
    log('adding Debian bookworm-backports to apt sources');
    asRoot('sh', ['-c', `echo 'deb http://deb.debian.org/debian bookworm-backports main' > ${BACKPORTS_LIST}`]);
  }
  log('installing Mesa lavapipe (software Vulkan) from bookworm-backports');
  aptUpdated = false;
  aptInstall(['libvulkan1', 'mesa-vulkan-drivers'], 'bookworm-backports');
}

function safeRead(p) {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

function listSources() {
  try {
    return execFileSync('sh', ['-c', 'cat /etc/apt/sources.list.d/* 2>/dev/null'], { encoding: 'utf8' });
  } catch {
    return '';
  }
}

// 1. npm dependencies
const hash = lockHash();
const stamp = args.has('--force') ? {} : readStamp();
const installed = existsSync(join(root, 'node_modules', '.package-lock.json'));
if (!installed || stamp.lock !== hash) {
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

// 2. a WebGPU adapter for Dawn
let adapter = stamp.adapter && stamp.lock === hash ? stamp.adapter : null;
if (!adapter) {
  adapter = probeAdapter();
  if (!adapter) {
    installLavapipe();
    adapter = probeAdapter();
    if (!adapter) fail('Dawn still finds no WebGPU adapter after installing lavapipe; check `vulkaninfo --summary` (package vulkan-tools).');
  }
}
log(`WebGPU adapter: ${adapter}`);

// 3. Chromium for the browser tests
if (wantBrowser && !existsSync(CHROMIUM)) {
  if (!isDebianBookworm()) fail(`no Chromium at ${CHROMIUM}; install one and set FERGPU_CHROMIUM to its path`);
  log("installing Debian's chromium for the browser tests");
  aptInstall(['chromium']);
}

mkdirSync(dirname(stampPath), { recursive: true });
writeFileSync(stampPath, JSON.stringify({ lock: hash, adapter, date: new Date().toISOString() }, null, 1));
log('ready');
