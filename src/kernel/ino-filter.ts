// The userspace half of the trap map's pre-filter (bpf/kive.h enum kive_filter,
// bpf/lib/filter.h kive_ino_maybe_trapped): one bit per hashed inode number, set while
// at least one armed trap has a number with that bit. The kernel tests the bit before
// anything else, so a clear bit must never belong to an armed trap: a bit is set before
// its first trap is armed and cleared only after its last trap is gone. Only
// FileMonitor, the one writer of the trap map, calls this.

import { KiveError } from '../errors.ts';
import { filterBit, FILTER, type FileKey } from './contract.ts';
import { bpf, errnoName } from './libbpf.ts';

const BPF_ANY = 0;

export class InoFilter {
  readonly #fd: number;
  /** Armed traps by `ino:dev`: replacing a trap's slot does not count it twice. */
  readonly #armed = new Set<string>();
  /** Armed traps per bit (absent: zero). */
  readonly #perBit = new Map<number, number>();
  readonly #words = new BigUint64Array(FILTER.WORDS);
  readonly #key = Buffer.alloc(4);
  readonly #value = Buffer.alloc(8);

  constructor(fd: number) {
    this.#fd = fd;
  }

  /** Call before arming `key` in the trap map; `undo` if arming then fails. */
  beforeArm(key: FileKey): { undo(): void } {
    const id = `${key.ino}:${key.dev}`;
    if (this.#armed.has(id)) return { undo() {} };
    const bit = filterBit(key.ino);
    const n = this.#perBit.get(bit) ?? 0;
    if (n === 0) this.#write(bit, true);
    this.#perBit.set(bit, n + 1);
    this.#armed.add(id);
    return { undo: () => this.afterDisarm(key) };
  }

  /** Call after `key` left the trap map (or was never armed: then nothing changes). */
  afterDisarm(key: FileKey): void {
    const id = `${key.ino}:${key.dev}`;
    if (!this.#armed.delete(id)) return;
    const bit = filterBit(key.ino);
    const n = (this.#perBit.get(bit) ?? 1) - 1;
    if (n > 0) {
      this.#perBit.set(bit, n);
      return;
    }
    this.#perBit.delete(bit);
    this.#write(bit, false);
  }

  /** Bits set in the kernel's map, read back from it (for tests and diagnostics). */
  kernelBitsSet(): number {
    let bits = 0;
    for (let w = 0; w < FILTER.WORDS; w++) {
      this.#key.writeUInt32LE(w, 0);
      const rc = bpf.mapLookup(this.#fd, this.#key, this.#value);
      if (rc !== 0) throw new KiveError('KIVE_LIBBPF', `read trap pre-filter word ${w}: ${errnoName(rc)}`);
      for (let v = this.#value.readBigUInt64LE(0); v !== 0n; v &= v - 1n) bits++;
    }
    return bits;
  }

  #write(bit: number, on: boolean): void {
    const w = bit >>> 6;
    const mask = 1n << BigInt(bit & 63);
    this.#words[w] = on ? this.#words[w]! | mask : this.#words[w]! & ~mask;
    this.#key.writeUInt32LE(w, 0);
    this.#value.writeBigUInt64LE(this.#words[w]!, 0);
    const rc = bpf.mapUpdate(this.#fd, this.#key, this.#value, BPF_ANY);
    if (rc !== 0) throw new KiveError('KIVE_LIBBPF', `write trap pre-filter word ${w}: ${errnoName(rc)}`);
  }
}
