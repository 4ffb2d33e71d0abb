/** The polite waiter keeps a single sleep-per-turn chain however often it is stopped and restarted. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { politeWaiter } from '../src/node/polite-waiter.js';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('politeWaiter', () => {
  afterEach(() => vi.restoreAllMocks());

  it('sleeps about once per event-loop turn after many begin/end cycles', async () => {
    const waiter = politeWaiter(0.01);
    const wait = vi.spyOn(Atomics, 'wait');
    // Each engine sync ends and restarts the waiter within one turn; chains must not accumulate.
    for (let i = 0; i < 50; i++) {
      waiter.begin();
      waiter.end();
    }
    waiter.begin();
    for (let i = 0; i < 10; i++) await turn();
    waiter.end();
    await turn();
    const sleeps = wait.mock.calls.length;
    expect(sleeps).toBeGreaterThanOrEqual(3);
    expect(sleeps).toBeLessThanOrEqual(25);
  });

  it('stops sleeping after end()', async () => {
    const waiter = politeWaiter(0.01);
    waiter.begin();
    await turn();
    waiter.end();
    await turn();
    const wait = vi.spyOn(Atomics, 'wait');
    for (let i = 0; i < 5; i++) await turn();
    expect(wait).not.toHaveBeenCalled();
  });
});
