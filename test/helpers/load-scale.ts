// Deadlines for the integration tests that follow the machine's load. The tests' waits
// are written for a quiet 2-CPU machine; these machines are shared, and with a load of 9
// per CPU an operator takes several times as long to start. A deadline only bounds how
// long a missing event is waited for (nothing asserts a speed), so it is multiplied by
// the 1-minute load per CPU at the moment the wait starts, between 1 and 8: a real hang
// still fails, only later.

import { availableParallelism, loadavg } from 'node:os';

/** The current load per CPU, clamped to [1, 8]. */
export function loadScale(): number {
  const perCpu = loadavg()[0]! / Math.max(1, availableParallelism());
  return Math.min(8, Math.max(1, perCpu));
}

/** `ms` (a deadline for a quiet machine) scaled by the current load. */
export function loadScaled(ms: number): number {
  return Math.round(ms * loadScale());
}
