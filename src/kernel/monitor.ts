// Kive's kernel-facing API: load a backend, manage the trap map, consume events.
//
// Ownership: FileMonitor.open() returns a monitor that owns the loaded object, its
// links, the maps and the ring buffer mappings; close() releases all of them and is
// idempotent. If the process dies without close(), the kernel detaches and frees
// everything when the fds close (nothing is pinned). Needs root, a kernel with BTF
// (CONFIG_DEBUG_INFO_BTF) and ring buffers (5.8+).

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KiveError, isKiveError } from '../errors.ts';
import { BACKENDS, backendSpec, selectBackend, type BackendName, type ProbeResult } from './backends/index.ts';
import { decodeEvent, type KernelEvent } from './event.ts';
import { bpf, errnoName } from './libbpf.ts';
import { checkPrivileges, loadBackend, type LoadedBackend, type LoadOptions } from './object-loader.ts';
import { InoFilter } from './ino-filter.ts';
import { RingReader } from './ringbuf.ts';
import { COUNTER_MAX, COUNTERS, DROPS_VALUE_SIZE, decodeTrapKey, decodeTrapValue, encodeTrapKey, encodeTrapValue, TRAP_KEY_SIZE, TRAP_VALUE_SIZE, type CounterName, type FileKey, type TrapMap } from './contract.ts';

export { selectBackend };
export type { BackendName, CounterName, FileKey, KernelEvent, ProbeResult, TrapMap };


export interface MonitorOptions {
  backend?: BackendName | 'auto';
  /** Capacity of the trap map. Default 65,536. */
  maxTraps?: number;
  /** Ring buffer data size: a power of two, at least one page. Default 16 MiB (docs/kernel.md). */
  ringBufferBytes?: number;
  /** Where kive_<backend>.bpf.o live. Default $KIVE_BPF_OBJECT_DIR if set, else <repo>/build/bpf. */
  objectDir?: string;
  /** Copy argv, exe and cwd into each event (the 768-byte context tail). Default true. */
  captureContext?: boolean;
  /**
   * Wake the reader each time the unread data crosses a multiple of this many bytes;
   * below it, records wait for the poll timer. Default ring/16, at least 4096.
   */
  wakeupBytes?: number;
  /** How often the reader drains records that did not wake it. Default 10 ms. */
  pollIntervalMs?: number;
  /**
   * Kernel aggregation window (bpf/lib/flood.h): repeats of one process's access to one
   * trap within it are folded into the next event's `repeats`. 0 turns it off. Default 1,000 ms.
   */
  aggregateWindowMs?: number;
  /** Capacity of the aggregation LRU map (processes x traps x ops tracked at once). Default 16,384. */
  aggregateEntries?: number;
}

/** What the kernel counted since load (sums of the per-CPU counters). */
export type KernelCounters = Record<CounterName, bigint>;

export const DEFAULT_MAX_TRAPS = 65536;
export const DEFAULT_RING_BYTES = 16 * 1024 * 1024;
export const DEFAULT_AGGREGATE_WINDOW_MS = 1_000;
export const DEFAULT_AGGREGATE_ENTRIES = 16_384;

export function defaultObjectDir(): string {
  if (process.env.KIVE_BPF_OBJECT_DIR) return process.env.KIVE_BPF_OBJECT_DIR;
  const here = dirname(fileURLToPath(import.meta.url));
  // src/kernel/ when run from source, dist/src/kernel/ when compiled.
  const candidates = [join(here, '..', '..', 'build', 'bpf'), join(here, '..', '..', '..', 'build', 'bpf')];
  return candidates.find((c) => existsSync(c)) ?? candidates[0]!;
}

/** MonitorOptions with every default filled in, as the object loader takes them. */
export function loadOptions(o: MonitorOptions): LoadOptions {
  const ring = o.ringBufferBytes ?? DEFAULT_RING_BYTES;
  return {
    objectDir: o.objectDir ?? defaultObjectDir(),
    maxTraps: o.maxTraps ?? DEFAULT_MAX_TRAPS,
    ringBufferBytes: ring,
    captureContext: o.captureContext ?? true,
    wakeupBytes: o.wakeupBytes ?? Math.max(4096, ring / 16),
    aggregateWindowNs: aggregateWindowNs(o.aggregateWindowMs ?? DEFAULT_AGGREGATE_WINDOW_MS),
    aggregateEntries: o.aggregateEntries ?? DEFAULT_AGGREGATE_ENTRIES,
  };
}

function aggregateWindowNs(ms: number): bigint {
  if (!Number.isFinite(ms) || ms < 0 || ms > 3_600_000) {
    throw new KiveError('KIVE_USAGE', `aggregation window ${ms} ms: must be between 0 (off) and 3,600,000`);
  }
  return BigInt(Math.round(ms * 1e6));
}

/** Errors that mean "this backend does not work here", as opposed to "Kive is broken". */
function isRefusal(err: unknown): boolean {
  return (
    isKiveError(err, 'KIVE_BACKEND_UNSUPPORTED') || isKiveError(err, 'KIVE_ATTACH_FAILED') || isKiveError(err, 'KIVE_PROGRAM_REJECTED')
  );
}

const BPF_ANY = 0;

export class FileMonitor implements TrapMap {
  readonly backend: BackendName;
  readonly attachedTo: string;
  /** Techniques that open files unseen by this backend on this kernel (LoadedBackend.gaps). */
  readonly gaps: readonly string[];
  #loaded: LoadedBackend | null;
  #ring: RingReader | null;
  #pollIntervalMs: number;
  #closed = false;
  // Reused for every map call: map syscalls copy keys and values in and out.
  #key = Buffer.alloc(TRAP_KEY_SIZE);
  #value = Buffer.alloc(TRAP_VALUE_SIZE);
  readonly #filter: InoFilter;

  private constructor(loaded: LoadedBackend, ring: RingReader, pollIntervalMs: number) {
    this.backend = loaded.backend;
    this.attachedTo = loaded.attachedTo;
    this.gaps = loaded.gaps;
    this.#loaded = loaded;
    this.#filter = new InoFilter(loaded.filterFd);
    this.#ring = ring;
    this.#pollIntervalMs = pollIntervalMs;
  }

  /**
   * Loads and attaches a backend ('auto': the best one this kernel accepts).
   * Throws KiveError KIVE_NOT_ROOT, KIVE_NO_BTF, KIVE_BACKEND_UNSUPPORTED,
   * KIVE_ATTACH_FAILED, KIVE_BPF_OBJECT_MISSING, or VerifierError (with the log).
   */
  static async open(options: MonitorOptions = {}): Promise<FileMonitor> {
    const opts = loadOptions(options);
    const wanted = options.backend ?? 'auto';
    let loaded: LoadedBackend;
    if (wanted === 'auto') {
      checkPrivileges();
      const reasons: string[] = [];
      let found: LoadedBackend | null = null;
      for (const spec of BACKENDS) {
        try {
          found = loadBackend(spec, opts);
          break;
        } catch (err) {
          if (!isRefusal(err)) throw err;
          reasons.push(`${spec.name}: ${(err as Error).message}`);
        }
      }
      if (!found) throw new KiveError('KIVE_BACKEND_UNSUPPORTED', `open monitor: no backend works on this kernel (${reasons.join('; ')})`);
      loaded = found;
    } else {
      loaded = loadBackend(backendSpec(wanted), opts);
    }
    let ring: RingReader;
    try {
      ring = RingReader.open(loaded.eventsFd, loaded.ringBytes);
    } catch (err) {
      loaded.close();
      throw err;
    }
    return new FileMonitor(loaded, ring, options.pollIntervalMs ?? 10);
  }

  #live(what: string): LoadedBackend {
    if (this.#closed || !this.#loaded) throw new KiveError('KIVE_CLOSED', `${what}: monitor is closed`);
    return this.#loaded;
  }

  /** Adds or replaces a trap. Throws KIVE_MAP_FULL when the map is at capacity. */
  setTrap(key: FileKey, slot: number): void {
    const l = this.#live('set trap');
    encodeTrapValue(slot, this.#value);
    encodeTrapKey(key, this.#key); // validates the key before the filter records it
    const filtered = this.#filter.beforeArm(key);
    const rc = bpf.mapUpdate(l.trapsFd, this.#key, this.#value, BPF_ANY);
    if (rc === 0) return;
    filtered.undo();
    if (errnoName(rc) === 'E2BIG') {
      throw new KiveError('KIVE_MAP_FULL', `set trap ${key.ino}@${key.dev}: trap map is full (raise maxTraps)`);
    }
    throw new KiveError('KIVE_LIBBPF', `set trap ${key.ino}@${key.dev}: ${errnoName(rc)}`);
  }

  /** Removes a trap; false when there was none. */
  deleteTrap(key: FileKey): boolean {
    const l = this.#live('delete trap');
    const rc = bpf.mapDelete(l.trapsFd, encodeTrapKey(key, this.#key));
    if (rc === 0 || errnoName(rc) === 'ENOENT') this.#filter.afterDisarm(key);
    if (rc === 0) return true;
    if (errnoName(rc) === 'ENOENT') return false;
    throw new KiveError('KIVE_LIBBPF', `delete trap ${key.ino}@${key.dev}: ${errnoName(rc)}`);
  }

  listTraps(): Array<{ key: FileKey; slot: number }> {
    const l = this.#live('list traps');
    const out: Array<{ key: FileKey; slot: number }> = [];
    const cur = Buffer.alloc(TRAP_KEY_SIZE);
    const next = Buffer.alloc(TRAP_KEY_SIZE);
    let first = true;
    // A key deleted concurrently makes get_next_key restart from the beginning; the
    // Set keeps the listing free of duplicates in that case.
    const seen = new Set<string>();
    while (bpf.mapNextKey(l.trapsFd, first ? null : cur, next) === 0) {
      first = false;
      next.copy(cur);
      const id = cur.toString('hex');
      if (seen.has(id)) continue;
      seen.add(id);
      if (bpf.mapLookup(l.trapsFd, cur, this.#value) !== 0) continue;
      out.push({ key: decodeTrapKey(cur), slot: decodeTrapValue(this.#value) });
    }
    return out;
  }

  clearTraps(): void {
    for (const { key } of this.listTraps()) this.deleteTrap(key);
  }

  /** Bits set in the kernel's trap pre-filter (src/kernel/ino-filter.ts), read back from it. */
  preFilterBits(): number {
    this.#live('read pre-filter');
    return this.#filter.kernelBitsSet();
  }

  /** Sums of the per-CPU counters since load. */
  counters(): KernelCounters {
    const l = this.#live('read counters');
    const cpus = bpf.numPossibleCpus();
    const buf = Buffer.alloc(8 * cpus);
    const key = Buffer.alloc(4);
    const sum = (idx: number): bigint => {
      key.writeUInt32LE(idx, 0);
      const rc = bpf.mapLookup(l.countersFd, key, buf);
      if (rc !== 0) throw new KiveError('KIVE_LIBBPF', `read counter ${idx}: ${errnoName(rc)}`);
      let s = 0n;
      for (let i = 0; i < cpus; i++) s += buf.readBigUInt64LE(8 * i);
      return s;
    };
    const out = {} as KernelCounters;
    for (const [name, idx] of Object.entries(COUNTERS) as Array<[CounterName, number]>) {
      if (idx < COUNTER_MAX) out[name] = sum(idx);
    }
    return out;
  }

  /**
   * The events lost per trapped file since the previous call, taken out of the kernel's
   * kive_drops map (so the map only ever holds files with drops not yet taken). A drop
   * the kernel counts between this read and the delete is missing here but not from
   * counters().dropped, which callers read first (src/alerts/lost.ts).
   */
  takeDrops(): Array<{ key: FileKey; lost: bigint }> {
    const l = this.#live('read drops');
    const out: Array<{ key: FileKey; lost: bigint }> = [];
    const keys: Buffer[] = [];
    const next = Buffer.alloc(TRAP_KEY_SIZE);
    let cur: Buffer | null = null;
    // Collect first, delete after: deleting while iterating restarts get_next_key.
    while (bpf.mapNextKey(l.dropsFd, cur, next) === 0) {
      cur = Buffer.from(next);
      keys.push(cur);
    }
    const value = Buffer.alloc(DROPS_VALUE_SIZE);
    for (const k of keys) {
      if (bpf.mapLookup(l.dropsFd, k, value) !== 0) continue;
      bpf.mapDelete(l.dropsFd, k);
      out.push({ key: decodeTrapKey(k), lost: value.readBigUInt64LE(0) });
    }
    return out;
  }

  /**
   * Begins consuming: `onEvents` gets every batch drained from the ring, in kernel
   * order, on the event loop. A lone event arrives within the poll interval (10 ms).
   */
  start(onEvents: (events: KernelEvent[]) => void): void {
    const l = this.#live('start');
    let batch: KernelEvent[] = [];
    const record = (dv: DataView, u8: Uint8Array, off: number, len: number): void => {
      batch.push(decodeEvent(dv, u8, off, len));
    };
    const deliver = (): void => {
      const out = batch;
      batch = [];
      onEvents(out);
    };
    this.#ring!.start(l.eventsFd, record, deliver, { pollIntervalMs: this.#pollIntervalMs });
    this.#drainNow = () => {
      let n = 0;
      for (let got = this.#ring!.drain(record); got > 0; got = this.#ring!.drain(record)) {
        n += got;
        deliver();
      }
      return n;
    };
  }

  #drainNow: (() => number) | null = null;

  /**
   * Delivers every record already in the ring to the start() callback now, before the
   * caller tears down what that callback needs (a stop must not leave emitted events
   * unread). Returns the number of events delivered; 0 before start().
   */
  drainNow(): number {
    this.#live('drain');
    return this.#drainNow?.() ?? 0;
  }

  /** Test and bench hook: the raw ring reader (owned by this monitor). */
  get ring(): RingReader {
    this.#live('ring');
    return this.#ring!;
  }

  /** The loaded programs; the fds stay owned by this monitor (for bpf_stats). */
  get programs(): ReadonlyArray<{ name: string; fd: number }> {
    return this.#live('programs').programs;
  }

  /** Kernel timestamp (CLOCK_MONOTONIC ns, as Node's hrtime) -> Unix epoch ms. */
  wallClockMs(tsNs: bigint): number {
    return Date.now() - Number(process.hrtime.bigint() - tsNs) / 1e6;
  }

  /** Detaches the programs, unmaps the ring and frees the object. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#ring?.close();
    this.#ring = null;
    this.#loaded?.close();
    this.#loaded = null;
  }
}

/**
 * Tries to load and attach each backend (with tiny maps), then detaches it. Throws
 * KIVE_NOT_ROOT / KIVE_NO_BTF, which apply to every backend alike.
 */
export async function probeBackends(options: { objectDir?: string } = {}): Promise<ProbeResult[]> {
  checkPrivileges();
  const opts = loadOptions({ objectDir: options.objectDir, maxTraps: 1, ringBufferBytes: 64 * 1024 });
  const results: ProbeResult[] = [];
  for (const spec of BACKENDS) {
    try {
      const loaded = loadBackend(spec, opts);
      results.push({ backend: spec.name, supported: true, attachPoint: loaded.attachedTo, reads: loaded.reads, gaps: [...loaded.gaps] });
      loaded.close();
    } catch (err) {
      if (!isRefusal(err) && !isKiveError(err, 'KIVE_BPF_OBJECT_MISSING')) throw err;
      results.push({ backend: spec.name, supported: false, reason: (err as Error).message });
    }
  }
  return results;
}
