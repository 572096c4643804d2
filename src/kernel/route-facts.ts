// The kernel facts the tracepoint backend's route plan needs (backends/tracepoint-routes.ts),
// read from the running kernel's BTF: which open routes exist, and whether io_uring's
// internals have a layout bpf/lib/io_uring.h knows.

import { bpf, btfMembers, btfType, BTF_KIND_FUNC, BTF_KIND_STRUCT, type Ptr } from './libbpf.ts';
import type { RouteFacts } from './backends/tracepoint-routes.ts';

export function kernelRouteFacts(btf: Ptr): RouteFacts {
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
}

function members(btf: Ptr, struct: string): Set<string> | null {
  const id = bpf.btfFindByNameKind(btf, struct, BTF_KIND_STRUCT);
  const t = id > 0 ? btfType(btf, id) : null;
  return t ? new Set(btfMembers(btf, t).map((m) => m.name)) : null;
}
