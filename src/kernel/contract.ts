// The kernel/userspace contract on the TypeScript side; bpf/kive.h is the C side. Every
// size, offset, flag, op code and counter index that crosses the boundary is defined
// here once: the map encoders (monitor.ts), the event decoder (event.ts) and the layout
// test (test/kernel/layout.test.ts, which compares these values with the BTF clang wrote
// into each object) all read them from this module. docs/kernel.md describes the layout.

/** The identity of a file on one kernel: the trap map's key. */
export interface FileKey {
  ino: bigint;
  /** Kernel encoding MKDEV(major, minor) = major << 20 | minor (see src/kernel/dev.ts). */
  dev: number;
}

/**
 * The kernel's map of armed files, as every trap bookkeeper sees it. `slot` is a u32
 * chosen by userspace, stored as the entry's value and echoed by the kernel in each
 * event; it is not the string `trapId` of naming.ts.
 */
export interface TrapMap {
  setTrap(key: FileKey, slot: number): void;
  /** False when the key was not armed. */
  deleteTrap(key: FileKey): boolean;
  clearTraps(): void;
}

// --- sizes (kive.h KIVE_*_LEN, KIVE_EVENT_*SIZE)
export const COMM_LEN = 16;
export const ARGS_LEN = 256;
export const PATH_LEN = 256;
/** Components the bounded dentry walk climbs before it gives up (KIVE_PATH_DEPTH). */
export const PATH_DEPTH = 24;
export const EVENT_SIZE = 88;
export const EVENT_CTX_SIZE = EVENT_SIZE + ARGS_LEN + 2 * PATH_LEN;

// --- enum kive_filter: the inode-number pre-filter in front of the trap map
// 2^20 bits (128 KiB): a full trap map (65,536) sets about 6% of them, so the miss path
// barely changes between 1 and 65,536 traps; at 2^16 it was 63% (docs/kernel.md).
export const FILTER = { LOG2: 20, WORDS: 16384, MULT: 0x61c88647 } as const;

/** The filter bit of an inode number: kive.h's h(ino), Linux's hash_32 of the folded u64. */
export function filterBit(ino: bigint): number {
  const folded = Number(ino & 0xffffffffn) ^ Number((ino >> 32n) & 0xffffffffn);
  return Math.imul(folded, FILTER.MULT) >>> (32 - FILTER.LOG2);
}

// --- struct kive_trap_key / struct kive_trap_value
export const TRAP_KEY_SIZE = 16;
export const TRAP_KEY_LAYOUT = { ino: 0, dev: 8, pad: 12 } as const;
export const TRAP_VALUE_SIZE = 8;
export const TRAP_VALUE_LAYOUT = { slot: 0, flags: 4 } as const;

/**
 * Writes `key` into `out` (TRAP_KEY_SIZE bytes) as the kernel compares it: the hash map
 * compares all 16 bytes, so the padding is zeroed. RangeError on an unrepresentable key.
 */
export function encodeTrapKey(key: FileKey, out: Buffer): Buffer {
  if (key.ino < 0n || key.ino > 0xffffffffffffffffn) throw new RangeError(`inode ${key.ino} out of range`);
  if (!Number.isInteger(key.dev) || key.dev < 0 || key.dev > 0xffffffff) throw new RangeError(`dev ${key.dev} out of range`);
  out.writeBigUInt64LE(key.ino, TRAP_KEY_LAYOUT.ino);
  out.writeUInt32LE(key.dev, TRAP_KEY_LAYOUT.dev);
  out.writeUInt32LE(0, TRAP_KEY_LAYOUT.pad);
  return out;
}

export function decodeTrapKey(buf: Buffer): FileKey {
  return { ino: buf.readBigUInt64LE(TRAP_KEY_LAYOUT.ino), dev: buf.readUInt32LE(TRAP_KEY_LAYOUT.dev) };
}

/** Writes the value for `slot` into `out` (TRAP_VALUE_SIZE bytes); flags are reserved (zero). */
export function encodeTrapValue(slot: number, out: Buffer): Buffer {
  if (!Number.isInteger(slot) || slot < 0 || slot > 0xffffffff) throw new RangeError(`trap slot ${slot} out of range`);
  out.writeUInt32LE(slot, TRAP_VALUE_LAYOUT.slot);
  out.writeUInt32LE(0, TRAP_VALUE_LAYOUT.flags);
  return out;
}

export function decodeTrapValue(buf: Buffer): number {
  return buf.readUInt32LE(TRAP_VALUE_LAYOUT.slot);
}

// --- struct kive_event (the header of every ring record) and its context tail
export const EVENT_LAYOUT = {
  ts_ns: 0,
  ino: 8,
  cgroup_id: 16,
  dev: 24,
  mask: 28,
  pid: 32,
  tgid: 36,
  uid: 40,
  gid: 44,
  slot: 48,
  op: 52,
  flags: 54,
  args_len: 56,
  exe_len: 58,
  cwd_len: 60,
  reserved: 62,
  comm: 64,
  repeats: 80,
  pad: 84,
} as const;

export const EVENT_CTX_LAYOUT = { hdr: 0, args: EVENT_SIZE, exe: EVENT_SIZE + ARGS_LEN, cwd: EVENT_SIZE + ARGS_LEN + PATH_LEN } as const;

/** kive_event.flags (KIVE_EVF_*). */
export const EVF = {
  CONTEXT: 0x1,
  ARGS_TRUNC: 0x2,
  EXE_TRUNC: 0x4,
  CWD_TRUNC: 0x8,
} as const;

/** enum kive_op: code -> the name alerts carry as `metadata.operation`. */
export const OPS: Readonly<Record<number, string>> = { 1: 'permission', 2: 'open', 3: 'exec' };

/** enum kive_counter: indexes into the per-CPU counters array. */
export const COUNTERS = { emitted: 0, dropped: 1, aggregated: 2, no_context: 3 } as const;
export const COUNTER_MAX = 4;

// --- struct kive_agg_key / struct kive_agg_value (lib/flood.h's LRU map; userspace only sizes it)
export const AGG_KEY_SIZE = 24;
export const AGG_KEY_LAYOUT = { start_ns: 0, tgid: 8, slot: 12, mask: 16, op: 20, pad: 22 } as const;
export const AGG_VALUE_SIZE = 16;
export const AGG_VALUE_LAYOUT = { last_ns: 0, repeats: 8, pad: 12 } as const;
/** kive_drops: trap key -> u64 events lost for that file. */
export const DROPS_VALUE_SIZE = 8;
export type CounterName = keyof typeof COUNTERS;
