// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * fentry backend (5.5+, needs BTF and a kernel that allows BPF trampolines).
 *
 * Hooks inode_permission, which runs for every permission check on an inode, before
 * and whether or not DAC passes, so denied attempts are seen too. The loader falls back
 * to security_inode_permission (same (inode, mask) signature on every kernel) when
 * inode_permission cannot be traced; that hook is reached only after the DAC checks
 * passed, so denied attempts go unseen.
 *
 * inode_permission's signature changed: (inode, mask) before 5.12, (mnt_userns, inode,
 * mask) in 5.12-6.2, (mnt_idmap, inode, mask) from 6.3. The loader reads the running
 * kernel's BTF and sets the argument indexes below before load; the branches for other
 * indexes are dead code the verifier never walks (rodata is frozen, so it knows them).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "lib/filter.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Position of the inode argument; the mask is the next one. Set by the loader. */
const volatile __u32 kive_arg_inode = 1;

SEC("fentry/inode_permission")
int kive_fentry_permission(__u64 *ctx)
{
	/*
	 * The arguments are read as plain u64s and the inode is only dereferenced through
	 * BPF_CORE_READ (bpf_probe_read_kernel), so the verifier's BTF type of each
	 * argument never has to match what this code believes it is.
	 */
	if (kive_arg_inode == 0)
		return kive_filter_inode((struct inode *)ctx[0], (__u32)ctx[1], KIVE_OP_PERMISSION);
	return kive_filter_inode((struct inode *)ctx[1], (__u32)ctx[2], KIVE_OP_PERMISSION);
}
