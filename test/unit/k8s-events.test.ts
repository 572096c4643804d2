import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventRecorder } from '../../src/k8s/events.ts';
import { ApiError, type RequestOptions } from '../../src/k8s/rest.ts';

const quiet: any = { child: () => quiet, debug() {}, info() {}, warn() {}, error() {} };
const pod = { apiVersion: 'v1', kind: 'Pod', namespace: 'web', name: 'web-1', uid: 'u1' };

function setup(opts: { burst?: number; refillMs?: number; cacheSize?: number } = {}) {
  const calls: RequestOptions[] = [];
  let t = Date.UTC(2026, 0, 1);
  let fail: unknown;
  const client = {
    request: async <T,>(r: RequestOptions): Promise<T> => {
      calls.push(r);
      if (fail) throw fail;
      return {} as T;
    },
  };
  const clock = { now: () => t } as any;
  const rec = new EventRecorder({ client, component: 'kive', host: 'node-a', clock, logger: quiet, ...opts });
  return { rec, calls, advance: (ms: number) => (t += ms), failWith: (e: unknown) => (fail = e) };
}

test('first occurrence creates an Event; repeats patch its count; a new message is a new Event', async () => {
  const { rec, calls, advance } = setup();
  rec.record(pod, 'Warning', 'FileAccessed', '/honey.txt read by cat');
  advance(1000);
  rec.record(pod, 'Warning', 'FileAccessed', '/honey.txt read by cat');
  rec.record(pod, 'Warning', 'FileAccessed', '/honey.txt read by cat');
  rec.record(pod, 'Warning', 'FileAccessed', '/other read by sh');
  await rec.flush();
  // Writes of one Event are ordered; different Events are written independently.
  const created = calls.find((c) => c.method === 'POST' && (c.body as any).message.startsWith('/honey'))!.body as any;
  const mine = calls.filter((c) => c.method === 'POST' ? (c.body as any).metadata.name === created.metadata.name : c.path.endsWith(`/${created.metadata.name}`));
  assert.deepEqual(mine.map((c) => c.method), ['POST', 'PATCH', 'PATCH']);
  assert.equal(mine[0]!.path, '/api/v1/namespaces/web/events');
  assert.deepEqual(created.involvedObject, pod);
  assert.equal(created.count, 1);
  assert.deepEqual(created.source, { component: 'kive', host: 'node-a' });
  assert.deepEqual(mine.slice(1).map((c) => (c.body as any).count), [2, 3], 'counts go up in order');
  const other = calls.filter((c) => !mine.includes(c));
  assert.deepEqual(other.map((c) => [c.method, (c.body as any).count]), [['POST', 1]], 'a new message is a new Event');
});

test('rate limit per object: a burst, then one per refill period; refused events are counted', async () => {
  const { rec, calls, advance } = setup({ burst: 3, refillMs: 60_000 });
  for (let i = 0; i < 10; i++) rec.record(pod, 'Warning', 'X', `m${i}`);
  rec.record({ ...pod, name: 'web-2', uid: 'u2' }, 'Warning', 'X', 'other pod has its own bucket');
  await rec.flush();
  assert.equal(calls.length, 4);
  assert.equal(rec.dropped, 7);
  advance(60_000);
  rec.record(pod, 'Warning', 'X', 'after refill');
  rec.record(pod, 'Warning', 'X', 'still limited');
  await rec.flush();
  assert.equal(calls.length, 5);
  assert.equal(rec.dropped, 8);
});

test('an aggregated Event that expired is created again; API failures are counted, never thrown', async () => {
  const { rec, calls, failWith } = setup();
  rec.record(pod, 'Normal', 'Armed', 'trap armed');
  await rec.flush();
  failWith(new ApiError('patch Event', 404, 'NotFound', 'gone'));
  rec.record(pod, 'Normal', 'Armed', 'trap armed');
  await rec.flush();
  assert.deepEqual(calls.map((c) => c.method), ['POST', 'PATCH', 'POST']);
  assert.equal(rec.failed, 1, 'the re-create failed too (same fake)');
  failWith(new ApiError('create Event', 403, 'Forbidden', 'no RBAC'));
  assert.doesNotThrow(() => rec.record(pod, 'Warning', 'Y', 'z'));
  await rec.flush();
  assert.equal(rec.failed, 2);
});
