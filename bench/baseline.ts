// The yardstick program (bench/baseline.bpf.c, built into build/bench/) loaded and
// attached through the same libbpf binding as Kive, and the kernel's run-time
// statistics switched on the way that is safe when two benchmarks run at once.

import koffi from 'koffi';
import { closeSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bpf, errnoName, lastErrno, type Ptr } from '../src/kernel/libbpf.ts';
import type { FileKey } from '../src/kernel/contract.ts';

const OBJECT = join(dirname(fileURLToPath(import.meta.url)), '..', 'build', 'bench', 'baseline.bpf.o');

/** The kernel refused the program (no kprobes, lockdown): a row of the table, not an error. */
export class BaselineRefused extends Error {}

export class BaselineProgram {
  readonly name = 'baseline_inode_permission';
  readonly fd: number;
  readonly #obj: Ptr;
  readonly #link: Ptr;
  readonly #mapFd: number;

  private constructor(obj: Ptr, link: Ptr, fd: number, mapFd: number) {
    this.#obj = obj;
    this.#link = link;
    this.fd = fd;
    this.#mapFd = mapFd;
  }

  /** Loads and attaches the kprobe; throws BaselineRefused when the kernel says no. */
  static open(): BaselineProgram {
    if (!existsSync(OBJECT)) throw new Error(`${OBJECT} is missing: run \`make build\``);
    const obj = bpf.objectOpenFile(OBJECT, null);
    if (obj === null) throw new Error(`open ${OBJECT}: ${errnoName(lastErrno())}`);
    try {
      const rc = bpf.objectLoad(obj);
      if (rc !== 0) throw new BaselineRefused(`load: ${errnoName(rc)}`);
      const prog = bpf.findProgram(obj, 'baseline_inode_permission');
      const map = bpf.findMap(obj, 'baseline_traps');
      if (prog === null || map === null) throw new Error(`${OBJECT}: program or map missing`);
      const link = bpf.programAttachKprobe(prog, false, 'inode_permission');
      if (link === null) throw new BaselineRefused(`attach kprobe/inode_permission: ${errnoName(lastErrno())}`);
      return new BaselineProgram(obj, link, bpf.programFd(prog), bpf.mapFd(map));
    } catch (err) {
      bpf.objectClose(obj);
      throw err;
    }
  }

  /** One entry, as the production maps always hold some (struct baseline_key). */
  setTrap(key: FileKey): void {
    const k = Buffer.alloc(16);
    k.writeBigUInt64LE(key.ino, 0);
    k.writeUInt32LE(key.dev, 8);
    const v = Buffer.alloc(4);
    const rc = bpf.mapUpdate(this.#mapFd, k, v, 0);
    if (rc !== 0) throw new Error(`baseline_traps update: ${errnoName(rc)}`);
  }

  close(): void {
    bpf.linkDestroy(this.#link);
    bpf.objectClose(this.#obj);
  }
}

const BPF_STATS_RUN_TIME = 0;
let enableStats: ((type: number) => number) | undefined;

/** Turns on run_time_ns / run_cnt accounting for every program until the returned
 * function is called. BPF_ENABLE_STATS (5.8+) hands out an fd and the kernel counts
 * holders, so a concurrent benchmark's "off" does not switch it off under us (writing
 * kernel.bpf_stats_enabled and restoring it would). */
export function bpfStatsOn(): () => void {
  enableStats ??= koffi.load('libbpf.so.1').func('bpf_enable_stats', 'int', ['int']) as (type: number) => number;
  const fd = enableStats(BPF_STATS_RUN_TIME);
  if (fd < 0) throw new Error(`bpf_enable_stats: ${errnoName(fd)}`);
  return () => closeSync(fd);
}
