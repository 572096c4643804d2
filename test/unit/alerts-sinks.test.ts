import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CallbackSink } from '../../src/alerts/callback.ts';
import { StdoutSink } from '../../src/alerts/stdout.ts';

/** A real pipe (a FIFO): the sink writes its write end; the test holds the read end. */
function pipe(): { readFd: number; writeFd: number; read(): Buffer; closeRead(): void; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'kive-sink-'));
  const fifo = join(dir, 'p');
  execFileSync('mkfifo', [fifo]);
  const readFd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writeFd = openSync(fifo, constants.O_WRONLY);
  let readOpen = true;
  return {
    readFd,
    writeFd,
    /** Everything the pipe holds right now. */
    read() {
      const parts: Buffer[] = [];
      const buf = Buffer.alloc(65536);
      for (;;) {
        let n: number;
        try {
          n = readSync(readFd, buf);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break;
          throw err;
        }
        if (n === 0) break;
        parts.push(Buffer.from(buf.subarray(0, n)));
      }
      return Buffer.concat(parts);
    },
    closeRead() {
      if (readOpen) closeSync(readFd);
      readOpen = false;
    },
    cleanup() {
      this.closeRead();
      closeSync(writeFd);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const completeLines = (b: Buffer) => b.toString().split('\n').slice(0, -1);
const turn = () => new Promise((r) => setImmediate(r));

function recorder() {
  const lines: Array<{ level: string; msg: string; obj: Record<string, unknown> }> = [];
  const at = (level: string) => (obj: object, msg: string) => lines.push({ level, msg, obj: obj as Record<string, unknown> });
  return { lines, log: { info: at('info'), warn: at('warn'), error: at('error') } };
}

test('StdoutSink writes one line per alert, one write per flush, and counts them delivered', async () => {
  const p = pipe();
  try {
    const sink = new StdoutSink(p.writeFd);
    sink.pushLine(JSON.stringify({ a: 1 }));
    sink.pushLine(JSON.stringify({ b: 2 }));
    sink.flush();
    sink.flush(); // nothing pending: no empty write
    assert.equal(p.read().toString(), '{"a":1}\n{"b":2}\n');
    assert.deepEqual(await sink.close(1_000), { delivered: 2, dropped: 0, failed: 0 });
    assert.deepEqual(await sink.close(1_000), { delivered: 2, dropped: 0, failed: 0 }, 'a second close is harmless');
  } finally {
    p.cleanup();
  }
});

test('StdoutSink: a reader that stops reading never blocks the caller; the loss is bounded and counted to the line', async () => {
  const p = pipe();
  const { lines: logs, log } = recorder();
  try {
    const sink = new StdoutSink(p.writeFd, { maxBufferedBytes: 64 * 1024, log });
    const line = JSON.stringify({ pad: 'x'.repeat(700) });
    let pushed = 0;
    for (let batch = 0; batch < 100; batch++) {
      // 37 lines do not divide the pipe's 64 KiB; a small batch now and then still fits
      // in the full buffer, which must not end the episode.
      const n = batch % 3 === 2 ? 1 : 37;
      for (let i = 0; i < n; i++, pushed++) sink.pushLine(line);
      sink.flush();
      await turn(); // the event loop keeps turning: nothing blocked on the full pipe
    }
    assert.ok(sink.outcomes.dropped > 0, 'the bounded buffer overflowed');
    assert.ok(sink.bufferedBytes <= 64 * 1024 + 37 * 702);
    assert.equal(logs.filter((l) => l.msg.includes('not keeping up')).length, 1, 'one report per episode');
    assert.equal(logs.filter((l) => l.msg.includes('caught up')).length, 0, 'the reader never caught up');
    const out = await sink.close(50); // nobody reads: the rest is given up after the grace period
    assert.equal(out.delivered + out.dropped + out.failed, pushed);
    assert.ok(out.failed > 0);
    // The reader now sees exactly the delivered lines (a partly written line is not one).
    assert.equal(completeLines(p.read()).length, out.delivered);
  } finally {
    p.cleanup();
  }
});

test('StdoutSink: once the reader catches up, the exact drop count of the episode is logged', async () => {
  const p = pipe();
  const { lines: logs, log } = recorder();
  try {
    const sink = new StdoutSink(p.writeFd, { maxBufferedBytes: 16 * 1024, log });
    const line = 'y'.repeat(1000);
    for (let i = 0; i < 200; i++) {
      sink.pushLine(line);
      sink.flush();
    }
    const dropped = sink.outcomes.dropped;
    assert.ok(dropped > 0);
    let received = 0;
    while (sink.bufferedBytes > 0) {
      received += completeLines(p.read()).length;
      await turn();
    }
    sink.pushLine(line);
    sink.flush();
    const caughtUp = logs.find((l) => l.msg.includes('caught up'));
    assert.equal(caughtUp?.obj.dropped, dropped);
    received += completeLines(p.read()).length;
    const out = await sink.close(1_000);
    assert.deepEqual(out, { delivered: received, dropped, failed: 0 });
    assert.equal(received + dropped, 201);
  } finally {
    p.cleanup();
  }
});

test('StdoutSink: a reader that goes away (EPIPE) is logged once and counted, never thrown', async () => {
  const p = pipe();
  const { lines: logs, log } = recorder();
  let closed = 0;
  try {
    const sink = new StdoutSink(p.writeFd, { log, onClosed: () => closed++ });
    sink.pushLine('{"first":1}');
    sink.flush();
    assert.equal(p.read().toString(), '{"first":1}\n');
    p.closeRead();
    for (let i = 0; i < 5; i++) {
      sink.pushLine('{"later":1}');
      sink.pushLine('{"later":2}');
      sink.flush();
    }
    assert.equal(closed, 1);
    assert.equal(logs.filter((l) => l.level === 'error').length, 1);
    assert.deepEqual(await sink.close(1_000), { delivered: 1, dropped: 0, failed: 10 });
  } finally {
    p.cleanup();
  }
});

async function withServer(handler: (req: IncomingMessage, body: string) => number, fn: (url: string) => Promise<void>) {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      res.statusCode = handler(req, body);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

test('callback: each alert is POSTed as JSON; 5xx is retried, 400 is final', async () => {
  const bodies: unknown[] = [];
  let failuresLeft = 2;
  await withServer(
    (req, body) => {
      assert.equal(req.method, 'POST');
      assert.equal(req.headers['content-type'], 'application/json');
      const alert = JSON.parse(body);
      if (alert.n === 2) return 400;
      if (alert.n === 1 && failuresLeft-- > 0) return 503;
      bodies.push(alert);
      return 200;
    },
    async (url) => {
      const sink = new CallbackSink({ baseBackoffMs: 1, warnEveryMs: 0 });
      for (const n of [0, 1, 2]) sink.send(url, JSON.stringify({ n }));
      await sink.drain();
      assert.deepEqual(sink.outcomes, { delivered: 2, failed: 1, dropped: 0, spooled: 0 });
      assert.deepEqual(bodies.map((b) => (b as { n: number }).n).sort(), [0, 1]);
    },
  );
});

test('callback: an unreachable receiver fails after bounded retries, with a warning', async () => {
  const warnings: Array<[string, Record<string, unknown>]> = [];
  const sink = new CallbackSink({ baseBackoffMs: 1, retryForMs: 50, warnEveryMs: 0, log: { warn: (o, m) => warnings.push([m, o as Record<string, unknown>]) } });
  sink.send('http://127.0.0.1:1/alerts', JSON.stringify({ n: 1 }));
  await sink.drain();
  assert.equal(sink.outcomes.failed, 1);
  assert.deepEqual(warnings.map(([m]) => m), ['callback delivery failed']);
  assert.equal(warnings[0]![1].error, 'ECONNREFUSED', 'the cause, not just "fetch failed"');
});

test('callback: a full queue drops and counts instead of growing', async () => {
  const sink = new CallbackSink({ maxQueued: 3, concurrencyPerUrl: 1, post: () => new Promise(() => {}) });
  for (let i = 0; i < 5; i++) sink.send('http://127.0.0.1:9/x', JSON.stringify({ i }));
  // one in flight (never answers), two queued, two dropped
  assert.equal(sink.outcomes.dropped, 2);
  assert.deepEqual(await sink.close(0), { delivered: 0, dropped: 2, failed: 3, spooled: 0 });
});

test('callback: close() is bounded with a receiver that never answers; every alert is counted', async () => {
  const server = createServer(() => {}); // accepts, reads, never answers
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`;
    const warnings: string[] = [];
    const sink = new CallbackSink({ timeoutMs: 60_000, log: { warn: (_o, m) => warnings.push(m) } });
    for (let i = 0; i < 50; i++) sink.send(url, JSON.stringify({ i }));
    const out = await sink.close(100);
    assert.deepEqual(out, { delivered: 0, dropped: 0, failed: 50, spooled: 0 });
    assert.ok(warnings.includes('callback: shutdown time ran out; undelivered alerts counted as failed'));
    sink.send(url, '{}'); // after close: counted, not silently ignored
    assert.equal(sink.outcomes.dropped, 1);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test('callback: close() is bounded even if a fetch ignores its abort signal, and retries keep their backoff', async () => {
  let calls = 0;
  const sink = new CallbackSink({
    baseBackoffMs: 10_000,
    random: () => 1,
    post: () => {
      calls++;
      return calls === 1 ? Promise.reject(new Error('ECONNREFUSED')) : new Promise(() => {});
    },
  });
  sink.send('http://127.0.0.1:9/a', '{}');
  sink.send('http://127.0.0.1:9/b', '{}');
  const out = await sink.close(100);
  assert.deepEqual(out, { delivered: 0, dropped: 0, failed: 2, spooled: 0 });
  assert.equal(calls, 2, 'no retry storm during shutdown: the failed one waits out its backoff');
});

test('the stdout and callback sinks report each delivered alert\'s latency from its origin', async () => {
  const seen: Record<string, number[]> = { stdout: [], callbacks: [] };
  const ctx = { log: { info() {}, warn() {}, error() {} }, deliveryLatency: (name: string) => (s: number) => void seen[name]!.push(s) };
  const p = pipe();
  const stdout = new StdoutSink(p.writeFd, { latency: ctx.deliveryLatency('stdout') });
  const origin = process.hrtime.bigint() - 5_000_000n; // 5 ms ago, as a kernel timestamp would be
  stdout.push('{"a":1}', [], origin);
  stdout.push('{"a":2}', [], origin);
  stdout.flush();
  await stdout.drained();
  await stdout.close(0);
  assert.equal(seen.stdout!.length, 2);
  assert.ok(seen.stdout!.every((s) => s >= 0.005 && s < 5), String(seen.stdout));
  assert.equal(p.read().toString(), '{"a":1}\n{"a":2}\n');
  p.cleanup();
  const cb = new CallbackSink({ post: async () => ({ status: 200, retryAfter: undefined }), latency: ctx.deliveryLatency('callbacks') });
  cb.push('{"b":1}', [{ policyName: 'p', path: '/x', customMetadata: {}, podName: '', podNamespace: '', containerId: '', containerName: '', callback: 'http://h/x' }], origin);
  await cb.close(1_000);
  assert.equal(seen.callbacks!.length, 1);
  assert.ok(seen.callbacks![0]! >= 0.005);
});
