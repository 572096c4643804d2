import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addAlertId } from '../../src/alerts/alert-id.ts';
import type { TrapContext } from '../../src/alerts/build.ts';
import { Fanout } from '../../src/alerts/core.ts';
import { accessWords, KubeEventSink } from '../../src/alerts/k8s-events.ts';
import { buildLostAlert } from '../../src/alerts/lost.ts';
import { serializeAlert } from '../../src/alerts/serialize.ts';
import { EventRecorder, type EventType, type ObjectReference, type RecordOutcome } from '../../src/k8s/events.ts';
import type { RequestOptions } from '../../src/k8s/rest.ts';

const env = { kernelId: 'k-1', nodeName: 'node-a' };
const trap = (over: Partial<TrapContext> = {}): TrapContext => ({
  policyName: 'honey',
  path: '/honey.txt',
  customMetadata: { secret: 'do-not-leak' },
  podName: 'web-1',
  podNamespace: 'team-a',
  podUid: 'uid-web-1',
  containerId: 'containerd://abc',
  containerName: 'app',
  callback: 'http://hooks.other-ns.svc/x?token=t',
  nodeName: 'node-a',
  ...over,
});
const event = (pid: number) => ({ ino: 7n, dev: 3, mask: 36, op: 'open', pid, tgid: pid, uid: 1000, gid: 1000, comm: 'cat' });
const cat = { binary: '/usr/bin/cat', cwd: '/', arguments: '/honey.txt' };
const accessLine = (t: TrapContext, pid: number) => addAlertId(serializeAlert(t, event(pid), cat, env, Date.UTC(2026, 0, 1)));

interface Call {
  obj: ObjectReference;
  type: EventType;
  reason: string;
  message: string | (() => string);
  done: ((o: RecordOutcome) => void) | undefined;
}

/** A fake recorder: keeps each call; the test says how each ends. */
function fakeRecorder() {
  const calls: Call[] = [];
  return { calls, record: (obj: ObjectReference, type: EventType, reason: string, message: string | (() => string), done?: (o: RecordOutcome) => void) => void calls.push({ obj, type, reason, message, done }) };
}
const text = (m: string | (() => string)) => (typeof m === 'string' ? m : m());

test('an access alert is a Warning FileAccessed Event on the file\'s pod, in its namespace, naming path, policy, container and process, nothing else', () => {
  const rec = fakeRecorder();
  const sink = new KubeEventSink(rec);
  const t = trap();
  sink.push(accessLine(t, 4242), [t], process.hrtime.bigint());
  assert.equal(rec.calls.length, 1);
  const c = rec.calls[0]!;
  assert.deepEqual(c.obj, { apiVersion: 'v1', kind: 'Pod', name: 'web-1', namespace: 'team-a', uid: 'uid-web-1' });
  assert.equal(c.type, 'Warning');
  assert.equal(c.reason, 'FileAccessed');
  assert.equal(typeof c.message, 'function', 'built only if the rate limit lets it through');
  const msg = text(c.message);
  assert.equal(msg, '/honey.txt (KivePolicy honey) in container app: open (read) by /usr/bin/cat (comm cat, uid 1000)');
  // Another access of the same kind by another process (another pid) is the same message: the recorder aggregates it.
  sink.push(accessLine(t, 4343), [t], process.hrtime.bigint());
  assert.equal(text(rec.calls[1]!.message), msg);
  for (const leak of ['do-not-leak', 'other-ns', 'token', 'node-a', '4242', 'containerd://']) assert.ok(!msg.includes(leak), leak);
});

test('messages are bounded; a path of 4 KiB is cut', () => {
  const rec = fakeRecorder();
  const sink = new KubeEventSink(rec);
  const t = trap({ path: `/${'a'.repeat(4096)}`, policyName: 'p'.repeat(253) });
  sink.push(accessLine(t, 1), [t], 0n);
  const msg = text(rec.calls[0]!.message);
  assert.ok(msg.length < 1024, String(msg.length));
  assert.match(msg, /^\/a{252}\.\.\. \(KivePolicy p{253}\) in container app: /);
  assert.equal(accessWords('open', 2 | 8 | 32), 'open (write, append)');
  assert.equal(accessWords('exec', 1), 'exec (exec)');
  assert.equal(accessWords('moved', 0), 'moved');
});

test('events-lost: one FileAccessEventsLost per pod, naming only that pod\'s traps; no pod, no Event', () => {
  const rec = fakeRecorder();
  const sink = new KubeEventSink(rec);
  const a1 = trap();
  const a2 = trap({ path: '/other.txt', policyName: 'p2' });
  const b = trap({ podName: 'db-0', podNamespace: 'team-b', podUid: 'uid-db', path: '/db-secret', policyName: 'db' });
  const host = trap({ podName: '', podNamespace: '' });
  const line = addAlertId(JSON.stringify(buildLostAlert([{ key: { ino: 7n, dev: 3 }, traps: [a1, a2, b, host], lost: 9 }], 0, env, 0)));
  const out = new Fanout([sink]);
  out.emit(line, [a1, a2, b, host]);
  assert.deepEqual(rec.calls.map((c) => [c.obj.namespace, c.obj.name, c.reason, c.type]), [
    ['team-a', 'web-1', 'FileAccessEventsLost', 'Warning'],
    ['team-b', 'db-0', 'FileAccessEventsLost', 'Warning'],
  ]);
  const [ma, mb] = rec.calls.map((c) => text(c.message));
  assert.match(ma!, /\/honey\.txt \(KivePolicy honey, container app\), \/other\.txt \(KivePolicy p2, container app\)/);
  assert.match(ma!, /on node node-a/);
  assert.ok(!ma!.includes('db-secret') && !ma!.includes('team-b'), 'another namespace\'s trap is not named');
  assert.ok(!mb!.includes('honey') && mb!.includes('/db-secret'));
  // An events-lost alert of no pod's trap goes nowhere.
  out.emit(addAlertId(JSON.stringify(buildLostAlert([], 5, env, 0))), []);
  assert.equal(rec.calls.length, 2);
});

test('outcomes: created and aggregated are delivered, rate-limited dropped, failed failed; the latency is observed on delivery; close bounds what is pending', async () => {
  const rec = fakeRecorder();
  const seen: number[] = [];
  const sink = new KubeEventSink(rec, { latency: (s) => seen.push(s) });
  const t = trap();
  for (let i = 0; i < 5; i++) sink.push(accessLine(t, i), [t], process.hrtime.bigint() - 2_000_000n);
  const outcomes: RecordOutcome[] = ['created', 'aggregated', 'rate-limited', 'failed'];
  outcomes.forEach((o, i) => rec.calls[i]!.done!(o));
  assert.deepEqual(sink.outcomes, { delivered: 2, dropped: 1, failed: 1 });
  assert.equal(seen.length, 2);
  assert.ok(seen.every((s) => s >= 0.002 && s < 5), String(seen));
  // The fifth never answers: close counts it as failed after the grace period.
  const closed = await sink.close(20);
  assert.deepEqual(closed, { delivered: 2, dropped: 1, failed: 2 });
  rec.calls[4]!.done!('created'); // late: not counted twice
  sink.push(accessLine(t, 9), [t], 0n); // after close: dropped
  assert.deepEqual(sink.outcomes, { delivered: 2, dropped: 2, failed: 2 });
  assert.equal(sink.given, 6);
  assert.equal(sink.outcomes.delivered + sink.outcomes.dropped + sink.outcomes.failed, sink.given);
});

test('through the real recorder: repeats aggregate into one Event\'s count; past the burst they are refused and counted', async () => {
  const calls: RequestOptions[] = [];
  const client = { request: async <T,>(r: RequestOptions): Promise<T> => (calls.push(r), {} as T) };
  const quiet: any = { child: () => quiet, debug() {}, info() {}, warn() {}, error() {} };
  const recorder = new EventRecorder({ client, component: 'kive', host: 'node-a', burst: 3, logger: quiet });
  const sink = new KubeEventSink(recorder);
  const t = trap();
  for (let pid = 100; pid < 110; pid++) sink.push(accessLine(t, pid), [t], 0n);
  await sink.close(5_000);
  assert.deepEqual(calls.map((c) => c.method), ['POST', 'PATCH', 'PATCH']);
  assert.equal(calls[0]!.path, '/api/v1/namespaces/team-a/events');
  assert.deepEqual((calls[0]!.body as any).involvedObject, { apiVersion: 'v1', kind: 'Pod', name: 'web-1', namespace: 'team-a', uid: 'uid-web-1' });
  assert.equal((calls[0]!.body as any).reason, 'FileAccessed');
  assert.deepEqual(calls[2]!.body, { count: 3, lastTimestamp: (calls[2]!.body as any).lastTimestamp });
  assert.deepEqual(sink.outcomes, { delivered: 3, dropped: 7, failed: 0 });
  assert.deepEqual([recorder.created, recorder.aggregated, recorder.dropped, recorder.failed], [1, 2, 7, 0]);
});
