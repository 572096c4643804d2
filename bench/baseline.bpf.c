// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The benchmark's yardstick (docs/performance.md), not part of Kive: the shape of the
 * original implementation's hook as issue 13 describes it, written from that
 * description: a kprobe on inode_permission that reads the inode's number and its
 * superblock's device and does one hash lookup of (inode, device). A hit only counts;
 * there is no event. Whatever Kive's backends cost above this on the miss path is what
 * the targets measure.
 *
 * inode_permission(ns_or_idmap, inode, mask) on every kernel of the matrix (the first
 * argument is a user_namespace before 6.3 and a mnt_idmap since): the inode is the
 * second argument either way.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct baseline_key {
	__u64 ino;
	__u32 dev; /* the kernel's s_dev, major << 20 | minor */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct baseline_key);
	__type(value, __u32);
} baseline_traps SEC(".maps");

__u64 baseline_hits = 0;

SEC("kprobe/inode_permission")
int baseline_inode_permission(struct pt_regs *ctx)
{
	struct inode *inode = (struct inode *)PT_REGS_PARM2(ctx);
	struct baseline_key key = {};

	key.ino = BPF_CORE_READ(inode, i_ino);
	key.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	if (bpf_map_lookup_elem(&baseline_traps, &key))
		__sync_fetch_and_add(&baseline_hits, 1);
	return 0;
}
