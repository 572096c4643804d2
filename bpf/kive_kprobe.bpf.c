// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * kprobe backend (any kernel with CONFIG_KPROBES), the original design's choice (docs/design.md): a
 * kprobe on inode_permission, which runs for every permission check on an inode,
 * including checks that end up denied. Same signature handling as the fentry backend
 * (see kive_fentry.bpf.c): the loader sets kive_arg_inode from the kernel's BTF, and
 * attaches to security_inode_permission instead when inode_permission is not probeable.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "lib/filter.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Position of the inode argument; the mask is the next one. Set by the loader. */
const volatile __u32 kive_arg_inode = 1;

SEC("kprobe/inode_permission")
int kive_kprobe_permission(struct pt_regs *ctx)
{
	if (kive_arg_inode == 0)
		return kive_filter_inode((struct inode *)PT_REGS_PARM1(ctx), (__u32)PT_REGS_PARM2(ctx),
					 KIVE_OP_PERMISSION);
	return kive_filter_inode((struct inode *)PT_REGS_PARM2(ctx), (__u32)PT_REGS_PARM3(ctx),
				 KIVE_OP_PERMISSION);
}
