// The device half of a file's kernel identity.
//
// The eBPF programs key a file by (inode->i_ino, inode->i_sb->s_dev): the inode and the
// device of the superblock it lives on. stat(2) reports that same pair on ext4, xfs,
// tmpfs and overlayfs, but not on btrfs: there st_dev is the anonymous device of the
// file's subvolume (so `du -x` and `find -xdev` stop at subvolume boundaries), while
// i_sb->s_dev is the file system's. A key built from stat() alone would never match a
// file on btrfs, and the trap would stay silent. So on btrfs the device comes from the
// one place the kernel prints s_dev for a mount: the major:minor field of
// /proc/<pid>/mountinfo, found by the mount id of the file's fd (/proc/self/fdinfo).
// Other file systems keep stat()'s st_dev and pay nothing extra (one statfs).

import { readFileSync, statfsSync } from 'node:fs';
import { KiveError } from '../errors.ts';
import { kernelDev, userToKernelDev } from '../kernel/dev.ts';

/** statfs f_type of btrfs (include/uapi/linux/magic.h). */
export const BTRFS_SUPER_MAGIC = 0x9123683e;

export interface MountEntry {
  mountId: number;
  major: number;
  minor: number;
  fsType: string;
}

/**
 * The line of a mountinfo text (proc(5)) for one mount id, or undefined. Format:
 * `ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS`.
 */
export function findMount(mountinfo: string, mountId: number): MountEntry | undefined {
  const prefix = `${mountId} `;
  for (const line of mountinfo.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const fields = line.split(' ');
    const devField = /^(\d+):(\d+)$/.exec(fields[2] ?? '');
    const dash = fields.indexOf('-', 6);
    if (devField === null || dash < 0 || fields[dash + 1] === undefined) return undefined;
    return { mountId, major: Number(devField[1]), minor: Number(devField[2]), fsType: fields[dash + 1]! };
  }
  return undefined;
}

/** The mount id of an open fd, from /proc/self/fdinfo (Linux >= 3.15). */
export function fdMountId(fd: number): number {
  const m = /^mnt_id:\s*(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  if (m === null) throw new KiveError('KIVE_RUNTIME', `fdinfo of fd ${fd} has no mnt_id (kernel older than 3.15?)`);
  return Number(m[1]);
}

/**
 * The kernel's s_dev for the file open at `fd`, whose stat() said `statDev`.
 * `mountinfoFiles`: where the fd's mount may be listed, in order (the container's
 * /proc/<pid>/mountinfo first; mount ids are unique system-wide, so the first hit wins).
 * Throws KIVE_RUNTIME when a btrfs file's mount cannot be found: a key that cannot
 * match must be an error, never a silently dead trap.
 */
export function superblockDev(fd: number, statDev: bigint, mountinfoFiles: readonly string[]): number {
  if (statfsSync(`/proc/self/fd/${fd}`).type !== BTRFS_SUPER_MAGIC) return userToKernelDev(statDev);
  const mountId = fdMountId(fd);
  for (const file of mountinfoFiles) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // a container that exited meanwhile: try the next
    }
    const mount = findMount(text, mountId);
    if (mount !== undefined) return kernelDev(mount);
  }
  throw new KiveError(
    'KIVE_RUNTIME',
    `btrfs file: mount ${mountId} is not listed in ${mountinfoFiles.join(' or ')}, so its superblock device is unknown and a trap on it could never match`,
  );
}

/** Where the mounts of the namespace behind a resolve root are listed. */
export function mountinfoFilesFor(root: string): string[] {
  const m = /^\/proc\/(\d+|self)\/root\/?$/.exec(root);
  return m !== null && m[1] !== 'self' ? [`/proc/${m[1]}/mountinfo`, '/proc/self/mountinfo'] : ['/proc/self/mountinfo'];
}
