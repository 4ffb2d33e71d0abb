/**
 * How the engine waits for GPU promises. Browsers need nothing; Dawn's Node binding spins the main thread
 * while any GPU promise is pending, which on a CPU Vulkan driver steals a core from the GPU's own work, so
 * the Node platform supplies a waiter that sleeps briefly on every event-loop turn while work is in flight.
 */
export type WaitMode = 'polite' | 'busy';

export interface Waiter {
  readonly mode: WaitMode;
  /**
   * Called when the first GPU promise starts pending. `work` names what was recorded since the previous wait
   * began (the same work gets the same name), so a waiter can learn how long such a wait lasts.
   */
  begin(work?: string): void;
  /** Called when the last pending GPU promise settles. */
  end(): void;
}

export const busyWaiter: Waiter = { mode: 'busy', begin() {}, end() {} };

/** Counts pending GPU promises and keeps the waiter active while any is pending. */
export class InFlight {
  private count = 0;
  /** Names the work recorded since it was last called (the kernel runtime supplies it). */
  workName: () => string | undefined = () => undefined;
  constructor(public waiter: Waiter) {}

  track<T>(promise: Promise<T>): Promise<T> {
    if (this.count++ === 0) this.waiter.begin(this.workName());
    const done = () => {
      if (--this.count === 0) this.waiter.end();
    };
    promise.then(done, done);
    return promise;
  }

  get pending(): number {
    return this.count;
  }
}
