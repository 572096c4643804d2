// What a loaded monitor costs processes that never touch a trap: open+close of an
// UNmonitored file in a tight C loop (build/bench/openloop) with no hook, with each Kive
// backend, and with the baseline program (bench/baseline.bpf.c, the yardstick of
// docs/performance.md), all measured in the same run. Not a test: nothing here asserts
// a time.
//
//   node bench/overhead.ts [--json] [--iterations N] [--repeats R] [--backend NAME|all] [--before DIR] [--traps N]
//
// --traps N: also each backend with N traps armed instead of 1 (the miss path must not
// grow with the map: docs/performance.md section 7).
//
// --before DIR: also each backend's objects from DIR (bench/before.ts buildObjectsAt:
// the programs of an older commit), loaded by today's loader, in the same interleaving.
//
// --json prints the contract the QEMU kernel matrix reads (OverheadResult):
//   { "kernel", "iterations", "repeats", "noHookNs",
//     "backends": { NAME: SETTING }, "baseline": SETTING,
//     "beforeRev"?, "before"?: { NAME: SETTING } }
//   SETTING = { "status": "ok"|"refused", "ns", "ratio", "reason"?, "progNsPerRun"?, "runsPerOpen"? }
// (ns = nanoseconds per open+close pair, median of the repeats).

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isKiveError } from '../src/errors.ts';
import { BACKEND_PREFERENCE, isBackendName, type BackendName } from '../src/kernel/backends/index.ts';
import { FileMonitor } from '../src/kernel/monitor.ts';
import { programStats } from '../src/kernel/stats.ts';
import { BaselineProgram, BaselineRefused, bpfStatsOn } from './baseline.ts';
import { revOf } from './before.ts';
import { overheadTable } from './table.ts';
import { resolveInRoot } from '../src/runtime/resolve.ts';
import type { FileKey } from '../src/kernel/monitor.ts';
import { FILTER, filterBit } from '../src/kernel/contract.ts';

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

/** A file's kernel identity, found the way Kive finds it (stat()'s device is not the
 * kernel's on btrfs: src/runtime/superblock.ts). */
export function keyOf(path: string): FileKey {
  const { ino, dev } = resolveInRoot({ root: '/', path });
  return { ino, dev };
}

/** Run time and run count summed over some programs (while bpf stats are on). */
export function totalRuns(programs: ReadonlyArray<{ name: string; fd: number }>): { t: bigint; n: bigint } {
  let t = 0n;
  let n = 0n;
  for (const p of programs) {
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

export interface SettingResult {
  status: 'ok' | 'refused';
  ns?: number; // per open+close pair, median of the repeats
  ratio?: number; // against no hook, same run
  reason?: string;
  progNsPerRun?: number; // the kernel's own accounting (bpf_stats), per program run
  runsPerOpen?: number; // program runs per open+close pair
  /** Per program: runs during the stats pass and ns per run (a program on every syscall,
   * like the tracepoint backend's 32-bit route, runs more often and more cheaply). */
  programs?: Record<string, { runs: number; nsPerRun: number }>;
}

export interface OverheadResult {
  kernel: string;
  iterations: number;
  repeats: number;
  noHookNs: number;
  backends: Partial<Record<BackendName, SettingResult>>;
  /** The yardstick: one kprobe on inode_permission, one hash lookup (bench/baseline.bpf.c). */
  baseline: SettingResult;
  /** With --before: the revision of the old objects, and each backend loaded from them. */
  beforeRev?: string;
  before?: Partial<Record<BackendName, SettingResult>>;
  /** With --traps N: each backend again with N traps armed (N - 1 of them on inodes of a
   * device no file has), to show the miss path does not grow with the trap map. */
  fullMap?: FullMapResult;
}

export interface FullMapResult {
  traps: number;
  /** Share of the pre-filter's bits set by those traps (contract.ts FILTER). */
  bitsSetShare: number;
  /** Whether the unmonitored file's own bit was among them (then its miss path also does
   * the hash lookup: the worst case for that file). */
  fileBitSet: boolean;
  backends: Partial<Record<BackendName, SettingResult>>;
}

/** One hooked setting: something loaded and attached, its programs, and how to unload it. */
interface Hook {
  programs: ReadonlyArray<{ name: string; fd: number }>;
  close(): Promise<void> | void;
}
type Setting = { name: string; open(trapped: FileKey): Promise<Hook> };

/** Setting name of a backend loaded from the --before objects. */
const beforeName = (b: BackendName) => `${b} (before)`;

/** Setting name of a backend with the --traps map. */
const fullName = (b: BackendName) => `${b} (full map)`;

/** `n` trap keys no file has: random inode numbers on a device number no file system
 * uses (major 4095, the top of the kernel's 12 bits), so none ever matches. */
export function decoyKeys(n: number, seed = 1): FileKey[] {
  let x = seed >>> 0 || 1;
  const next = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0), x);
  const keys: FileKey[] = [];
  for (let i = 0; i < n; i++) keys.push({ ino: (BigInt(next()) << 12n) | BigInt(next() & 0xfff), dev: 4095 * 2 ** 20 + (i & 0xff) });
  return keys;
}

function kiveSetting(b: BackendName, objectDir?: string, decoys: readonly FileKey[] = []): Setting {
  return {
    name: objectDir !== undefined ? beforeName(b) : decoys.length > 0 ? fullName(b) : b,
    async open(trapped) {
      const m = await FileMonitor.open({ backend: b, ringBufferBytes: 1 << 20, ...(objectDir !== undefined ? { objectDir } : {}) });
      m.setTrap(trapped, 1); // a non-empty map, like production
      decoys.forEach((k, i) => m.setTrap(k, 2 + i));
      m.start(() => {});
      return { programs: m.programs, close: () => m.close() };
    },
  };
}

const baselineSetting: Setting = {
  name: 'baseline',
  async open(trapped) {
    const p = BaselineProgram.open();
    p.setTrap(trapped);
    return { programs: [{ name: p.name, fd: p.fd }], close: () => p.close() };
  },
};

/**
 * No hook, each Kive backend, and the baseline program, interleaved per repeat so drift
 * (other load, thermal) spreads over all of them instead of biasing one. Each hooked
 * setting is loaded fresh per repeat. The cost per program run and the runs per open
 * come from a separate pass with bpf stats on: they add two clock reads to every run,
 * which would inflate the timed loops.
 * progress: called with a line after each measurement (the matrix's watchdog reads a
 * silent guest as hung, and this is its longest step).
 */
export async function measureOverhead(
  opts: { iterations?: number; repeats?: number; backends?: BackendName[]; before?: string; traps?: number; progress?: (line: string) => void } = {},
): Promise<OverheadResult> {
  const iterations = opts.iterations ?? 100_000;
  const repeats = opts.repeats ?? 3;
  const statsPairs = Math.min(iterations, 50_000);
  const dir = mkdtempSync(join(tmpdir(), 'kive-bench-'));
  const file = join(dir, 'unmonitored');
  const trappedFile = join(dir, 'trapped');
  writeFileSync(file, 'x');
  writeFileSync(trappedFile, 'x');
  const trapped = keyOf(trappedFile);
  const refused = new Map<string, string>();
  const settings: Setting[] = [];
  try {
    const backends = opts.backends ?? BACKEND_PREFERENCE;
    const before = opts.before === undefined ? [] : backends.map((b) => kiveSetting(b, opts.before));
    const decoys = (opts.traps ?? 1) > 1 ? decoyKeys(opts.traps! - 1) : [];
    const full = decoys.length === 0 ? [] : backends.map((b) => kiveSetting(b, undefined, decoys));
    for (const s of [...backends.map((b) => kiveSetting(b)), ...before, ...full, baselineSetting]) {
      try {
        await (await s.open(trapped)).close(); // probe only; reopened per repeat below
        settings.push(s);
      } catch (err) {
        if (!isKiveError(err) && !(err instanceof BaselineRefused)) throw err;
        refused.set(s.name, err.message);
      }
    }
    await openLoop(file, Math.min(iterations, 20_000)); // warm the dentry cache and the binary
    const times = new Map<string, number[]>([['none', []], ...settings.map((s) => [s.name, []] as [string, number[]])]);
    const perRun = new Map<string, { ns: number; runsPerOpen: number; programs: NonNullable<SettingResult['programs']> }>();
    const note = (name: string, r: number, ns: number) => opts.progress?.(`overhead: repeat ${r + 1}/${repeats}: ${name} ${Math.round(ns)} ns/pair`);
    for (let r = 0; r < repeats; r++) {
      const none = await openLoop(file, iterations);
      times.get('none')!.push(none);
      note('no hook', r, none);
      // Every other repeat in reverse order, so no setting always runs right after the
      // same one (a full trap map always measured after one trap came out 0.02-0.05x
      // higher in 3 of 3 runs on the host, with the same per-run cost).
      for (const s of r % 2 === 0 ? settings : [...settings].reverse()) {
        const hook = await s.open(trapped);
        try {
          const ns = await openLoop(file, iterations);
          times.get(s.name)!.push(ns);
          note(s.name, r, ns);
          if (r === repeats - 1) {
            const off = bpfStatsOn();
            try {
              const each0 = hook.programs.map((p) => programStats(p.name, p.fd));
              await openLoop(file, statsPairs);
              const each1 = hook.programs.map((p) => programStats(p.name, p.fd));
              const programs: NonNullable<SettingResult['programs']> = {};
              let t = 0n;
              let n = 0n;
              each1.forEach((e, i) => {
                const dn = e.runCount - each0[i]!.runCount;
                const dt = e.runTimeNs - each0[i]!.runTimeNs;
                t += dt;
                n += dn;
                if (dn > 0n) programs[e.name] = { runs: Number(dn), nsPerRun: Number(dt / dn) };
              });
              if (n > 0n) perRun.set(s.name, { ns: Number(t / n), runsPerOpen: Number(n) / statsPairs, programs });
            } finally {
              off();
            }
          }
        } finally {
          await hook.close();
        }
      }
    }
    const noHook = median(times.get('none')!);
    const resultOf = (name: string): SettingResult => {
      const why = refused.get(name);
      if (why !== undefined) return { status: 'refused', reason: why };
      const ns = median(times.get(name)!);
      const p = perRun.get(name);
      return {
        status: 'ok',
        ns: Math.round(ns),
        ratio: Math.round((ns / noHook) * 1000) / 1000,
        ...(p !== undefined ? { progNsPerRun: p.ns, runsPerOpen: Math.round(p.runsPerOpen * 100) / 100, programs: p.programs } : {}),
      };
    };
    const results: OverheadResult['backends'] = {};
    for (const b of backends) results[b] = resultOf(b);
    const r: OverheadResult = { kernel: release(), iterations, repeats, noHookNs: Math.round(noHook), backends: results, baseline: resultOf('baseline') };
    if (opts.before !== undefined) {
      r.beforeRev = revOf(opts.before);
      r.before = {};
      for (const b of backends) r.before[b] = resultOf(beforeName(b));
    }
    if (decoys.length > 0) {
      const bits = new Set([trapped, ...decoys].map((k) => filterBit(k.ino)));
      r.fullMap = {
        traps: decoys.length + 1,
        bitsSetShare: Math.round((bits.size / 2 ** FILTER.LOG2) * 10_000) / 10_000,
        fileBitSet: bits.has(filterBit(keyOf(file).ino)),
        backends: {},
      };
      for (const b of backends) r.fullMap.backends[b] = resultOf(fullName(b));
    }
    return r;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function parseArgs(argv: string[]): { json: boolean; iterations?: number; repeats?: number; backends?: BackendName[]; before?: string; traps?: number } {
  const out: ReturnType<typeof parseArgs> = { json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') out.json = true;
    else if (a === '--iterations') out.iterations = Number(argv[++i]);
    else if (a === '--repeats') out.repeats = Number(argv[++i]);
    else if (a === '--before') out.before = argv[++i];
    else if (a === '--traps') {
      out.traps = Number(argv[++i]);
      if (!Number.isInteger(out.traps) || out.traps < 1 || out.traps > 65_536) throw new Error('--traps: expected 1..65536');
    } else if (a === '--backend') {
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
  const r = await measureOverhead({ ...args, progress: (line) => process.stderr.write(`${line}\n`) });
  if (args.json) process.stdout.write(`${JSON.stringify(r)}\n`);
  else console.log(overheadTable(r).join('\n'));
}
