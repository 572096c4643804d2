// The overhead table inside each QEMU guest of the kernel matrix (test/kernels/matrix.txt):
// boots every guest row with bench/guest-job.sh instead of the test suite, through the
// matrix's own prepare-kernel.sh and boot-guest.sh (same kernels, cache, watchdog), and
// prints one table per kernel. Part of `make bench` (bench/run.ts); needs root.
//
//   node bench/guests.ts [--quick] [--before] [LABEL ...]    (--before: also the objects of
//   bench/before.ts MISS_PATH_BEFORE_REV, built on the host first)
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseMatrix } from '../test/kernels/summary.ts';
import type { OverheadResult } from './overhead.ts';
import { overheadTable } from './table.ts';
import { buildObjectsAt, MISS_PATH_BEFORE_REV, MISS_PATH_SHIM } from './before.ts';
import { BACKEND_PREFERENCE } from '../src/kernel/backends/index.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Runs a command from the repo root; resolves with its stdout (stderr passes through). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: repo, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      process.stderr.write(d); // boot-guest.sh streams the console here: keep it visible
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
  });
}

/** One guest's table (ok: it has one and the job succeeded), or the lines saying why not. */
/** before: a directory of old objects under the repo (bench/before.ts), also measured. */
export async function benchGuest(label: string, pkg: string, version: string, runDir: string, quick: boolean, before?: string): Promise<{ lines: string[]; ok: boolean }> {
  const prepared = await run(join(repo, 'test/kernels/prepare-kernel.sh'), [pkg, version]);
  const kdir = prepared.stdout.trim().split('\n').at(-1) ?? '';
  if (prepared.code !== 0 || kdir === '') return { lines: [`### ${label}: kernel not prepared (see above)`], ok: false };
  const res = join(runDir, label);
  mkdirSync(res);
  const beforeArg = before === undefined ? '' : ` --before ${relative(repo, before)}`; // the guest's cwd is the shared repo
  writeFileSync(join(res, 'bench-args'), `${quick ? '--iterations 20000 --repeats 3' : '--iterations 100000 --repeats 3'} --traps 65536${beforeArg}\n`);
  const env = { ...process.env, KIVE_KERNELS_SUITE: 'bench/guest-job.sh' };
  const boot = await run(join(repo, 'test/kernels/boot-guest.sh'), [label, kdir, res], env);
  try {
    const r = JSON.parse(readFileSync(join(res, 'bench.json'), 'utf8')) as OverheadResult;
    const lines = overheadTable(r, `${label} (QEMU/TCG guest)`);
    if (boot.code !== 0) lines.push('', `(the guest's job failed: ${readFileSync(join(res, 'status'), 'utf8').trim()}; see ${res})`);
    return { lines, ok: boot.code === 0 };
  } catch (err) {
    return { lines: [`### ${label}: no benchmark result (${(err as Error).message}); see ${res}/console.log`], ok: false };
  }
}

export async function benchGuests(opts: { quick?: boolean; only?: string[]; before?: string } = {}): Promise<{ lines: string[]; ok: boolean }> {
  const rows = parseMatrix(readFileSync(join(repo, 'test/kernels/matrix.txt'), 'utf8')).filter(
    (r) => r.pkg !== '-' && (opts.only === undefined || opts.only.length === 0 || opts.only.includes(r.label)),
  );
  mkdirSync(join(repo, 'build', 'bench'), { recursive: true });
  const runDir = mkdtempSync(join(repo, 'build', 'bench', 'guests.')); // the guests' scratch shares: this run's own
  const lines: string[] = [];
  let ok = rows.length > 0;
  for (const r of rows) {
    const g = await benchGuest(r.label, r.pkg, r.version, runDir, opts.quick ?? false, opts.before);
    lines.push(...g.lines, '');
    ok &&= g.ok;
  }
  return { lines, ok };
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const before = args.includes('--before') ? buildObjectsAt(MISS_PATH_BEFORE_REV, 'before-miss-path', BACKEND_PREFERENCE, MISS_PATH_SHIM) : undefined;
  const g = await benchGuests({ quick: args.includes('--quick'), only: args.filter((a) => !a.startsWith('--')), before });
  console.log(g.lines.join('\n'));
  if (!g.ok) process.exitCode = 1;
}
