// kive run's traps follow their file as well as their path: real files, real inotify,
// real O_PATH fds; the kernel map is a fake.
import assert from 'node:assert/strict';
import { chmodSync, linkSync, mkdtempSync, renameSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { KivePolicy } from '../../src/api/v1/types.ts';
import type { FileKey } from '../../src/kernel/contract.ts';
import { resolveInRoot } from '../../src/runtime/resolve.ts';
import { changesOf, fileChangeAlert, type FileChange } from '../../src/standalone/file-changes.ts';
import { heldFileBudget } from '../../src/standalone/held-file.ts';
import { HostTrapSet, type HostTrapDeps } from '../../src/standalone/host-traps.ts';
import { assertKiveAlertV1 } from '../helpers/alert-schema.ts';
import { fakeTrapMap } from '../helpers/trap-map.ts';

const silent = { info() {}, warn() {}, error() {} };
const policy = (name: string, traps: KivePolicy['spec']['traps']): KivePolicy => ({
  apiVersion: 'kivebpf.san7o.github.io/v1',
  kind: 'KivePolicy',
  metadata: { name },
  spec: { alertVersion: 'v1', traps },
});
const keyOf = (path: string): FileKey => {
  const { ino, dev } = resolveInRoot({ root: '/', path });
  return { ino, dev };
};
const id = (k: FileKey) => `${k.ino}:${k.dev}`;

function setup(t: TestContext, extra: Partial<HostTrapDeps> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'kive-follow-'));
  const map = fakeTrapMap();
  const changes: FileChange[] = [];
  const traps = new HostTrapSet({ map, resolve: resolveInRoot, log: silent, recheckMs: 0, onFileChange: (c) => changes.push(c), ...extra });
  t.after(() => {
    traps.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, map, changes, traps };
}
/** One trap, on secret.txt (with `content`), armed. */
function armedSecret(t: TestContext, extra: Partial<HostTrapDeps> = {}, content = 'x') {
  const env = setup(t, extra);
  const secret = join(env.dir, 'secret.txt');
  writeFileSync(secret, content);
  env.traps.armAll([policy('p', [{ path: secret }])]);
  return { ...env, secret, old: keyOf(secret) };
}
const until = async (cond: () => boolean, what: string) => {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), what);
};

test('mv secret away, touch a new secret: both files armed, the move reported with where it went', async (t) => {
  const { dir, map, changes, traps, secret, old } = armedSecret(t);
  renameSync(secret, join(dir, 'secret.moved'));
  writeFileSync(secret, '');
  const fresh = keyOf(secret);
  await until(() => map.entries.has(id(fresh)), 'the new file at the path is armed');
  assert.ok(map.entries.has(id(old)), 'the moved file stays armed');
  assert.deepEqual(traps.trapsFor(old).map((c) => c.policyName), ['p']);
  assert.deepEqual(changes.map((c) => [c.op, c.where, id(c.file)]), [['moved', join(dir, 'secret.moved'), id(old)]]);
});

test('ln secret .keep, a decoy renamed over secret: the old file stays armed through .keep until its last link goes', async (t) => {
  const { dir, map, changes, traps, secret, old } = armedSecret(t);
  linkSync(secret, join(dir, '.keep'));
  await until(() => changes.some((c) => c.op === 'linked'), 'the new link is reported');
  writeFileSync(join(dir, 'decoy'), 'd');
  renameSync(join(dir, 'decoy'), secret);
  await until(() => changes.some((c) => c.op === 'replaced'), 'the rename over it is reported');
  assert.ok(map.entries.has(id(old)), 'still armed: .keep links it');
  assert.ok(map.entries.has(id(keyOf(secret))), 'the decoy at the path is armed too');
  unlinkSync(join(dir, '.keep'));
  await until(() => !map.entries.has(id(old)), 'disarmed once its last link is gone');
  assert.deepEqual(changes.map((c) => c.op), ['linked', 'replaced', 'deleted']);
  assert.equal(traps.heldFiles, 1, 'the fd of the gone file is closed');
});

test('chmod and truncate of a trapped file are reported; a write that grows it is not', async (t) => {
  const { changes, secret } = armedSecret(t, {}, 'some content');
  chmodSync(secret, 0o600);
  await until(() => changes.length === 1, 'chmod reported');
  writeFileSync(secret, 'some longer content');
  truncateSync(secret, 2);
  await until(() => changes.length === 2, 'truncate reported');
  assert.deepEqual(changes.map((c) => c.op), ['chmod', 'truncated']);
});

test('a deleted file with no other link is disarmed and reported; create re-creates it', async (t) => {
  const { dir, map, changes, traps } = setup(t);
  const honey = join(dir, 'honey.txt');
  traps.armAll([policy('p', [{ path: honey, create: true }])]);
  const old = keyOf(honey);
  unlinkSync(honey);
  await until(() => changes.length > 0 && map.entries.size === 1 && !map.entries.has(id(old)), 'the re-created file replaces the deleted one');
  assert.deepEqual(changes.map((c) => c.op), ['deleted'], 'Kive re-created it: deleted, not replaced');
});

test('a change to one trap re-checks that trap only', async (t) => {
  const resolved: string[] = [];
  const { dir, changes, traps } = setup(t, { resolve: (o) => (resolved.push(o.path), resolveInRoot(o)) });
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  writeFileSync(a, 'a');
  writeFileSync(b, 'b');
  traps.armAll([policy('p', [{ path: a }, { path: b }])]);
  resolved.length = 0;
  chmodSync(a, 0o600);
  await until(() => changes.length === 1, 'chmod of a reported');
  assert.ok(resolved.length > 0 && resolved.every((p) => p === a), `re-checked: ${resolved.join(', ')}`);
});

test('past the held-file budget a file is followed by path only, as before', async (t) => {
  const { dir, map, traps, secret, old } = armedSecret(t, { maxHeldFiles: 0 });
  renameSync(secret, join(dir, 'secret.moved'));
  writeFileSync(secret, '');
  traps.recheck();
  assert.deepEqual([...map.entries.keys()], [id(keyOf(secret))]);
  assert.ok(!map.entries.has(id(old)));
  assert.equal(traps.heldFiles, 0);
});

test('changesOf: the name Kive holds the file by and its link count tell what happened', () => {
  // null: the held name is gone (undefined would pick the default)
  const s = (nlink: number, where: string | null = '/d/f', mode = 0o100644, size = 10n) => ({ nlink, mode, size, where: where ?? undefined });
  const atPath = { wasAtPath: true, atPath: true, otherAtPath: false };
  const left = { wasAtPath: true, atPath: false, otherAtPath: false };
  const taken = { ...left, otherAtPath: true };
  assert.deepEqual(changesOf(s(1), s(1), atPath), []);
  assert.deepEqual(changesOf(s(1), s(1, '/d/g'), left), ['moved']);
  assert.deepEqual(changesOf(s(1), s(1, '/d/g'), taken), ['moved'], 'mv away then a new file: still a move');
  assert.deepEqual(changesOf(s(1), s(0, null), left), ['deleted']);
  assert.deepEqual(changesOf(s(1), s(0, null), taken), ['replaced']);
  assert.deepEqual(changesOf(s(2), s(1, null), taken), ['replaced'], 'renamed over, kept by another link');
  assert.deepEqual(changesOf(s(1), s(1, null), taken), ['replaced'], 'ln then renamed over, seen at once');
  assert.deepEqual(changesOf(s(1), s(2), atPath), ['linked']);
  assert.deepEqual(changesOf(s(2), s(1), atPath), ['deleted'], 'another link removed');
  assert.deepEqual(changesOf(s(1), s(1, '/d/f', 0o100600, 0n), atPath), ['chmod', 'truncated']);
  const former = { wasAtPath: false, atPath: false, otherAtPath: true };
  assert.deepEqual(changesOf(s(1, '/d/g'), s(1, '/d/h'), former), ['moved']);
  assert.deepEqual(changesOf(s(1, '/d/g'), s(0, null), former), ['deleted']);
  assert.deepEqual(changesOf(s(2, '/d/g'), s(1, null), former), ['deleted']);
});

test('a file-change alert is a KiveAlert v1 that says the process is unknown and why', () => {
  const trap = { policyName: 'p', path: '/s', customMetadata: {}, podName: '', podNamespace: '', containerId: '', containerName: '' };
  const alert = fileChangeAlert({ op: 'moved', trap, file: { ino: 7n, dev: 3 }, where: '/t' }, { kernelId: 'k', nodeName: 'n' }, 0);
  assertKiveAlertV1(JSON.parse(JSON.stringify(alert)));
  assert.equal(alert.metadata.operation, 'moved');
  assert.equal(alert.metadata['current-path'], '/t');
  assert.equal(alert.process.known, false);
  assert.match(alert.process['unknown-reason'], /inotify/);
});

test('heldFileBudget: the soft fd limit minus a reserve, capped', () => {
  assert.equal(heldFileBudget(65_536, 'Max open files            20000                20000                files\n'), 19_744);
  assert.equal(heldFileBudget(100, 'Max open files            unlimited            unlimited            files\n'), 100);
  assert.equal(heldFileBudget(65_536, 'Max open files            100                  100                  files\n'), 0);
});
