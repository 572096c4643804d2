import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Controller, TerminalError } from '../../src/k8s/controller.ts';
import { formatText, parseLogFormat } from '../../src/log.ts';
import { readFileSync } from 'node:fs';
import { CallbackSink } from '../../src/alerts/callback.ts';
import { KiveMetrics } from '../../src/metrics/metrics.ts';
import { parseListenAddress, Readiness, startMetricsServer } from '../../src/metrics/server.ts';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.ts';

const quiet = { child: () => quiet, info() {}, warn() {}, error() {}, debug() {} } as never;

test('listen addresses: HOST:PORT, :PORT, [v6]:PORT; anything else is a usage error', () => {
  assert.deepEqual(parseListenAddress('m', '127.0.0.1:9090'), { host: '127.0.0.1', port: 9090 });
  assert.deepEqual(parseListenAddress('m', ':8080'), { host: '0.0.0.0', port: 8080 });
  assert.deepEqual(parseListenAddress('m', '[::1]:0'), { host: '::1', port: 0 });
  for (const bad of ['9090', 'host', '1.2.3.4:70000', '1.2.3.4:', '::1:9090']) {
    assert.throws(() => parseListenAddress('metrics-address', bad), /--metrics-address must be HOST:PORT/, bad);
  }
});

test('pulled sources: kernel counters, map fill, program run time and sink outcomes as read at scrape time', async () => {
  const m = new KiveMetrics({ processMetrics: false });
  let emitted = 5n;
  const off = m.trackKernel({
    backend: 'tracepoint',
    counters: () => ({ emitted, dropped: 2n, aggregated: 7n }),
    mapEntries: () => ({ entries: 3, capacity: 64 }),
    programStats: () => [{ name: 'kive_openat', runTimeNs: 1_500_000_000n, runCount: 9n }],
  });
  const outcomes = { delivered: 4, dropped: 1, failed: 0 };
  m.trackSink('stdout', () => outcomes);
  const callbacks = new CallbackSink();
  m.trackSink('callbacks', () => callbacks.outcomes);
  m.countAlert('honey');
  m.countAlert('honey');
  let s = parsePrometheus(await m.registry.metrics());
  assert.equal(sampleValue(s, 'kive_kernel_events_total', { backend: 'tracepoint', counter: 'emitted' }), 5);
  assert.equal(sampleValue(s, 'kive_kernel_events_total', { counter: 'dropped' }), 2);
  assert.equal(sampleValue(s, 'kive_trap_map_entries'), 3);
  assert.equal(sampleValue(s, 'kive_trap_map_capacity'), 64);
  assert.equal(sampleValue(s, 'kive_bpf_program_run_seconds_total', { program: 'kive_openat' }), 1.5);
  assert.equal(sampleValue(s, 'kive_sink_alerts_total', { sink: 'stdout', outcome: 'delivered' }), 4);
  assert.equal(sampleValue(s, 'kive_alerts_total', { policy: 'honey' }), 2);
  assert.equal(sampleValue(s, 'kive_sink_alerts_total', { sink: 'callbacks', outcome: 'spooled' }), 0, 'the callbacks\' spooled outcome is exported, 0 until a shutdown keeps some');
  // A mirrored counter follows its source, never double counts.
  emitted = 8n;
  outcomes.delivered = 6;
  s = parsePrometheus(await m.registry.metrics());
  assert.equal(sampleValue(s, 'kive_kernel_events_total', { counter: 'emitted' }), 8);
  assert.equal(sampleValue(s, 'kive_sink_alerts_total', { sink: 'stdout', outcome: 'delivered' }), 6);
  off();
  s = parsePrometheus(await m.registry.metrics());
  assert.equal(sampleValue(s, 'kive_kernel_events_total', { counter: 'emitted' }), undefined, 'a closed monitor is not read');
});

test('the controller layer records reconciles by result, errors, duration and queue depth', async () => {
  const m = new KiveMetrics({ processMetrics: false });
  const results: Array<() => unknown> = [() => undefined, () => ({ requeueAfterMs: 60_000 }), () => { throw new TerminalError('bad spec'); }, () => { throw new Error('409'); }];
  let n = 0;
  const c = new Controller<string>({ name: 'demo', logger: quiet, metrics: m, reconcile: async () => results[n++]!() as never });
  c.start();
  for (const k of ['a', 'b', 'c', 'd']) c.enqueue(k);
  while (n < 4) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 20));
  let s = parsePrometheus(await m.registry.metrics());
  for (const result of ['success', 'requeue', 'terminal', 'error']) assert.ok((sampleValue(s, 'kive_reconcile_total', { controller: 'demo', result }) ?? 0) >= 1, result);
  assert.ok((sampleValue(s, 'kive_reconcile_errors_total', { controller: 'demo' }) ?? 0) >= 2);
  assert.ok((sampleValue(s, 'kive_reconcile_duration_seconds_count', { controller: 'demo' }) ?? 0) >= 4);
  assert.ok(sampleValue(s, 'kive_workqueue_depth', { controller: 'demo' }) !== undefined);
  await c.stop();
  s = parsePrometheus(await m.registry.metrics());
  assert.equal(sampleValue(s, 'kive_workqueue_depth', { controller: 'demo' }), undefined, 'a stopped controller reports no queue');
});

test('endpoint: /metrics parses, /healthz is 200, /readyz follows the readiness checks', async () => {
  const m = new KiveMetrics();
  const ready = new Readiness();
  ready.set('program attached', false);
  const srv = await startMetricsServer({ host: '127.0.0.1', port: 0 }, m, ready);
  try {
    const base = `http://127.0.0.1:${srv.address.port}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const r = await fetch(`${base}/readyz`);
    assert.equal(r.status, 503);
    assert.match(await r.text(), /program attached/);
    ready.set('program attached', true);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    m.setLeader('ns/kive-loader', true);
    const s = parsePrometheus(await (await fetch(`${base}/metrics`)).text());
    assert.equal(sampleValue(s, 'kive_leader', { lease: 'ns/kive-loader' }), 1);
    assert.ok(sampleValue(s, 'kive_process_resident_memory_bytes')! > 0);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
  } finally {
    await srv.close();
  }
});

test('log format: text lines keep every field; bad values are usage errors', () => {
  const line = formatText(JSON.stringify({ level: 40, time: Date.UTC(2026, 0, 1, 12, 3, 4, 5), name: 'kive', pid: 1, msg: 'callback failed', url: 'http://x/y', err: 'ECONNREFUSED 127.0.0.1', n: 3 }));
  assert.equal(line, '12:03:04.005 WARN  callback failed url=http://x/y err="ECONNREFUSED 127.0.0.1" n=3\n');
  assert.equal(parseLogFormat(undefined), 'auto');
  assert.equal(parseLogFormat('json'), 'json');
  assert.throws(() => parseLogFormat('yaml'), /--log-format must be one of auto, json, text/);
});

test('a retried 409 conflict is logged as info, other failures as errors', async () => {
  const { ApiError } = await import('../../src/k8s/rest.ts');
  const lines: Array<{ level: string; msg: string }> = [];
  const log: any = { child: () => log, debug() {}, warn() {} };
  for (const level of ['info', 'error']) log[level] = (_o: object, msg: string) => lines.push({ level, msg });
  const errs = [new ApiError('update KiveData', 409, 'Conflict', 'the object has been modified'), new ApiError('update KiveData', 500, 'Internal', 'boom')];
  let n = 0;
  const c = new Controller<string>({ name: 'demo', logger: log, reconcile: async () => { if (n < 2) throw errs[n++]; } });
  c.start();
  c.enqueue('a');
  while (n < 2) await new Promise((r) => setTimeout(r, 5));
  await c.stop();
  const retries = lines.filter((l) => /409|retrying/.test(l.msg));
  assert.deepEqual(retries.map((l) => l.level), ['info', 'error'], JSON.stringify(lines));
});

test('delivery latency per sink, callback queue per destination and the Event recorders, as a Prometheus parser reads them', async () => {
  const m = new KiveMetrics({ processMetrics: false });
  const stdout = m.deliveryLatency('stdout');
  for (const s of [0.0004, 0.003, 0.003, 0.015]) stdout(s);
  m.deliveryLatency('callbacks')(2);
  // A real callback sink whose receiver has not answered yet: what it holds is the queue.
  const answers: Array<() => void> = [];
  const sink = new CallbackSink({ post: () => new Promise((resolve) => answers.push(() => resolve({ status: 204, retryAfter: undefined }))), concurrencyPerUrl: 1 });
  const off = m.trackSinks([sink]);
  sink.send('https://hooks.example/a?token=secret', '{"n":1}');
  sink.send('https://hooks.example/a', '{"n":22}');
  sink.send('https://user:pw@hooks.example/a', '{"n":4444}'); // refused (credentials): never queued
  sink.send('http://other.example/b', '{"n":333}');
  const counts = { created: 3, aggregated: 5, dropped: 2, failed: 1 };
  m.trackEventRecorder('alerts', counts);
  let s = parsePrometheus(await m.registry.metrics());
  assert.equal(sampleValue(s, 'kive_alert_delivery_latency_seconds_count', { sink: 'stdout' }), 4);
  assert.equal(sampleValue(s, 'kive_alert_delivery_latency_seconds_bucket', { sink: 'stdout', le: '0.0005' }), 1);
  assert.equal(sampleValue(s, 'kive_alert_delivery_latency_seconds_bucket', { sink: 'stdout', le: '0.005' }), 3);
  assert.equal(sampleValue(s, 'kive_alert_delivery_latency_seconds_bucket', { sink: 'stdout', le: '0.02' }), 4);
  assert.ok(Math.abs(sampleValue(s, 'kive_alert_delivery_latency_seconds_sum', { sink: 'stdout' })! - 0.0214) < 1e-9);
  assert.equal(sampleValue(s, 'kive_alert_delivery_latency_seconds_count', { sink: 'callbacks' }), 1);
  // Credentials and query never reach a label; the two spellings of one destination are one series.
  assert.equal(sampleValue(s, 'kive_callback_queue_alerts', { destination: 'https://hooks.example/a' }), 2);
  assert.equal(sampleValue(s, 'kive_callback_queue_bytes', { destination: 'https://hooks.example/a' }), 7 + 8);
  assert.equal(sampleValue(s, 'kive_callback_queue_alerts', { destination: 'http://other.example/b' }), 1);
  assert.ok(!s.some((x) => Object.values(x.labels).some((v) => /secret|pw/.test(v))));
  for (const [result, n] of [['created', 3], ['aggregated', 5], ['rate_limited', 2], ['failed', 1]] as const) {
    assert.equal(sampleValue(s, 'kive_k8s_events_total', { recorder: 'alerts', result }), n, result);
  }
  counts.created = 4;
  while (answers.length > 0 || sink.queued.entries > 0) {
    answers.splice(0).forEach((a) => a());
    await new Promise((r) => setImmediate(r));
  }
  s = parsePrometheus(await m.registry.metrics());
  assert.equal(sampleValue(s, 'kive_callback_queue_alerts', { destination: 'https://hooks.example/a' }), 0);
  assert.equal(sampleValue(s, 'kive_callback_queue_bytes', { destination: 'http://other.example/b' }), 0);
  assert.equal(sampleValue(s, 'kive_sink_alerts_total', { sink: 'callbacks', outcome: 'delivered' }), 3);
  assert.equal(sampleValue(s, 'kive_k8s_events_total', { recorder: 'alerts', result: 'created' }), 4);
  off();
  s = parsePrometheus(await m.registry.metrics());
  assert.equal(sampleValue(s, 'kive_callback_queue_alerts', { destination: 'https://hooks.example/a' }), undefined, 'an untracked sink is not read');
  await sink.close(0);
});

test('docs/metrics.md lists every metric the registry serves, and no other', async () => {
  const m = new KiveMetrics({ processMetrics: false });
  const served = (await m.registry.getMetricsAsJSON()).map((x) => x.name).sort();
  const doc = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
  const listed = [...doc.matchAll(/^\| `(kive_[a-z0-9_]+)` \|/gm)].map((x) => x[1]!).sort();
  assert.deepEqual(listed, served);
});
