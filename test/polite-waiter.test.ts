/** The polite waiter: one sleep chain however often it restarts, and sleeps learned from earlier waits. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { politeWaiter } from '../src/node/polite-waiter.js';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const after = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** Records the timeouts (ms) of the Atomics.wait calls made from now on; returns them when called. */
function recordSleeps(): () => number[] {
  vi.restoreAllMocks();
  const spy = vi.spyOn(Atomics, 'wait');
  return () => spy.mock.calls.map((c) => c[3] as number);
}

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

  it('does not sleep on the first turn of work it has not seen, then backs off up to its sleep', async () => {
    const waiter = politeWaiter(0.25);
    const sleeps = recordSleeps();
    waiter.begin('new work');
    await turn();
    expect(sleeps().length).toBe(0);
    for (let i = 0; i < 8; i++) await turn();
    waiter.end();
    const slept = sleeps();
    expect(slept.length).toBeGreaterThanOrEqual(4);
    expect(slept[0]).toBeLessThan(0.05);
    expect(Math.max(...slept)).toBeCloseTo(0.25, 5);
    for (let i = 1; i < slept.length; i++) expect(slept[i]).toBeGreaterThanOrEqual(slept[i - 1]!);
  });

  it('sleeps through most of the time the same work took before, in chunks of at most 2 ms', async () => {
    const waiter = politeWaiter(0.25);
    waiter.begin('step');
    await after(8);
    waiter.end();
    const sleeps = recordSleeps();
    waiter.begin('step');
    await after(8);
    waiter.end();
    const slept = sleeps();
    // About 7.5 ms of the ~8 expected go in 2 ms sleeps; then polls back off from 0.02 ms as for new work.
    const long = slept.filter((ms) => ms > 0.25 + 1e-9);
    expect(long.reduce((a, b) => a + b, 0)).toBeGreaterThan(5);
    expect(long.length).toBeLessThanOrEqual(4);
    expect(Math.max(...slept)).toBeLessThanOrEqual(2);
    // Other work keeps its own record: unseen, it starts without sleeping.
    const others = recordSleeps();
    waiter.begin('other');
    await turn();
    waiter.end();
    expect(others().length).toBe(0);
  });

  it('shrinks its guess when work turns out shorter, until it measures it again', async () => {
    const waiter = politeWaiter(0.25);
    waiter.begin('read');
    await after(10);
    waiter.end();
    // The same work is now found done at the first poll after the waiter wakes (the poll that follows its
    // tick in the same turn): each wait sleeps less than the one before.
    const firsts: number[] = [];
    for (let i = 0; i < 12; i++) {
      const sleeps = recordSleeps();
      waiter.begin('read');
      await turn();
      waiter.end();
      firsts.push(sleeps()[0] ?? 0);
    }
    expect(firsts[0]).toBeGreaterThan(1);
    for (let i = 1; i < firsts.length; i++) expect(firsts[i]).toBeLessThanOrEqual(firsts[i - 1]! + 1e-9);
    expect(firsts[firsts.length - 1]).toBeLessThan(0.3);
  });

  it('expects the shortest of the recent durations, so a slow call does not make the next ones wait long', async () => {
    const waiter = politeWaiter(0.25);
    for (const ms of [4, 12]) {
      waiter.begin('noisy');
      await after(ms);
      waiter.end();
    }
    const sleeps = recordSleeps();
    waiter.begin('noisy');
    await after(4);
    waiter.end();
    // About 3.7 ms slept ahead (the 4 ms call), not 11 (the 12 ms one).
    const ahead = sleeps().filter((ms) => ms > 0.25 + 1e-9).reduce((a, b) => a + b, 0);
    expect(ahead).toBeGreaterThan(2.5);
    expect(ahead).toBeLessThan(8);
  });
});
