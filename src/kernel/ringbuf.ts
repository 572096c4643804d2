// Direct reader of a BPF ring buffer map through mmap, driven by Node's event loop.
//
// Layout (kernel/bpf/ringbuf.c): page 0, mapped read-write, holds consumer_pos; from
// offset one page, mapped read-only, the producer page (producer_pos) and then the data
// area mapped twice back to back, so a record that wraps is still contiguous. Each record
// is an 8-byte header (u32 len with bit 31 = busy, bit 30 = discarded; u32 kernel-internal)
// then the payload; the next record starts round_up(len + 8, 8) further on.
//
// No libbpf ring_buffer__* and no thread: uv_poll (koffi.node.poll) wakes the loop when
// the kernel signals the map's fd, and a short timer collects records the producer
// submitted without a wake-up (the BPF side batches wake-ups, see bpf/lib/filter.h).
//
// Ownership: a RingReader owns its two mappings and its poll handle and timer; it does
// not own the map fd (the LoadedBackend does), and must be closed before that fd is.

import koffi from 'koffi';
import { KiveError } from '../errors.ts';
import { errnoName, lastErrno, libcCalls, mmap, pageSize, PROT_READ, PROT_WRITE, type Ptr } from './libbpf.ts';

const BUSY = 0x80000000;
const DISCARD = 0x40000000;
const HDR = 8;

/** Called once per committed record; `off` is the payload's offset in `dv`/`u8`. */
export type RecordFn = (dv: DataView, u8: Uint8Array, off: number, len: number) => void;

export interface RingReaderOptions {
  /** How often to look for records submitted without a wake-up. Default 10 ms. */
  pollIntervalMs?: number;
  /** Most records handled per drain before yielding to the event loop. Default 65536. */
  maxRecordsPerDrain?: number;
}

export class RingReader {
  readonly size: number;
  readonly #page: number;
  #consPtr: Ptr | null;
  #dataPtr: Ptr | null;
  #cons: BigUint64Array;
  #prod: BigUint64Array;
  #hdr: Uint32Array;
  #dv: DataView;
  #u8: Uint8Array;
  #dataOff: number;
  #consPos: number;
  #poll: { close(): void } | null = null;
  #timer: NodeJS.Timeout | null = null;
  #maxPerDrain = 65536;

  private constructor(fd: number, size: number) {
    this.size = size;
    this.#page = pageSize();
    const page = this.#page;
    this.#consPtr = mmap(page, PROT_READ | PROT_WRITE, fd, 0);
    if (this.#consPtr === null) throw new KiveError('KIVE_LIBBPF', `mmap ring buffer consumer page: ${errnoName(lastErrno())}`);
    this.#dataPtr = mmap(page + 2 * size, PROT_READ, fd, page);
    if (this.#dataPtr === null) {
      const e = errnoName(lastErrno());
      libcCalls.munmap(this.#consPtr, page);
      this.#consPtr = null;
      throw new KiveError('KIVE_LIBBPF', `mmap ring buffer data: ${e}`);
    }
    const consBuf = koffi.view(this.#consPtr, page);
    const dataBuf = koffi.view(this.#dataPtr, page + 2 * size);
    this.#cons = new BigUint64Array(consBuf, 0, 1);
    this.#prod = new BigUint64Array(dataBuf, 0, 1);
    this.#hdr = new Uint32Array(dataBuf);
    this.#dv = new DataView(dataBuf);
    // A Buffer view (no copy): lets the decoder use Node's native UTF-8 decoding.
    this.#u8 = Buffer.from(dataBuf);
    this.#dataOff = page;
    this.#consPos = Number(Atomics.load(this.#cons, 0));
  }

  /** Maps the ring of BPF_MAP_TYPE_RINGBUF `fd` (data size `size` bytes). */
  static open(fd: number, size: number): RingReader {
    return new RingReader(fd, size);
  }

  /** Bytes submitted but not yet consumed. */
  pending(): number {
    return Number(Atomics.load(this.#prod, 0)) - this.#consPos;
  }

  /**
   * Hands every committed record to `fn`, then publishes the new consumer position so
   * the kernel can reuse the space. Returns the number of records seen (discarded ones
   * excluded). Stops at a record still being written (busy) or after the per-drain cap.
   */
  drain(fn: RecordFn, max = this.#maxPerDrain): number {
    if (this.#dataPtr === null) return 0;
    const mask = this.size - 1;
    const base = this.#dataOff;
    let cons = this.#consPos;
    const prod = Number(Atomics.load(this.#prod, 0));
    let n = 0;
    while (cons < prod && n < max) {
      const off = base + (cons & mask);
      const hdr = Atomics.load(this.#hdr, off >>> 2);
      if (hdr & BUSY) break;
      const len = hdr & ~(BUSY | DISCARD);
      if (!(hdr & DISCARD)) {
        fn(this.#dv, this.#u8, off + HDR, len);
        n++;
      }
      cons += (len + HDR + 7) & ~7;
    }
    if (cons !== this.#consPos) {
      this.#consPos = cons;
      Atomics.store(this.#cons, 0, BigInt(cons));
    }
    return n;
  }

  /**
   * Starts draining on kernel wake-ups and every `pollIntervalMs`; `onDrain` runs after
   * each drain that found records, so the caller can deliver them as one batch.
   */
  start(fd: number, fn: RecordFn, onDrain: (records: number) => void, options: RingReaderOptions = {}): void {
    if (this.#dataPtr === null) throw new KiveError('KIVE_CLOSED', 'start ring reader: closed');
    if (this.#poll || this.#timer) throw new KiveError('KIVE_USAGE', 'start ring reader: already started');
    this.#maxPerDrain = options.maxRecordsPerDrain ?? 65536;
    const run = (): void => {
      const n = this.drain(fn);
      if (n > 0) onDrain(n);
    };
    this.#poll = koffi.node.poll(fd, { readable: true }, run);
    this.#timer = setInterval(run, options.pollIntervalMs ?? 10);
  }

  stop(): void {
    this.#poll?.close();
    this.#poll = null;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Stops and unmaps. Idempotent. Views handed out earlier must not be used after. */
  close(): void {
    this.stop();
    if (this.#dataPtr !== null) libcCalls.munmap(this.#dataPtr, this.#page + 2 * this.size);
    if (this.#consPtr !== null) libcCalls.munmap(this.#consPtr, this.#page);
    this.#dataPtr = null;
    this.#consPtr = null;
  }
}
