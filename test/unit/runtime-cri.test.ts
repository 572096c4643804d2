// The CRI client against an in-process gRPC server on a unix socket: the same wire
// protocol the runtimes speak, so the proto, the field names and the error mapping are
// exercised for real; the real containerd is in test/integration/runtime-containers.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { isKiveError } from '../../src/errors.ts';
import { CriClient, criPackageDefinition, discoverCriSocket, pidFromStatusInfo } from '../../src/runtime/cri.ts';
import { criLifecycleDefinition } from '../helpers/cri-lifecycle.ts';

test('pidFromStatusInfo reads containerd and CRI-O verbose info', () => {
  // containerd 1.6/1.7/2.x: info["info"] is a JSON object with "pid" next to the spec.
  assert.equal(pidFromStatusInfo({ info: JSON.stringify({ sandboxID: 'abc', pid: 4242, removing: false, snapshotKey: 'k', runtimeSpec: { ociVersion: '1.0.2' } }) }), 4242);
  // CRI-O: same key, {"sandboxID","pid","runtimeSpec","privileged"}.
  assert.equal(pidFromStatusInfo({ info: JSON.stringify({ sandboxID: 'abc', pid: 77, runtimeSpec: {}, privileged: false }) }), 77);
  // A bare pid key (older runtimes).
  assert.equal(pidFromStatusInfo({ pid: '99' }), 99);
  // Not running: containerd reports pid 0.
  assert.equal(pidFromStatusInfo({ info: JSON.stringify({ pid: 0 }) }), undefined);
  for (const bad of [undefined, {}, { info: 'not json' }, { info: '{"pid":"12"}' }, { info: '{"pid":-1}' }, { info: 'null' }, { pid: '12a' }]) {
    assert.equal(pidFromStatusInfo(bad as Record<string, string> | undefined), undefined, JSON.stringify(bad));
  }
});

const methodsOf = (def: ReturnType<typeof criPackageDefinition>) => Object.keys(def['runtime.v1.RuntimeService'] as object).sort();

test('Kive\'s own proto has only the calls it makes; the lifecycle calls are the tests\' addition', () => {
  assert.deepEqual(methodsOf(criPackageDefinition()), ['ContainerStatus', 'ListContainers', 'Version']);
  assert.deepEqual(methodsOf(criLifecycleDefinition()), [
    'ContainerStatus', 'CreateContainer', 'ListContainers', 'RemoveContainer', 'RemovePodSandbox', 'RunPodSandbox', 'StartContainer', 'StopContainer', 'StopPodSandbox', 'Version',
  ]);
});

test('the embedded proto keeps runtime.v1 field numbers', () => {
  const def = criLifecycleDefinition();
  const fields = (name: string) => {
    const t = def[`runtime.v1.${name}`] as unknown as { type: { field: Array<{ name: string; number: number }> } };
    return Object.fromEntries(t.type.field.map((f) => [f.name, f.number]));
  };
  assert.deepEqual(fields('ContainerStatusRequest'), { containerId: 1, verbose: 2 });
  assert.equal(fields('ContainerStatusResponse')['info'], 2);
  assert.deepEqual(fields('VersionResponse'), { version: 1, runtimeName: 2, runtimeVersion: 3, runtimeApiVersion: 4 });
  assert.equal(fields('PodSandboxConfig')['linux'], 8);
  assert.equal(fields('ContainerConfig')['linux'], 15);
});

interface Fake { socket: string; stop: () => Promise<void> }

async function fakeRuntime(dir: string, handlers: Partial<Record<string, grpc.handleUnaryCall<unknown, unknown>>>): Promise<Fake> {
  const ns = grpc.loadPackageDefinition(criPackageDefinition()) as unknown as { runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor } } };
  const server = new grpc.Server();
  const unimplemented: grpc.handleUnaryCall<unknown, unknown> = (_c, cb) => cb({ code: grpc.status.UNIMPLEMENTED, details: 'fake' });
  const impl: grpc.UntypedServiceImplementation = {};
  for (const m of Object.keys(ns.runtime.v1.RuntimeService.service)) impl[m] = handlers[m] ?? unimplemented;
  server.addService(ns.runtime.v1.RuntimeService.service, impl);
  const socket = join(dir, 'cri.sock');
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  return { socket, stop: async () => server.forceShutdown() };
}

test('CriClient talks runtime.v1 and maps errors', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kive-cri-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const seen: unknown[] = [];
  const fake = await fakeRuntime(dir, {
    Version: (call, cb) => { seen.push(call.request); cb(null, { version: '0.1.0', runtimeName: 'fake', runtimeVersion: '9.9', runtimeApiVersion: 'v1' }); },
    ContainerStatus: (call, cb) => {
      const req = call.request as { containerId: string; verbose: boolean };
      seen.push(req);
      if (req.containerId === 'running') {
        cb(null, { status: { id: 'running', metadata: { name: 'app' }, state: 'CONTAINER_RUNNING' }, info: { info: JSON.stringify({ pid: 1234 }) } });
      } else if (req.containerId === 'exited') {
        cb(null, { status: { id: 'exited', state: 'CONTAINER_EXITED' }, info: { info: JSON.stringify({ pid: 0 }) } });
      } else if (req.containerId === 'nopid') {
        cb(null, { status: { id: 'nopid', state: 'CONTAINER_RUNNING' }, info: {} });
      } else if (req.containerId === 'slow') {
        setTimeout(() => cb(null, {}), 2_000);
      } else {
        cb({ code: grpc.status.NOT_FOUND, details: `container "${req.containerId}" not found` });
      }
    },
    ListContainers: (call, cb) => {
      seen.push(call.request);
      cb(null, { containers: [{ id: 'running', podSandboxId: 'sb', metadata: { name: 'app' }, state: 'CONTAINER_RUNNING', labels: { a: 'b' } }] });
    },
  });
  t.after(() => fake.stop());

  // A generous deadline for the calls that must answer (the machine may be loaded); the
  // deadline itself is tested with a short one on the call that never answers in time.
  const cri = await CriClient.connect({ socket: fake.socket, timeoutMs: 10_000 });
  t.after(() => cri.close());
  assert.deepEqual(seen[0], { version: 'v1' });
  assert.deepEqual(await cri.version(), { version: '0.1.0', runtimeName: 'fake', runtimeVersion: '9.9', runtimeApiVersion: 'v1' });

  assert.equal(await cri.containerPid('running'), 1234);
  assert.deepEqual(seen.at(-1), { containerId: 'running', verbose: true });
  assert.equal((await cri.containerStatus('running')).status.name, 'app');
  await assert.rejects(cri.containerPid('exited'), (e) => isKiveError(e, 'KIVE_RUNTIME') && /CONTAINER_EXITED/.test(e.message));
  await assert.rejects(cri.containerPid('nopid'), (e) => isKiveError(e, 'KIVE_RUNTIME') && /no pid/.test(e.message));
  await assert.rejects(cri.containerPid('gone'), (e) => isKiveError(e, 'KIVE_CONTAINER_NOT_FOUND'));
  const t0 = Date.now();
  await assert.rejects(cri.call('ContainerStatus', { containerId: 'slow', verbose: true }, 300), (e) => isKiveError(e, 'KIVE_RUNTIME') && /no answer within 300 ms/.test(e.message));
  assert.ok(Date.now() - t0 < 1_500, 'the deadline cut the call short');

  assert.deepEqual(await cri.listContainers({ state: 'CONTAINER_RUNNING' }), [{ id: 'running', podSandboxId: 'sb', name: 'app', state: 'CONTAINER_RUNNING', labels: { a: 'b' } }]);
  assert.deepEqual((seen.at(-1) as { filter: { state: unknown } }).filter.state, { state: 'CONTAINER_RUNNING' });
  await assert.rejects(cri.call('StartContainer', { containerId: 'x' }), (e) => isKiveError(e, 'KIVE_RUNTIME') && /not in this client's runtime\.v1/.test(e.message));
  const lifecycle = await CriClient.connect({ socket: fake.socket, packageDefinition: criLifecycleDefinition() });
  t.after(() => lifecycle.close());
  await assert.rejects(lifecycle.call('StartContainer', { containerId: 'x' }), (e) => isKiveError(e, 'KIVE_RUNTIME') && /not implemented/.test(e.message));

  cri.close();
  cri.close(); // idempotent
  await assert.rejects(cri.version(), (e) => isKiveError(e, 'KIVE_CLOSED'));
});

test('CriClient.connect fails clearly without a runtime', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kive-cri-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await assert.rejects(CriClient.connect({ candidates: [join(dir, 'none.sock')] }), (e) => isKiveError(e, 'KIVE_RUNTIME') && /no CRI socket found/.test(e.message));
  await assert.rejects(CriClient.connect({ socket: join(dir, 'none.sock'), timeoutMs: 500 }), (e) => isKiveError(e, 'KIVE_RUNTIME') && /unavailable/.test(e.message));
  // discovery skips paths that exist but are not sockets
  writeFileSync(join(dir, 'file.sock'), '');
  assert.equal(discoverCriSocket([join(dir, 'file.sock'), join(dir, 'none.sock')]), undefined);
  const fake = await fakeRuntime(dir, {});
  t.after(() => fake.stop());
  assert.equal(discoverCriSocket([join(dir, 'file.sock'), fake.socket]), fake.socket);
});
