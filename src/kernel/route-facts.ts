// The kernel facts the tracepoint backend's route plan needs (tracepoint-routes.ts), read
// from the running kernel's BTF: which open routes exist, and whether io_uring's
// internals have a layout bpf/lib/io_uring.h knows.

import { KiveError } from '../errors.ts';
import { bpf, btfMembers, btfType, BTF_KIND_FUNC, BTF_KIND_STRUCT, errnoName, lastErrno, type Ptr } from './libbpf.ts';
import type { RouteFacts } from './tracepoint-routes.ts';

/** Reads the running kernel's BTF for the facts planRoutes needs. */
export function kernelRouteFacts(): RouteFacts {
  const btf = bpf.btfLoadVmlinux();
  if (btf === null) throw new KiveError('KIVE_NO_BTF', `read kernel BTF: ${errnoName(lastErrno())}`);
  try {
    const hasFunc = (name: string): boolean => bpf.btfFindByNameKind(btf, name, BTF_KIND_FUNC) > 0;
    const kiocb = members(btf, 'io_kiocb');
    const table = members(btf, 'io_file_table');
    const rsrcData = members(btf, 'io_rsrc_data');
    return {
      compatSyscalls: hasFunc('__ia32_sys_openat') || hasFunc('__ia32_compat_sys_openat'),
      ioUring: kiocb !== null,
      ioUringLayout: kiocb !== null && kiocb.has('opcode') && kiocb.has('cqe') && members(btf, 'io_open')?.has('file_slot') === true,
      ioUringFixedTable: table !== null && (table.has('files') || (table.has('data') && rsrcData?.has('nodes') === true)),
    };
  } finally {
    bpf.btfFree(btf);
  }
}

function members(btf: Ptr, struct: string): Set<string> | null {
  const id = bpf.btfFindByNameKind(btf, struct, BTF_KIND_STRUCT);
  const t = id > 0 ? btfType(btf, id) : null;
  return t ? new Set(btfMembers(btf, t).map((m) => m.name)) : null;
}
