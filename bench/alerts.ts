// Alerts per second written to stdout, with no loss. Not a test: nothing asserts a time.
//
//   node bench/alerts.ts [--json] [--alerts N] [--batch N]
//
// Kernel events (as the decoder hands them over, in batches) go through the same
// AlertPipeline `kive run` uses: trap lookup, process details (a live process, so the
// per-process cache is exercised), alert building, NDJSON. The lines go to a pipe read
// by a separate process that counts them, so "no loss" is checked, not assumed. The pipe
// is a FIFO so that the sink writes to a descriptor, as it does to stdout.
// Baseline, measured in the same run: writing lines of the same size that were
// serialized beforehand, i.e. the pipe's own ceiling. The ratio says what building and
// serializing alerts costs on top of moving the bytes.

import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AlertPipeline, type PipelineEvent } from '../src/alerts/pipeline.ts';
import { ProcessCache } from '../src/alerts/process.ts';
import { serializeAlert } from '../src/alerts/serialize.ts';
import { StdoutSink } from '../src/alerts/stdout.ts';
import type { TrapContext } from '../src/alerts/build.ts';

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

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { json: { type: 'boolean' }, alerts: { type: 'string' }, batch: { type: 'string' } } });
  const r = await benchAlerts(Number(values.alerts ?? 500_000), Number(values.batch ?? 256));
  if (values.json) console.log(JSON.stringify(r));
  else {
    console.log(`alerts written: ${r.alerts} (${r.lineBytes} bytes each), lost: ${r.lost}`);
    console.log(`baseline (pre-serialized lines): ${r.baselinePerSec.toLocaleString('en')} lines/s`);
    console.log(`alert pipeline:                  ${r.alertsPerSec.toLocaleString('en')} alerts/s (${r.ratio}x the baseline's time)`);
  }
}
