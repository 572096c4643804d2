// Alerts per second written to stdout and POSTed to a callback receiver, with no loss,
// and the access-to-alert latency of both. Not a test: nothing asserts a time.
//
//   node bench/alerts.ts [--json] [--alerts N] [--batch N] [--callback-alerts N] [--accesses N]
//
// --accesses needs root (it loads the eBPF program); 0 skips the latency part.
//
// Kernel events (as the decoder hands them over, in batches) go through the same
// AlertPipeline `kive run` uses: trap lookup, process details (a live process, so the
// per-process cache is exercised), alert building, NDJSON. The lines go to a pipe read
// by a separate process that counts them, so "no loss" is checked, not assumed. The pipe
// is a FIFO so that the sink writes to a descriptor, as it does to stdout.
// Baseline, measured in the same run: writing lines of the same size that were
// serialized beforehand, i.e. the pipe's own ceiling. The ratio says what building and
// serializing alerts costs on top of moving the bytes.
//
// Callback throughput: the same pipeline hands alerts to the CallbackSink, which POSTs
// each to a receiver in another process on 127.0.0.1 (204 answers); the receiver counts
// the TCP connections it accepted (keep-alive: a few, not one per alert). Baseline in the
// same run: a raw loop POSTing a pre-serialized alert with the sink's transport
// (HttpTransport, keep-alive) and the sink's 4 requests in flight: the ceiling the sink
// can reach on this machine.
//
// Latency (root): a real FileMonitor (tracepoint backend, aggregation off, so that each
// access is one alert) watches a file; another process opens it every 5 ms and notes
// CLOCK_MONOTONIC just before each open(2); the reader of the stdout FIFO, or the
// callback receiver, notes CLOCK_MONOTONIC as each alert arrives (both processes read
// the same clock). Latency = arrival - open, paired in order (counts must match). That
// is the whole path: the kernel's hook, the ring buffer's wake-up, decoding, process
// details, serialization and the sink, plus the reader's own wake-up.

import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AlertPipeline, type PipelineEvent } from '../src/alerts/pipeline.ts';
import { ProcessCache } from '../src/alerts/process.ts';
import { serializeAlert } from '../src/alerts/serialize.ts';
import { StdoutSink } from '../src/alerts/stdout.ts';
import type { TrapContext } from '../src/alerts/build.ts';
import { CallbackSink } from '../src/alerts/callback.ts';
import { startAlerting } from '../src/alerts/core.ts';
import { addAlertId } from '../src/alerts/alert-id.ts';
import { HttpTransport } from '../src/alerts/http-post.ts';
import { stdoutSinkFactory } from '../src/alerts/stdout.ts';
import { callbackSinkFactory } from '../src/alerts/callback.ts';
import { FileMonitor } from '../src/kernel/monitor.ts';
import { keyOf } from './overhead.ts';

export interface AlertsResult {
  kernel: string;
  alerts: number;
  batch: number;
  lineBytes: number;
  baselinePerSec: number;
  alertsPerSec: number;
  ratio: number;
  lost: number;
}

const trap: TrapContext = {
  policyName: 'kive-sample-policy',
  path: '/secret.txt',
  customMetadata: { severity: 'critical' },
  podName: 'nginx-pod',
  podNamespace: 'default',
  containerId: 'containerd://0c37512624823392d71e99a12011148db30ba7ea2a74fc7ff8bd5f85bc7b499c',
  containerName: 'nginx',
};

/** A reader process that counts newline-terminated lines on a FIFO; `fd` is its write end. */
function startCounter() {
  const dir = mkdtempSync(join(tmpdir(), 'kive-bench-'));
  const fifo = join(dir, 'alerts');
  execFileSync('mkfifo', [fifo]);
  // Opening the read end first (non-blocking) lets the write end open without waiting.
  const readEnd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const fd = openSync(fifo, constants.O_WRONLY);
  const code =
    "let n=0;process.stdin.on('data',b=>{for(let i=0;i<b.length;i++)if(b[i]===10)n++});process.stdin.on('end',()=>process.stdout.write(String(n)))";
  const child = spawn(process.execPath, ['-e', code], { stdio: [readEnd, 'pipe', 'inherit'] });
  closeSync(readEnd);
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b));
  return {
    fd,
    async count(): Promise<number> {
      closeSync(fd);
      await once(child, 'exit');
      rmSync(dir, { recursive: true, force: true });
      return Number(out);
    },
  };
}

/**
 * Writes in the event loop's rhythm, as the ring buffer's batches arrive in `kive run`:
 * while the reader lags, the loop turns after each batch so the sink can write; past
 * 4 MiB buffered the producer waits for the reader.
 */
async function pump(batches: number, step: () => void, stdout: StdoutSink): Promise<void> {
  for (let i = 0; i < batches; i++) {
    step();
    if (stdout.bufferedBytes > 4 * 1024 * 1024) await stdout.drained();
    else if (stdout.bufferedBytes > 0) await new Promise((r) => setImmediate(r));
  }
  await stdout.drained();
}

export async function benchAlerts(alerts = 500_000, batch = 256): Promise<AlertsResult> {
  const comm = readFileSync(`/proc/${process.pid}/comm`, 'utf8').trim();
  const events: PipelineEvent[] = Array.from({ length: batch }, (_, i) => ({
    tsNs: 1_000_000n + BigInt(i),
    ino: 16256084n,
    dev: 3,
    mask: 36,
    op: 'open',
    pid: process.pid,
    tgid: process.pid,
    uid: 0,
    gid: 0,
    comm,
  }));
  const batches = Math.ceil(alerts / batch);
  const total = batches * batch;

  // The pipeline, writing to a counting reader.
  const sink = startCounter();
  const stdout = new StdoutSink(sink.fd, { maxBufferedBytes: Number.MAX_SAFE_INTEGER });
  const pipeline = new AlertPipeline({
    env: { kernelId: '2c147a95-23e5-4f99-a2de-67d5e9fdb502', nodeName: 'kive-worker' },
    trapsFor: () => [trap],
    processes: new ProcessCache(),
    out: { emit: (line) => stdout.pushLine(line), flush: () => stdout.flush() },
    wallClockMs: (ts) => Number(ts / 1_000_000n),
  });
  const t0 = performance.now();
  await pump(batches, () => pipeline.handle(events), stdout);
  await stdout.close(0);
  const counted = await sink.count();
  const pipelineSec = (performance.now() - t0) / 1000;

  // Baseline: the same number of lines of the same size, serialized beforehand.
  const sample = serializeAlert(trap, events[0]!, new ProcessCache().lookup(events[0]!), { kernelId: '2c147a95-23e5-4f99-a2de-67d5e9fdb502', nodeName: 'kive-worker' }, Date.now());
  const chunk = (sample + '\n').repeat(batch);
  const base = startCounter();
  const t1 = performance.now();
  const bytes = Buffer.from(chunk);
  for (let i = 0; i < batches; i++) {
    // A blocking write: the pipe's own pace.
    for (let off = 0; off < bytes.length; ) off += writeSync(base.fd, bytes, off);
  }
  const baseCounted = await base.count();
  const baseSec = (performance.now() - t1) / 1000;
  if (baseCounted !== total) throw new Error(`baseline lost lines: ${baseCounted} of ${total}`);

  return {
    kernel: release(),
    alerts: total,
    batch,
    lineBytes: sample.length + 1,
    baselinePerSec: Math.round(total / baseSec),
    alertsPerSec: Math.round(counted / pipelineSec),
    ratio: Number((baseSec === 0 ? 0 : pipelineSec / baseSec).toFixed(2)),
    lost: total - counted,
  };
}

const ENV = { kernelId: '2c147a95-23e5-4f99-a2de-67d5e9fdb502', nodeName: 'kive-worker' };

/** Node in another process, running `code`; its stdout is collected. */
function nodeChild(code: string, stdin: 'pipe' | number = 'pipe') {
  const child = spawn(process.execPath, ['-e', code], { stdio: [stdin, 'pipe', 'inherit'] });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b));
  // 'close': the process has exited and its stdout has been read to the end.
  const closed = once(child, 'close');
  return { child, output: async () => (await closed, out) };
}

/**
 * An HTTP receiver in another process on 127.0.0.1: answers 204 to each POST once its
 * body is in and notes CLOCK_MONOTONIC then. `done()` closes it and returns the times
 * and the number of TCP connections it accepted.
 */
async function startReceiver() {
  const code = `
const http = require('node:http');
const times = [];
let connections = 0;
const srv = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => { times.push(process.hrtime.bigint().toString()); res.writeHead(204).end(); });
});
srv.on('connection', () => connections++);
srv.listen(0, '127.0.0.1', () => process.stdout.write('port ' + srv.address().port + '\\n'));
process.stdin.on('end', () => { srv.close(); process.stdout.write(JSON.stringify({ times, connections }), () => process.exit(0)); });
process.stdin.resume();`;
  const r = nodeChild(code);
  const port = await new Promise<number>((resolve) => {
    let buf = '';
    r.child.stdout!.on('data', function onData(b: Buffer) {
      buf += b;
      const m = /port (\d+)\n/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
  });
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    async done(): Promise<{ times: bigint[]; connections: number }> {
      r.child.stdin!.end();
      const out = await r.output();
      const got = JSON.parse(out.slice(out.indexOf('\n') + 1)) as { times: string[]; connections: number };
      return { times: got.times.map(BigInt), connections: got.connections };
    },
  };
}

export interface CallbackResult {
  alerts: number;
  delivered: number;
  /** TCP connections the receiver accepted from the sink. */
  connections: number;
  baselinePerSec: number;
  alertsPerSec: number;
  ratio: number;
}

/** Alerts/s POSTed through the CallbackSink to a loopback receiver, and the raw POST loop's ceiling. */
export async function benchCallbacks(alerts = 20_000, batch = 256): Promise<CallbackResult> {
  const comm = readFileSync(`/proc/${process.pid}/comm`, 'utf8').trim();
  const events: PipelineEvent[] = Array.from({ length: batch }, (_, i) => ({ tsNs: process.hrtime.bigint() + BigInt(i), ino: 16256084n, dev: 3, mask: 36, op: 'open', pid: process.pid, tgid: process.pid, uid: 0, gid: 0, comm }));
  const batches = Math.ceil(alerts / batch);
  const total = batches * batch;

  const receiver = await startReceiver();
  const hooked: TrapContext = { ...trap, callback: receiver.url };
  const sink = new CallbackSink();
  const pipeline = new AlertPipeline({
    env: ENV,
    trapsFor: () => [hooked],
    processes: new ProcessCache(),
    out: { emit: (line, traps, origin) => sink.push(addAlertId(line), traps, origin ?? process.hrtime.bigint()), flush: () => {} },
    wallClockMs: () => Date.now(),
  });
  const t0 = performance.now();
  for (let i = 0; i < batches; i++) {
    pipeline.handle(events);
    // Stay well under the queue's 10,000 bound: this measures delivery, not dropping.
    while (sink.queued.entries > 2_000) await new Promise((r) => setTimeout(r, 1));
  }
  await sink.drain();
  const sinkSec = (performance.now() - t0) / 1000;
  await sink.close(0);
  const { times, connections } = await receiver.done();
  const received = times.length;
  if (sink.outcomes.delivered !== total || received !== total) throw new Error(`callback lost alerts: delivered ${sink.outcomes.delivered}, received ${received} of ${total}`);

  // Baseline: the sink's transport and concurrency, a body serialized beforehand.
  const base = await startReceiver();
  const url = new URL(base.url);
  const body = addAlertId(serializeAlert(hooked, events[0]!, new ProcessCache().lookup(events[0]!), ENV, Date.now()));
  const opts = { headers: { 'content-type': 'application/json' }, connectTimeoutMs: 3_000, responseTimeoutMs: 5_000, signal: new AbortController().signal };
  const transport = new HttpTransport(4);
  let next = 0;
  const t1 = performance.now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next++ < total) if ((await transport.post(url, body, opts)).status !== 204) throw new Error('baseline POST refused');
    }),
  );
  const baseSec = (performance.now() - t1) / 1000;
  transport.close();
  if ((await base.done()).times.length !== total) throw new Error('baseline lost POSTs');
  return {
    alerts: total,
    delivered: received,
    connections,
    baselinePerSec: Math.round(total / baseSec),
    alertsPerSec: Math.round(total / sinkSec),
    ratio: Number((sinkSec / baseSec).toFixed(2)),
  };
}

export interface LatencyRow {
  sink: 'stdout' | 'callbacks';
  accesses: number;
  alerts: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Access-to-alert latency through a real FileMonitor and the real sinks (root). */
export async function benchLatency(accesses = 2_000, sinkName: 'stdout' | 'callbacks' = 'stdout', intervalMs = 5): Promise<LatencyRow> {
  const dir = mkdtempSync(join(tmpdir(), 'kive-latency-'));
  const file = join(dir, 'trapped');
  writeFileSync(file, 'x');
  const monitor = await FileMonitor.open({ backend: 'tracepoint', aggregateWindowMs: 0 });
  // stdout: a FIFO read by another process that notes each line's arrival.
  let reader: ReturnType<typeof nodeChild> | undefined;
  let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;
  let fd = -1;
  if (sinkName === 'stdout') {
    const fifo = join(dir, 'alerts');
    execFileSync('mkfifo', [fifo]);
    const readEnd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    fd = openSync(fifo, constants.O_WRONLY);
    reader = nodeChild(
      "const t=[];process.stdin.on('data',b=>{const now=process.hrtime.bigint().toString();for(let i=0;i<b.length;i++)if(b[i]===10)t.push(now)});process.stdin.on('end',()=>process.stdout.write(JSON.stringify(t)))",
      readEnd,
    );
    closeSync(readEnd);
  } else receiver = await startReceiver();
  const key = keyOf(file);
  const watched: TrapContext = { ...trap, path: file, ...(receiver ? { callback: receiver.url } : {}) };
  const log = { info() {}, warn() {}, error() {} };
  const alerting = startAlerting({
    env: ENV,
    traps: { trapsFor: (k) => (k.ino === key.ino && k.dev === key.dev ? [watched] : []) },
    processes: new ProcessCache(),
    losses: monitor,
    wallClockMs: (ts) => monitor.wallClockMs(ts),
    log,
    sinks: { stdoutFd: fd },
    registry: [sinkName === 'stdout' ? stdoutSinkFactory : callbackSinkFactory],
  });
  try {
    monitor.setTrap(key, 1);
    monitor.start((events) => alerting.pipeline.handle(events));
    // The accessing process: CLOCK_MONOTONIC just before each open(2), one every intervalMs.
    const opener = nodeChild(
      `const fs=require('node:fs');const t=[];const s=new Int32Array(new SharedArrayBuffer(4));` +
        `for(let i=0;i<${accesses};i++){t.push(process.hrtime.bigint().toString());fs.closeSync(fs.openSync(${JSON.stringify(file)},'r'));Atomics.wait(s,0,0,${intervalMs});}` +
        `process.stdout.write(JSON.stringify(t))`,
    );
    const opened = (JSON.parse(await opener.output()) as string[]).map(BigInt);
    await new Promise((r) => setTimeout(r, 200));
    monitor.drainNow();
    await alerting.close(5_000);
    let arrived: bigint[];
    if (reader) {
      closeSync(fd);
      arrived = (JSON.parse(await reader.output()) as string[]).map(BigInt);
    } else arrived = (await receiver!.done()).times;
    if (arrived.length !== opened.length) throw new Error(`${sinkName}: ${arrived.length} alerts for ${opened.length} accesses`);
    const ms = opened.map((t, i) => Number(arrived[i]! - t) / 1e6).sort((a, b) => a - b);
    const r2 = (n: number) => Math.round(n * 100) / 100;
    return { sink: sinkName, accesses, alerts: arrived.length, p50Ms: r2(percentile(ms, 50)), p99Ms: r2(percentile(ms, 99)), maxMs: r2(ms[ms.length - 1]!) };
  } finally {
    await monitor.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { json: { type: 'boolean' }, alerts: { type: 'string' }, batch: { type: 'string' }, 'callback-alerts': { type: 'string' }, accesses: { type: 'string' } },
  });
  const r = await benchAlerts(Number(values.alerts ?? 500_000), Number(values.batch ?? 256));
  const cb = await benchCallbacks(Number(values['callback-alerts'] ?? 20_000));
  const accesses = Number(values.accesses ?? 2_000);
  const latency = accesses > 0 ? [await benchLatency(accesses, 'stdout'), await benchLatency(accesses, 'callbacks')] : [];
  if (values.json) console.log(JSON.stringify({ stdout: r, callbacks: cb, latency }));
  else {
    console.log(`alerts written: ${r.alerts} (${r.lineBytes} bytes each), lost: ${r.lost}`);
    console.log(`baseline (pre-serialized lines): ${r.baselinePerSec.toLocaleString('en')} lines/s`);
    console.log(`alert pipeline:                  ${r.alertsPerSec.toLocaleString('en')} alerts/s (${r.ratio}x the baseline's time)`);
    console.log(`callbacks: ${cb.delivered} of ${cb.alerts} delivered over ${cb.connections} connections; raw POST loop ${cb.baselinePerSec.toLocaleString('en')}/s, sink ${cb.alertsPerSec.toLocaleString('en')} alerts/s (${cb.ratio}x)`);
    for (const l of latency) console.log(`access-to-alert latency, ${l.sink}: p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms, max ${l.maxMs} ms (${l.alerts} alerts)`);
  }
}
