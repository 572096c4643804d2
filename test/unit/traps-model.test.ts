import assert from 'node:assert/strict';
import { test } from 'node:test';
import { trapContext } from '../../src/traps/context.ts';
import { TrapModel } from '../../src/traps/model.ts';
import { fakeTrapMap } from '../helpers/trap-map.ts';

const ctx = (p: string) => trapContext({ policyName: p, path: '/s' });
const f1 = { ino: 1n, dev: 2 };
const f2 = { ino: 9n, dev: 2 };

test('one kernel entry per file, one alert context per trap; a new inode moves the entry', () => {
  const map = fakeTrapMap();
  const m = new TrapModel(map);
  m.set('a', [f1], ctx('p1'));
  m.set('b', [f1], ctx('p2'));
  assert.deepEqual([...map.entries.keys()], ['1:2'], 'two traps on one file: one map entry');
  assert.deepEqual(m.trapsFor(f1).map((c) => c.policyName), ['p1', 'p2']);
  // a's container restarted: new inode; b still arms the old one
  m.set('a', [f2], ctx('p1'));
  assert.deepEqual([...map.entries.keys()].sort(), ['1:2', '9:2']);
  assert.deepEqual(m.trapsFor(f1).map((c) => c.policyName), ['p2']);
  m.remove('b');
  assert.deepEqual([...map.entries.keys()], ['9:2'], 'the last trap of a file takes it out of the map');
  assert.deepEqual(m.trapsFor(f1), []);
  assert.equal(m.size, 1);
  assert.equal(m.armedFiles, 1);
});

test('a context change reaches alerts without touching the map', () => {
  const map = fakeTrapMap();
  const m = new TrapModel(map);
  m.set('a', [f1], ctx('p1'));
  map.failWith = new Error('no map writes expected');
  m.set('a', [f1], ctx('renamed'));
  assert.equal(m.trapsFor(f1)[0]?.policyName, 'renamed');
});

test('a trap arms several files; dropping one deletes only that entry', () => {
  const map = fakeTrapMap();
  const m = new TrapModel(map);
  m.set('a', [f1, f2], ctx('p'));
  assert.equal(map.entries.size, 2);
  m.set('a', [f2], ctx('p'));
  assert.deepEqual([...map.entries.keys()], ['9:2']);
  assert.deepEqual(m.filesOf('a'), [f2]);
  m.remove('a');
  assert.equal(map.entries.size, 0);
  assert.equal(m.has('a'), false);
});

test('slots: one per map entry, kept while it exists, naming that entry\'s traps', () => {
  const map = fakeTrapMap();
  const m = new TrapModel(map);
  m.set('a', [f1], ctx('p1'));
  m.set('b', [f1, f2], ctx('p2'));
  const s1 = map.entries.get('1:2')!;
  const s2 = map.entries.get('9:2')!;
  assert.notEqual(s1, s2);
  assert.ok(s1 > 0 && s2 > 0, 'never 0');
  assert.deepEqual(m.trapsForSlot(s1).map((c) => c.policyName), ['p1', 'p2']);
  assert.deepEqual(m.trapsForSlot(s2).map((c) => c.policyName), ['p2']);
  m.remove('a');
  assert.equal(map.entries.get('1:2'), s1, 'the entry keeps its slot when one of its traps goes');
  m.remove('b');
  assert.deepEqual(m.trapsForSlot(s1), []);
});

test('a full map: the failed file is not recorded, the others stay, a retry arms it', () => {
  const map = fakeTrapMap();
  const m = new TrapModel(map);
  m.set('a', [f1], ctx('p'));
  map.failWith = new Error('map full');
  assert.throws(() => m.set('b', [f2], ctx('q')), /map full/);
  assert.deepEqual(m.trapsFor(f2), []);
  assert.deepEqual(m.filesOf('b'), []);
  assert.equal(m.armedFiles, 1);
  delete map.failWith;
  m.set('b', [f2], ctx('q'));
  assert.deepEqual(m.trapsFor(f2).map((c) => c.policyName), ['q']);
});

test('resync: the map becomes exactly the model, slots included', () => {
  const map = fakeTrapMap();
  const m = new TrapModel(map);
  m.set('a', [f1], ctx('p'));
  const before = new Map(map.entries);
  map.entries.set('77:1', 5); // left by an earlier process
  map.entries.delete('1:2'); // lost
  m.resync();
  assert.deepEqual(map.entries, before);
});

test('trap context: one shape from any source; absent pod fields are empty, empty node and callback are left out', () => {
  assert.deepEqual(trapContext({ policyName: 'p', path: '/x', metadata: { a: 'b' }, callback: '', nodeName: '' }), {
    policyName: 'p',
    path: '/x',
    customMetadata: { a: 'b' },
    podName: '',
    podNamespace: '',
    containerId: '',
    containerName: '',
  });
  const full = trapContext({ policyName: 'p', path: '/x', callback: 'http://h/', pod: { name: 'w', namespace: 'n' }, container: { id: 'c://1', name: 'c' }, nodeName: 'n2' });
  assert.deepEqual([full.podName, full.podNamespace, full.containerId, full.containerName, full.callback, full.nodeName], ['w', 'n', 'c://1', 'c', 'http://h/', 'n2']);
});
