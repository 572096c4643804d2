// kprobe: a kprobe on the kernel's permission check. Needs CONFIG_KPROBES, BTF (to find
// the inode parameter, see permission.ts) and ring buffers (5.8+); tested on Debian's 6.1 and
// 6.12 (docs/kernels.md). Kernels built without kprobes (this project's 6.18 build
// hosts) fail the attach with ENOENT.

import { PERMISSION_FUNCTIONS, PERMISSION_SEES, permissionTargets } from './permission.ts';
import { objectFileFor, type BackendSpec } from './spec.ts';

export const kprobe: BackendSpec<'kprobe'> = {
  name: 'kprobe',
  objectFile: objectFileFor('kprobe'),
  hook: '`kprobe/inode_permission` (same fallback)',
  requires: '`CONFIG_KPROBES`, BTF (for the signature)',
  ops: ['permission'],
  inodeReads: 'raw',
  // Attached by function name rather than by section, so one program serves every target.
  programs: [{ section: 'kprobe/inode_permission' }],
  sees: PERMISSION_SEES,
  targets: (kernel) => permissionTargets('kprobe', PERMISSION_FUNCTIONS, kernel),
  attach: (_program, target) => ({ point: `kprobe/${target.func}`, kprobe: target.func! }),
  hint(stage, e) {
    if (stage === 'attach' && (e === 'ENOENT' || e === 'EOPNOTSUPP')) return 'kernel has no kprobes (CONFIG_KPROBES)';
    return undefined;
  },
};
