// What a loaded monitor costs processes that never touch a trap: open+close of an
// UNmonitored file in a tight C loop (build/bench/openloop), monitor off vs. on, per
// backend, with the baseline measured in the same run. Not a test: nothing here asserts
// a time.
//
//   node bench/overhead.ts [--json] [--iterations N] [--repeats R] [--backend NAME|all]
//
// --json prints the contract the QEMU kernel matrix reads:
//   { "kernel", "iterations", "baselineNs",
//     "backends": { NAME: { "status": "ok"|"refused", "ns", "ratio", "reason"? } } }
// (ns = nanoseconds per open+close pair, median of the repeats).

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isKiveError } from '../src/errors.ts';
import { BACKEND_PREFERENCE, isBackendName, type BackendName } from '../src/kernel/backends.ts';
import { FileMonitor } from '../src/kernel/monitor.ts';
import { enableBpfStats, programStats } from '../src/kernel/stats.ts';
import { userToKernelDev } from '../src/kernel/dev.ts';
import type { FileKey } from '../src/kernel/monitor.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
export const OPENLOOP = join(repo, 'build', 'bench', 'openloop');

/** Runs the C loop; resolves with nanoseconds per open+close. Async: the event loop keeps running. */
export function openLoop(path: string, iterations: number, mode: 'r' | 'w' = 'r'): Promise<number> {
  if (!existsSync(OPENLOOP)) throw new Error(`${OPENLOOP} is missing: run \`make build\``);
  return new Promise((resolve, reject) => {
    const child = spawn(OPENLOOP, [path, String(iterations), mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`openloop exited ${code}`));
      const r = JSON.parse(out) as { iterations: number; ns: number };
      resolve(r.ns / r.iterations);
    });
  });
}

export function keyOf(path: string): FileKey {
  const st = statSync(path, { bigint: true });
  return { ino: st.ino, dev: userToKernelDev(st.dev) };
}

/** Run time and run count of all the monitor's programs (kernel.bpf_stats_enabled). */
export function totalRuns(m: FileMonitor): { t: bigint; n: bigint } {
  let t = 0n;
  let n = 0n;
  for (const p of m.programs) {
    const s = programStats(p.name, p.fd);
    t += s.runTimeNs;
    n += s.runCount;
  }
  return { t, n };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export interface OverheadResult {
  kernel: string;
  iterations: number;
  baselineNs: number;
  backends: Partial<
    Record<
      BackendName,
      {
        status: 'ok' | 'refused';
        ns?: number;
        ratio?: number;
        reason?: string;
        progNsPerRun?: number;
        /** Per program: runs during the stats pass and ns per run. */
        programs?: Record<string, { runs: number; nsPerRun: number }>;
      }
    >
  >;
}

export async function measureOverhead(opts: { iterations?: number; repeats?: number; backends?: BackendName[] } = {}): Promise<OverheadResult> {
  const iterations = opts.iterations ?? 100_000;
  const repeats = opts.repeats ?? 3;
  const dir = mkdtempSync(join(tmpdir(), 'kive-bench-'));
  const file = join(dir, 'unmonitored');
  const trapped = join(dir, 'trapped');
  writeFileSync(file, 'x');
  writeFileSync(trapped, 'x');
  try {
    await openLoop(file, Math.min(iterations, 20_000)); // warm the dentry cache and the binary
    const base: number[] = [];
    const result: OverheadResult = { kernel: release(), iterations, baselineNs: 0, backends: {} };
    const perBackend = new Map<BackendName, number[]>();
    for (const b of opts.backends ?? BACKEND_PREFERENCE) {
      try {
        const m = await FileMonitor.open({ backend: b, ringBufferBytes: 1 << 20 });
        await m.close(); // probe only; reopened per repeat below so the cost is measured fresh
        perBackend.set(b, []);
      } catch (err) {
        if (!isKiveError(err)) throw err;
        result.backends[b] = { status: 'refused', reason: err.message };
      }
    }
    // Interleave baseline and backends per repeat, so drift (other load, thermal)
    // spreads over all of them instead of biasing one.
    const progNs = new Map<BackendName, number>();
    const perProgram = new Map<BackendName, Record<string, { runs: number; nsPerRun: number }>>();
    for (let r = 0; r < repeats; r++) {
      base.push(await openLoop(file, iterations));
      for (const [b, xs] of perBackend) {
        const m = await FileMonitor.open({ backend: b, ringBufferBytes: 1 << 20 });
        try {
          m.setTrap(keyOf(trapped), 1); // a non-empty map, like production
          m.start(() => {});
          xs.push(await openLoop(file, iterations));
          if (r === repeats - 1) {
            // Program cost per run, in a separate pass: bpf_stats adds two clock reads
            // to every run, which would inflate the timed loop above.
            const restore = enableBpfStats();
            try {
              const p0 = totalRuns(m);
              const each0 = m.programs.map((p) => programStats(p.name, p.fd));
              await openLoop(file, Math.min(iterations, 50_000));
              const p1 = totalRuns(m);
              if (p1.n > p0.n) progNs.set(b, Number((p1.t - p0.t) / (p1.n - p0.n)));
              // Split by program: a program on every syscall (the tracepoint backend's
              // 32-bit route) runs more often, and more cheaply, than the open ones.
              const each: Record<string, { runs: number; nsPerRun: number }> = {};
              m.programs.forEach((p, i) => {
                const s1 = programStats(p.name, p.fd);
                const n = s1.runCount - each0[i]!.runCount;
                if (n > 0n) each[p.name] = { runs: Number(n), nsPerRun: Number((s1.runTimeNs - each0[i]!.runTimeNs) / n) };
              });
              perProgram.set(b, each);
            } finally {
              restore();
            }
          }
        } finally {
          await m.close();
        }
      }
    }
    result.baselineNs = median(base);
    for (const [b, xs] of perBackend) {
      const ns = median(xs);
      const p = progNs.get(b);
      result.backends[b] = {
        status: 'ok',
        ns: Math.round(ns),
        ratio: Math.round((ns / result.baselineNs) * 1000) / 1000,
        ...(p !== undefined ? { progNsPerRun: p } : {}),
        ...(perProgram.has(b) ? { programs: perProgram.get(b)! } : {}),
      };
    }
    result.baselineNs = Math.round(result.baselineNs);
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function parseArgs(argv: string[]): { json: boolean; iterations?: number; repeats?: number; backends?: BackendName[] } {
  const out: { json: boolean; iterations?: number; repeats?: number; backends?: BackendName[] } = { json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') out.json = true;
    else if (a === '--iterations') out.iterations = Number(argv[++i]);
    else if (a === '--repeats') out.repeats = Number(argv[++i]);
    else if (a === '--backend') {
      const v = argv[++i] ?? '';
      if (v === 'all') out.backends = [...BACKEND_PREFERENCE];
      else if (isBackendName(v)) out.backends = [v];
      else throw new Error(`--backend ${v}: expected fentry, kprobe, tracepoint or all`);
    } else throw new Error(`unknown argument ${a}`);
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = parseArgs(process.argv.slice(2));
  const r = await measureOverhead(args);
  if (args.json) {
    // The matrix contract: progNsPerRun is an extra field it may ignore.
    process.stdout.write(`${JSON.stringify(r)}\n`);
  } else {
    console.log(`kernel ${r.kernel}, ${r.iterations} open+close pairs of an unmonitored file, median of ${args.repeats ?? 3}`);
    console.log(`  baseline (no monitor)  ${r.baselineNs} ns/pair`);
    for (const [b, v] of Object.entries(r.backends)) {
      if (v.status === 'ok') {
        console.log(`  ${b.padEnd(22)} ${v.ns} ns/pair  x${v.ratio}${v.progNsPerRun !== undefined ? `  (program: ${v.progNsPerRun} ns/run)` : ''}`);
        for (const [name, p] of Object.entries(v.programs ?? {})) console.log(`    ${name.padEnd(28)} ${p.runs} runs, ${p.nsPerRun} ns/run`);
      } else console.log(`  ${b.padEnd(22)} refused: ${v.reason}`);
    }
  }
}
