// Loads one backend's object: open -> configure -> load (verify) -> attach, each a named
// step with its own error. A Loader owns the bpf_object and every link it creates until
// take() hands them to the caller as a LoadedBackend; on any failure it closes all of
// them itself, so a failed open leaves nothing attached.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KiveError, VerifierError } from '../errors.ts';
import { attachHint, objectFile, type BackendName } from './backends.ts';
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
  /** kive_drops: events lost per trapped file. */
  readonly dropsFd: number;
  readonly ringBytes: number;
  /** The loaded programs (fds owned by this object), for bpf_stats. */
  readonly programs: Array<{ name: string; fd: number }>;
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

/** Which hook function a permission backend attaches to, and where its inode argument is. */
export interface PermissionTarget {
  func: string;
  argInode: number;
}

/**
 * Reads the running kernel's BTF for inode_permission's signature: (inode, mask) < 5.12,
 * (mnt_userns, inode, mask) 5.12-6.2, (mnt_idmap, inode, mask) >= 6.3. The inode is the
 * parameter that points to struct inode; the mask follows it. Falls back to
 * security_inode_permission, (inode, mask) everywhere. Functions missing from BTF are
 * left out (they may be static/inlined, and fentry needs BTF anyway).
 */
export function permissionTargets(): { targets: PermissionTarget[]; notes: string[] } {
  const btf = bpf.btfLoadVmlinux();
  if (btf === null) throw new KiveError('KIVE_NO_BTF', `read kernel BTF: ${errnoName(lastErrno())}`);
  const targets: PermissionTarget[] = [];
  const notes: string[] = [];
  try {
    for (const func of ['inode_permission', 'security_inode_permission']) {
      const idx = inodeArgIndex(btf, func);
      if (typeof idx === 'number') targets.push({ func, argInode: idx });
      else notes.push(`${func}: ${idx.reason}`);
    }
  } finally {
    bpf.btfFree(btf);
  }
  return { targets, notes };
}

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

export class Loader {
  readonly backend: BackendName;
  readonly #options: LoadOptions;
  #obj: Ptr | null = null;
  #links: Ptr[] = [];
  #logBuf: Buffer | null = null;
  #where = '';

  constructor(backend: BackendName, options: LoadOptions) {
    this.backend = backend;
    this.#options = options;
  }

  /** Runs every step for one attach target; on any error, everything is closed. */
  load(target: PermissionTarget | null): LoadedBackend {
    takeLibbpfMessages();
    this.#where = target ? ` (${this.backend}/${target.func})` : '';
    try {
      this.#open();
      this.#configure(target);
      this.#verify();
      const attachedTo = this.#attach(target);
      return this.#take(attachedTo);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  #open(): void {
    const path = join(this.#options.objectDir, objectFile(this.backend));
    if (!existsSync(path)) {
      throw new KiveError('KIVE_BPF_OBJECT_MISSING', `open ${path}: no such file (build it with \`make bpf\`)`);
    }
    this.#obj = bpf.objectOpenFile(path, null);
    if (this.#obj === null) throw this.#libbpfError(`open ${path}`, lastErrno());
  }

  #configure(target: PermissionTarget | null): void {
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

    const rodata: Record<string, number | bigint> = {
      kive_capture_ctx: o.captureContext ? 1 : 0,
      kive_wakeup_bytes: BigInt(o.wakeupBytes),
      kive_agg_window_ns: o.aggregateWindowNs,
    };
    if (target) rodata.kive_arg_inode = target.argInode;
    this.#writeRodata(rodata);

    // One shared log buffer: libbpf loads programs one by one and stops at the first
    // failure, and with log level 0 the kernel writes it only when retrying a failure.
    this.#logBuf = Buffer.alloc(VERIFIER_LOG_BYTES);
    for (let p = bpf.nextProgram(obj, null); p !== null; p = bpf.nextProgram(obj, p)) {
      this.#check(bpf.programSetLogBuf(p, this.#logBuf, this.#logBuf.length), 'set verifier log buffer');
      if (target && this.backend === 'fentry') {
        this.#check(bpf.programSetAttachTarget(p, 0, target.func), `set fentry target ${target.func}`);
      }
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
    const failed = messages.map((m) => /prog '([^']+)': failed to load/.exec(m.text)?.[1]).find((x) => x) ?? this.backend;
    const log = logText.split('\n').filter((l) => l.trim() !== '');
    const name = errnoName(rc);
    // An empty log means the kernel refused before the verifier ran (lockdown, missing
    // program type, EPERM for trampolines): the backend is unsupported, not buggy.
    if (log.length === 0) {
      throw new KiveError(
        'KIVE_BACKEND_UNSUPPORTED',
        `load program ${failed}${this.#where}: ${name} (${attachHint(this.backend, 'load', name)})`,
        { cause: libbpfDetail(messages) },
      );
    }
    throw new VerifierError(failed, -rc, log);
  }

  #attach(target: PermissionTarget | null): string {
    const obj = this.#obj!;
    const points: string[] = [];
    for (let p = bpf.nextProgram(obj, null); p !== null; p = bpf.nextProgram(obj, p)) {
      const section = bpf.programSectionName(p);
      let link: Ptr | null;
      let point: string;
      if (this.backend === 'kprobe' && target) {
        link = bpf.programAttachKprobe(p, false, target.func);
        point = `kprobe/${target.func}`;
      } else {
        link = bpf.programAttach(p);
        point = this.backend === 'fentry' && target ? `fentry/${target.func}` : section;
      }
      if (link === null) {
        const e = errnoName(lastErrno());
        // Syscalls some architectures/kernels lack (open/creat on arm64, openat2 < 5.6).
        if (this.backend === 'tracepoint' && e === 'ENOENT' && OPTIONAL_TRACEPOINTS.has(section)) continue;
        throw new KiveError('KIVE_ATTACH_FAILED', `attach ${point}: ${e} (${attachHint(this.backend, 'attach', e)})`, {
          cause: libbpfDetail(takeLibbpfMessages()),
        });
      }
      this.#links.push(link);
      points.push(point);
    }
    return points.join(',');
  }

  #take(attachedTo: string): LoadedBackend {
    const obj = this.#obj!;
    const links = this.#links;
    const fds = {
      trapsFd: bpf.mapFd(this.#map('kive_traps')),
      eventsFd: bpf.mapFd(this.#map('kive_events')),
      countersFd: bpf.mapFd(this.#map('kive_counters')),
      dropsFd: bpf.mapFd(this.#map('kive_drops')),
    };
    const programs: Array<{ name: string; fd: number }> = [];
    for (let p = bpf.nextProgram(obj, null); p !== null; p = bpf.nextProgram(obj, p)) {
      programs.push({ name: bpf.programName(p), fd: bpf.programFd(p) });
    }
    // Ownership moves to the returned object; this loader forgets it.
    this.#obj = null;
    this.#links = [];
    let closed = false;
    return {
      backend: this.backend,
      attachedTo,
      ...fds,
      ringBytes: this.#options.ringBufferBytes,
      programs,
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

const OPTIONAL_TRACEPOINTS = new Set([
  'tracepoint/syscalls/sys_exit_open',
  'tracepoint/syscalls/sys_exit_creat',
  'tracepoint/syscalls/sys_exit_openat2',
]);

/**
 * Loads and attaches `backend`, trying each attach target in turn (fentry/kprobe:
 * inode_permission, then security_inode_permission). Throws the first target's error
 * when every target fails, with the others' reasons appended.
 */
export function loadBackend(backend: BackendName, options: LoadOptions): LoadedBackend {
  checkPrivileges();
  if (backend === 'tracepoint') {
    ensureTracefs();
    return new Loader(backend, options).load(null);
  }
  const { targets, notes } = permissionTargets();
  if (targets.length === 0) {
    throw new KiveError('KIVE_BACKEND_UNSUPPORTED', `${backend}: no hookable permission function (${notes.join('; ')})`);
  }
  const errors: unknown[] = [];
  for (const target of targets) {
    try {
      return new Loader(backend, options).load(target);
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

