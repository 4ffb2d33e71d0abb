/**
 * The kernel suites are split over several vitest files, each run in its own worker process: one process
 * running every suite accumulated enough Dawn/lavapipe state (pipelines, buffers, textures) to crash the
 * worker near the end. A suite not named in any group runs in the 'rest' group, so none is ever skipped.
 */
import { describe, it } from 'vitest';
import { suites } from '../cases/index.js';
import { testEngine } from './node-engine.js';

const GROUPS: Record<string, readonly string[]> = {
  core: ['runtime', 'elementwise', 'autograd', 'matmul', 'reduce', 'layout'],
  cnn: ['batchnorm', 'softmax', 'conv', 'pool', 'gate', 'layernorm', 'dropout'],
  training: ['optim', 'safetensors', 'attention', 'modules', 'training', 'temporal', 'spatial-transformer'],
  // M1 alone: after the other models in one process, its first case crashed the worker now and then.
  m1: ['m1'],
};

export function runSuiteGroup(group: keyof typeof GROUPS | 'rest'): void {
  const named = new Set(Object.values(GROUPS).flat());
  const chosen = group === 'rest' ? suites.filter((s) => !named.has(s.name)) : suites.filter((s) => GROUPS[group]!.includes(s.name));
  for (const suite of chosen) {
    describe(suite.name, () => {
      for (const c of suite.cases) it(c.name, async () => c.run(await testEngine()));
    });
  }
}
