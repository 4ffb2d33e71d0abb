/**
 * The op being launched, so that a problem found deep inside it (an allocation over the device's limit) is
 * blamed on the op the user called rather than on the helper that found it. The outermost op wins: a backward
 * rule or a composite op that calls others still names the call that was made.
 */
let current: (() => string) | null = null;

/** The op (with its input shapes) whose launch is running, or null outside any op. */
export function currentOp(): string | null {
  return current ? current() : null;
}

/** Runs `fn` as the launch of the op that `op` names (called only when a message needs it). */
export function withOp<T>(op: () => string, fn: () => T): T {
  if (current !== null) return fn();
  current = op;
  try {
    return fn();
  } finally {
    current = null;
  }
}
