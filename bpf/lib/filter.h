/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one filter core shared by every backend. Each entry file (kive_fentry.bpf.c,
 * kive_kprobe.bpf.c, kive_tracepoint.bpf.c) finds the inode its hook is about and calls
 * kive_filter_inode(); everything after that is here, so all backends agree on what is
 * a match and on what an event looks like.
 *
 * Pipeline, cheapest step first because it runs on every hook hit:
 *   1. build the (ino, dev) key from the inode          two CO-RE reads
 *   2. look it up in kive_traps                         one hash lookup; a miss returns
 *   3. aggregate repeats of one process (flood.h)       folded: counts `aggregated`
 *   4. reserve a ring buffer record                     a failure counts `dropped`
 *   5. fill the header (ids, comm, cgroup, slot, repeats) only for a match
 *   6. optionally fill the process context tail         argv, exe and cwd (path.h)
 *   7. submit, waking the reader only on threshold      counts `emitted`
 * A match is never lost silently: it is submitted, folded into a later event's
 * repeats, or counted as dropped (in total and per trapped file).
 */
#ifndef KIVE_FILTER_H
#define KIVE_FILTER_H

#include "kive.h"

/* Settings fixed before load (rodata); userspace writes them between open and load. */
/* Copy argv/exe/cwd into each event (a bigger record and a few microseconds per match). */
const volatile __u32 kive_capture_ctx = 1;
/*
 * Wake the reader each time the unread data crosses a multiple of this many bytes;
 * below it records are submitted with BPF_RB_NO_WAKEUP and userspace's short poll
 * timer collects them. A wake-up per event costs the producing task dearly (see
 * docs/kernel.md). 0 means: the kernel's default adaptive wake-up.
 */
const volatile __u64 kive_wakeup_bytes = 65536;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KIVE_MAX_TRAPS_DEFAULT); /* userspace resizes before load */
	__type(key, struct kive_trap_key);
	__type(value, struct kive_trap_value);
} kive_traps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024); /* userspace resizes before load */
} kive_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KIVE_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} kive_counters SEC(".maps");

#include "lib/path.h"

static __always_inline void kive_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&kive_counters, &idx);

	/* Per-CPU slot and tracing programs don't nest on one CPU: no atomic needed. */
	if (c)
		*c += 1;
}

#include "lib/flood.h"

/*
 * Keeps the contract's types in the object's BTF even though every function using them
 * is inlined: test/kernel/layout.test.ts checks the TypeScript decoder against them.
 * About 900 bytes of rodata, never read (a pointer member would only emit a FWD).
 */
struct kive_btf_anchor {
	struct kive_event_ctx event;
	struct kive_trap_key key;
	struct kive_trap_value value;
	struct kive_agg_key agg_key;
	struct kive_agg_value agg_value;
	enum kive_op op;
	enum kive_counter counter;
	enum kive_event_flag flag;
	enum kive_limit limit;
};
const volatile struct kive_btf_anchor kive_btf_anchor = {};

/* Ring buffer bytes one record of `size` payload bytes takes: 8-byte header, 8-aligned. */
#define KIVE_RECORD_BYTES(size) ((((size) + 8) + 7) & ~7ULL)

static __always_inline __u64 kive_wakeup_flags(__u64 record_bytes)
{
	__u64 thr = kive_wakeup_bytes, avail, before;

	if (!thr)
		return 0;
	/* Our record is already counted: reserve advanced the producer position. */
	avail = bpf_ringbuf_query(&kive_events, BPF_RB_AVAIL_DATA);
	before = avail > record_bytes ? avail - record_bytes : 0;
	if (avail / thr != before / thr)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void kive_fill_header(struct kive_event *e, const struct kive_trap_key *key,
					     const struct kive_trap_value *trap, __u32 mask, __u16 op, __u64 now,
					     __u32 repeats)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();

	e->ts_ns = now;
	e->ino = key->ino;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->dev = key->dev;
	e->mask = mask;
	e->pid = (__u32)pid_tgid;
	e->tgid = pid_tgid >> 32;
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	e->slot = trap->slot;
	e->op = op;
	e->flags = 0;
	e->args_len = 0;
	e->exe_len = 0;
	e->cwd_len = 0;
	e->reserved = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->repeats = repeats;
	e->pad = 0;
}

/* Steps 4-7; false when the ring had no room even for a header. */
static __always_inline bool kive_submit(const struct kive_trap_key *key, const struct kive_trap_value *trap,
					__u32 mask, __u16 op, __u64 now, __u32 repeats)
{
	/* Above three quarters full, the context tail gives way to more events (flood.h). */
	if (kive_capture_ctx && !kive_ring_above(3, 4)) {
		struct kive_event_ctx *e = bpf_ringbuf_reserve(&kive_events, sizeof(*e), 0);

		if (e) {
			kive_fill_header(&e->hdr, key, trap, mask, op, now, repeats);
			kive_fill_context(e);
			bpf_ringbuf_submit(e, kive_wakeup_flags(KIVE_RECORD_BYTES(sizeof(*e))));
			kive_count(KIVE_CNT_EMITTED);
			return true;
		}
	}
	struct kive_event *h = bpf_ringbuf_reserve(&kive_events, sizeof(*h), 0);

	if (!h)
		return false;
	kive_fill_header(h, key, trap, mask, op, now, repeats);
	bpf_ringbuf_submit(h, kive_wakeup_flags(KIVE_RECORD_BYTES(sizeof(*h))));
	kive_count(KIVE_CNT_EMITTED);
	if (kive_capture_ctx)
		kive_count(KIVE_CNT_NO_CONTEXT);
	return true;
}

/* Steps 3-7 for a key that matched. */
static __always_inline int kive_emit(const struct kive_trap_key *key, const struct kive_trap_value *trap,
				     __u32 mask, __u16 op)
{
	struct kive_agg_key agg = {};
	enum kive_agg_verdict verdict;
	__u64 now = bpf_ktime_get_ns();
	__u32 repeats = 0;

	if (kive_agg_window_ns)
		kive_agg_key_of(&agg, trap->slot, mask, op);
	verdict = kive_aggregate(&agg, now, &repeats);
	if (verdict == KIVE_AGG_FOLD)
		return 0;
	if (!kive_submit(key, trap, mask, op, now, repeats))
		kive_agg_undo(&agg, key, verdict, repeats);
	return 0;
}

/*
 * Steps 1-2: the hot path. Anything added here is paid on every hook hit. Fills *key and
 * returns the trap watching the inode, or NULL (the common case: not a monitored file).
 */
static __always_inline struct kive_trap_value *kive_lookup_inode(struct inode *inode, struct kive_trap_key *key)
{
	if (!inode)
		return NULL;
	key->ino = BPF_CORE_READ(inode, i_ino);
	key->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	return bpf_map_lookup_elem(&kive_traps, key);
}

/* The whole pipeline (steps 1-7) for hooks that know the mask up front. */
static __always_inline int kive_filter_inode(struct inode *inode, __u32 mask, __u16 op)
{
	struct kive_trap_key key = {};
	struct kive_trap_value *trap = kive_lookup_inode(inode, &key);

	if (!trap)
		return 0;
	return kive_emit(&key, trap, mask, op);
}

#endif /* KIVE_FILTER_H */
