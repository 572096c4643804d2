// `make bench`: every benchmark of docs/performance.md in one run, printed as the
// markdown tables that file holds: the overhead table on the host and inside each QEMU
// guest of the kernel matrix, then the host's event-path and alert benchmarks (stdout and
// callback throughput, access-to-alert latency). Not a
// test: nothing asserts a time, and `make test` does not run it. Needs root.
//
//   node bench/run.ts [--quick] [--no-guests]

import { release } from 'node:os';
import { benchAlerts, benchCallbacks, benchLatency } from './alerts.ts';
import { measureEvents } from './events.ts';
import { BEFORE_REV, floodTables, measureFlood, measureUnmonitored } from './flood.ts';
import { benchGuests } from './guests.ts';
import { buildObjectsAt, MISS_PATH_BEFORE_REV, MISS_PATH_SHIM } from './before.ts';
import { BACKEND_PREFERENCE } from '../src/kernel/backends/index.ts';
import { measureOverhead } from './overhead.ts';
import { overheadTable } from './table.ts';

const quick = process.argv.includes('--quick');

const fmt = (n: number) => Math.round(n).toLocaleString('en');

console.log(`# Kive benchmarks, ${new Date().toISOString().slice(0, 10)}, kernel ${release()}\n`);

// Today's programs against those before the miss-path work, in the same run (bench/before.ts).
const before = buildObjectsAt(MISS_PATH_BEFORE_REV, 'before-miss-path', BACKEND_PREFERENCE, MISS_PATH_SHIM);
// And each backend with a full trap map beside one trap: the miss path must not grow with it.
const overhead = await measureOverhead({ iterations: quick ? 20_000 : 200_000, repeats: quick ? 3 : 5, before, traps: 65_536 });
console.log('## Overhead: open+close of an unmonitored file\n');
console.log(overheadTable(overhead).join('\n'));
if (!process.argv.includes('--no-guests')) {
  console.log('');
  const guests = await benchGuests({ quick, before });
  console.log(guests.lines.join('\n'));
  if (!guests.ok) process.exitCode = 1; // the host sections still run and print
}
console.log('\n## Event path: a monitored file opened in a tight loop\n');
console.log('| process context | drain records/s | decode events/s | live events/s | producer slowdown | dropped |');
console.log('|---|---|---|---|---|---|');
for (const context of [false, true]) {
  const r = await measureEvents({ events: quick ? 100_000 : 1_000_000, context });
  console.log(`| ${context ? 'on' : 'off'} | ${fmt(r.drainPerSec)} | ${fmt(r.decodePerSec)} | ${fmt(r.livePerSec)} | ${r.slowdown}x | ${r.dropped} |`);
}

const a = await benchAlerts(quick ? 100_000 : 500_000);
console.log('\n## Alerts written to stdout (a pipe read by another process)\n');
console.log('| alerts | bytes each | lost | pre-serialized lines/s (baseline) | alerts/s | time ratio to baseline |');
console.log('|---|---|---|---|---|---|');
console.log(`| ${fmt(a.alerts)} | ${a.lineBytes} | ${a.lost} | ${fmt(a.baselinePerSec)} | ${fmt(a.alertsPerSec)} | ${a.ratio} |`);

const cb = await benchCallbacks(quick ? 5_000 : 20_000);
console.log('\n## Alerts POSTed to a callback receiver on 127.0.0.1 (another process)\n');
console.log('| alerts | delivered | TCP connections | raw POST loop/s (baseline) | alerts/s | time ratio to baseline |');
console.log('|---|---|---|---|---|---|');
console.log(`| ${fmt(cb.alerts)} | ${fmt(cb.delivered)} | ${fmt(cb.connections)} | ${fmt(cb.baselinePerSec)} | ${fmt(cb.alertsPerSec)} | ${cb.ratio} |`);

console.log('\n## Access-to-alert latency: one open(2) every 5 ms, to the line read / the POST received\n');
console.log('| sink | alerts | p50 ms | p99 ms | max ms |');
console.log('|---|---|---|---|---|');
for (const sink of ['stdout', 'callbacks'] as const) {
  const l = await benchLatency(quick ? 500 : 2_000, sink);
  console.log(`| ${l.sink} | ${fmt(l.alerts)} | ${l.p50Ms} | ${l.p99Ms} | ${l.maxMs} |`);
}

const opens = quick ? 100_000 : 500_000;
const floods = [await measureFlood(true, opens), await measureFlood(false, opens)];
const unmonitored = await measureUnmonitored({ iterations: quick ? 20_000 : 200_000, repeats: quick ? 3 : 5, before: BEFORE_REV });
console.log('\n## Floods: one process opening a trapped file; the unmonitored path before and after\n');
console.log(floodTables(floods, unmonitored).join('\n'));
