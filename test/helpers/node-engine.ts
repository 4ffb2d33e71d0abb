/** One engine per test file in Node (Dawn on whatever adapter the machine has). */
import type { Engine } from '../../src/device/engine.js';
import { createEngine } from '../../src/node/index.js';

let engine: Promise<Engine> | undefined;

export function testEngine(): Promise<Engine> {
  engine ??= createEngine({ persistTuning: false });
  return engine;
}
