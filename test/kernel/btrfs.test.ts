// Files on btrfs, on the real kernel: stat() there reports a subvolume's own anonymous
// device, not the superblock's device the eBPF programs key on (src/runtime/superblock.ts).
// A real btrfs file system (a loop-mounted image, made with mkfs.btrfs) with a file at
// its top level and one in a subvolume; each backend this kernel accepts must report a
// read of both when they are trapped by the identity resolveInRoot gives. Root only;
// runs in the QEMU guests too (their initramfs carries the btrfs and loop modules).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { isKiveError } from '../../src/errors.ts';
import { userToKernelDev } from '../../src/kernel/dev.ts';
import { BACKEND_PREFERENCE } from '../../src/kernel/backends/index.ts';
import { FileMonitor } from '../../src/kernel/monitor.ts';
import { resolveInRoot } from '../../src/runtime/resolve.ts';
import { EventLog } from './helpers.ts';

const notRoot = process.getuid?.() !== 0 ? 'needs root' : false;
let dir = '';
let mnt = '';
let topFile = '';
let subFile = '';

before(() => {
  if (notRoot) return;
  // mkfs.btrfs and the btrfs file system must be there: scripts/install-deps.sh installs
  // btrfs-progs, and every kernel of the matrix has btrfs. A missing one is a failure.
  if (!readFileSync('/proc/filesystems', 'utf8').includes('\tbtrfs\n')) {
    throw new Error('this kernel has no btrfs file system loaded (on a QEMU guest: is btrfs in the initramfs module list?)');
  }
  dir = mkdtempSync(join(tmpdir(), 'kive-btrfs-'));
  const image = join(dir, 'fs.img');
  mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  writeFileSync(image, '');
  execFileSync('truncate', ['-s', '160M', image]); // sparse; mkfs.btrfs wants >= 114 MiB
  execFileSync('mkfs.btrfs', ['-q', '-f', image]);
  execFileSync('mount', ['-o', 'loop', image, mnt]);
  execFileSync('btrfs', ['-q', 'subvolume', 'create', join(mnt, 'sub')]);
  topFile = join(mnt, 'top.txt');
  subFile = join(mnt, 'sub', 'secret.txt');
  writeFileSync(topFile, 'top level\n');
  writeFileSync(subFile, 'in a subvolume\n');
});

after(() => {
  if (mnt !== '' && existsSync(mnt)) spawnSync('umount', [mnt]);
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

test('on btrfs a subvolume file has stat() device != superblock device, and Kive keys on the latter', { skip: notRoot }, () => {
  const sub = resolveInRoot({ root: '/', path: subFile });
  const statDev = userToKernelDev(statSync(subFile, { bigint: true }).dev);
  // If this ever held, the backends test below would not exercise the difference.
  assert.notEqual(sub.dev, statDev, 'a btrfs subvolume reports its own anonymous device to stat()');
  // Both files live on one superblock, whatever stat() says about their subvolumes.
  assert.equal(resolveInRoot({ root: '/', path: topFile }).dev, sub.dev);
});

for (const backend of BACKEND_PREFERENCE) {
  test(`backend ${backend}: reads of btrfs files are reported`, { skip: notRoot }, async (t) => {
    let monitor: FileMonitor;
    try {
      monitor = await FileMonitor.open({ backend, ringBufferBytes: 1 << 16 });
    } catch (err) {
      if (!isKiveError(err, 'KIVE_BACKEND_UNSUPPORTED') && !isKiveError(err, 'KIVE_ATTACH_FAILED')) throw err;
      t.skip(`refused by this kernel: ${(err as Error).message}`);
      return;
    }
    try {
      const log = new EventLog(monitor);
      for (const [id, path] of [[71, topFile], [72, subFile]] as const) {
        const key = resolveInRoot({ root: '/', path });
        monitor.setTrap(key, id);
        const pid = spawnSync('/bin/cat', [path], { stdio: 'ignore' }).pid;
        const e = await log.waitFor((e) => e.slot === id && e.tgid === pid, `cat of ${path}`);
        assert.equal(e.ino, key.ino);
        assert.equal(e.dev, key.dev);
      }
    } finally {
      monitor.close();
    }
  });
}
