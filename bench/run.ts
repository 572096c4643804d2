// `make bench`: every benchmark of docs/performance.md in one run, printed as the
// markdown tables that file holds. Not a test: nothing asserts a time. Needs root.
//
//   node bench/run.ts [--quick]

import { release } from 'node:os';
import { benchAlerts } from './alerts.ts';
import { measureEvents } from './events.ts';
import { measureOverhead } from './overhead.ts';

const quick = process.argv.includes('--quick');

const fmt = (n: number) => Math.round(n).toLocaleString('en');

console.log(`# Kive benchmarks, ${new Date().toISOString().slice(0, 10)}, kernel ${release()}\n`);

const overhead = await measureOverhead({ iterations: quick ? 20_000 : 200_000 });
console.log(`## Overhead: open+close of an unmonitored file (${fmt(overhead.iterations)} iterations)\n`);
console.log('| backend | ns per open+close | ratio to no monitor | program ns/run |');
console.log('|---|---|---|---|');
console.log(`| (none) | ${fmt(overhead.baselineNs)} | 1.00 | |`);
for (const [name, r] of Object.entries(overhead.backends)) {
  if (r?.status === 'ok') console.log(`| ${name} | ${fmt(r.ns ?? 0)} | ${r.ratio?.toFixed(2)} | ${r.progNsPerRun ?? ''} |`);
  else console.log(`| ${name} | refused: ${r?.reason ?? ''} | | |`);
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
