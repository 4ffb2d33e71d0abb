/**
 * Dawn's Node binding polls for GPU completion with setImmediate in a tight loop while any GPU promise is
 * pending. On a CPU Vulkan driver (lavapipe) that spinning takes a core from the GPU work itself. This
 * waiter adds a setImmediate of its own that sleeps ~0.25 ms per event-loop turn while work is pending,
 * so Dawn still polls every turn but the thread is mostly asleep.
 */
import type { Waiter } from '../device/waiter.js';

const SLEEP_MS = 0.25;

export function politeWaiter(sleepMs = SLEEP_MS): Waiter {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  let active = false;
  // At most one tick chain: an end() then begin() before the pending tick runs must not start a second
  // chain, or chains pile up over many syncs and every event-loop turn sleeps once per chain.
  let scheduled = false;
  const tick = (): void => {
    scheduled = false;
    if (!active) return;
    Atomics.wait(cell, 0, 0, sleepMs);
    scheduled = true;
    setImmediate(tick);
  };
  return {
    mode: 'polite',
    begin() {
      active = true;
      if (scheduled) return;
      scheduled = true;
      setImmediate(tick);
    },
    end() {
      active = false;
    },
  };
}
