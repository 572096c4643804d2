// `kive probe`: which backends this kernel accepts. Each one is really loaded and
// attached, then detached, so the answer is the kernel's, not a guess from its version.
import { probeBackends, selectBackend } from '../kernel/monitor.ts';

export async function probeCommand(): Promise<number> {
  const results = await probeBackends();
  for (const r of results) {
    const verdict = r.supported ? `supported (${r.attachPoint ?? 'attached'})` : `not supported: ${r.reason ?? 'unknown reason'}`;
    process.stdout.write(`${r.backend.padEnd(11)} ${verdict}\n`);
    if (r.reads !== undefined) process.stdout.write(`${''.padEnd(11)} reads: ${r.reads}\n`);
    // Only the routes the kernel has and Kive cannot cover here; see docs/backends.md.
    for (const gap of r.gaps ?? []) process.stdout.write(`${''.padEnd(11)} misses: ${gap}\n`);
  }
  const chosen = selectBackend(results);
  process.stdout.write(chosen === null ? 'auto        none: no backend works on this kernel\n' : `auto        ${chosen}\n`);
  return chosen === null ? 1 : 0;
}
