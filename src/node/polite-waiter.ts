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
  const tick = (): void => {
    if (!active) return;
    Atomics.wait(cell, 0, 0, sleepMs);
    setImmediate(tick);
  };
  return {
    mode: 'polite',
    begin() {
      if (active) return;
      active = true;
      setImmediate(tick);
    },
    end() {
      active = false;
    },
  };
}
