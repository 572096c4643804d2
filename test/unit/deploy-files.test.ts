// deploy/ is generated from scripts/deploy/ (one source for deploy/operator.yaml, the
// kustomize base, the chart's values.yaml, Chart.yaml and crds/); the DaemonSet keeps the
// promises the docs make about it. The chart's templates are compared with the same source
// by test/integration/deploy-chart.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { DEFAULT_METRICS_ADDRESS, DEFAULT_SPOOL_DIR, SHUTDOWN_BOUND_MS } from '../../src/cli/operator.ts';
import { DEFAULT_CRI_SOCKETS } from '../../src/runtime/cri.ts';
import { deployFiles } from '../../scripts/deploy/files.ts';
import { manifests, operatorArgs } from '../../scripts/deploy/manifests.ts';
import { CAPABILITIES, CRI_SOCKETS, DEFAULTS, VERSION, type Values } from '../../scripts/deploy/values.ts';

const root = new URL('../../', import.meta.url);
type Any = Record<string, any>;
const podSpec = (v: Values): Any => (manifests(v).find((o) => o.kind === 'DaemonSet') as Any).spec.template.spec;
const withValues = (patch: Partial<Values>): Values => ({ ...DEFAULTS, ...patch });

test('deploy/ is what scripts/deploy/ generates (run `make deploy` after a change)', () => {
  for (const [path, content] of deployFiles()) assert.equal(readFileSync(new URL(path, root), 'utf8'), content, path);
});

test('the chart and the image share package.json\'s version', () => {
  const chart = parse(readFileSync(new URL('deploy/helm/kive/Chart.yaml', root), 'utf8'));
  assert.equal(chart.appVersion, VERSION);
  assert.equal(podSpec(DEFAULTS).containers[0].image, `kive:${VERSION}`);
});

test('the default DaemonSet: least capabilities, read-only root, host PID, only the mounts it uses', () => {
  const spec = podSpec(DEFAULTS);
  const c = spec.containers[0];
  assert.equal(spec.hostPID, true);
  assert.equal(c.securityContext.privileged, undefined);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'], add: ['BPF', 'PERFMON', 'SYS_PTRACE', 'DAC_OVERRIDE'] });
  assert.deepEqual(c.volumeMounts.map((m: Any) => m.mountPath), ['/run', '/sys/kernel/tracing', '/host/sys/fs/cgroup', '/var/lib/kive']);
  assert.ok(DEFAULT_SPOOL_DIR.startsWith('/var/lib/kive/'));
  assert.equal(c.ports[0].containerPort, Number(DEFAULT_METRICS_ADDRESS.split(':').pop()));
  assert.ok(spec.terminationGracePeriodSeconds * 1000 >= SHUTDOWN_BOUND_MS + 5_000);
  assert.deepEqual(spec.volumes.map((v: Any) => v.hostPath.path), ['/run', '/sys/kernel/tracing', '/sys/fs/cgroup', '/var/lib/kive']);
});

test('criSocket auto mounts /run, where every socket the operator tries lives', () => {
  for (const s of DEFAULT_CRI_SOCKETS) assert.ok(s.startsWith('/run/') || s.startsWith('/var/run/'), s);
  for (const s of Object.values(CRI_SOCKETS)) {
    const resolved = s.replace(/^\/var\/run\//, '/run/');
    assert.ok(DEFAULT_CRI_SOCKETS.includes(s) || DEFAULT_CRI_SOCKETS.includes(resolved), `${s} is tried by auto`);
  }
  assert.ok(!operatorArgs(DEFAULTS).some((a) => a.startsWith('--cri-socket')));
});

test('a named or explicit criSocket mounts only its directory and passes --cri-socket', () => {
  for (const [name, path, dir] of [['k3s', '/run/k3s/containerd/containerd.sock', '/run/k3s/containerd'], ['crio', '/var/run/crio/crio.sock', '/var/run/crio'], ['/x/y.sock', '/x/y.sock', '/x']] as const) {
    const spec = podSpec(withValues({ criSocket: name }));
    assert.ok(spec.containers[0].args.includes(`--cri-socket=${path}`), name);
    assert.deepEqual(spec.volumes[0], { name: 'cri', hostPath: { path: dir, type: 'Directory' } });
  }
  assert.throws(() => manifests(withValues({ criSocket: 'docker' })), /criSocket/);
});

test('privileged is an opt-in; the callback Secret is mounted read-only for both flags', () => {
  assert.deepEqual(podSpec(withValues({ privileged: true })).containers[0].securityContext, { privileged: true, readOnlyRootFilesystem: true });
  const spec = podSpec(withValues({ callbackSecret: { name: 'kive-callback', secretKey: 'secret', caKey: 'ca.pem' } }));
  assert.ok(spec.containers[0].args.includes('--callback-secret-file=/etc/kive/callback/secret'));
  assert.ok(spec.containers[0].args.includes('--callback-ca-file=/etc/kive/callback/ca.pem'));
  assert.deepEqual(spec.volumes.at(-1), { name: 'callback', secret: { secretName: 'kive-callback', defaultMode: 0o400 } });
});

test('docs/operator.md explains every capability the DaemonSet adds', () => {
  const doc = readFileSync(new URL('docs/operator.md', root), 'utf8');
  for (const c of CAPABILITIES) assert.ok(new RegExp(`CAP_${c.name}\\b`).test(doc), `docs/operator.md names CAP_${c.name}`);
});

test('the Dockerfile\'s image config is scripts/build-image.sh\'s (entrypoint, cmd, working dir, PATH, labels)', () => {
  const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8');
  const script = readFileSync(new URL('scripts/build-image.sh', root), 'utf8').replace(/\\\n\s*/g, ' ');
  const umoci = /umoci config [^\n]*/.exec(script)?.[0] ?? '';
  const opts = (name: string) => [...umoci.matchAll(new RegExp(`--config\\.${name} ("[^"]*"|\\S+)`, 'g'))].map((m) => m[1]!.replace(/^"|"$/g, ''));
  const last = (instr: string) => [...dockerfile.matchAll(new RegExp(`^${instr} (.*)$`, 'gm'))].map((m) => m[1]!).pop() ?? '';
  assert.deepEqual(JSON.parse(last('ENTRYPOINT')), opts('entrypoint'));
  assert.deepEqual(JSON.parse(last('CMD')), opts('cmd'));
  assert.equal(last('WORKDIR'), opts('workingdir')[0]);
  assert.deepEqual([`PATH=${last('ENV').replace(/^PATH=/, '')}`], opts('env'));
  // The version label is the one build-image.sh alone sets: docker build has no package.json to read it from.
  const labels = opts('label').filter((l) => !l.startsWith('org.opencontainers.image.version='));
  assert.deepEqual(last('LABEL').split(' ').sort(), labels.sort());
});
