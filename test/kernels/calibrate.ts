// calibrate.ts [OUT_FILE]
//
// Measures how fast this machine runs the kind of work the kernel suite waits on (a
// Node.js process starting, loading modules and computing) and prints how many times
// slower it is than a quiet QEMU/TCG guest on the 2-core machine the limits were set
// on: the "scale" (>= 1; 1 on any machine at least that fast, which includes the host).
// suite.sh runs it first in every row, writes the scale to OUT_FILE for the host-side
// watchdog (watchdog.ts) and exports it as KIVE_TIME_SCALE for the tests' own deadlines
// (time-scale.ts). Not a benchmark: it only sets how long to wait before failing.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

/** Median wall time of WORK in a quiet Debian 6.1 TCG guest on the 2-core machine
 * (docs/kernels.md, "Time limits"). Estimated, not measured quiet: these machines were
 * never idle while it was set. 2026-12-02, host load average 13 on 2 CPUs: medians
 * 5.7-6.4 s in the 6.1 guest, i.e. ~1 s at one runnable task per CPU. Too low a value
 * only makes the limits more generous. */
export const REFERENCE_MS = 1000;

// A fixed amount of what makes the suite slow under emulation: process start, module
// loading (from the 9p root in a guest), JIT-compiled work and allocation.
const WORK = `
const { createHash } = require('node:crypto');
require('node:util'); require('node:child_process'); require('node:readline');
let h = createHash('sha256'), s = '';
for (let i = 0; i < 20000; i++) { s = String(i) + s.slice(0, 64); h.update(s); }
h.digest('hex');
`;

/** Scale for a measured time: how many times the reference it took, never below 1. */
export function scaleFor(ms: number, referenceMs = REFERENCE_MS): number {
  if (!Number.isFinite(ms) || ms <= 0) throw new Error(`calibrate: bad measurement ${ms} ms`);
  return Math.max(1, Math.round((ms / referenceMs) * 100) / 100);
}

export function measureOnce(): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['-e', WORK], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`calibrate: the reference workload exited with ${r.status ?? r.signal}`);
  return performance.now() - t0;
}

if (import.meta.main) {
  const times = [measureOnce(), measureOnce(), measureOnce()].sort((a, b) => a - b);
  const ms = times[1]!;
  const scale = scaleFor(ms);
  const out = process.argv[2];
  if (out !== undefined) writeFileSync(out, `${scale}\n`);
  console.error(
    `calibrate: reference workload ${times.map((t) => Math.round(t)).join('/')} ms (median ${Math.round(ms)}; quiet TCG guest ${REFERENCE_MS}): time scale ${scale}`,
  );
  console.log(scale);
}
