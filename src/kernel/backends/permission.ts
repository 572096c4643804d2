// Shared by the backends that hook the kernel's permission check (fentry, kprobe; a
// BPF-LSM backend would be a third): which functions, how the inode argument is found,
// and what such a hook sees.

import { KiveError } from '../../errors.ts';
import type { Access, AttachTarget, KernelAccess, Seen } from './spec.ts';

/**
 * inode_permission first: it runs before the DAC decision, so denied attempts are seen.
 * security_inode_permission, whose signature never changed, runs only after DAC passed.
 */
export const PERMISSION_FUNCTIONS = ['inode_permission', 'security_inode_permission'] as const;

/**
 * Targets for the permission-hook backends: each function, in order, whose inode
 * parameter the kernel's BTF shows (its position changed in 5.12 and 6.3; see
 * docs/backends.md). Throws KIVE_BACKEND_UNSUPPORTED when none can be hooked.
 */
export function permissionTargets(backend: string, funcs: readonly string[], kernel: KernelAccess): AttachTarget[] {
  const targets: AttachTarget[] = [];
  const notes: string[] = [];
  for (const func of funcs) {
    const idx = kernel.inodeArgIndex(func);
    if (typeof idx === 'number') targets.push({ func, rodata: { kive_arg_inode: idx } });
    else notes.push(`${func}: ${idx.reason}`);
  }
  if (targets.length === 0) {
    throw new KiveError('KIVE_BACKEND_UNSUPPORTED', `${backend}: no hookable permission function (${notes.join('; ')})`);
  }
  return targets;
}

/** What a hook on inode_permission sees (docs/backends.md says why). */
export const PERMISSION_SEES: Readonly<Record<Access, Seen>> = {
  open: true,
  exec: true,
  deniedOpen: 'on `inode_permission`, not the fallback',
  failedExec: true,
  access: true,
  traversal: true,
  ioUringOpen: true,
  openByHandle: true,
  compat: true,
  fdAccess: false,
  metadata: false,
  oPath: false,
};
