// Per-program run statistics from the kernel (struct bpf_prog_info). run_time_ns and
// run_cnt count only while `sysctl kernel.bpf_stats_enabled=1` (5.1+); verified_insns
// exists from 5.16 (0 before). Offsets are uapi (linux/bpf.h) and only ever appended to.

import { readFileSync, writeFileSync } from 'node:fs';
import { bpf, errnoName } from './libbpf.ts';

const INFO_SIZE = 256;
const OFF_ID = 4;
const OFF_RUN_TIME_NS = 192;
const OFF_RUN_CNT = 200;
const OFF_VERIFIED_INSNS = 216;

export interface ProgramStats {
  name: string;
  id: number;
  runTimeNs: bigint;
  runCount: bigint;
  verifiedInsns: number;
}

export function programStats(name: string, fd: number): ProgramStats {
  const info = Buffer.alloc(INFO_SIZE);
  const len: [number] = [INFO_SIZE];
  const rc = bpf.objGetInfoByFd(fd, info, len);
  if (rc !== 0) throw new Error(`bpf_obj_get_info_by_fd(${name}): ${errnoName(rc)}`);
  const have = len[0];
  return {
    name,
    id: info.readUInt32LE(OFF_ID),
    runTimeNs: have > OFF_RUN_TIME_NS ? info.readBigUInt64LE(OFF_RUN_TIME_NS) : 0n,
    runCount: have > OFF_RUN_CNT ? info.readBigUInt64LE(OFF_RUN_CNT) : 0n,
    verifiedInsns: have > OFF_VERIFIED_INSNS ? info.readUInt32LE(OFF_VERIFIED_INSNS) : 0,
  };
}

const SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

/** Turns on kernel.bpf_stats_enabled; returns a function restoring the old value. */
export function enableBpfStats(): () => void {
  let old = '0';
  try {
    old = readFileSync(SYSCTL, 'utf8').trim();
    writeFileSync(SYSCTL, '1');
  } catch {
    return () => {};
  }
  return () => {
    try {
      writeFileSync(SYSCTL, old);
    } catch {
      // best effort: leaving stats on costs a little per run, nothing else
    }
  };
}
