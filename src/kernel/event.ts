// Decoder of the kernel's event record (struct kive_event, plus the optional struct
// kive_event_ctx tail). The offsets, sizes and flags come from contract.ts, which
// test/kernel/layout.test.ts checks against the BTF of the compiled objects.
//
// The decoder reads straight from the ring buffer's mmap'd bytes through a DataView /
// Uint8Array over that memory: the only copies are the JS values it produces.

import { ARGS_LEN, COMM_LEN, EVENT_CTX_LAYOUT, EVENT_CTX_SIZE, EVENT_LAYOUT, EVENT_SIZE, EVF, OPS, PATH_LEN } from './contract.ts';

export { EVENT_CTX_SIZE, EVENT_SIZE };

/** A context field the kernel could not copy whole (KIVE_EVF_*_TRUNC). */
export type TruncatedField = 'args' | 'exe' | 'cwd';

/** One matched access, as userspace sees it. */
export interface KernelEvent {
  /** bpf_ktime_get_ns(): CLOCK_MONOTONIC nanoseconds. */
  tsNs: bigint;
  ino: bigint;
  /** Kernel encoding, MKDEV(major, minor). */
  dev: number;
  /** The kernel's MAY_* bits. */
  mask: number;
  op: string;
  /** Kernel pid (the thread id). */
  pid: number;
  /** Userspace pid. */
  tgid: number;
  uid: number;
  gid: number;
  cgroupId: bigint;
  comm: string;
  /** The u32 the trap map holds for the file, chosen by userspace (TrapMap.setTrap). */
  slot: number;
  /**
   * Accesses of the same process, trap, op and mask folded into this event since that
   * process's previous event for them (kernel aggregation, bpf/lib/flood.h).
   */
  repeats: number;
  args?: string[];
  exe?: string;
  cwd?: string;
  /**
   * The context fields that are incomplete: argv longer than ARGS_LEN or unreadable, a
   * path deeper than PATH_DEPTH components or longer than PATH_LEN bytes (the deepest
   * components are kept). Absent when nothing was cut.
   */
  truncated?: TruncatedField[];
}

const TRUNC_FLAGS: ReadonlyArray<readonly [number, TruncatedField]> = [
  [EVF.ARGS_TRUNC, 'args'],
  [EVF.EXE_TRUNC, 'exe'],
  [EVF.CWD_TRUNC, 'cwd'],
];

const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * UTF-8 text of bytes [start, end). A Buffer (the ring reader hands one out, a view on
 * the mapping) decodes natively without a copy; TextDecoder is the portable fallback.
 */
function text(u8: Uint8Array, start: number, end: number): string {
  return Buffer.isBuffer(u8) ? u8.toString('utf8', start, end) : utf8.decode(u8.subarray(start, end));
}

/** Bytes [off, off+len) as a string, stopping at the first NUL. */
export function cString(u8: Uint8Array, off: number, len: number): string {
  let end = off;
  const limit = off + len;
  while (end < limit && u8[end] !== 0) end++;
  return text(u8, off, end);
}

/** NUL-separated argv bytes -> strings (a truncated last argument is kept as is). */
export function splitArgs(u8: Uint8Array, off: number, len: number): string[] {
  const joined = text(u8, off, off + len);
  const parts = joined.split('\0');
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/**
 * Decodes one record payload of `len` bytes at `off`. Throws RangeError on a record
 * shorter than the header or claiming a tail it does not have, which would mean
 * userspace and kernel disagree on the contract.
 */
export function decodeEvent(dv: DataView, u8: Uint8Array, off: number, len: number): KernelEvent {
  if (len < EVENT_SIZE) throw new RangeError(`event record of ${len} bytes, expected at least ${EVENT_SIZE}`);
  const L = EVENT_LAYOUT;
  const opCode = dv.getUint16(off + L.op, true);
  const flags = dv.getUint16(off + L.flags, true);
  const ev: KernelEvent = {
    tsNs: dv.getBigUint64(off + L.ts_ns, true),
    ino: dv.getBigUint64(off + L.ino, true),
    dev: dv.getUint32(off + L.dev, true),
    mask: dv.getUint32(off + L.mask, true),
    op: OPS[opCode] ?? `op${opCode}`,
    pid: dv.getUint32(off + L.pid, true),
    tgid: dv.getUint32(off + L.tgid, true),
    uid: dv.getUint32(off + L.uid, true),
    gid: dv.getUint32(off + L.gid, true),
    cgroupId: dv.getBigUint64(off + L.cgroup_id, true),
    comm: cString(u8, off + L.comm, COMM_LEN),
    slot: dv.getUint32(off + L.slot, true),
    repeats: dv.getUint32(off + L.repeats, true),
  };
  if (flags & EVF.CONTEXT) {
    if (len < EVENT_CTX_SIZE) throw new RangeError(`event record of ${len} bytes flags a context tail of ${EVENT_CTX_SIZE}`);
    const argsLen = Math.min(dv.getUint16(off + L.args_len, true), ARGS_LEN);
    const exeLen = Math.min(dv.getUint16(off + L.exe_len, true), PATH_LEN);
    const cwdLen = Math.min(dv.getUint16(off + L.cwd_len, true), PATH_LEN);
    const C = EVENT_CTX_LAYOUT;
    if (argsLen > 0) ev.args = splitArgs(u8, off + C.args, argsLen);
    if (exeLen > 0) ev.exe = text(u8, off + C.exe, off + C.exe + exeLen);
    if (cwdLen > 0) ev.cwd = text(u8, off + C.cwd, off + C.cwd + cwdLen);
    // Only a context tail can be truncated; the flags mean nothing without one.
    if (flags & (EVF.ARGS_TRUNC | EVF.EXE_TRUNC | EVF.CWD_TRUNC)) {
      ev.truncated = TRUNC_FLAGS.filter(([bit]) => flags & bit).map(([, name]) => name);
    }
  }
  return ev;
}

/** Test and bench helper: encodes an event the way the kernel lays it out. */
export function encodeEvent(ev: KernelEvent, opts: { context?: boolean } = {}): Uint8Array {
  const ctx = opts.context ?? (ev.args !== undefined || ev.exe !== undefined || ev.cwd !== undefined);
  const buf = new Uint8Array(ctx ? EVENT_CTX_SIZE : EVENT_SIZE);
  const dv = new DataView(buf.buffer);
  const L = EVENT_LAYOUT;
  const opCode = Number(Object.entries(OPS).find(([, v]) => v === ev.op)?.[0] ?? 0);
  dv.setBigUint64(L.ts_ns, ev.tsNs, true);
  dv.setBigUint64(L.ino, ev.ino, true);
  dv.setBigUint64(L.cgroup_id, ev.cgroupId, true);
  dv.setUint32(L.dev, ev.dev, true);
  dv.setUint32(L.mask, ev.mask, true);
  dv.setUint32(L.pid, ev.pid, true);
  dv.setUint32(L.tgid, ev.tgid, true);
  dv.setUint32(L.uid, ev.uid, true);
  dv.setUint32(L.gid, ev.gid, true);
  dv.setUint32(L.slot, ev.slot, true);
  dv.setUint32(L.repeats, ev.repeats, true);
  dv.setUint16(L.op, opCode, true);
  buf.set(new TextEncoder().encode(ev.comm).subarray(0, COMM_LEN - 1), L.comm);
  if (ctx) {
    let flags: number = EVF.CONTEXT;
    for (const [bit, name] of TRUNC_FLAGS) if (ev.truncated?.includes(name)) flags |= bit;
    dv.setUint16(L.flags, flags, true);
    const enc = new TextEncoder();
    const put = (s: string | undefined, at: number, max: number, lenField: number): void => {
      const b = enc.encode(s ?? '').subarray(0, max);
      buf.set(b, at);
      dv.setUint16(lenField, b.length, true);
    };
    put(ev.args ? ev.args.map((a) => `${a}\0`).join('') : undefined, EVENT_CTX_LAYOUT.args, ARGS_LEN, L.args_len);
    put(ev.exe, EVENT_CTX_LAYOUT.exe, PATH_LEN, L.exe_len);
    put(ev.cwd, EVENT_CTX_LAYOUT.cwd, PATH_LEN, L.cwd_len);
  }
  return buf;
}
