import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TrapContext } from '../../src/alerts/build.ts';
import { CallbackSink } from '../../src/alerts/callback.ts';
import { Fanout } from '../../src/alerts/core.ts';
import { buildLostAlert, LossReporter, type LossSource } from '../../src/alerts/lost.ts';

const trap = (path: string, callback?: string): TrapContext => ({
  policyName: 'p',
  path,
  customMetadata: {},
  podName: 'pod',
  podNamespace: 'ns',
  containerId: 'c1',
  containerName: 'app',
  ...(callback ? { callback } : {}),
});
const env = { kernelId: 'k1', nodeName: 'n1' };

test('an events-lost alert names each trap with its count, and the total', () => {
  const a = buildLostAlert(
    [
      { key: { ino: 5n, dev: 3 }, traps: [trap('/a'), trap('/a2')], lost: 7 },
      { key: { ino: 6n, dev: 3 }, traps: [], lost: 2 },
    ],
    1,
    env,
    Date.UTC(2026, 0, 2),
  );
  assert.equal(a['kive-alert-type'], 'events-lost');
  assert.equal(a.timestamp, '2026-01-02T00:00:00.000Z');
  assert.equal(a.lost, 10);
  assert.deepEqual(
    a.traps.map((t) => [t.path, t.lost, t.inode, t.device]),
    [
      ['/a', 7, 5, 3],
      ['/a2', 7, 5, 3],
    ],
  );
  assert.equal(a.unattributed, 3, 'a disarmed file and drops without a file');
});

function fakeSource(): LossSource & { drops: Array<{ key: { ino: bigint; dev: number }; lost: bigint }>; dropped: bigint } {
  const s = {
    drops: [] as Array<{ key: { ino: bigint; dev: number }; lost: bigint }>,
    dropped: 0n,
    takeDrops() {
      const d = s.drops;
      s.drops = [];
      return d;
    },
    counters() {
      return { dropped: s.dropped };
    },
  };
  return s;
}

test('the reporter writes one alert per interval with losses, to stdout and the traps\' callbacks, counting exactly', () => {
  const out: string[] = [];
  const sent: string[] = [];
  const errors: object[] = [];
  const src = fakeSource();
  const r = new LossReporter({
    source: src,
    trapsFor: ({ ino }) => (ino === 5n ? [trap('/a', 'http://hook')] : []),
    env,
    out: new Fanout([
      { name: 'stdout', given: 0, outcomes: { delivered: 0, dropped: 0, failed: 0 }, takes: () => true, push: (l: string) => void out.push(`${l}\n`), flush() {}, close: async () => ({ delivered: 0, dropped: 0, failed: 0 }) },
      new CallbackSink({ post: async (url) => (sent.push(url.href), { status: 200 }) }),
    ]),
    log: { error: (o) => errors.push(o) },
    now: () => 0,
  });
  assert.equal(r.check(), null, 'nothing lost: no alert');
  src.drops = [{ key: { ino: 5n, dev: 3 }, lost: 4n }];
  src.dropped = 5n; // one drop without a file (the drop map was full)
  const first = r.check()!;
  assert.deepEqual([first.lost, first.traps[0]!.lost, first.unattributed], [5, 4, 1]);
  const { 'alert-id': id, ...written } = JSON.parse(out.join('').trim());
  assert.match(id, /^[0-9a-f-]{36}$/, 'every alert has its id');
  assert.deepEqual(written, first);
  assert.deepEqual(sent, ['http://hook/']);
  assert.equal(errors.length, 1);
  // A drop counted under its file after the total was read: the total lags for one check.
  src.drops = [{ key: { ino: 5n, dev: 3 }, lost: 2n }];
  src.dropped = 6n;
  const second = r.check()!;
  assert.deepEqual([second.lost, second.unattributed], [2, 0]);
  src.dropped = 7n; // ... and catches up: nothing new, nothing counted twice
  assert.equal(r.check(), null);
  src.dropped = 10n;
  src.drops = [{ key: { ino: 5n, dev: 3 }, lost: 3n }];
  assert.equal(r.check()!.lost, 3);
  assert.equal(r.lost, 10, 'exactly the kernel total');
});
