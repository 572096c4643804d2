// The operator at scale on a real kube-apiserver + etcd and real containers (containerd +
// runc through CRI), with the real kernel: N pods of one container each, one KivePolicy of
// M traps selecting all of them (N x M KiveData). Not a test: nothing asserts a time.
//
//   node bench/scale.ts [--containers N] [--traps M] [--idle-seconds S] [--alert-seconds S] [--json]
//
// Needs root, the test control plane's binaries (make cluster-bins) and `make build`.
// The recipe is the integration tests' (test/helpers/operator-env.ts, operator.ts):
// there is no kubelet; the bench writes the Pod objects and their status itself.
//
// What it measures, each with the load average when it was taken:
//  - apply: POST of the policy -> the kernel trap map holding all N x M entries (the
//    operator's kive_trap_map_entries walks the map itself, so "armed" is the kernel's
//    word, not a status field), then until the operator is quiet again;
//  - edit: one trap's path changed (N KiveData replaced);
//  - API requests of each phase, as the API server counts them (its own
//    apiserver_request_total, before and after; the bench makes no API request inside a
//    phase except the policy write it measures, and polls only the operator's /metrics),
//    less the API server's own background requests (measured first, without the operator);
//  - steady state: an idle window, and a window while alerts fire (FileAccessed Events
//    are API writes per alert, aggregated and rate-limited: src/k8s/events.ts);
//  - the operator's RSS; the time from an operator restart (SIGTERM, a new process) to
//    the map holding every entry again.
// The operator runs with its default leader-election timings (renewal every 2 s), as
// deployed, not the integration tests' short ones.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { eachLimited } from '../src/k8s/limit.ts';
import { containersUnavailable, type TestContainer } from '../test/helpers/containers.ts';
import { catInside, LEASE_ARGS, NS, OperatorEnv } from '../test/helpers/operator-env.ts';
import { startOperator, type OperatorProcess } from '../test/helpers/operator.ts';
import { parsePrometheus, type Sample } from '../test/helpers/prometheus.ts';

const run = promisify(execFile);
const API = '/apis/kivebpf.san7o.github.io/v1';
const load = () => loadavg()[0]!.toFixed(1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (msg: string) => console.error(`[${new Date().toISOString().slice(11, 19)} load ${load()}] ${msg}`);

/** `verb resource[/subresource]` -> requests, from the API server's own counter. */
type Counts = Map<string, number>;

async function apiserverCounts(env: OperatorEnv): Promise<Counts> {
  // /metrics is text, which KubeClient does not parse; curl with the admin certificate
  // that control-plane.sh wrote beside the kubeconfig.
  const pki = join(dirname(env.cp.kubeconfigPath), 'pki');
  const { stdout } = await run('curl', ['-sS', '--max-time', '20', '--cacert', join(pki, 'ca.crt'), '--cert', join(pki, 'admin.crt'), '--key', join(pki, 'admin.key'), `${env.cp.server}/metrics`], { maxBuffer: 256 << 20 });
  const text = stdout.split('\n').filter((l) => /^(# (TYPE|HELP) )?apiserver_request_total\b/.test(l)).join('\n') + '\n';
  const counts: Counts = new Map();
  for (const s of parsePrometheus(text)) {
    const { verb = '', resource = '', subresource = '' } = s.labels;
    if (resource === '') continue; // non-resource URLs (this bench's own /metrics reads)
    const key = `${verb} ${resource}${subresource ? `/${subresource}` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + s.value);
  }
  return counts;
}

function delta(before: Counts, after: Counts): { total: number; byKind: Record<string, number> } {
  const byKind: Record<string, number> = {};
  let total = 0;
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d > 0) {
      byKind[k] = d;
      total += d;
    }
  }
  return { total, byKind };
}

/** The operator's own metrics (not an API request). */
async function opMetrics(base: string): Promise<Sample[]> {
  return parsePrometheus(await (await fetch(`${base}/metrics`)).text());
}
const sum = (samples: Sample[], name: string) => samples.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);
const mapEntries = async (base: string) => sum(await opMetrics(base), 'kive_trap_map_entries');
/** Polls once a second: each scrape walks the whole kernel map in the operator. */
async function untilEntries(base: string, ok: (n: number) => boolean): Promise<void> {
  while (!ok(await mapEntries(base).catch(() => -1))) await sleep(1_000);
}

/**
 * Waits until the operator is quiet for `quietMs`: work queues empty, no reconcile ended
 * and no Kive object written (a long reconcile counts only when it ends; its writes show
 * in the API server's counter, leases aside: they renew forever).
 */
async function settle(base: string, env: OperatorEnv, quietMs = 5_000): Promise<void> {
  let last = '';
  let since = Date.now();
  for (;;) {
    const m = await opMetrics(base);
    const writes = [...(await apiserverCounts(env))].filter(([k]) => /kive|events/.test(k) && !k.startsWith('WATCH')).reduce((a, [, v]) => a + v, 0);
    const now = `${sum(m, 'kive_reconcile_total')} ${writes}`;
    if (now !== last || sum(m, 'kive_workqueue_depth') > 0) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return;
    await sleep(1_000);
  }
}

/** CPU seconds (user + system) a process has used: load-independent, unlike wall time. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in USER_HZ (100 on Linux)
}

/** The CPU seconds of the operator and the control plane since `from`. */
function cpuSince(pids: Record<string, number>, from: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, +(cpuSeconds(pid) - (from[k] ?? 0)).toFixed(1)]));
}
const cpuNow = (pids: Record<string, number>) => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));

function rssMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (f: string) => Number(new RegExp(`^${f}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: Math.round(kb('VmRSS') / 1024), peak: Math.round(kb('VmHWM') / 1024) };
}

/** `kive operator` as deployed: default lease timings and kernel grace. */
function operatorArgs(env: OperatorEnv): string[] {
  const args = env.operatorArgs();
  const drop = new Set(['--kernel-grace-ms', ...LEASE_ARGS.filter((a) => a.startsWith('--'))]);
  return args.filter((a, i) => !drop.has(a) && !drop.has(args[i - 1] ?? ''));
}

async function startLeading(identity: string, env: OperatorEnv): Promise<{ op: OperatorProcess; base: string; startedAt: number }> {
  const startedAt = performance.now();
  const op = startOperator(identity, operatorArgs(env));
  const listening = await op.waitForLog((l) => l.msg === 'metrics endpoint listening', 60_000);
  await op.waitForLog((l) => l.msg === 'loader leading: program attached', 120_000);
  await op.waitForLog((l) => l.msg === 'pod controller leading', 120_000);
  return { op, base: `http://${listening.address}`, startedAt };
}

export async function runScale(o: { containers: number; traps: number; idleSeconds: number; alertSeconds: number }) {
  const why = containersUnavailable();
  if (why) throw new Error(`bench/scale.ts: ${why}`);
  const target = o.containers * o.traps;
  const result: Record<string, unknown> = { containers: o.containers, traps: o.traps, kiveData: target };
  const env = await OperatorEnv.start();
  const ops: OperatorProcess[] = [];
  const containers: TestContainer[] = [];
  try {
    // 1. N real containers, each in a pod on the operator's node.
    let t = performance.now();
    await eachLimited(Array.from({ length: o.containers }, (_, i) => i), 4, async (i) => {
      const c = await env.containerd.runCri();
      containers.push(c);
      await env.createPod(`scale-${i}`, c, { app: 'scale' });
    });
    result['containersStartS'] = { value: +((performance.now() - t) / 1000).toFixed(1), load: load() };
    log(`${o.containers} containers and pods up`);

    // 2. The API server's own background requests, before any operator runs.
    const idleMs = o.idleSeconds * 1000;
    let c0 = await apiserverCounts(env);
    await sleep(idleMs);
    const background = delta(c0, await apiserverCounts(env));
    result['apiserverBackground'] = { ...background, seconds: o.idleSeconds, load: load() };
    log(`API server alone: ${background.total} requests in ${o.idleSeconds} s`);

    let { op, base } = await startLeading('bench-1', env);
    ops.push(op);
    const cpDir = dirname(env.cp.kubeconfigPath);
    const pidOf = (name: string) => Number(readFileSync(join(cpDir, `${name}.pid`), 'utf8').trim());
    const pids = { operator: op.pid, apiserver: pidOf('kube-apiserver'), etcd: pidOf('etcd') };
    await settle(base, env);

    // 3. Apply: the policy -> every trap armed in the kernel map.
    const traps = Array.from({ length: o.traps }, (_, j) => ({ path: `/scale-${j}.txt`, create: true, matchAny: [{ matchLabels: { app: 'scale' } }] }));
    c0 = await apiserverCounts(env);
    let cpu0 = cpuNow(pids);
    t = performance.now();
    await env.createPolicy('scale', traps);
    await untilEntries(base, (n) => n >= target);
    const armedS = (performance.now() - t) / 1000;
    const loadArmed = load();
    await settle(base, env);
    const settledS = (performance.now() - t) / 1000 - 5; // less the quiet window
    result['apply'] = { armedS: +armedS.toFixed(1), quietAfterS: +settledS.toFixed(1), load: loadArmed, cpuS: cpuSince(pids, cpu0), requests: delta(c0, await apiserverCounts(env)) };
    log(`apply: ${target} armed in ${armedS.toFixed(1)} s; quiet after ${settledS.toFixed(1)} s`);
    const status = (await env.getPolicy('scale')).status;
    result['policyStatus'] = { armedTraps: status?.armedTraps, matchedContainers: status?.matchedContainers, ready: status?.conditions?.find((x) => x.type === 'Ready')?.reason };

    // 4. Edit one trap (its path): N KiveData replaced, N honeytokens created.
    c0 = await apiserverCounts(env);
    const created = () => op.logs.filter((l) => l.msg === 'created honeytoken' && l.path === '/scale-edited.txt').length;
    t = performance.now();
    await env.client.request({
      method: 'PATCH', path: `${API}/namespaces/${NS}/kivepolicies/scale`, contentType: 'application/json-patch+json',
      body: [{ op: 'replace', path: '/spec/traps/0/path', value: '/scale-edited.txt' }],
    });
    await untilEntries(base, (n) => created() >= o.containers && n === target);
    const editS = (performance.now() - t) / 1000;
    const loadEdit = load();
    await settle(base, env);
    result['edit'] = { armedS: +editS.toFixed(1), load: loadEdit, requests: delta(c0, await apiserverCounts(env)) };
    log(`edit: ${o.containers} KiveData replaced in ${editS.toFixed(1)} s`);

    // 5. Steady state, idle.
    c0 = await apiserverCounts(env);
    cpu0 = cpuNow(pids);
    const r0 = sum(await opMetrics(base), 'kive_reconcile_total');
    await sleep(idleMs);
    const reconcilesIdle = sum(await opMetrics(base), 'kive_reconcile_total') - r0;
    result['idle'] = { seconds: o.idleSeconds, load: load(), reconciles: reconcilesIdle, cpuS: cpuSince(pids, cpu0), requests: delta(c0, await apiserverCounts(env)) };
    result['rssMiB'] = { ...rssMiB(op.pid), load: load() };
    log(`idle: ${JSON.stringify(result['idle'])}`);

    // 6. Steady state while alerts fire: 10 containers read a trap file every second.
    const readers = containers.slice(0, Math.min(10, containers.length));
    const alerts0 = op.alerts.length;
    c0 = await apiserverCounts(env);
    const end = Date.now() + o.alertSeconds * 1000;
    let reads = 0;
    while (Date.now() < end) {
      const tick = sleep(1000);
      await Promise.all(readers.map((c) => catInside(c, '/scale-1.txt').then(() => reads++, () => undefined)));
      await tick;
    }
    await sleep(5_000); // the Event recorder's aggregation flush
    const alerts = op.alerts.length - alerts0;
    result['alerting'] = { seconds: o.alertSeconds, reads, alerts, load: load(), requests: delta(c0, await apiserverCounts(env)) };
    log(`alerting: ${JSON.stringify(result['alerting'])}`);

    // 7. Restart: SIGTERM (the Leases are released), a new process, the map full again.
    await op.kill('SIGTERM');
    c0 = await apiserverCounts(env);
    const restarted = await startLeading('bench-2', env);
    ops.push((op = restarted.op));
    base = restarted.base;
    const leadingS = (performance.now() - restarted.startedAt) / 1000;
    await untilEntries(base, (n) => n >= target);
    const restoreS = (performance.now() - restarted.startedAt) / 1000;
    const loadRestore = load();
    await settle(base, env);
    result['restart'] = { leadingS: +leadingS.toFixed(1), restoredS: +restoreS.toFixed(1), load: loadRestore, requests: delta(c0, await apiserverCounts(env)), rssMiB: rssMiB(op.pid) };
    log(`restart: map restored ${restoreS.toFixed(1)} s after the new process started`);
    return result;
  } finally {
    for (const op of ops) await op.kill('SIGKILL');
    await eachLimited(containers, 8, (c) => c.stop().catch(() => undefined));
    await env.stop();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      containers: { type: 'string', default: '100' },
      traps: { type: 'string', default: '50' },
      'idle-seconds': { type: 'string', default: '60' },
      'alert-seconds': { type: 'string', default: '20' },
      json: { type: 'boolean' },
    },
  });
  const r = await runScale({ containers: Number(values.containers), traps: Number(values.traps), idleSeconds: Number(values['idle-seconds']), alertSeconds: Number(values['alert-seconds']) });
  console.log(values.json ? JSON.stringify(r) : JSON.stringify(r, null, 2));
}
