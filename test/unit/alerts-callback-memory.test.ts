// The callback queue's memory bound with many dead destinations (issue: 10,000 alerts
// queued per URL once made 64 URLs cost 1.15 GB). 64 receivers on loopback that read a
// request and never answer; 2,000 alerts of ~1 KiB offered to each. The queue is one
// bound for the whole process (docs/alerts.md): what it holds stays under its entries and
// bytes limits, the room is shared evenly, every alert beyond it is counted as dropped,
// and the heap grows by about what is held, not by what was offered.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { addAlertId } from '../../src/alerts/alert-id.ts';
import { CallbackSink } from '../../src/alerts/callback.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapBytes(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external + m.arrayBuffers;
}

const DESTINATIONS = 64;
const PER_DESTINATION = 2_000;
const MAX_QUEUED = 10_000;
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;
const PAD = 'x'.repeat(1000);

test('64 dead destinations: the queue stays within its process-wide bound, shares it evenly, and counts every drop', async (t) => {
  const sockets = new Set<import('node:net').Socket>();
  const silent: Server = createServer(() => {}); // reads, never answers
  silent.on('connection', (s) => sockets.add(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  const port = (silent.address() as AddressInfo).port;
  const warned: Array<Record<string, unknown>> = [];
  const sink = new CallbackSink({
    maxQueued: MAX_QUEUED,
    maxQueuedBytes: MAX_QUEUED_BYTES,
    timeoutMs: 60_000,
    warnEveryMs: 0,
    log: { warn: (obj) => void warned.push(obj as Record<string, unknown>) },
  });
  try {
    const before = heapBytes();
    let offeredBytes = 0;
    for (let i = 0; i < PER_DESTINATION; i++) {
      for (let d = 0; d < DESTINATIONS; d++) {
        const line = addAlertId(JSON.stringify({ 'kive-alert-version': 'v1', d, i, pad: PAD }));
        offeredBytes += line.length;
        sink.send(`http://127.0.0.1:${port}/d${d}`, line);
      }
    }
    const { entries, bytes } = sink.queued;
    const grown = heapBytes() - before;
    t.diagnostic(`held ${entries} alerts, ${bytes} bytes; heap grew ${(grown / 2 ** 20).toFixed(1)} MiB for ${(offeredBytes / 2 ** 20).toFixed(0)} MiB offered`);
    assert.ok(entries <= MAX_QUEUED, `${entries} entries held`);
    assert.ok(bytes <= MAX_QUEUED_BYTES, `${bytes} bytes held`);
    assert.ok(offeredBytes > 25 * MAX_QUEUED_BYTES, 'far more was offered than the bound');

    // Even shares: every destination holds about bound / 64 (in flight included).
    const per = Object.values(sink.perDestination());
    assert.equal(per.length, DESTINATIONS);
    const offered = DESTINATIONS * PER_DESTINATION;
    const dropped = per.reduce((n, p) => n + p.dropped, 0);
    assert.equal(dropped, offered - entries, 'what is not held was dropped and counted, exactly');
    for (const p of per) {
      const held = PER_DESTINATION - p.dropped;
      assert.ok(Math.abs(held - entries / DESTINATIONS) <= 2, `one destination holds ${held} of ${entries}`);
    }
    // Held: ~4 MiB of bodies (kept as strings: up to 2 bytes per char) plus per-entry and
    // per-request bookkeeping; offered: 130 MB. Without the shared bound this was GBs.
    assert.ok(grown < 3 * MAX_QUEUED_BYTES + 16 * 1024 * 1024, `heap grew by ${(grown / 2 ** 20).toFixed(1)} MiB`);
    const loggedDrops = warned.reduce((n, w) => n + (typeof w['dropped'] === 'number' ? (w['dropped'] as number) : 0), 0);
    assert.equal(loggedDrops, dropped, 'every drop is in a log line');
  } finally {
    const closing = sink.close(200);
    for (const s of sockets) s.destroy();
    await closing;
    await new Promise((r) => silent.close(r));
  }
});
