// `kive run --metrics-address`: a real monitor's /metrics, /healthz and /readyz, parsed by
// a real Prometheus parser (test/helpers/prometheus.ts).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { startKiveRun, writeHoneytokenPolicy } from '../helpers/kive-run.ts';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.ts';
import { scaled } from '../kernels/time-scale.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'kive-metrics-'));
chmodSync(dir, 0o755);
after(() => rmSync(dir, { recursive: true, force: true }));
const honey = join(dir, 'honey.txt');
const policy = join(dir, 'policy.yaml');
writeHoneytokenPolicy(policy, 'metrics-test', honey);

test('kive run --metrics-address: /metrics counts the alert, the kernel event and stdout; /healthz and /readyz answer', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async () => {
  const kive = startKiveRun(['--policy', policy, '--metrics-address', '127.0.0.1:0', '--max-traps', '128']);
  try {
    const listening = await kive.waitFor('metrics endpoint', () => kive.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'metrics endpoint listening'), scaled(15_000));
    await kive.waitFor('monitoring', () => kive.logs.find((l) => l.includes('"msg":"monitoring"')), scaled(15_000));
    const base = `http://${listening.address}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    await run('cat', [honey]);
    await kive.waitFor('alert for cat', () => kive.alerts.find((a) => a.process?.comm === 'cat'), scaled(15_000));
    const samples = parsePrometheus(await (await fetch(`${base}/metrics`)).text());
    const at = (name: string, labels: Record<string, string> = {}) => sampleValue(samples, name, labels);
    const alerts = kive.alerts.filter((a) => a['kive-policy-name'] === 'metrics-test').length;
    assert.equal(at('kive_alerts_total', { policy: 'metrics-test' }), alerts);
    assert.ok(at('kive_kernel_events_total', { counter: 'emitted' })! >= 1);
    assert.equal(at('kive_kernel_events_total', { counter: 'dropped' }), 0);
    assert.equal(at('kive_trap_map_entries'), 1);
    assert.equal(at('kive_trap_map_capacity'), 128);
    assert.ok(at('kive_sink_alerts_total', { sink: 'stdout', outcome: 'delivered' })! >= 1);
    assert.equal(at('kive_sink_alerts_total', { sink: 'callbacks', outcome: 'delivered' }), 0);
    assert.ok(samples.some((s) => s.name === 'kive_bpf_program_runs_total'), 'one series per attached program');
  } finally {
    assert.equal(await kive.stop(), 0, kive.logs.join('\n'));
  }
});
