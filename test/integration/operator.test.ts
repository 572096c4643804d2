// The operator end to end: a real kube-apiserver + etcd, real containers (containerd +
// runc, created through CRI), the real kernel, and `kive operator` as a child process.
// There is no kubelet: the test writes the Pod objects and their status itself.
//
// Runs as root (containers, eBPF). The steps share one control plane, one containerd
// and one operator, and run in order.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import type { KivePolicy } from '../../src/api/v1/types.ts';
import { assertKiveAlertV1 } from '../helpers/alert-schema.ts';
import { containersUnavailable, type TestContainer } from '../helpers/containers.ts';
import { catInside, NODE, NS, OperatorEnv, until } from '../helpers/operator-env.ts';
import { bpfProgramIdsOf, startOperator, type OperatorProcess } from '../helpers/operator.ts';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.ts';
import { loaderLeaseName, POD_CONTROLLER } from '../../src/operator/names.ts';

const run = promisify(execFile);

let env: OperatorEnv;
let kernelId: string;
const operators: OperatorProcess[] = [];
const containers: TestContainer[] = [];

const post = (path: string, body: unknown) => env.post(path, body);
const createPod = (name: string, c: TestContainer, labels: Record<string, string> = {}) => env.createPod(name, c, labels);
const setPodContainer = (name: string, c: TestContainer) => env.setPodContainer(name, c);
const policy = (name: string, traps: KivePolicy['spec']['traps']) => env.policy(name, traps);
const kiveData = (selector: string) => env.kiveData(selector);

const skip = containersUnavailable();

describe('kive operator on a real API server, real containers and the real kernel', { skip, concurrency: false }, () => {
  before(async () => {
    env = await OperatorEnv.start();
    kernelId = env.kernelId;
  });

  after(async () => {
    for (const op of operators) await op.kill('SIGKILL');
    for (const c of containers) await c.stop();
    await env?.stop();
  });

  const operatorArgs = () => env.operatorArgs();

  test('policy -> KiveData -> map -> cat inside the container -> alert naming the pod and container', async () => {
    const c = await env.containerd.runCri();
    containers.push(c);
    await createPod('web-1', c, { app: 'web' });
    operators.push(startOperator('op-1', operatorArgs()));
    await operators[0]!.waitForLog((l) => l.msg === 'loader leading: program attached', 30_000);
    await post(`/apis/kivebpf.san7o.github.io/v1/namespaces/${NS}/kivepolicies`, policy('honey', [
      { path: '/honey.txt', create: true, mode: 440, matchAny: [{ matchLabels: { app: 'web' } }], metadata: { severity: 'critical' } },
    ]));
    const data = await until('KiveData for web-1', async () => (await kiveData('kivebpf.san7o.github.io/policy=honey')).find((d) => d.spec.podName === 'web-1'));
    assert.equal(data!.spec.containerName, 'app');
    assert.equal(data!.spec.containerId, `containerd://${c.id}`);
    assert.equal(data!.metadata.labels?.['kivebpf.san7o.github.io/kernel-id'], kernelId);
    // the honeytoken exists inside the container with the asked mode
    assert.equal(statSync(`/proc/${c.pid}/root/honey.txt`).mode & 0o777, 0o440);

    const alert = await until('an alert for cat inside web-1', async () => {
      await catInside(c, '/honey.txt');
      return operators[0]!.alerts.find((a) => a.pod?.name === 'web-1');
    });
    assertKiveAlertV1(alert);
    assert.equal(alert['kive-policy-name'], 'honey');
    assert.equal(alert.metadata.path, '/honey.txt');
    assert.equal(alert.metadata['kernel-id'], kernelId);
    assert.deepEqual(alert.pod, { name: 'web-1', namespace: 'default', container: { id: `containerd://${c.id}`, name: 'app' } });
    assert.equal(alert.node.name, NODE);
    assert.deepEqual(alert['custom-metadata'], { severity: 'critical' });
    assert.equal(alert.process.comm, 'cat');

    const status = await until('Ready=True on the policy', async () => {
      const p = (await env.client.request({ method: 'GET', path: `/apis/kivebpf.san7o.github.io/v1/namespaces/${NS}/kivepolicies/honey` })) as KivePolicy;
      return p.status?.conditions?.find((x) => x.type === 'Ready' && x.status === 'True') ? p.status : undefined;
    });
    assert.equal(status.armedTraps, 1);
  });

  test('an alert is a FileAccessed Event on the pod, in the pod\'s namespace; the same access again raises its count', async () => {
    const c = containers[0]!;
    const pod = (await env.client.request({ method: 'GET', path: '/api/v1/namespaces/default/pods/web-1' })) as { metadata: { uid: string } };
    const accessEvents = async () =>
      ((await env.client.request({ method: 'GET', path: '/api/v1/namespaces/default/events', query: { fieldSelector: 'involvedObject.kind=Pod,involvedObject.name=web-1,reason=FileAccessed' } })) as { items: Array<Record<string, any>> }).items;
    let seen: unknown[] = [];
    const first = await until('a FileAccessed Event on pod web-1', async () => {
      const items = (seen = await accessEvents()).filter((e) => /^\/honey\.txt /.test(e.message));
      return items.length > 0 ? items : undefined;
    }).catch((err: Error) => {
      throw new Error(`${err.message}\nevents: ${JSON.stringify(seen)}`);
    });
    assert.equal(first.length, 1, JSON.stringify(first));
    const ev = first[0]!;
    assert.equal(ev.type, 'Warning');
    assert.deepEqual(
      { kind: ev.involvedObject.kind, name: ev.involvedObject.name, namespace: ev.involvedObject.namespace, uid: ev.involvedObject.uid },
      { kind: 'Pod', name: 'web-1', namespace: 'default', uid: pod.metadata.uid },
    );
    assert.equal(ev.metadata.namespace, 'default', 'the pod\'s own namespace, not the operator\'s');
    assert.equal(ev.source.component, 'kive');
    const alert = operators[0]!.alerts.find((a) => a.pod?.name === 'web-1')!;
    assert.equal(ev.message, `/honey.txt (KivePolicy honey) in container app: open (read) by ${alert.process.binary} (comm cat, uid ${alert.process.uid})`);
    // The same access by a new process: the same Event, its count raised (a PATCH), not a new Event.
    const before = ev.count as number;
    await catInside(c, '/honey.txt');
    const again = await until('the FileAccessed Event counted again', async () => {
      const items = (await accessEvents()).filter((e) => e.message === ev.message);
      return items.length === 1 && items[0]!.count > before ? items[0] : undefined;
    });
    assert.ok(again.count >= 2, String(again.count));
    assert.equal(again.metadata.name, ev.metadata.name);
    assert.equal((await accessEvents()).filter((e) => e.message === ev.message).length, 1, 'aggregated, not a new Event');
  });

  test('metrics, /healthz and /readyz of the leading operator (parsed by a real Prometheus parser)', async () => {
    const op = operators[0]!;
    const listening = await op.waitForLog((l) => l.msg === 'metrics endpoint listening', 10_000);
    const base = `http://${listening.address}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
    const samples = parsePrometheus(await (await fetch(`${base}/metrics`)).text());
    const at = (name: string, labels: Record<string, string> = {}) => sampleValue(samples, name, labels);
    assert.ok(at('kive_alerts_total', { policy: 'honey' })! >= 1, 'alerts by policy');
    assert.ok(at('kive_kernel_events_total', { counter: 'emitted' })! >= 1, 'kernel events emitted');
    assert.ok(at('kive_trap_map_entries')! >= 1);
    assert.equal(at('kive_trap_map_capacity'), 65536);
    assert.ok(at('kive_sink_alerts_total', { sink: 'stdout', outcome: 'delivered' })! >= 1);
    assert.ok(at('kive_sink_alerts_total', { sink: 'k8s-events', outcome: 'delivered' })! >= 2, 'the FileAccessed Events');
    assert.ok(at('kive_alert_delivery_latency_seconds_count', { sink: 'stdout' })! >= 1);
    assert.ok(at('kive_alert_delivery_latency_seconds_count', { sink: 'k8s-events' })! >= 2);
    assert.equal(at('kive_k8s_events_total', { recorder: 'alerts', result: 'created' }), 1);
    assert.ok(at('kive_k8s_events_total', { recorder: 'alerts', result: 'aggregated' })! >= 1);
    assert.ok(at('kive_k8s_events_total', { recorder: 'policies', result: 'created' })! >= 1, 'TrapArmed');
    assert.equal(at('kive_leader', { lease: `${NS}/${POD_CONTROLLER}` }), 1);
    assert.equal(at('kive_leader', { lease: `${NS}/${loaderLeaseName(kernelId)}` }), 1);
    for (const controller of ['discover', 'loader']) {
      // discover re-checks on a timer (a requeue), the loader does not: either is a completed reconcile.
      const done = (at('kive_reconcile_total', { controller, result: 'success' }) ?? 0) + (at('kive_reconcile_total', { controller, result: 'requeue' }) ?? 0);
      assert.ok(done >= 1, `${controller} reconciled`);
      assert.ok(at('kive_reconcile_duration_seconds_count', { controller })! >= 1);
      assert.notEqual(at('kive_workqueue_depth', { controller }), undefined);
    }
  });

  test('two containers of one image watching the same path get their own alerts', async () => {
    const c2 = await env.containerd.runCri();
    containers.push(c2);
    await createPod('web-2', c2, { app: 'web' });
    await post(`/apis/kivebpf.san7o.github.io/v1/namespaces/${NS}/kivepolicies`, policy('image-file', [{ path: '/app/data.txt', matchAny: [{ matchLabels: { app: 'web' } }] }]));
    const data = await until('two KiveData for /app/data.txt', async () => {
      const items = await kiveData('kivebpf.san7o.github.io/policy=image-file');
      return items.length === 2 ? items : undefined;
    });
    // the same file of the same image layer, seen through two overlay mounts: two devices
    assert.notEqual(data[0]!.spec.devId, data[1]!.spec.devId);
    const op = operators[0]!;
    for (const [c, pod] of [[containers[0]!, 'web-1'], [c2, 'web-2']] as const) {
      const alert = await until(`alert for ${pod}`, async () => {
        await catInside(c, '/app/data.txt');
        return op.alerts.find((a) => a['kive-policy-name'] === 'image-file' && a.pod.name === pod);
      });
      assert.equal(alert.pod.container.id, `containerd://${c.id}`);
    }
  });

  test('a restarted container: the new inode is tracked, the old one is not', async () => {
    const old = containers[0]!;
    const fresh = await env.containerd.runCri();
    containers.push(fresh);
    await setPodContainer('web-1', fresh);
    await until('KiveData of web-1 follows the new container', async () =>
      (await kiveData('kivebpf.san7o.github.io/policy=honey')).find((d) => d.spec.podName === 'web-1' && d.spec.containerId === `containerd://${fresh.id}`),
    );
    const honey = (await kiveData('kivebpf.san7o.github.io/policy=honey')).filter((d) => d.spec.podName === 'web-1');
    assert.equal(honey.length, 1, 'one KiveData for the pod\'s container, updated in place');
    const op = operators[0]!;
    const before = op.alerts.length;
    await catInside(old, '/honey.txt'); // the old container's file: no longer armed
    const alert = await until('alert from the new container', async () => {
      await catInside(fresh, '/honey.txt');
      return op.alerts.slice(before).find((a) => a['kive-policy-name'] === 'honey' && a.pod.name === 'web-1');
    });
    assert.equal(alert.pod.container.id, `containerd://${fresh.id}`);
    assert.deepEqual(op.alerts.slice(before).filter((a) => a['kive-policy-name'] === 'honey' && a.pod.container.id === `containerd://${old.id}`), []);
    assert.equal(alert.metadata.inode, Number(statSync(`/proc/${fresh.pid}/root/honey.txt`, { bigint: true }).ino));
  });

  test('a file replaced inside a running container is re-armed at once, not at the next re-check', async () => {
    const op = operators[0]!;
    const armed = (await kiveData('kivebpf.san7o.github.io/policy=honey')).find((d) => d.spec.podName === 'web-1')!;
    const c = containers.find((x) => `containerd://${x.id}` === armed.spec.containerId)!;
    // What an attacker or an atomic config writer does: a new file renamed over the old.
    writeFileSync(`/proc/${c.pid}/root/honey.new`, 'replaced\n');
    renameSync(`/proc/${c.pid}/root/honey.new`, `/proc/${c.pid}/root/honey.txt`);
    const newIno = Number(statSync(`/proc/${c.pid}/root/honey.txt`, { bigint: true }).ino);
    assert.notEqual(newIno, armed.spec.inodeNo);
    // The directory watch, not the 60 s re-check, brings it back (within until's 20 s).
    await op.waitForLog((l) => l.msg === 'trap file changed; re-resolving' && l.policy === `${NS}/honey`, 20_000);
    await until('KiveData of web-1 follows the new inode', async () =>
      (await kiveData('kivebpf.san7o.github.io/policy=honey')).find((d) => d.spec.podName === 'web-1' && d.spec.inodeNo === newIno),
    );
    const before = op.alerts.length;
    const alert = await until('alert for the replaced file', async () => {
      await catInside(c, '/honey.txt');
      return op.alerts.slice(before).find((a) => a['kive-policy-name'] === 'honey' && a.pod.name === 'web-1');
    });
    assert.equal(alert.metadata.inode, newIno);
  });

  test('a symlink escape is refused, reported in the policy status, and the host file is untouched', async () => {
    const hostShadow = () => {
      const st = statSync('/etc/shadow', { bigint: true });
      return { ino: st.ino, mtime: st.mtimeNs, mode: st.mode, size: st.size, content: readFileSync('/etc/shadow', 'utf8') };
    };
    const beforeHost = hostShadow();
    // In the image, /secret.txt -> /etc/shadow and /app/sub/rel-secret.txt -> ../../../../../../etc/shadow
    await post(`/apis/kivebpf.san7o.github.io/v1/namespaces/${NS}/kivepolicies`, policy('escape', [
      { path: '/secret.txt', create: true, mode: 666, matchAny: [{ pod: 'web-2' }] },
      { path: '/magic.txt', matchAny: [{ pod: 'web-2' }] },
    ]));
    const ready = await until('escape policy reports UnsafePath', async () => {
      const p = (await env.client.request({ method: 'GET', path: `/apis/kivebpf.san7o.github.io/v1/namespaces/${NS}/kivepolicies/escape` })) as KivePolicy;
      return p.status?.conditions?.find((c) => c.type === 'Ready' && c.reason === 'UnsafePath');
    });
    assert.equal(ready.status, 'False');
    assert.match(ready.message, /\/secret\.txt in default\/web-2\/app/);
    assert.deepEqual(await kiveData('kivebpf.san7o.github.io/policy=escape'), []);
    assert.deepEqual(hostShadow(), beforeHost);
    // The same problems as Kubernetes Events on the policy, readable through the API server.
    const eventsOf = async (name: string, reason: string) => {
      let seen: unknown[] = [];
      return until(`a ${reason} Event on KivePolicy ${name}`, async () => {
        const list = (await env.client.request({ method: 'GET', path: `/api/v1/namespaces/${NS}/events`, query: { fieldSelector: `involvedObject.kind=KivePolicy,involvedObject.name=${name},reason=${reason}` } })) as { items: Array<Record<string, any>> };
        seen = list.items;
        return list.items.length > 0 ? list.items : undefined;
      }).catch((err: Error) => {
        throw new Error(`${err.message}\nevents: ${JSON.stringify(seen)}`);
      });
    };
    const unsafe = await eventsOf('escape', 'UnsafePath');
    assert.equal(unsafe[0]!.type, 'Warning');
    assert.equal(unsafe[0]!.source.component, 'kive');
    assert.ok(unsafe.some((e) => /\/secret\.txt in default\/web-2\/app/.test(e.message)), JSON.stringify(unsafe));
    await post(`/apis/kivebpf.san7o.github.io/v1/namespaces/${NS}/kivepolicies`, policy('missing', [{ path: '/no-such-file.txt', matchAny: [{ pod: 'web-2' }] }]));
    const missing = await eventsOf('missing', 'PathNotFound');
    assert.match(missing[0]!.message, /\/no-such-file\.txt in default\/web-2\/app/);
    await env.client.request({ method: 'DELETE', path: `/apis/kivebpf.san7o.github.io/v1/namespaces/${NS}/kivepolicies/missing` });
  });

  test('malformed policies are refused by the API server with a clear message', async () => {
    const cases: Array<[string, KivePolicy['spec']['traps'][number], RegExp]> = [
      ['relative path', { path: 'secret.txt', matchAny: [{ pod: 'a' }] }, /path must be absolute/],
      ['.. segment', { path: '/a/../etc/shadow', matchAny: [{ pod: 'a' }] }, /must not contain a '\.\.' segment/],
      ['mode digit 9', { path: '/a', mode: 449, matchAny: [{ pod: 'a' }] }, /mode must be written as octal digits/],
      ['mode above 777', { path: '/a', mode: 1000, matchAny: [{ pod: 'a' }] }, /spec\.traps\[0\]\.mode/],
      ['ftp callback', { path: '/a', callback: 'ftp://x/y', matchAny: [{ pod: 'a' }] }, /callback must be an http/],
      ['bad ip', { path: '/a', matchAny: [{ ip: '10.0.0.300' }] }, /ip must be an IPv4 or IPv6 address/],
      ['bad regex', { path: '/a', matchAny: [{ containerName: 'regex: (unclosed' }] }, /containerName|error parsing regexp|invalid/],
      ['empty matchAny', { path: '/a', matchAny: [] }, /spec\.traps\[0\]\.matchAny/],
      ['empty match block', { path: '/a', matchAny: [{}] }, /spec\.traps\[0\]\.matchAny\[0\]/],
    ];
    for (const [name, trap, message] of cases) {
      await assert.rejects(
        post(`/apis/kivebpf.san7o.github.io/v1/namespaces/${NS}/kivepolicies`, policy(`bad-${cases.findIndex((c) => c[0] === name)}`, [trap])),
        (err: { status?: number; message: string }) => err.status === 422 && message.test(err.message),
        name,
      );
    }
  });

  test('the design document sample and every example in examples/ and docs/ apply cleanly', async () => {
    const { parseAllDocuments } = await import('yaml');
    const { readdirSync } = await import('node:fs');
    const files = [
      ...readdirSync(new URL('../../examples/', import.meta.url)).map((f) => new URL(`../../examples/${f}`, import.meta.url)),
      ...readdirSync(new URL('../../docs/examples/', import.meta.url)).map((f) => new URL(`../../docs/examples/${f}`, import.meta.url)),
    ].filter((u) => u.pathname.endsWith('.yaml'));
    assert.ok(files.some((u) => u.pathname.endsWith('design-sample-policy.yaml')));
    // The deployment manifest too, validated by the API server without being created.
    const kinds: Record<string, string> = {
      Namespace: '/api/v1/namespaces', ServiceAccount: '/api/v1/namespaces/NS/serviceaccounts',
      ClusterRole: '/apis/rbac.authorization.k8s.io/v1/clusterroles', ClusterRoleBinding: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
      Role: '/apis/rbac.authorization.k8s.io/v1/namespaces/NS/roles', RoleBinding: '/apis/rbac.authorization.k8s.io/v1/namespaces/NS/rolebindings',
      DaemonSet: '/apis/apps/v1/namespaces/NS/daemonsets',
    };
    for (const doc of parseAllDocuments(readFileSync(new URL('../../deploy/operator.yaml', import.meta.url), 'utf8'))) {
      const obj = doc.toJS() as { kind: string; metadata: { namespace?: string } };
      const path = kinds[obj.kind];
      assert.ok(path, `deploy/operator.yaml: unexpected kind ${obj.kind}`);
      await env.client.request({ method: 'POST', path: path.replace('NS', obj.metadata.namespace ?? ''), query: { dryRun: 'All', fieldValidation: 'Strict' }, body: obj })
        .catch((err: { status?: number; message: string }) => {
          if (err.status !== 409) assert.fail(`deploy/operator.yaml ${obj.kind}: ${err.message}`); // 409: the namespace exists
        });
    }
    for (const file of files) {
      for (const doc of parseAllDocuments(readFileSync(file, 'utf8'), { version: '1.1' })) {
        const obj = doc.toJS() as KivePolicy;
        if (obj?.kind !== 'KivePolicy') continue;
        const ns = obj.metadata.namespace ?? NS;
        await post(`/apis/kivebpf.san7o.github.io/v1/namespaces/${ns}/kivepolicies?dryRun=All`.replace('?dryRun=All', ''), { ...obj, metadata: { ...obj.metadata, namespace: ns, name: `${obj.metadata.name}-check` } })
          .then(() => env.client.request({ method: 'DELETE', path: `/apis/kivebpf.san7o.github.io/v1/namespaces/${ns}/kivepolicies/${obj.metadata.name}-check` }))
          .catch((err: Error) => assert.fail(`${file.pathname}: ${err.message}`));
      }
    }
  });

  test('operator killed with SIGKILL and restarted: the map is restored', async () => {
    await operators[0]!.kill('SIGKILL');
    const op = startOperator('op-2', operatorArgs());
    operators.push(op);
    await op.waitForLog((l) => l.msg === 'loader leading: program attached', 30_000);
    const c = containers[2]!; // web-1's current container
    const alert = await until('alert after restart', async () => {
      await catInside(c, '/honey.txt');
      return op.alerts.find((a) => a['kive-policy-name'] === 'honey' && a.pod.name === 'web-1');
    });
    assertKiveAlertV1(alert);
  });

  test('two operators on one kernel: exactly one loader', async () => {
    const second = startOperator('op-3', operatorArgs());
    operators.push(second);
    await second.waitForLog((l) => l.msg === 'operator started');
    await new Promise((r) => setTimeout(r, 4_000)); // longer than a lease
    const lease = (await env.client.request({ method: 'GET', path: `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/kive-loader-${kernelId}` })) as { spec: { holderIdentity: string } };
    assert.equal(lease.spec.holderIdentity, 'op-2');
    assert.equal(second.logs.filter((l) => l.msg === 'loader leading: program attached').length, 0);
    // The programs each operator holds, not every Kive program on the machine: another
    // test run may load its own meanwhile.
    const { stdout } = await run('bpftool', ['prog', 'show', '--json']);
    const names = new Map((JSON.parse(stdout) as Array<{ id: number; name?: string }>).map((p) => [p.id, p.name ?? '']));
    const held = (op: OperatorProcess) => [...bpfProgramIdsOf(op.pid)].map((id) => names.get(id) ?? '').filter((n) => n.startsWith('kive_'));
    assert.deepEqual(held(second), [], 'the second operator loaded nothing');
    const leader = held(operators.find((o) => o.identity === 'op-2')!);
    assert.ok(leader.length > 0, 'the leader holds its programs');
    assert.equal(new Set(leader).size, leader.length, `one copy of each kive program: ${leader.join(', ')}`);
  });

  test('a deleted pod has its KiveData removed', async () => {
    await env.client.request({ method: 'DELETE', path: '/api/v1/namespaces/default/pods/web-2', query: { gracePeriodSeconds: 0 } });
    await until('no KiveData for web-2', async () => {
      const all = await kiveData('app.kubernetes.io/managed-by=kive');
      return all.some((d) => d.spec.podName === 'web-2') ? undefined : true;
    });
  });

  test('KiveData and the loader Lease of a kernel that no longer runs are garbage-collected', async () => {
    const pod = (await env.client.request({ method: 'GET', path: '/api/v1/namespaces/default/pods/web-1' })) as { metadata: { uid: string } };
    // What the loader of a node's previous boot left: its Lease, never renewed again.
    const leases = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`;
    await post(leases, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'kive-loader-dead-kernel' }, spec: { holderIdentity: 'op-before-reboot', leaseDurationSeconds: 1 } });
    await post(`/apis/kivebpf.san7o.github.io/v1/namespaces/${NS}/kivedata`, {
      apiVersion: 'kivebpf.san7o.github.io/v1',
      kind: 'KiveData',
      metadata: { name: 'from-a-rebooted-node', labels: { 'kivebpf.san7o.github.io/kernel-id': 'dead-kernel', 'app.kubernetes.io/managed-by': 'kive' } },
      spec: { inodeNo: 1, devId: 1, kernelId: 'dead-kernel', podName: 'web-1', podNamespace: 'default', podUid: pod.metadata.uid },
    });
    await until('the dead kernel\'s KiveData is gone', async () => ((await kiveData('kivebpf.san7o.github.io/kernel-id=dead-kernel')).length === 0 ? true : undefined), 30_000);
    const names = async () => ((await env.client.request({ method: 'GET', path: leases })) as { items: Array<{ metadata: { name: string } }> }).items.map((l) => l.metadata.name);
    await until('the dead kernel\'s Lease is gone', async () => ((await names()).includes('kive-loader-dead-kernel') ? undefined : true), 30_000);
    assert.ok((await names()).includes(`kive-loader-${kernelId}`), 'the running kernel\'s Lease stays');
  });

  test('a deleted policy: its KiveData go, then the finalizer lets it go', async () => {
    await env.client.request({ method: 'DELETE', path: `/apis/kivebpf.san7o.github.io/v1/namespaces/${NS}/kivepolicies/honey` });
    await until('policy honey gone', async () => {
      try {
        await env.client.request({ method: 'GET', path: `/apis/kivebpf.san7o.github.io/v1/namespaces/${NS}/kivepolicies/honey` });
        return undefined;
      } catch (err) {
        return (err as { status?: number }).status === 404 ? true : undefined;
      }
    });
    assert.deepEqual(await kiveData('kivebpf.san7o.github.io/policy=honey'), []);
  });

  test('SIGTERM: every operator stops cleanly, exit 0, not by its shutdown bound', async () => {
    // Every informer's watch is aborted at stop: an open one kept the process alive until
    // the API server ended it, so the 20 s bound ended the process, with exit 1.
    for (const op of operators.slice(1)) {
      const code = await op.kill('SIGTERM');
      assert.equal(code, 0, `${op.identity} exit code; last logs: ${JSON.stringify(op.logs.slice(-3))}`);
      assert.ok(!op.logs.some((l) => l.msg === 'shutdown did not finish in time; exiting'), op.identity);
      assert.ok(op.logs.some((l) => l.msg === 'stopping'), `${op.identity} logged its stop`);
    }
  });
});
