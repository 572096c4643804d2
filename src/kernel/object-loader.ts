// Loads one backend's object: open -> configure -> load (verify) -> attach, each a named
// step with its own error. What differs between backends (targets, attach points, hints)
// comes from its spec in ./backends/; this file only drives libbpf. An ObjectLoader owns
// the bpf_object and every link it creates until take() hands them to the caller as a
// LoadedBackend; on any failure it closes all of them itself, so a failed open leaves
// nothing attached. (Not to be confused with the per-kernel loader controller in
// src/controllers/loader.ts, which decides which process runs this.)

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isKiveError, KiveError, VerifierError } from '../errors.ts';
import { attachHint, programSpec, readsNote, type AttachTarget, type BackendName, type BackendSpec, type KernelAccess } from './backends/index.ts';
import { kernelRouteFacts } from './route-facts.ts';
import {
  bpf,
  btfDatasecVars,
  btfParams,
  btfType,
  BTF_KIND_DATASEC,
  BTF_KIND_FUNC,
  BTF_KIND_PTR,
  BTF_KIND_STRUCT,
  errnoName,
  lastErrno,
  OBJECT_OPEN_OPTS_SIZE,
  libcCalls,
  pageSize,
  takeLibbpfMessages,
  view,
  type LibbpfMessage,
  type Ptr,
} from './libbpf.ts';

export interface LoadOptions {
  objectDir: string;
  maxTraps: number;
  ringBufferBytes: number;
  /** Copy argv/exe/cwd into each event. */
  captureContext: boolean;
  /** Wake the reader when unread data crosses multiples of this (0: kernel default). */
  wakeupBytes: number;
  /** Kernel aggregation window (bpf/lib/flood.h); 0 turns it off. */
  aggregateWindowNs: bigint;
  /** Capacity of the aggregation LRU map. */
  aggregateEntries: number;
}

/** A loaded, attached backend. The owner must call close() exactly once (idempotent). */
export interface LoadedBackend {
  readonly backend: BackendName;
  readonly attachedTo: string;
  readonly trapsFd: number;
  readonly eventsFd: number;
  readonly countersFd: number;
  /** kive_drops: events lost per trapped file; kive_ino_filter: the trap map's pre-filter. */
  readonly dropsFd: number;
  readonly filterFd: number;
  readonly ringBytes: number;
  /** The loaded programs (fds owned by this object), for bpf_stats. */
  readonly programs: Array<{ name: string; fd: number }>;
  readonly reads: string; // how the hot path reads kernel memory here (readsNote)
  /** Techniques that open files unseen by it on this kernel (ProgramSpec.evasion); callers warn. */
  readonly gaps: readonly string[];
  close(): void;
}

const BTF_PATH = '/sys/kernel/btf/vmlinux';
const VERIFIER_LOG_BYTES = 16 * 1024 * 1024;

export function checkPrivileges(): void {
  if (process.geteuid?.() !== 0) {
    throw new KiveError('KIVE_NOT_ROOT', 'load eBPF: not running as root (eBPF needs CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN)');
  }
  if (!existsSync(BTF_PATH)) {
    throw new KiveError('KIVE_NO_BTF', `load eBPF: ${BTF_PATH} is missing (kernel built without CONFIG_DEBUG_INFO_BTF; CO-RE needs it)`);
  }
}

/**
 * Runs `fn` with the kernel as backend specs may query it before load. The kernel's BTF
 * is parsed at most once per call (it is megabytes) and freed afterwards.
 */
export function withKernelAccess<T>(fn: (kernel: KernelAccess) => T): T {
  let btf: Ptr | null = null;
  const vmlinux = (): Ptr => {
    btf ??= bpf.btfLoadVmlinux();
    if (btf === null) throw new KiveError('KIVE_NO_BTF', `read kernel BTF: ${errnoName(lastErrno())}`);
    return btf;
  };
  try {
    return fn({
      inodeArgIndex: (func) => inodeArgIndex(vmlinux(), func),
      ensureTracefs,
      routeFacts: () => kernelRouteFacts(vmlinux()),
      btfCast: () => bpf.btfFindByNameKind(vmlinux(), 'bpf_rdonly_cast', BTF_KIND_FUNC) > 0,
    });
  } finally {
    if (btf !== null) bpf.btfFree(btf);
  }
}

/**
 * The index of `func`'s parameter that points to struct inode, from the kernel's BTF;
 * the mask must follow it. inode_permission is (inode, mask) < 5.12, (mnt_userns, inode,
 * mask) 5.12-6.2, (mnt_idmap, inode, mask) >= 6.3. A function missing from BTF cannot be
 * hooked (it may be static or inlined, and fentry needs BTF anyway).
 */
function inodeArgIndex(btf: Ptr, func: string): number | { reason: string } {
  const id = bpf.btfFindByNameKind(btf, func, BTF_KIND_FUNC);
  if (id < 0) return { reason: 'not in kernel BTF' };
  const fn = btfType(btf, id);
  const proto = fn && btfType(btf, fn.sizeOrType);
  if (!proto) return { reason: 'no prototype in BTF' };
  const params = btfParams(btf, proto);
  const idx = params.findIndex((p) => {
    const ptr = btfType(btf, bpf.btfResolveType(btf, p.type));
    if (!ptr || ptr.kind !== BTF_KIND_PTR) return false;
    const target = btfType(btf, bpf.btfResolveType(btf, ptr.sizeOrType));
    return target?.kind === BTF_KIND_STRUCT && target.name === 'inode';
  });
  if (idx < 0 || idx > 1 || idx + 1 >= params.length) {
    return { reason: `unexpected signature (${params.map((p) => p.name).join(', ')})` };
  }
  return idx;
}

/** Makes sure tracefs is mounted where libbpf looks for tracepoint ids. */
export function ensureTracefs(): void {
  if (existsSync('/sys/kernel/tracing/events') || existsSync('/sys/kernel/debug/tracing/events')) return;
  if (libcCalls.mount('nodev', '/sys/kernel/tracing', 'tracefs', 0, null) !== 0) {
    const e = errnoName(lastErrno());
    throw new KiveError('KIVE_ATTACH_FAILED', `mount tracefs on /sys/kernel/tracing: ${e} (tracepoints need tracefs)`);
  }
}

export class ObjectLoader {
  readonly spec: BackendSpec<BackendName>;
  readonly #options: LoadOptions;
  #obj: Ptr | null = null;
  #links: Ptr[] = [];
  #logBuf: Buffer | null = null;
  #where = '';
  #gaps: string[] = [];

  constructor(spec: BackendSpec<BackendName>, options: LoadOptions) {
    this.spec = spec;
    this.#options = options;
  }

  /** Runs every step for one attach target; on any error, everything is closed. */
  load(target: AttachTarget): LoadedBackend {
    takeLibbpfMessages();
    this.#where = target.func !== null ? ` (${this.spec.name}/${target.func})` : '';
    try {
      this.#open();
      this.#configure(target);
      this.#verify();
      const attachedTo = this.#attach(target);
      return this.#take(attachedTo, target);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  #open(): void {
    const path = join(this.#options.objectDir, this.spec.objectFile);
    if (!existsSync(path)) {
      throw new KiveError('KIVE_BPF_OBJECT_MISSING', `open ${path}: no such file (build it with \`make bpf\`)`);
    }
    this.#obj = bpf.objectOpenFile(path, { sz: OBJECT_OPEN_OPTS_SIZE, btf_custom_path: BTF_PATH });
    if (this.#obj === null) throw this.#libbpfError(`open ${path}`, lastErrno());
  }

  #configure(target: AttachTarget): void {
    const obj = this.#obj!;
    const o = this.#options;
    const page = pageSize();
    if (o.ringBufferBytes < page || (o.ringBufferBytes & (o.ringBufferBytes - 1)) !== 0) {
      throw new KiveError('KIVE_USAGE', `ring buffer size ${o.ringBufferBytes}: must be a power of two and at least ${page}`);
    }
    if (!Number.isInteger(o.maxTraps) || o.maxTraps < 1) {
      throw new KiveError('KIVE_USAGE', `maxTraps ${o.maxTraps}: must be a positive integer`);
    }
    this.#check(bpf.mapSetMaxEntries(this.#map('kive_traps'), o.maxTraps), 'size kive_traps');
    this.#check(bpf.mapSetMaxEntries(this.#map('kive_events'), o.ringBufferBytes), 'size kive_events');
    // Every armed file can have its own drop count.
    this.#check(bpf.mapSetMaxEntries(this.#map('kive_drops'), o.maxTraps), 'size kive_drops');
    if (!Number.isInteger(o.aggregateEntries) || o.aggregateEntries < 1) {
      throw new KiveError('KIVE_USAGE', `aggregateEntries ${o.aggregateEntries}: must be a positive integer`);
    }
    this.#check(bpf.mapSetMaxEntries(this.#map('kive_agg'), o.aggregateEntries), 'size kive_agg');

    this.#writeRodata({
      kive_capture_ctx: o.captureContext ? 1 : 0,
      kive_wakeup_bytes: BigInt(o.wakeupBytes),
      kive_agg_window_ns: o.aggregateWindowNs,
      ...target.rodata,
    });
    this.#gaps = [...(target.gaps ?? [])];

    // One shared log buffer: libbpf loads programs one by one and stops at the first
    // failure, and with log level 0 the kernel writes it only when retrying a failure.
    this.#logBuf = Buffer.alloc(VERIFIER_LOG_BYTES);
    const loadTarget = this.spec.loadTarget?.(target);
    const inObject = new Set<string>();
    for (let p = bpf.nextProgram(obj, null); p !== null; p = bpf.nextProgram(obj, p)) {
      const section = bpf.programSectionName(p);
      inObject.add(section);
      // A route this kernel lacks (or a program it refused): not loaded, not attached.
      if (target.skip?.includes(section)) this.#check(bpf.programSetAutoload(p, false), `leave out ${section}`);
      this.#check(bpf.programSetLogBuf(p, this.#logBuf, this.#logBuf.length), 'set verifier log buffer');
      if (loadTarget !== undefined) {
        this.#check(bpf.programSetAttachTarget(p, 0, loadTarget), `set ${this.spec.name} target ${loadTarget}`);
      }
    }
    for (const prog of this.spec.programs) {
      if (prog.evasion && !inObject.has(prog.section)) this.#gaps.push(`${prog.evasion} (not in ${this.spec.objectFile})`);
    }
  }

  #writeRodata(values: Record<string, number | bigint>): void {
    const obj = this.#obj!;
    const map = this.#map('.rodata');
    const size: [number | bigint] = [0];
    const data = bpf.mapInitialValue(map, size);
    const btf = bpf.objectBtf(obj);
    const secId = btf === null ? -1 : bpf.btfFindByNameKind(btf, '.rodata', BTF_KIND_DATASEC);
    const sec = btf !== null && secId > 0 ? btfType(btf, secId) : null;
    if (data === null || btf === null || sec === null) throw new KiveError('KIVE_LIBBPF', 'configure: object has no .rodata');
    const dv = new DataView(view(data, Number(size[0])));
    const vars = new Map(btfDatasecVars(btf, sec).map((v) => [v.name, v] as const));
    for (const [name, value] of Object.entries(values)) {
      const v = vars.get(name);
      if (!v) throw new KiveError('KIVE_LIBBPF', `configure: object has no setting ${name}`);
      if (v.size === 8) dv.setBigUint64(v.offset, BigInt(value), true);
      else if (v.size === 4) dv.setUint32(v.offset, Number(value), true);
      else throw new KiveError('KIVE_LIBBPF', `configure: setting ${name} has size ${v.size}`);
    }
  }

  #verify(): void {
    const rc = bpf.objectLoad(this.#obj!);
    const buf = this.#logBuf!;
    const logText = buf.toString('utf8', 0, Math.max(0, buf.indexOf(0)));
    this.#logBuf = null;
    if (rc === 0) return;
    const messages = takeLibbpfMessages();
    const failed = messages.map((m) => /prog '([^']+)': failed to load/.exec(m.text)?.[1]).find((x) => x) ?? this.spec.name;
    const log = logText.split('\n').filter((l) => l.trim() !== '');
    const name = errnoName(rc);
    // An empty log means the kernel refused before the verifier ran (lockdown, missing
    // program type, EPERM for trampolines): the backend is unsupported, not buggy.
    if (log.length === 0) {
      throw new KiveError(
        'KIVE_BACKEND_UNSUPPORTED',
        `load program ${failed}${this.#where}: ${name} (${attachHint(this.spec, 'load', name)})`,
        { cause: libbpfDetail(messages) },
      );
    }
    throw new VerifierError(failed, -rc, log);
  }

  #attach(target: AttachTarget): string {
    const obj = this.#obj!;
    const points: string[] = [];
    for (let p = bpf.nextProgram(obj, null); p !== null; p = bpf.nextProgram(obj, p)) {
      if (target.skip?.includes(bpf.programSectionName(p))) continue;
      const program = programSpec(this.spec, bpf.programSectionName(p));
      const plan = this.spec.attach(program, target);
      const link = plan.kprobe !== undefined ? bpf.programAttachKprobe(p, false, plan.kprobe) : bpf.programAttach(p);
      if (link === null) {
        const e = errnoName(lastErrno());
        // An attach point this kernel may lack (the spec says why): skip that program.
        if (e === 'ENOENT' && program.optional !== undefined) continue;
        // A route around the main hooks that this kernel will not let us cover: a gap.
        if (program.evasion !== undefined) {
          this.#gaps.push(`${program.evasion} (attach ${plan.point}: ${e})`);
          takeLibbpfMessages();
          continue;
        }
        throw new KiveError('KIVE_ATTACH_FAILED', `attach ${plan.point}: ${e} (${attachHint(this.spec, 'attach', e)})`, {
          cause: libbpfDetail(takeLibbpfMessages()),
        });
      }
      this.#links.push(link);
      points.push(plan.point);
    }
    return points.join(',');
  }

  #take(attachedTo: string, target: AttachTarget): LoadedBackend {
    const obj = this.#obj!;
    const links = this.#links;
    const fds = {
      trapsFd: bpf.mapFd(this.#map('kive_traps')),
      eventsFd: bpf.mapFd(this.#map('kive_events')),
      countersFd: bpf.mapFd(this.#map('kive_counters')),
      dropsFd: bpf.mapFd(this.#map('kive_drops')),
      filterFd: bpf.mapFd(this.#map('kive_ino_filter')),
    };
    const programs: Array<{ name: string; fd: number }> = [];
    for (let p = bpf.nextProgram(obj, null); p !== null; p = bpf.nextProgram(obj, p)) {
      if (target.skip?.includes(bpf.programSectionName(p))) continue;
      programs.push({ name: bpf.programName(p), fd: bpf.programFd(p) });
    }
    // Ownership moves to the returned object; this loader forgets it.
    this.#obj = null;
    this.#links = [];
    let closed = false;
    return {
      backend: this.spec.name,
      attachedTo,
      ...fds,
      ringBytes: this.#options.ringBufferBytes,
      programs,
      gaps: [...this.#gaps],
      reads: readsNote(this.spec.inodeReads, target.rodata.kive_btf_cast === 1),
      close() {
        if (closed) return;
        closed = true;
        for (const l of links.reverse()) bpf.linkDestroy(l);
        bpf.objectClose(obj);
      },
    };
  }

  /** Detaches and frees whatever this loader still owns. Idempotent. */
  close(): void {
    for (const l of this.#links.reverse()) bpf.linkDestroy(l);
    this.#links = [];
    if (this.#obj !== null) bpf.objectClose(this.#obj);
    this.#obj = null;
    this.#logBuf = null;
  }

  #map(name: string): Ptr {
    const m = bpf.findMap(this.#obj!, name);
    if (m === null) throw new KiveError('KIVE_LIBBPF', `configure: object has no map ${name}`);
    return m;
  }

  #check(rc: number, what: string): void {
    if (rc < 0) throw this.#libbpfError(what, -rc);
  }

  #libbpfError(what: string, errno: number): KiveError {
    return new KiveError('KIVE_LIBBPF', `${what}: ${errnoName(errno)}`, { cause: libbpfDetail(takeLibbpfMessages()) });
  }
}

/** libbpf's own warnings about a failure, as an Error to hang on `cause`. */
function libbpfDetail(messages: LibbpfMessage[]): Error | undefined {
  const warn = messages.filter((m) => m.level === 'warn').map((m) => m.text);
  return warn.length ? new Error(`libbpf: ${warn.join('; ')}`) : undefined;
}

/**
 * Loads and attaches a backend, trying each of its targets in turn (fentry/kprobe:
 * inode_permission, then security_inode_permission). Throws the first target's error
 * when every target fails, with the others' reasons appended.
 */
export function loadBackend(spec: BackendSpec<BackendName>, options: LoadOptions): LoadedBackend {
  checkPrivileges();
  const { targets, btfCast } = withKernelAccess((kernel) => ({ targets: spec.targets(kernel), btfCast: kernel.btfCast() }));
  const errors: unknown[] = [];
  for (const target of targets) {
    try {
      return loadWithout(spec, options, { ...target, rodata: { ...target.rodata, kive_btf_cast: btfCast ? 1 : 0 } });
    } catch (err) {
      // A missing object file is the same for every target: stop at once.
      if (err instanceof KiveError && err.code === 'KIVE_BPF_OBJECT_MISSING') throw err;
      errors.push(err);
    }
  }
  const first = errors[0];
  if (first instanceof KiveError && errors.length > 1) {
    const rest = errors.slice(1).map((e) => (e instanceof Error ? e.message : String(e)));
    first.message = `${first.message}; fallback: ${rest.join('; ')}`;
  }
  throw first;
}

/**
 * Loads one target; when the kernel refuses a program the backend can do without
 * (BackendSpec.withoutRefused), loads again without it, once per such program.
 */
function loadWithout(spec: BackendSpec<BackendName>, options: LoadOptions, target: AttachTarget): LoadedBackend {
  for (let t = target; ; ) {
    try {
      return new ObjectLoader(spec, options).load(t);
    } catch (err) {
      let refused: string | undefined;
      if (err instanceof VerifierError) refused = err.program;
      else if (isKiveError(err, 'KIVE_BACKEND_UNSUPPORTED')) refused = /^load program (\S+)/.exec(err.message)?.[1];
      const next = refused === undefined ? undefined : spec.withoutRefused?.(t, refused, (err as Error).message);
      if (!next) throw err;
      t = next;
    }
  }
}
