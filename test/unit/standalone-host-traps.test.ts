import assert from 'node:assert/strict';
import { linkSync, mkdtempSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { KivePolicy } from '../../src/api/v1/types.ts';
import { isKiveError } from '../../src/errors.ts';
import { resolveInRoot } from '../../src/runtime/resolve.ts';
import { HostTrapSet } from '../../src/standalone/host-traps.ts';
import { fakeTrapMap as fakeMap } from '../helpers/trap-map.ts';

const silent = { info() {}, warn() {}, error() {} };

function policy(name: string, traps: KivePolicy['spec']['traps']): KivePolicy {
  return { apiVersion: 'kivebpf.san7o.github.io/v1', kind: 'KivePolicy', metadata: { name }, spec: { alertVersion: 'v1', traps } };
}

const keyOf = (path: string) => {
  const { ino, dev } = resolveInRoot({ root: '/', path });
  return { ino, dev };
};
const inodeOf = (p: string) => statSync(p, { bigint: true }).ino;
const until = async (cond: () => boolean, what: string) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), what);
};

test('arms the file, follows a rename over it and a delete + recreate, disarming the old inode', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kive-traps-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'secret.txt');
  writeFileSync(path, 'v1');
  const map = fakeMap();
  const traps = new HostTrapSet({ map, resolve: resolveInRoot, log: silent, recheckMs: 0 });
  t.after(() => traps.close());
  traps.armAll([policy('p', [{ path, metadata: { severity: 'high' } }])]);
  const first = inodeOf(path);
  assert.deepEqual([...map.entries.values()], [1]);
  assert.equal(traps.trapsFor({ ino: first, dev: Number([...map.entries.keys()][0]!.split(':')[1]) })[0]?.customMetadata.severity, 'high');

  // rename over it (what editors and config managers do)
  writeFileSync(join(dir, 'tmp'), 'v2');
  renameSync(join(dir, 'tmp'), path);
  const second = inodeOf(path);
  assert.notEqual(second, first);
  await until(() => [...map.entries.keys()].some((k) => k.startsWith(`${second}:`)), 'follows the renamed-over file');
  assert.equal(map.entries.size, 1, 'the old inode is disarmed');

  // delete, then recreate
  unlinkSync(path);
  writeFileSync(path, 'v3');
  const third = inodeOf(path);
  await until(() => [...map.entries.keys()].some((k) => k.startsWith(`${third}:`)), 'follows the recreated file');
  assert.equal(map.entries.size, 1);
});

test('a deleted file without create keeps its last inode armed (it may live on through a hard link)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kive-traps-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'secret.txt');
  writeFileSync(path, 'x');
  linkSync(path, join(dir, 'hardlink'));
  const map = fakeMap();
  const traps = new HostTrapSet({ map, resolve: resolveInRoot, log: silent, recheckMs: 0 });
  t.after(() => traps.close());
  traps.armAll([policy('p', [{ path }])]);
  unlinkSync(path);
  traps.recheck();
  assert.equal(map.entries.size, 1);
});

test('create: a deleted honeytoken is created again with its mode', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kive-traps-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'honey.txt');
  const map = fakeMap();
  const traps = new HostTrapSet({ map, resolve: resolveInRoot, log: silent, recheckMs: 0 });
  t.after(() => traps.close());
  traps.armAll([policy('p', [{ path, create: true, mode: 440 }])]);
  assert.equal(statSync(path).mode & 0o777, 0o440);
  unlinkSync(path);
  traps.recheck();
  assert.equal(statSync(path).mode & 0o777, 0o440);
  assert.ok([...map.entries.keys()].some((k) => k.startsWith(`${inodeOf(path)}:`)));
  assert.equal(map.entries.size, 1);
});

test('two traps on one file: both get alerts; the file replaced at one path stays armed for both while it has a link', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kive-traps-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const a = join(dir, 'a');
  writeFileSync(a, 'x');
  linkSync(a, join(dir, 'b'));
  const map = fakeMap();
  const traps = new HostTrapSet({ map, resolve: resolveInRoot, log: silent, recheckMs: 0 });
  t.after(() => traps.close());
  traps.armAll([policy('p1', [{ path: a }]), policy('p2', [{ path: join(dir, 'b') }])]);
  const [key] = [...map.entries.keys()];
  const [ino, dev] = key!.split(':');
  assert.deepEqual(traps.trapsFor({ ino: BigInt(ino!), dev: Number(dev) }).map((c) => c.policyName).sort(), ['p1', 'p2']);
  unlinkSync(join(dir, 'b'));
  writeFileSync(join(dir, 'b'), 'new');
  traps.recheck();
  assert.equal(map.entries.size, 2);
  assert.deepEqual(traps.trapsFor({ ino: BigInt(ino!), dev: Number(dev) }).map((c) => c.policyName).sort(), ['p1', 'p2']);
  assert.deepEqual(traps.trapsFor(keyOf(join(dir, 'b'))).map((c) => c.policyName), ['p2']);
});

test('a missing file without create refuses to start, with the path in the message', () => {
  const traps = new HostTrapSet({ map: fakeMap(), resolve: resolveInRoot, log: silent, recheckMs: 0 });
  assert.throws(
    () => traps.armAll([policy('p', [{ path: '/nonexistent/kive/secret' }])]),
    (err: unknown) => isKiveError(err, 'KIVE_PATH_NOT_FOUND'),
  );
  traps.close();
});
