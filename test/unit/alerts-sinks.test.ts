import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { CallbackSink } from '../../src/alerts/callback.ts';
import { NdjsonWriter } from '../../src/alerts/stdout.ts';

test('NdjsonWriter writes one line per alert in one write per flush', () => {
  const out = new PassThrough();
  const writes: string[] = [];
  out.on('data', (c: Buffer) => writes.push(c.toString()));
  const w = new NdjsonWriter(out);
  w.pushLine(JSON.stringify({ a: 1 }));
  w.pushLine(JSON.stringify({ b: 2 }));
  w.flush();
  w.flush(); // nothing pending: no empty write
  assert.deepEqual(writes, ['{"a":1}\n{"b":2}\n']);
  assert.equal(w.written, 2);
});

test('NdjsonWriter counts and reports what it cannot buffer, instead of growing forever', () => {
  const out = new PassThrough({ highWaterMark: 1 }); // nobody reads it
  const drops: number[] = [];
  const w = new NdjsonWriter(out, { maxBufferedBytes: 100, onDrop: (n) => drops.push(n) });
  for (let i = 0; i < 20; i++) {
    w.pushLine(JSON.stringify({ i, pad: 'x'.repeat(50) }));
    w.flush();
  }
  assert.ok(w.dropped > 0);
  assert.equal(w.written + w.dropped, 20);
  assert.equal(drops.length, 1, 'one report per episode');
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
      assert.deepEqual(sink.stats, { delivered: 2, failed: 1, dropped: 0 });
      assert.deepEqual(bodies.map((b) => (b as { n: number }).n).sort(), [0, 1]);
    },
  );
});

test('callback: an unreachable receiver fails after bounded retries, with a warning', async () => {
  const warnings: string[] = [];
  const sink = new CallbackSink({ baseBackoffMs: 1, maxAttempts: 2, warnEveryMs: 0, log: { warn: (_o, m) => warnings.push(m) } });
  sink.send('http://127.0.0.1:1/alerts', JSON.stringify({ n: 1 }));
  await sink.drain();
  assert.equal(sink.stats.failed, 1);
  assert.deepEqual(warnings, ['callback delivery failed']);
});

test('callback: a full queue drops and counts instead of growing', async () => {
  const sink = new CallbackSink({ maxQueuePerUrl: 2, concurrencyPerUrl: 1, maxAttempts: 1, fetch: () => new Promise(() => {}) });
  for (let i = 0; i < 5; i++) sink.send('http://127.0.0.1:9/x', JSON.stringify({ i }));
  // one in flight (never answers), two queued, two dropped
  assert.equal(sink.stats.dropped, 2);
});
