// fentry: a BPF trampoline on the kernel's permission check. Needs Linux 5.5+ with BPF
// trampolines for the architecture (x86-64: 5.5; arm64: 6.0), BTF, and ring buffers
// (5.8+), so 5.8 in practice; tested on Debian's 6.1 and 6.12 (docs/kernels.md). Refused
// with EPERM before the verifier runs where lockdown forbids trampolines (this project's
// 6.18 build hosts).

import { PERMISSION_FUNCTIONS, PERMISSION_SEES, permissionTargets } from './permission.ts';
import { objectFileFor, type BackendSpec } from './spec.ts';

export const fentry: BackendSpec<'fentry'> = {
  name: 'fentry',
  objectFile: objectFileFor('fentry'),
  hook: '`fentry/inode_permission` (fallback `security_inode_permission`)',
  requires: '5.5+, BTF, BPF trampolines allowed (no lockdown refusing them)',
  ops: ['permission'],
  inodeReads: 'typed',
  // The section names inode_permission; the loader rebinds it to each target before load.
  programs: [{ section: 'fentry/inode_permission' }],
  sees: PERMISSION_SEES,
  targets: (kernel) => permissionTargets('fentry', PERMISSION_FUNCTIONS, kernel),
  loadTarget: (target) => target.func!,
  attach: (_program, target) => ({ point: `fentry/${target.func}` }),
  hint(_stage, e) {
    if (e === 'EPERM' || e === 'EACCES') return `fentry refused: ${e}, kernel lockdown?`;
    // 524 is the kernel-internal ENOTSUPP, which has no name in userspace.
    if (e === 'ENOTSUPP' || e === 'EOPNOTSUPP' || e === 'errno 524') {
      return 'fentry not supported (no BPF trampoline on this kernel/architecture)';
    }
    return undefined;
  },
};
