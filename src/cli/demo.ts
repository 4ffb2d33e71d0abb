/**
 * The demo (until the FER models land): a small network layer, relu(x·W + b) followed by a sigmoid gate, run on
 * the GPU and checked against the CPU reference of each op, with the adapter and timings printed.
 */
import { describeAdapter, type Engine } from '../device/engine.js';
import { HostTensor as Host } from '../graph/host.js';
import { add, mul, relu, sigmoid } from '../kernels/ops.js';

function seeded(shape: number[], seed: number): Host {
  const t = Host.zeros(shape);
  let s = seed;
  for (let i = 0; i < t.size; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    t.data[i] = s / 2 ** 31 - 1;
  }
  return t;
}

export async function runDemo(engine: Engine): Promise<number> {
  console.log(`adapter: ${describeAdapter(engine.adapter)}`);
  console.log(`waiting: ${engine.waitMode}`);
  const shapes = { x: [64, 256], b: [256], g: [64, 1] };
  const hx = seeded(shapes.x, 1);
  const hb = seeded(shapes.b, 2);
  const hg = seeded(shapes.g, 3);

  const t0 = performance.now();
  const x = engine.tensor(hx.data, hx.shape);
  const b = engine.tensor(hb.data, hb.shape);
  const g = engine.tensor(hg.data, hg.shape);
  const h = relu(add(x, b));
  const y = mul(h, sigmoid(g));
  const got = await y.read();
  const ms = performance.now() - t0;

  const expected = mul.cpu(relu.cpu(add.cpu(hx, hb)), sigmoid.cpu(hg));
  let maxErr = 0;
  for (let i = 0; i < got.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i]! - expected.data[i]!));
  const ok = maxErr <= 1e-5;
  console.log(`computed y = relu(x + b) * sigmoid(g) for x ${JSON.stringify(shapes.x)} on the GPU in ${ms.toFixed(1)} ms (first call: includes shader compiles)`);
  console.log(`max |GPU − CPU reference| = ${maxErr.toExponential(2)} → ${ok ? 'OK' : 'MISMATCH'}`);
  const mem = engine.memory();
  console.log(`GPU memory: ${mem.liveBytes} B live, ${mem.pooledBytes} B pooled, peak ${mem.peakLiveBytes} B; ${engine.runtime.counters.dispatches} dispatches in ${engine.runtime.counters.submits} submits`);
  engine.destroy();
  return ok ? 0 : 1;
}
