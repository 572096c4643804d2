/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one filter core shared by every backend. Each entry file (kive_fentry.bpf.c,
 * kive_kprobe.bpf.c, kive_tracepoint.bpf.c) finds the inode its hook is about and calls
 * looks it up with one of the kive_lookup_*() below; everything after that is here, so all backends agree on what is
 * a match and on what an event looks like.
 *
 * Pipeline, cheapest step first because it runs on every hook hit:
 *   1. the inode number's bit in kive_ino_filter         one load, one array word; a
 *                                                       clear bit (nearly every file) returns
 *   2. the (ino, dev) key, looked up in kive_traps      two more loads, one hash lookup
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
/*
 * 1 when the kernel has the bpf_rdonly_cast kfunc (6.2+; the loader reads its BTF): a
 * raw kernel pointer is then cast to its BTF type and read with plain loads, which the
 * JIT emits inline (a fault reads as 0), instead of one bpf_probe_read_kernel call per
 * field. With 0 the cast is dead code the verifier removes, so older kernels load the
 * same object (libbpf leaves the unresolved weak kfunc's call for the verifier to drop).
 */
const volatile __u32 kive_btf_cast = 0;

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/* libbpf 1.1's bpf_core_read.h lacks bpf_core_cast; this is its definition. */
#define kive_core_cast(ptr, type) ((type *)bpf_rdonly_cast((ptr), bpf_core_type_id_kernel(type)))

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KIVE_MAX_TRAPS_DEFAULT); /* userspace resizes before load */
	__type(key, struct kive_trap_key);
	__type(value, struct kive_trap_value);
} kive_traps SEC(".maps");

/* Written by userspace only (src/kernel/monitor.ts): set before a trap is armed, cleared
 * after the last trap with that bit is removed, so no armed trap ever has a clear bit. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KIVE_FILTER_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} kive_ino_filter SEC(".maps");

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
	enum kive_filter filter;
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

/* Step 1: false when no trap has this inode number (kive.h enum kive_filter). */
static __always_inline bool kive_ino_maybe_trapped(__u64 ino)
{
	__u32 bit = (__u32)(((__u32)ino ^ (__u32)(ino >> 32)) * (__u32)KIVE_FILTER_MULT) >> (32 - KIVE_FILTER_LOG2);
	__u32 word = bit / 64;
	/* An array lookup the verifier inlines: a bounds check and an address, no call. */
	__u64 *w = bpf_map_lookup_elem(&kive_ino_filter, &word);

	return w && (*w & (1ULL << (bit % 64)));
}

/*
 * Steps 1-2: the hot path. Anything added here is paid on every hook hit. Each fills *key
 * and returns the trap watching the inode, or NULL (the common case: not a monitored file).
 *
 * For an inode the verifier knows by its BTF type (a trampoline's argument, a cast):
 * plain loads, inline (docs/kernel.md "The miss path").
 */
static __always_inline struct kive_trap_value *kive_lookup_btf_inode(struct inode *inode, struct kive_trap_key *key)
{
	if (!inode)
		return NULL;
	key->ino = inode->i_ino;
	if (!kive_ino_maybe_trapped(key->ino))
		return NULL;
	key->dev = inode->i_sb->s_dev;
	return bpf_map_lookup_elem(&kive_traps, key);
}

/* For a raw kernel pointer: the cast where the kernel has it, else a probe read per field. */
static __always_inline struct kive_trap_value *kive_lookup_inode(struct inode *inode, struct kive_trap_key *key)
{
	if (!inode)
		return NULL;
	if (kive_btf_cast)
		return kive_lookup_btf_inode(kive_core_cast(inode, struct inode), key);
	key->ino = BPF_CORE_READ(inode, i_ino);
	if (!kive_ino_maybe_trapped(key->ino))
		return NULL;
	key->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	return bpf_map_lookup_elem(&kive_traps, key);
}

/* The same for the inode of a raw struct file pointer (one more load: f_inode). */
static __always_inline struct kive_trap_value *kive_lookup_file(struct file *f, struct kive_trap_key *key)
{
	if (!f)
		return NULL;
	if (kive_btf_cast)
		return kive_lookup_btf_inode(kive_core_cast(f, struct file)->f_inode, key);
	return kive_lookup_inode(BPF_CORE_READ(f, f_inode), key);
}

/* The whole pipeline (steps 1-7) for hooks that know the mask up front; trap from above. */
static __always_inline int kive_filter_trap(const struct kive_trap_key *key, const struct kive_trap_value *trap,
					    __u32 mask, __u16 op)
{
	if (!trap)
		return 0;
	return kive_emit(key, trap, mask, op);
}

/* The same for a raw inode pointer (kprobe arguments, the exec tracepoint's file). */
static __always_inline int kive_filter_inode(struct inode *inode, __u32 mask, __u16 op)
{
	struct kive_trap_key key = {};
	struct kive_trap_value *trap = kive_lookup_inode(inode, &key);

	return kive_filter_trap(&key, trap, mask, op);
}

#endif /* KIVE_FILTER_H */
