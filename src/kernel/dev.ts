// Device numbers in the two encodings Kive meets. Keep in sync with bpf/kive.h.
//
// Userspace (glibc's makedev, what stat(2) and Node's fs.stat return as `dev`):
//   bits 0-7 minor low, 8-19 major low, 20-43 minor high, 44-63 major high.
// Kernel (MKDEV, what inode->i_sb->s_dev holds and what trap keys use):
//   major << 20 | minor, with a 12-bit major and a 20-bit minor.
// Use fs.stat(path, { bigint: true }): a 64-bit st_dev does not fit a double exactly.

export interface DevParts {
  major: number;
  minor: number;
}

export function splitUserDev(dev: bigint): DevParts {
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  return { major, minor };
}

export function joinUserDev({ major, minor }: DevParts): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return (mi & 0xffn) | ((ma & 0xfffn) << 8n) | ((mi & ~0xffn) << 12n) | ((ma & ~0xfffn) << 32n);
}

/** Kernel MKDEV encoding of (major, minor). Throws RangeError when it cannot hold them. */
export function kernelDev({ major, minor }: DevParts): number {
  if (major < 0 || major > 0xfff || minor < 0 || minor > 0xfffff) {
    throw new RangeError(`device ${major}:${minor} does not fit the kernel encoding (12-bit major, 20-bit minor)`);
  }
  return ((major << 20) | minor) >>> 0;
}

export function splitKernelDev(dev: number): DevParts {
  return { major: dev >>> 20, minor: dev & 0xfffff };
}

/** stat()'s st_dev (bigint, glibc encoding) -> the kernel's s_dev. */
export function userToKernelDev(dev: bigint | number): number {
  return kernelDev(splitUserDev(BigInt(dev)));
}

/** The kernel's s_dev -> stat()'s st_dev (glibc encoding). */
export function kernelToUserDev(dev: number): bigint {
  return joinUserDev(splitKernelDev(dev));
}
