// How fast events flow from a MONITORED file to JS, and what the live consumer costs
// the producing process. Not a test: nothing here asserts a time.
//
//   node bench/events.ts [--json] [--events N] [--backend NAME|auto] [--context on|off|both]
//
// Per setting (process context capture on/off) it reports:
//   drain      records/s read from a backlog already in the ring (reader only)
//   decode     the same with every record decoded into a KernelEvent
//   live       events/s delivered to the callback while the producer runs
//   slowdown   producer time with the consumer polling live / with the program
//              attached but nobody polling (the wake-up cost the producer pays)
//   progNs     the program's own cost per run (kernel.bpf_stats_enabled)

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isBackendName, type BackendName } from '../src/kernel/backends/index.ts';
import { decodeEvent, EVENT_CTX_SIZE, EVENT_SIZE } from '../src/kernel/event.ts';
import { FileMonitor } from '../src/kernel/monitor.ts';
import { bpfStatsOn } from './baseline.ts';
import { keyOf, openLoop, totalRuns } from './overhead.ts';

export interface EventsResult {
  kernel: string;
  backend: BackendName;
  context: boolean;
  events: number;
  recordBytes: number;
  producerOffNs: number;
  producerIdleNs: number;
  producerLiveNs: number;
  slowdown: number;
  drainPerSec: number;
  decodePerSec: number;
  livePerSec: number;
  dropped: string;
  progNsPerRun: number | null;
}

const MAX_RING_BYTES = 128 * 1024 * 1024;

function nextPow2(n: number): number {
  return 2 ** Math.ceil(Math.log2(n));
}

export async function measureEvents(opts: { backend?: BackendName | 'auto'; events?: number; context?: boolean } = {}): Promise<EventsResult> {
  const context = opts.context ?? false;
  const recordBytes = context ? EVENT_CTX_SIZE + 8 : EVENT_SIZE + 8; // ring bytes per record, header included
  // The backlog phase needs the whole run in the ring; the ring is locked kernel memory,
  // so cap it and shorten the run instead (the result reports the count used).
  // Below 3/4 of the ring, so that the kernel never sheds the context tail (lib/flood.h).
  const events = Math.min(opts.events ?? (context ? 50_000 : 200_000), Math.floor((MAX_RING_BYTES * 0.7) / recordBytes));
  const dir = mkdtempSync(join(tmpdir(), 'kive-events-'));
  const file = join(dir, 'trapped');
  writeFileSync(file, 'x');
  // Room for the whole backlog, so the drain phase measures the reader, not drops.
  const ring = Math.min(nextPow2((events * recordBytes) / 0.7), MAX_RING_BYTES);
  try {
    const producerOffNs = await openLoop(file, events);
    // Aggregation off: this measures the path of every event (bench/flood.ts measures it on).
    const m = await FileMonitor.open({ backend: opts.backend ?? 'auto', ringBufferBytes: ring, captureContext: context, aggregateWindowMs: 0 });
    try {
      m.setTrap(keyOf(file), 1);
      // 1. Attached, nobody polling: the producer pays only the program.
      const producerIdleNs = await openLoop(file, events);
      // 2. Drain that backlog, raw then (second backlog) decoded.
      let n = 0;
      let t = process.hrtime.bigint();
      while (m.ring.pending() > 0) n += m.ring.drain(() => {}, Number.MAX_SAFE_INTEGER);
      const drainPerSec = n / (Number(process.hrtime.bigint() - t) / 1e9);
      await openLoop(file, events);
      n = 0;
      let sink = 0;
      t = process.hrtime.bigint();
      while (m.ring.pending() > 0) {
        n += m.ring.drain((dv, u8, off, len) => {
          sink += decodeEvent(dv, u8, off, len).pid;
        }, Number.MAX_SAFE_INTEGER);
      }
      const decodePerSec = n / (Number(process.hrtime.bigint() - t) / 1e9);
      if (sink === -1) console.log(); // keep the decode from being optimised away
      // 3. Live: the consumer runs on this event loop while the producer runs.
      let delivered = 0;
      m.start((batch) => {
        delivered += batch.length;
      });
      const before = m.counters().emitted;
      t = process.hrtime.bigint();
      const producerLiveNs = await openLoop(file, events);
      const want = Number(m.counters().emitted - before);
      while (delivered < want) await new Promise((r) => setTimeout(r, 1));
      const livePerSec = delivered / (Number(process.hrtime.bigint() - t) / 1e9);
      // 4. The program's own cost, in a pass of its own: bpf_stats adds two clock reads
      // per run, which would have inflated the timings above.
      const restoreStats = bpfStatsOn(); // an fd the kernel counts: safe beside another benchmark
      let p0: { t: bigint; n: bigint };
      let p1: { t: bigint; n: bigint };
      try {
        p0 = totalRuns(m.programs);
        await openLoop(file, Math.min(events, 50_000));
        p1 = totalRuns(m.programs);
      } finally {
        restoreStats();
      }
      return {
        kernel: release(),
        backend: m.backend,
        context,
        events,
        recordBytes,
        producerOffNs: Math.round(producerOffNs),
        producerIdleNs: Math.round(producerIdleNs),
        producerLiveNs: Math.round(producerLiveNs),
        slowdown: Math.round((producerLiveNs / producerIdleNs) * 1000) / 1000,
        drainPerSec: Math.round(drainPerSec),
        decodePerSec: Math.round(decodePerSec),
        livePerSec: Math.round(livePerSec),
        dropped: String(m.counters().dropped),
        progNsPerRun: p1.n > p0.n ? Number((p1.t - p0.t) / (p1.n - p0.n)) : null,
      };
    } finally {
      await m.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  let json = false;
  let events: number | undefined;
  let backend: BackendName | 'auto' = 'auto';
  let contexts = [false, true];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') json = true;
    else if (a === '--events') events = Number(argv[++i]);
    else if (a === '--backend') {
      const v = argv[++i] ?? '';
      if (v !== 'auto' && !isBackendName(v)) throw new Error(`--backend ${v}: expected fentry, kprobe, tracepoint or auto`);
      backend = v;
    } else if (a === '--context') {
      const v = argv[++i];
      contexts = v === 'on' ? [true] : v === 'off' ? [false] : [false, true];
    } else throw new Error(`unknown argument ${a}`);
  }
  const results: EventsResult[] = [];
  for (const context of contexts) results.push(await measureEvents({ backend, events, context }));
  if (json) process.stdout.write(`${JSON.stringify(results)}\n`);
  else {
    for (const r of results) {
      console.log(`kernel ${r.kernel}, backend ${r.backend}, context ${r.context ? "on" : "off"} (${r.recordBytes} ring bytes per record), ${r.events} events`);
      console.log(`  drain  ${r.drainPerSec.toLocaleString('en')} records/s   decode ${r.decodePerSec.toLocaleString('en')} events/s   live ${r.livePerSec.toLocaleString('en')} events/s`);
      console.log(
        `  producer ns/open+close: off ${r.producerOffNs}, attached idle ${r.producerIdleNs}, consumer live ${r.producerLiveNs} -> slowdown x${r.slowdown}`,
      );
      console.log(`  program ${r.progNsPerRun ?? '?'} ns/run, dropped ${r.dropped}`);
    }
  }
}
