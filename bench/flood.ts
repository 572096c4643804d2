// Flood resistance, measured (docs/performance.md "Floods"). Not a test: nothing here
// asserts a time. Needs root, `make build`, and git history (for the program before).
//
//   node bench/flood.ts [--json] [--opens N] [--iterations N] [--repeats R] [--before REV]
//
// 1. Under a flood: one process (build/test/flooder) opens a trapped file N times while
//    the full alert path runs (decode, process details, serialize, a discarding stdout),
//    with aggregation on (the default window) and off: events/s and alerts/s reaching
//    userspace, the producer's opens/s, drops.
// 2. The unmonitored path: open+close of a file no trap watches, with no hook, with the
//    tracepoint program as it was before flood resistance (compiled from git REV,
//    default c35c1c2) and with today's (aggregation on), interleaved per repeat in the
//    same run; plus each program's own ns per run from the kernel's bpf stats.

import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AlertPipeline } from '../src/alerts/pipeline.ts';
import { ProcessCache } from '../src/alerts/process.ts';
import { encodeTrapKey, encodeTrapValue, TRAP_KEY_SIZE, TRAP_VALUE_SIZE, type FileKey } from '../src/kernel/contract.ts';
import { bpf, errnoName, lastErrno, type Ptr } from '../src/kernel/libbpf.ts';
import { FileMonitor } from '../src/kernel/monitor.ts';
import { bpfStatsOn } from './baseline.ts';
import { buildObjectsAt } from './before.ts';
import { keyOf, openLoop, totalRuns } from './overhead.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const FLOODER = join(repo, 'build', 'test', 'flooder');
/** The last commit before flood resistance: its tracepoint program is "before". */
export const BEFORE_REV = 'c35c1c2';

export interface FloodRow {
  aggregation: 'on' | 'off';
  opens: number;
  seconds: number;
  opensPerSec: number;
  eventsPerSec: number;
  alertsPerSec: number;
  emitted: string;
  dropped: string;
  aggregated: string;
}

/** One flood with the whole alert path consuming; stdout is a sink that discards. */
export async function measureFlood(aggregation: boolean, opens: number): Promise<FloodRow> {
  const dir = mkdtempSync(join(tmpdir(), 'kive-flood-bench-'));
  const file = join(dir, 'trapped');
  writeFileSync(file, 'x');
  const m = await FileMonitor.open({ backend: 'tracepoint', ...(aggregation ? {} : { aggregateWindowMs: 0 }) });
  try {
    const key = keyOf(file);
    m.setTrap(key, 1);
    const trap = { policyName: 'bench', path: file, customMetadata: {}, podName: '', podNamespace: '', containerId: '', containerName: '' };
    let events = 0;
    const pipeline = new AlertPipeline({
      env: { kernelId: 'bench', nodeName: 'bench' },
      trapsFor: (e) => (e.ino === key.ino && e.dev === key.dev ? [trap] : []),
      processes: new ProcessCache(),
      out: { emit() {}, flush() {} },
      wallClockMs: (ts) => m.wallClockMs(ts),
    });
    m.start((batch) => {
      events += batch.length;
      pipeline.handle(batch);
    });
    const t0 = process.hrtime.bigint();
    // Async, so that the consumer runs on this event loop while the flood goes on.
    await new Promise<void>((resolve, reject) => execFile(FLOODER, ['open', file, String(opens), '0'], (err) => (err ? reject(err) : resolve())));
    await new Promise((r) => setTimeout(r, 50));
    m.drainNow();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = m.counters();
    return {
      aggregation: aggregation ? 'on' : 'off',
      opens,
      seconds: Math.round(seconds * 1000) / 1000,
      opensPerSec: Math.round(opens / seconds),
      eventsPerSec: Math.round(events / seconds),
      alertsPerSec: Math.round(pipeline.alerts / seconds),
      emitted: String(c.emitted),
      dropped: String(c.dropped),
      aggregated: String(c.aggregated),
    };
  } finally {
    await m.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The tracepoint object as it was at `rev`, compiled against this build's vmlinux.h. */
function buildBefore(rev: string): string {
  return join(buildObjectsAt(rev, 'before', ['tracepoint']), 'kive_tracepoint.bpf.o');
}

/** The old program loaded and attached with plain libbpf calls (today's loader expects today's maps). */
function openBefore(obj: string, trapped: FileKey): { programs: Array<{ name: string; fd: number }>; close(): void } {
  const o: Ptr | null = bpf.objectOpenFile(obj, null);
  if (o === null) throw new Error(`open ${obj}: ${errnoName(lastErrno())}`);
  const links: Ptr[] = [];
  const close = () => {
    for (const l of links) bpf.linkDestroy(l);
    bpf.objectClose(o);
  };
  try {
    bpf.mapSetMaxEntries(bpf.findMap(o, 'kive_events')!, 1 << 20);
    const rc = bpf.objectLoad(o);
    if (rc !== 0) throw new Error(`load ${obj}: ${errnoName(rc)}`);
    const programs: Array<{ name: string; fd: number }> = [];
    for (let p = bpf.nextProgram(o, null); p !== null; p = bpf.nextProgram(o, p)) {
      const link = bpf.programAttach(p);
      if (link === null) continue; // a syscall this kernel lacks (open/creat on arm64)
      links.push(link);
      programs.push({ name: bpf.programName(p), fd: bpf.programFd(p) });
    }
    const fd = bpf.mapFd(bpf.findMap(o, 'kive_traps')!);
    const rcu = bpf.mapUpdate(fd, encodeTrapKey(trapped, Buffer.alloc(TRAP_KEY_SIZE)), encodeTrapValue(1, Buffer.alloc(TRAP_VALUE_SIZE)), 0);
    if (rcu !== 0) throw new Error(`kive_traps update: ${errnoName(rcu)}`);
    return { programs, close };
  } catch (err) {
    close();
    throw err;
  }
}

export interface UnmonitoredRow {
  setting: string;
  ns: number;
  ratio: number;
  progNsPerRun: number | null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function measureUnmonitored(opts: { iterations: number; repeats: number; before: string }): Promise<UnmonitoredRow[]> {
  const obj = buildBefore(opts.before);
  const dir = mkdtempSync(join(tmpdir(), 'kive-flood-bench-'));
  const file = join(dir, 'unmonitored');
  const trappedFile = join(dir, 'trapped');
  writeFileSync(file, 'x');
  writeFileSync(trappedFile, 'x');
  const trapped = keyOf(trappedFile);
  const settings: Array<{ name: string; open(): Promise<{ programs: Array<{ name: string; fd: number }>; close(): unknown }> }> = [
    { name: `before (${opts.before})`, open: async () => openBefore(obj, trapped) },
    {
      name: 'today, aggregation on',
      open: async () => {
        const m = await FileMonitor.open({ backend: 'tracepoint', ringBufferBytes: 1 << 20 });
        m.setTrap(trapped, 1);
        m.start(() => {});
        return { programs: [...m.programs], close: () => m.close() };
      },
    },
  ];
  try {
    await openLoop(file, 20_000); // warm up
    const times = new Map<string, number[]>([['none', []], ...settings.map((s) => [s.name, []] as [string, number[]])]);
    const perRun = new Map<string, number>();
    for (let r = 0; r < opts.repeats; r++) {
      times.get('none')!.push(await openLoop(file, opts.iterations));
      for (const s of settings) {
        const hook = await s.open();
        try {
          times.get(s.name)!.push(await openLoop(file, opts.iterations));
          if (r === opts.repeats - 1) {
            const off = bpfStatsOn();
            try {
              const p0 = totalRuns(hook.programs);
              await openLoop(file, Math.min(opts.iterations, 50_000));
              const p1 = totalRuns(hook.programs);
              if (p1.n > p0.n) perRun.set(s.name, Number((p1.t - p0.t) / (p1.n - p0.n)));
            } finally {
              off();
            }
          }
        } finally {
          await hook.close();
        }
      }
    }
    const none = median(times.get('none')!);
    return [...times].map(([setting, xs]) => ({
      setting,
      ns: Math.round(median(xs)),
      ratio: Math.round((median(xs) / none) * 1000) / 1000,
      progNsPerRun: perRun.get(setting) ?? null,
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The markdown tables of docs/performance.md "Floods". */
export function floodTables(floods: FloodRow[], unmonitored: UnmonitoredRow[]): string[] {
  const fmt = (n: number) => n.toLocaleString('en');
  return [
    '| aggregation | opens | producer opens/s | events/s | alerts/s | emitted | dropped | aggregated |',
    '|---|---|---|---|---|---|---|---|',
    ...floods.map((f) => `| ${f.aggregation} | ${fmt(f.opens)} | ${fmt(f.opensPerSec)} | ${fmt(f.eventsPerSec)} | ${fmt(f.alertsPerSec)} | ${f.emitted} | ${f.dropped} | ${f.aggregated} |`),
    '',
    '| unmonitored open+close | ns | ratio to no hook | program ns/run |',
    '|---|---|---|---|',
    ...unmonitored.map((u) => `| ${u.setting} | ${fmt(u.ns)} | ${u.ratio.toFixed(3)} | ${u.progNsPerRun ?? ''} |`),
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const arg = (name: string, dflt: string) => {
    const i = argv.indexOf(name);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
  };
  const opens = Number(arg('--opens', '500000'));
  const floods = [await measureFlood(true, opens), await measureFlood(false, opens)];
  const unmonitored = await measureUnmonitored({
    iterations: Number(arg('--iterations', '200000')),
    repeats: Number(arg('--repeats', '5')),
    before: arg('--before', BEFORE_REV),
  });
  if (argv.includes('--json')) console.log(JSON.stringify({ kernel: release(), floods, unmonitored }, null, 2));
  else console.log([`# Floods, kernel ${release()}, tracepoint backend`, '', ...floodTables(floods, unmonitored)].join('\n'));
}
