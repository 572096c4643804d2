// How much longer than on a quiet machine a test should wait before it calls something
// missing: KIVE_TIME_SCALE, set by test/kernels/suite.sh from calibrate.ts's measurement
// of the machine it runs on (1 when unset, e.g. a test file run by hand). The deadlines
// in the kernel tests are written for a quiet QEMU/TCG guest, the slowest place they
// run; multiplying by this keeps them right on a machine shared with other jobs
// (docs/kernels.md, "Time limits"). A deadline only bounds how long a missing event is
// waited for; nothing asserts a speed.

/** KIVE_TIME_SCALE as a number >= 1; a malformed value is an error, not a silent 1. */
export function timeScale(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env['KIVE_TIME_SCALE'];
  if (raw === undefined || raw === '') return 1;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 1) throw new Error(`KIVE_TIME_SCALE=${raw}: expected a number >= 1 (see test/kernels/calibrate.ts)`);
  return v;
}

/** `ms` (a deadline for a quiet guest) scaled to this machine. */
export function scaled(ms: number, env: NodeJS.ProcessEnv = process.env): number {
  return Math.round(ms * timeScale(env));
}
