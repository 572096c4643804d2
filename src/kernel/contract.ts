// The kernel/userspace contract on the TypeScript side: the names of what crosses it.
// bpf/kive.h is the C side. (Offsets, sizes, encoders and counter indexes move here too;
// see docs/design.md.)

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
