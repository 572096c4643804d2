// The trap map's inode-number pre-filter (bpf/lib/filter.h kive_ino_maybe_trapped,
// src/kernel/ino-filter.ts) on the real kernel, with the best backend it accepts: a
// trap on a second file system still alerts, a bit stays set while any trap needs it,
// and removing the last trap of a bit disarms it. "No event" is never waited for: the
// test opens a still-trapped file afterwards and checks what came before its event.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { filterBit } from '../../src/kernel/contract.ts';
import { FileMonitor } from '../../src/kernel/monitor.ts';
import { EventLog, keyOf, scratchDir } from './helpers.ts';

const tmp = scratchDir('prefilter');
const mnt = join(tmp.dir, 'second-fs');
const mnt2 = join(tmp.dir, 'third-fs');
let monitor: FileMonitor;
let log: EventLog;

before(async () => {
  for (const m of [mnt, mnt2]) {
    mkdirSync(m);
    execFileSync('mount', ['-t', 'tmpfs', 'kive-prefilter', m]);
  }
  // Aggregation off: every open is its own event.
  monitor = await FileMonitor.open({ ringBufferBytes: 1 << 20, aggregateWindowMs: 0 });
  log = new EventLog(monitor);
});

after(async () => {
  await monitor?.close();
  spawnSync('umount', [mnt, mnt2]);
  tmp.cleanup();
});

/** cat of `path`; resolves with the pid. */
function cat(path: string): number {
  const r = spawnSync('/bin/cat', [path], { stdio: 'ignore' });
  assert.equal(r.status, 0, `cat ${path}`);
  return r.pid!;
}

/** Opens `marker` (trapped with `slot`) and returns the events that came before its event. */
async function eventsBefore(marker: string, slot: number): Promise<typeof log.events> {
  const pid = cat(marker);
  const e = await log.waitFor((e) => e.slot === slot && e.tgid === pid, `open of ${marker}`);
  return log.events.slice(0, log.events.indexOf(e));
}

test('a trap on a second file system alerts, and only armed bits are set', async () => {
  const a = tmp.file('a.txt');
  const b = join(mnt, 'b.txt');
  writeFileSync(b, 'b\n');
  const ka = keyOf(a);
  const kb = keyOf(b);
  assert.notEqual(ka.dev, kb.dev, 'the two files are on different devices');
  monitor.setTrap(ka, 1);
  monitor.setTrap(kb, 2);
  monitor.setTrap(kb, 2); // re-arming the same file counts once
  assert.equal(monitor.preFilterBits(), new Set([filterBit(ka.ino), filterBit(kb.ino)]).size);
  const pb = cat(b);
  await log.waitFor((e) => e.slot === 2 && e.tgid === pb, 'open on the second file system');
  const pa = cat(a);
  await log.waitFor((e) => e.slot === 1 && e.tgid === pa, 'open on the first file system');

  // Removing the last trap of b's bit disarms it; a is still watched.
  assert.equal(monitor.deleteTrap(kb), true);
  assert.equal(monitor.preFilterBits(), 1);
  const gone = cat(b);
  const earlier = await eventsBefore(a, 1);
  assert.ok(!earlier.some((e) => e.tgid === gone), 'no event for the removed trap');
  assert.equal(monitor.deleteTrap(ka), true);
  assert.equal(monitor.preFilterBits(), 0);
});

test('two traps sharing a bit: removing one keeps the other armed', async () => {
  // Fresh tmpfs mounts number their inodes alike (per-superblock counters, 5.9+): the
  // first file of each has the same inode number on a different device, hence one bit.
  const first = join(mnt, 'b.txt'); // the first file of its mount (previous test)
  const second = join(mnt2, 'same');
  writeFileSync(second, 'x\n');
  const k1 = keyOf(first);
  const k2 = keyOf(second);
  assert.equal(k1.ino, k2.ino, 'the first files of two fresh tmpfs mounts share an inode number');
  assert.notEqual(k1.dev, k2.dev);
  monitor.setTrap(k1, 11);
  monitor.setTrap(k2, 12);
  assert.equal(monitor.preFilterBits(), 1);
  assert.equal(monitor.deleteTrap(k1), true);
  assert.equal(monitor.preFilterBits(), 1, 'the bit stays set for the remaining trap');
  const gone = cat(first);
  const earlier = await eventsBefore(second, 12);
  assert.ok(!earlier.some((e) => e.tgid === gone), 'no event for the removed trap');
  monitor.clearTraps();
  assert.equal(monitor.preFilterBits(), 0);
});
