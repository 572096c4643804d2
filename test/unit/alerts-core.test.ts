import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TrapContext } from '../../src/alerts/build.ts';
import { alertIdOf } from '../../src/alerts/alert-id.ts';
import { Fanout, startAlerting } from '../../src/alerts/core.ts';
import { ProcessCache } from '../../src/alerts/process.ts';
import type { AlertSink, SinkFactory } from '../../src/alerts/sink.ts';
import { SINKS } from '../../src/alerts/sinks.ts';

const trap = (path: string, callback?: string): TrapContext => ({
  policyName: 'p',
  path,
  customMetadata: {},
  podName: '',
  podNamespace: '',
  containerId: '',
  containerName: '',
  ...(callback !== undefined ? { callback } : {}),
});

/** A sink that records what it was given; takes the traps `wants` says. */
function recorder(name: string, wants: (t: TrapContext | null) => boolean) {
  const got: Array<{ line: string; traps: string[] }> = [];
  let flushes = 0;
  let closedWith = -1;
  const sink: AlertSink = {
    name,
    get given() {
      return got.length;
    },
    outcomes: { delivered: 0, dropped: 0, failed: 0 },
    takes: wants,
    push: (line, traps) => void got.push({ line, traps: traps.map((t) => t.path) }),
    flush: () => void flushes++,
    close: async (graceMs) => {
      closedWith = graceMs;
      return { delivered: got.length, dropped: 0, failed: 0 };
    },
  };
  return { sink, got, flushes: () => flushes, closedWith: () => closedWith };
}

test('Fanout: each sink gets only the traps it takes; an alert of no trap goes to sinks that take null', () => {
  const all = recorder('all', () => true);
  const hooks = recorder('hooks', (t) => t !== null && t.callback !== undefined);
  const out = new Fanout([all.sink, hooks.sink]);
  out.emit('{"a":1}', [trap('/x')]);
  out.emit('{"b":1}', [trap('/x'), trap('/y', 'http://h')]);
  out.emit('{"c":1}', []);
  out.flush();
  // Each alert has its own id, the same in every sink.
  const ids = all.got.map((g) => alertIdOf(g.line));
  assert.equal(new Set(ids).size, 3);
  assert.equal(alertIdOf(hooks.got[0]!.line), ids[1]);
  for (const g of [...all.got, ...hooks.got]) g.line = Object.keys(JSON.parse(g.line))[0]!;
  assert.deepEqual(all.got, [
    { line: 'a', traps: ['/x'] },
    { line: 'b', traps: ['/x', '/y'] },
    { line: 'c', traps: [] },
  ]);
  assert.deepEqual(hooks.got, [{ line: 'b', traps: ['/y'] }]);
  assert.equal(all.flushes(), 1);
});

test('startAlerting: kernel events, file changes and losses reach every registered sink; close is shared and totals per sink', async () => {
  const t = trap('/secret', 'http://hook');
  const a = recorder('a', () => true);
  const b = recorder('b', (x) => x !== null && x.callback !== undefined);
  const registry: SinkFactory[] = [() => a.sink, () => undefined, () => b.sink];
  let drops = [{ key: { ino: 5n, dev: 3 }, lost: 2n }];
  let monitorClosed = false;
  const counted: string[] = [];
  const alerting = startAlerting({
    env: { kernelId: 'k', nodeName: 'n' },
    traps: { trapsFor: () => [t] },
    countAlert: (policy) => counted.push(policy),
    processes: new ProcessCache(),
    losses: {
      takeDrops: () => drops.splice(0),
      counters: () => {
        if (monitorClosed) throw new Error('read counters: monitor is closed');
        return { dropped: 2n };
      },
    },
    wallClockMs: () => 0,
    log: { info() {}, warn() {}, error() {} },
    registry,
  });
  alerting.pipeline.handle([{ ino: 5n, dev: 3, mask: 4, op: 'open', pid: 1, tgid: 1, uid: 0, gid: 0, comm: 'cat', tsNs: 0n } as never]);
  alerting.onFileChange({ op: 'deleted', trap: t, file: { ino: 5n, dev: 3 }, where: undefined });
  alerting.stopIntake(); // the last loss check
  drops = [];
  monitorClosed = true; // as in kive run: the monitor closes before the sinks do
  const totals = await alerting.close(1234);
  const types = (r: typeof a) => r.got.map((g) => JSON.parse(g.line)['kive-alert-type'] ?? JSON.parse(g.line).metadata.operation ?? 'access');
  assert.equal(a.got.length, 3);
  assert.deepEqual(counted, [t.policyName], 'one alert counted for its policy (file changes and losses are not accesses)');
  assert.equal(b.got.length, 3);
  assert.deepEqual(types(a), types(b));
  assert.ok(types(a).includes('events-lost'));
  assert.deepEqual([a.closedWith(), b.closedWith()], [1234, 1234], 'one grace period for every sink');
  assert.deepEqual(Object.keys(totals), ['a', 'b']);
  assert.deepEqual(totals.a, { alerts: 3, delivered: 3, dropped: 0, failed: 0 });
  assert.equal(await alerting.close(1), totals, 'close twice: the same result, sinks closed once');
});

test('the registry has stdout, the HTTP callback and (with a recorder only) Kubernetes Events, each behind the AlertSink interface', async () => {
  const log = { info() {}, warn() {}, error() {} };
  // `kive run` has no recorder: no Events sink.
  assert.deepEqual(SINKS.map((make) => make({ log, stdoutFd: 2 })?.name), ['stdout', 'callbacks', undefined]);
  const sinks = SINKS.map((make) => make({ log, stdoutFd: 2, recorder: { record() {} } }));
  assert.deepEqual(
    sinks.map((s) => s?.name),
    ['stdout', 'callbacks', 'k8s-events'],
  );
  assert.equal(sinks[2]!.takes(null), false);
  assert.equal(sinks[2]!.takes(trap('/a')), false, 'no pod, no Event');
  assert.equal(sinks[2]!.takes({ ...trap('/a'), podName: 'web', podNamespace: 'default' }), true);
  const [stdout, callbacks] = sinks as AlertSink[];
  assert.equal(stdout!.takes(null), true);
  assert.equal(callbacks!.takes(null), false);
  assert.equal(callbacks!.takes(trap('/a')), false);
  assert.equal(callbacks!.takes(trap('/a', 'http://h')), true);
  await Promise.all(sinks.map((s) => s!.close(0)));
});
