// The kernel's MAY_* bits (include/linux/fs.h) and the mask an open(2) is checked with.
// Keep in sync with bpf/kive.h and kive_open_mask() in bpf/kive_tracepoint.bpf.c.

export const MAY_EXEC = 0x1;
export const MAY_WRITE = 0x2;
export const MAY_READ = 0x4;
export const MAY_APPEND = 0x8;
export const MAY_ACCESS = 0x10;
export const MAY_OPEN = 0x20;
export const MAY_CHDIR = 0x40;
export const MAY_NOT_BLOCK = 0x80;

const NAMES: Array<[number, string]> = [
  [MAY_EXEC, 'exec'],
  [MAY_WRITE, 'write'],
  [MAY_READ, 'read'],
  [MAY_APPEND, 'append'],
  [MAY_ACCESS, 'access'],
  [MAY_OPEN, 'open'],
  [MAY_CHDIR, 'chdir'],
  [MAY_NOT_BLOCK, 'not-block'],
];

/** 0x24 -> ['read', 'open']. Unknown bits come out as hex. */
export function maskNames(mask: number): string[] {
  const out: string[] = [];
  let rest = mask >>> 0;
  for (const [bit, name] of NAMES) {
    if (rest & bit) out.push(name);
    rest &= ~bit;
  }
  if (rest) out.push(`0x${rest.toString(16)}`);
  return out;
}

/** uapi asm-generic/fcntl.h (x86-64, arm64). */
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_PATH = 0o10000000;

/**
 * The mask the kernel checks an open with (fs/open.c build_open_flags): MAY_OPEN plus
 * the access mode, MAY_WRITE for O_TRUNC, MAY_APPEND for O_APPEND. null for O_PATH,
 * which checks nothing on the file itself.
 */
export function openFlagsMask(flags: number): number | null {
  if (flags & O_PATH) return null;
  let mask = MAY_OPEN;
  const acc = flags & 3;
  mask |= acc === 0 ? MAY_READ : acc === O_WRONLY ? MAY_WRITE : MAY_READ | MAY_WRITE;
  if (flags & O_TRUNC) mask |= MAY_WRITE;
  if (flags & O_APPEND) mask |= MAY_APPEND;
  return mask;
}
