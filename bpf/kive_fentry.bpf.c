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

/* The trampoline's arguments are typed: the inode is read with plain loads (filter.h). */
static __always_inline int kive_fentry_filter(struct inode *inode, __u32 mask)
{
	struct kive_trap_key key = {};
	struct kive_trap_value *trap = kive_lookup_btf_inode(inode, &key);

	return kive_filter_trap(&key, trap, mask, KIVE_OP_PERMISSION);
}

SEC("fentry/inode_permission")
int kive_fentry_permission(__u64 *ctx)
{
	/*
	 * The verifier types each argument from the hooked function's BTF, not from this
	 * code: ctx[kive_arg_inode] is a struct inode pointer there because the loader
	 * chose the index from that same BTF. The other index's branch is dead code.
	 */
	if (kive_arg_inode == 0)
		return kive_fentry_filter((struct inode *)ctx[0], (__u32)ctx[1]);
	return kive_fentry_filter((struct inode *)ctx[1], (__u32)ctx[2]);
}
