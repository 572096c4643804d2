import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KiveError, isKiveError } from '../../src/errors.ts';
import { findContainerPid } from '../../src/runtime/pid.ts';

const ID = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';

function proc(t: { after: (fn: () => void) => void }, procs: Record<number, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'kive-proc-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const [pid, cgroup] of Object.entries(procs)) {
    mkdirSync(join(root, pid));
    writeFileSync(join(root, pid, 'cgroup'), cgroup);
    writeFileSync(join(root, pid, 'stat'), `${pid} (sh) S 1 ${'0 '.repeat(17)}${pid} 0\n`);
  }
  return root;
}

const criSays = (pid: number) => ({ containerPid: async (id: string) => { assert.equal(id, ID); return pid; } });
const criFails = (err: Error) => ({ containerPid: async () => { throw err; } });

test('CRI answers first and the id loses its Pod status scheme', async (t) => {
  const root = proc(t, { 10: '0::/\n', 20: `0::/k8s.io/${ID}\n` });
  assert.deepEqual(await findContainerPid(`containerd://${ID}`, { cri: criSays(10), procRoot: root }), { pid: 10, via: 'cri', containerId: ID });
});

test('the cgroup scan takes over when CRI fails, and says why', async (t) => {
  const root = proc(t, { 20: `0::/k8s.io/${ID}\n` });
  const r = await findContainerPid(`containerd://${ID}`, { cri: criFails(new KiveError('KIVE_RUNTIME', 'CRI Version: runtime unavailable')), procRoot: root });
  assert.deepEqual(r, { pid: 20, via: 'cgroup', containerId: ID, criError: 'CRI Version: runtime unavailable' });
  assert.deepEqual(await findContainerPid(ID, { procRoot: root }), { pid: 20, via: 'cgroup', containerId: ID });
});

test('noCgroupFallback surfaces the CRI error', async (t) => {
  const root = proc(t, { 20: `0::/k8s.io/${ID}\n` });
  await assert.rejects(
    findContainerPid(ID, { cri: criFails(new KiveError('KIVE_CONTAINER_NOT_FOUND', 'gone')), procRoot: root, noCgroupFallback: true }),
    (e) => isKiveError(e, 'KIVE_CONTAINER_NOT_FOUND') && e.message === 'gone',
  );
});

test('a CRI pid missing from /proc means Kive is not in the host pid namespace', async (t) => {
  const root = proc(t, { 20: `0::/k8s.io/${ID}\n` });
  await assert.rejects(findContainerPid(ID, { cri: criSays(4242), procRoot: root }), (e) => isKiveError(e, 'KIVE_RUNTIME') && /hostPID/.test(e.message));
});

test('nothing found anywhere: KIVE_CONTAINER_NOT_FOUND with both reasons', async (t) => {
  const root = proc(t, { 20: '0::/other\n' });
  await assert.rejects(
    findContainerPid(ID, { cri: criFails(new Error('CRI said no')), procRoot: root }),
    (e) => isKiveError(e, 'KIVE_CONTAINER_NOT_FOUND') && /CRI said no/.test(e.message) && /cgroup scan/.test(e.message),
  );
  await assert.rejects(findContainerPid('containerd://../../x', { procRoot: root }), (e) => isKiveError(e, 'KIVE_RUNTIME'));
});
