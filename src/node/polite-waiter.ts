/**
 * Dawn's Node binding polls for GPU completion with setImmediate in a tight loop while any GPU promise is
 * pending. On a CPU Vulkan driver (lavapipe) that spinning takes a core from the GPU work itself. This
 * waiter adds a setImmediate of its own that sleeps on every event-loop turn while work is pending, so Dawn
 * still polls every turn but the thread is mostly asleep.
 *
 * Each poll wakes the main thread, which preempts the driver's threads for a moment (on 2 cores, polling
 * every 0.25 ms made a 30 ms copy 8% slower than polling every 1 ms), while a long sleep finds short work
 * late. So the waiter learns how long each named piece of work takes (the runtime names it by the labels of
 * its commands, `Waiter.begin`): it sleeps through most of the shortest of its last `RECENT` durations, in
 * chunks of at most `CHUNK_MS`, then polls at once and backs off from `FIRST_SLEEP_MS` to `sleepMs` until the
 * work is done. The shortest, not the last: on a shared machine the same work takes 1.5 ms one call and 4 ms
 * the next, and sleeping through the last duration would make the fast calls slow.
 *
 * Work it has not seen starts on that back-off directly, whose first turn does not sleep, so a wait on
 * finished work (a readback after a sync) ends within a turn. A wait found over at the first poll after the
 * expected time says only that the work took less: a guess `SHRINK` times smaller is kept, until a wait
 * again wakes before the work is done and measures it.
 */
import type { Waiter } from '../device/waiter.js';

const SLEEP_MS = 0.25;
const FIRST_SLEEP_MS = 0.02;
/** Longest single sleep: also the most a wrong guess (work grown shorter) can add to one wait. */
const CHUNK_MS = 2;
/** Wake this much before the expected end: OS timer slack overshoots sleeps by about 0.05 ms. */
const LEAD_MS = 0.08;
const LEAD_FRACTION = 0.05;
const SHRINK = 0.75;
/** Durations kept per piece of work. */
const RECENT = 8;
/** Pieces of work remembered; the one waited on longest ago is forgotten first. */
const REMEMBERED = 256;
/** Waits with no work name (tfjs, other GPU users) learn under this one. */
const UNNAMED = '';

export function politeWaiter(sleepMs = SLEEP_MS): Waiter {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const firstSleep = Math.min(FIRST_SLEEP_MS, sleepMs);
  // Recent durations (ms) by work name.
  const learned = new Map<string, number[]>();
  const expectedFor = (name: string): number | undefined => {
    const recent = learned.get(name);
    return recent ? Math.min(...recent) : undefined;
  };
  let active = false;
  let work = UNNAMED;
  let start = 0;
  let backoff = 0;
  // Polls made after the expected time had passed (or, for unknown work, since the wait began).
  let latePolls = 0;
  // At most one tick chain: an end() then begin() before the pending tick runs must not start a second
  // chain, or chains pile up over many syncs and every event-loop turn sleeps once per chain.
  let scheduled = false;

  const nextSleep = (): number => {
    const expected = expectedFor(work);
    if (expected !== undefined) {
      const wakeAt = expected * (1 - LEAD_FRACTION) - LEAD_MS;
      const elapsed = performance.now() - start;
      if (elapsed < wakeAt) return Math.min(CHUNK_MS, wakeAt - elapsed);
    }
    latePolls++;
    const sleep = backoff;
    backoff = backoff === 0 ? firstSleep : Math.min(sleepMs, backoff * 2);
    return sleep;
  };
  const tick = (): void => {
    scheduled = false;
    if (!active) return;
    const sleep = nextSleep();
    if (sleep > 0) Atomics.wait(cell, 0, 0, sleep);
    scheduled = true;
    setImmediate(tick);
  };
  return {
    mode: 'polite',
    begin(name?: string) {
      active = true;
      work = name ?? UNNAMED;
      start = performance.now();
      backoff = 0;
      latePolls = 0;
      if (scheduled) return;
      scheduled = true;
      setImmediate(tick);
    },
    end() {
      if (!active) return;
      active = false;
      const elapsed = performance.now() - start;
      const expected = expectedFor(work);
      // Over before a poll that followed the expected time: it took `elapsed` at most.
      const measured = expected === undefined || latePolls > 0;
      const recent = learned.get(work) ?? [];
      recent.push(measured ? elapsed : SHRINK * Math.min(elapsed, expected));
      if (recent.length > RECENT) recent.shift();
      learned.delete(work);
      learned.set(work, recent);
      if (learned.size > REMEMBERED) learned.delete(learned.keys().next().value!);
    },
  };
}
