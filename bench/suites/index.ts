/** Every benchmark suite, by name: a suite module loads only when it is run. Add one line per suite. */
import type { Suite } from '../harness.js';

export const SUITES: Record<string, () => Promise<Suite>> = {
  peak: async () => (await import('./peak.js')).peakSuite,
  matmul: async () => (await import('./matmul.js')).matmulSuite,
  conv: async () => (await import('./conv.js')).convSuite,
  attention: async () => (await import('./attention.js')).attentionSuite,
  train: async () => (await import('./train.js')).trainSuite,
  models: async () => (await import('./models.js')).modelsSuite,
  accuracy: async () => (await import('./accuracy.js')).accuracySuite,
  replay: async () => (await import('./replay.js')).replaySuite,
  soak: async () => (await import('./soak.js')).soakSuite,
  'tfjs-model': async () => (await import('./tfjs-model.js')).tfjsModelSuite,
};
