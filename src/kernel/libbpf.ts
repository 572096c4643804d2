// Thin typed binding to libbpf.so.1 (Debian's 1.1.2) and the few libc calls the ring
// buffer reader needs, through koffi. Nothing here owns anything: callers get raw
// handles (bigint pointers, numeric fds) and the object loader (object-loader.ts)
// decides who closes what. libbpf is the only thing that parses ELF and BTF; this file only reads the few
// fixed-layout BTF records (struct btf_type, btf_param, btf_var_secinfo) that libbpf's
// own API hands out, as libbpf's btf.h documents them.
//
// libbpf 1.x conventions: int-returning calls give -errno; pointer-returning calls give
// NULL (null here) and set errno.

import koffi from 'koffi';

/** Opaque libbpf handles (`struct bpf_object *` ...), as koffi returns pointers. */
export type Ptr = bigint;

const libbpf = koffi.load('libbpf.so.1');
const libc = koffi.load('libc.so.6');

const P = 'void *';

/**
 * The head of libbpf 1.1's `struct bpf_object_open_opts`, up to btf_custom_path (sz = 56;
 * libbpf treats the fields after sz as zero). Kive sets only btf_custom_path: CO-RE then
 * relocates against the kernel's vmlinux BTF alone and libbpf does not walk the module
 * BTFs with BPF_BTF_GET_NEXT_ID, which needs CAP_SYS_ADMIN (libbpf 1.1 fails the load
 * on that EPERM). Kive's programs use no module type.
 */
const OpenOpts = koffi.struct('kive_bpf_object_open_opts', {
  sz: 'size_t',
  object_name: 'const char *',
  relaxed_maps: 'bool',
  pin_root_path: 'const char *',
  attach_prog_fd_stub: 'uint32',
  kconfig: 'const char *',
  btf_custom_path: 'const char *',
});
export interface ObjectOpenOpts {
  sz: number;
  btf_custom_path: string;
}
export const OBJECT_OPEN_OPTS_SIZE = koffi.sizeof(OpenOpts);

export const bpf = {
  objectOpenFile: libbpf.func('bpf_object__open_file', P, ['str', koffi.pointer(OpenOpts)]) as (path: string, opts: ObjectOpenOpts | null) => Ptr | null,
  objectLoad: libbpf.func('bpf_object__load', 'int', [P]) as (obj: Ptr) => number,
  objectClose: libbpf.func('bpf_object__close', 'void', [P]) as (obj: Ptr) => void,
  objectBtf: libbpf.func('bpf_object__btf', P, [P]) as (obj: Ptr) => Ptr | null,
  findProgram: libbpf.func('bpf_object__find_program_by_name', P, [P, 'str']) as (obj: Ptr, name: string) => Ptr | null,
  nextProgram: libbpf.func('bpf_object__next_program', P, [P, P]) as (obj: Ptr, prev: Ptr | null) => Ptr | null,
  findMap: libbpf.func('bpf_object__find_map_by_name', P, [P, 'str']) as (obj: Ptr, name: string) => Ptr | null,

  programName: libbpf.func('bpf_program__name', 'str', [P]) as (prog: Ptr) => string,
  programSectionName: libbpf.func('bpf_program__section_name', 'str', [P]) as (prog: Ptr) => string,
  programFd: libbpf.func('bpf_program__fd', 'int', [P]) as (prog: Ptr) => number,
  programSetAutoload: libbpf.func('bpf_program__set_autoload', 'int', [P, 'bool']) as (prog: Ptr, on: boolean) => number,
  programSetAttachTarget: libbpf.func('bpf_program__set_attach_target', 'int', [P, 'int', 'str']) as (
    prog: Ptr,
    fd: number,
    func: string,
  ) => number,
  programSetLogBuf: libbpf.func('bpf_program__set_log_buf', 'int', [P, P, 'size_t']) as (
    prog: Ptr,
    buf: Buffer,
    size: number,
  ) => number,
  programSetLogLevel: libbpf.func('bpf_program__set_log_level', 'int', [P, 'uint32']) as (prog: Ptr, level: number) => number,
  programAttach: libbpf.func('bpf_program__attach', P, [P]) as (prog: Ptr) => Ptr | null,
  programAttachKprobe: libbpf.func('bpf_program__attach_kprobe', P, [P, 'bool', 'str']) as (
    prog: Ptr,
    retprobe: boolean,
    func: string,
  ) => Ptr | null,
  linkDestroy: libbpf.func('bpf_link__destroy', 'int', [P]) as (link: Ptr) => number,

  mapFd: libbpf.func('bpf_map__fd', 'int', [P]) as (map: Ptr) => number,
  mapSetMaxEntries: libbpf.func('bpf_map__set_max_entries', 'int', [P, 'uint32']) as (map: Ptr, n: number) => number,
  mapMaxEntries: libbpf.func('bpf_map__max_entries', 'uint32', [P]) as (map: Ptr) => number,
  mapInitialValue: libbpf.func('bpf_map__initial_value', P, [P, koffi.out(koffi.pointer('size_t'))]) as (
    map: Ptr,
    size: [number | bigint],
  ) => Ptr | null,

  // Syscall wrappers on fds: keys and values are caller-owned Buffers of the map's sizes.
  mapUpdate: libbpf.func('bpf_map_update_elem', 'int', ['int', P, P, 'uint64']) as (
    fd: number,
    key: Buffer,
    value: Buffer,
    flags: number,
  ) => number,
  mapLookup: libbpf.func('bpf_map_lookup_elem', 'int', ['int', P, P]) as (fd: number, key: Buffer, value: Buffer) => number,
  mapDelete: libbpf.func('bpf_map_delete_elem', 'int', ['int', P]) as (fd: number, key: Buffer) => number,
  mapNextKey: libbpf.func('bpf_map_get_next_key', 'int', ['int', P, P]) as (fd: number, key: Buffer | null, next: Buffer) => number,

  btfLoadVmlinux: libbpf.func('btf__load_vmlinux_btf', P, []) as () => Ptr | null,
  btfFree: libbpf.func('btf__free', 'void', [P]) as (btf: Ptr) => void,
  /** BTF of an ELF object or raw BTF file (libbpf parses it). */
  btfParse: libbpf.func('btf__parse', P, ['str', P]) as (path: string, ext: null) => Ptr | null,
  btfFindByNameKind: libbpf.func('btf__find_by_name_kind', 'int', [P, 'str', 'uint32']) as (
    btf: Ptr,
    name: string,
    kind: number,
  ) => number,
  btfTypeById: libbpf.func('btf__type_by_id', P, [P, 'uint32']) as (btf: Ptr, id: number) => Ptr | null,
  btfNameByOffset: libbpf.func('btf__name_by_offset', 'str', [P, 'uint32']) as (btf: Ptr, off: number) => string | null,
  btfResolveType: libbpf.func('btf__resolve_type', 'int', [P, 'uint32']) as (btf: Ptr, id: number) => number,

  objGetInfoByFd: libbpf.func('bpf_obj_get_info_by_fd', 'int', ['int', P, koffi.inout(koffi.pointer('uint32'))]) as (
    fd: number,
    info: Buffer,
    len: [number],
  ) => number,
  numPossibleCpus: libbpf.func('libbpf_num_possible_cpus', 'int', []) as () => number,
};

export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;
const MAP_FAILED = 0xffffffffffffffffn;

export const libcCalls = {
  mmap: libc.func('mmap', P, [P, 'size_t', 'int', 'int', 'int', 'int64']) as (
    addr: null,
    len: number,
    prot: number,
    flags: number,
    fd: number,
    off: number,
  ) => Ptr | null,
  munmap: libc.func('munmap', 'int', [P, 'size_t']) as (addr: Ptr, len: number) => number,
  mount: libc.func('mount', 'int', ['str', 'str', 'str', 'ulong', P]) as (
    src: string,
    target: string,
    fstype: string,
    flags: number,
    data: null,
  ) => number,
  sysconf: libc.func('sysconf', 'long', ['int']) as (name: number) => number,
};

/** mmap(2) that returns null instead of MAP_FAILED; errno is left for the caller. */
export function mmap(len: number, prot: number, fd: number, offset: number): Ptr | null {
  const p = libcCalls.mmap(null, len, prot, MAP_SHARED, fd, offset);
  return p === null || p === MAP_FAILED ? null : p;
}

export function pageSize(): number {
  return libcCalls.sysconf(30 /* _SC_PAGESIZE */);
}

/** errno left by the last failed libbpf or libc call (positive). */
export function lastErrno(): number {
  return koffi.errno();
}

// The one errno -> name table lives in errors.ts; re-exported for the kernel modules.
export { errnoName } from '../errors.ts';

/** Pointer + byte offset, for koffi.view/decode on memory libbpf owns. */
export function view(ptr: Ptr, len: number): ArrayBuffer {
  return koffi.view(ptr, len);
}

// --- BTF records (linux/btf.h), read in place from libbpf-owned memory.
export const BTF_KIND_PTR = 2;
export const BTF_KIND_ENUM = 6;
export const BTF_KIND_STRUCT = 4;
export const BTF_KIND_FUNC = 12;
export const BTF_KIND_FUNC_PROTO = 13;
export const BTF_KIND_VAR = 14;
export const BTF_KIND_DATASEC = 15;

export interface BtfType {
  name: string;
  kind: number;
  vlen: number;
  /** `size` for structs/datasecs, `type` for pointers/funcs/vars. */
  sizeOrType: number;
  /** Address of the record, for the trailing members. */
  ptr: Ptr;
}

export function btfType(btf: Ptr, id: number): BtfType | null {
  const ptr = bpf.btfTypeById(btf, id);
  if (ptr === null) return null;
  const dv = new DataView(view(ptr, 12));
  const info = dv.getUint32(4, true);
  return {
    name: bpf.btfNameByOffset(btf, dv.getUint32(0, true)) ?? '',
    kind: (info >>> 24) & 0x1f,
    vlen: info & 0xffff,
    sizeOrType: dv.getUint32(8, true),
    ptr,
  };
}

/** FUNC_PROTO params (struct btf_param {name_off, type}) following the record. */
export function btfParams(btf: Ptr, proto: BtfType): Array<{ name: string; type: number }> {
  const dv = new DataView(view(proto.ptr, 12 + 8 * proto.vlen));
  const out: Array<{ name: string; type: number }> = [];
  for (let i = 0; i < proto.vlen; i++) {
    out.push({ name: bpf.btfNameByOffset(btf, dv.getUint32(12 + 8 * i, true)) ?? '', type: dv.getUint32(16 + 8 * i, true) });
  }
  return out;
}

/** DATASEC entries (struct btf_var_secinfo {type, offset, size}) following the record. */
export function btfDatasecVars(btf: Ptr, sec: BtfType): Array<{ name: string; offset: number; size: number }> {
  const dv = new DataView(view(sec.ptr, 12 + 12 * sec.vlen));
  const out: Array<{ name: string; offset: number; size: number }> = [];
  for (let i = 0; i < sec.vlen; i++) {
    const v = btfType(btf, dv.getUint32(12 + 12 * i, true));
    out.push({ name: v?.name ?? '', offset: dv.getUint32(16 + 12 * i, true), size: dv.getUint32(20 + 12 * i, true) });
  }
  return out;
}

/** STRUCT members (struct btf_member {name_off, type, offset-in-bits}) following the record. */
export function btfMembers(btf: Ptr, st: BtfType): Array<{ name: string; type: number; bitOffset: number }> {
  const dv = new DataView(view(st.ptr, 12 + 12 * st.vlen));
  const out: Array<{ name: string; type: number; bitOffset: number }> = [];
  for (let i = 0; i < st.vlen; i++) {
    out.push({
      name: bpf.btfNameByOffset(btf, dv.getUint32(12 + 12 * i, true)) ?? '',
      type: dv.getUint32(16 + 12 * i, true),
      // kind_flag structs pack the bitfield size in the top byte; Kive's have none.
      bitOffset: dv.getUint32(20 + 12 * i, true) & 0xffffff,
    });
  }
  return out;
}

/** ENUM values (struct btf_enum {name_off, s32 val}) following the record. */
export function btfEnumValues(btf: Ptr, en: BtfType): Array<{ name: string; value: number }> {
  const dv = new DataView(view(en.ptr, 12 + 8 * en.vlen));
  const out: Array<{ name: string; value: number }> = [];
  for (let i = 0; i < en.vlen; i++) {
    out.push({ name: bpf.btfNameByOffset(btf, dv.getUint32(12 + 8 * i, true)) ?? '', value: dv.getInt32(16 + 8 * i, true) });
  }
  return out;
}

// --- libbpf's own messages. libbpf prints warnings (and, on a failed load, the verifier
// log) through one process-wide callback; Kive captures them so an error can carry them
// instead of libbpf writing to stderr behind the CLI's back.
const PrintFn = koffi.proto('int kive_libbpf_print_fn(int level, void *fmt, void *args)');
const setPrint = libbpf.func('libbpf_set_print', P, [koffi.pointer(PrintFn)]);
// On x86-64 a va_list argument is a pointer to the caller's va_list, so libc can format it.
const vsnprintf = libc.func('vsnprintf', 'int', [P, 'size_t', P, P]) as (buf: Buffer, n: number, fmt: Ptr, ap: Ptr) => number;

const LEVEL = ['warn', 'info', 'debug'] as const;
export interface LibbpfMessage {
  level: (typeof LEVEL)[number];
  text: string;
}

let captured: LibbpfMessage[] = [];
let printInstalled = false;
const printBuf = Buffer.alloc(8192);

function installPrint(): void {
  if (printInstalled) return;
  printInstalled = true;
  const cb = koffi.register((level: number, fmt: Ptr, args: Ptr) => {
    if (level > 1) return 0; // debug: libbpf narrates every relocation
    const n = vsnprintf(printBuf, printBuf.length, fmt, args);
    const text = printBuf
      .toString('utf8', 0, Math.min(Math.max(n, 0), printBuf.length - 1))
      .replace(/\n$/, '')
      .replace(/^libbpf: /, '');
    captured.push({ level: LEVEL[level] ?? 'warn', text });
    if (captured.length > 2000) captured.splice(0, captured.length - 2000);
    return 0;
  }, koffi.pointer(PrintFn));
  setPrint(cb);
}

/** Starts a fresh capture of libbpf's messages; returns what the previous one collected. */
export function takeLibbpfMessages(): LibbpfMessage[] {
  installPrint();
  const out = captured;
  captured = [];
  return out;
}
