import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findMount, mountinfoFilesFor } from '../../src/runtime/superblock.ts';

// Lines as a node shows them: a btrfs subvolume (0:35, the superblock's anonymous
// device, whatever stat() says), an overlay root with optional fields, ext4.
const MOUNTINFO = [
  '22 1 0:35 /@home /home rw,relatime shared:1 - btrfs /dev/vda2 rw,space_cache=v2,subvolid=257,subvol=/@home',
  '1520 1410 0:412 / / rw,relatime master:9 - overlay overlay rw,lowerdir=/l1:/l2,upperdir=/u,workdir=/w',
  '26 1 254:1 / /boot rw,relatime shared:5 master:3 - ext4 /dev/vda1 rw',
  '',
].join('\n');

test('findMount reads major:minor and the fs type of one mount id', () => {
  assert.deepEqual(findMount(MOUNTINFO, 22), { mountId: 22, major: 0, minor: 35, fsType: 'btrfs' });
  assert.deepEqual(findMount(MOUNTINFO, 1520), { mountId: 1520, major: 0, minor: 412, fsType: 'overlay' });
  assert.deepEqual(findMount(MOUNTINFO, 26), { mountId: 26, major: 254, minor: 1, fsType: 'ext4' });
});

test('findMount: an id that is only a prefix of another, a missing id, a malformed line', () => {
  assert.equal(findMount(MOUNTINFO, 2), undefined); // "22 ..." and "26 ..." are not mount 2
  assert.equal(findMount(MOUNTINFO, 152), undefined);
  assert.equal(findMount('7 1 zero / / rw - ext4 x rw', 7), undefined);
  assert.equal(findMount('7 1 0:5 / / rw no-separator ext4', 7), undefined);
});

test('mountinfoFilesFor: the container namespace first, then our own', () => {
  assert.deepEqual(mountinfoFilesFor('/proc/4242/root'), ['/proc/4242/mountinfo', '/proc/self/mountinfo']);
  assert.deepEqual(mountinfoFilesFor('/'), ['/proc/self/mountinfo']);
  assert.deepEqual(mountinfoFilesFor('/proc/self/root'), ['/proc/self/mountinfo']);
  assert.deepEqual(mountinfoFilesFor('/var/lib/rootfs'), ['/proc/self/mountinfo']);
});
