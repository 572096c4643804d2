/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Flood resistance: what keeps one busy process from blinding the monitor, for
 * kive_emit() in filter.h. Runs only for a match, never on the unmonitored path.
 *
 * 1. Aggregation (kive_agg_window_ns > 0). The first access of each (process, trap,
 *    op, mask) is emitted. Further ones within the window are folded: counted in the
 *    entry's `repeats`, and carried by that process's next emitted event for the same
 *    trap and op. The entries live in an LRU hash of fixed size: when it is full the
 *    least recently used entry is forgotten, which can only make the next access of
 *    that process a "first" again (one more event), never suppress one.
 * 2. Ring reserve. An event that only reports repeats is sent while the ring is at
 *    most half full; above that it stays folded (nothing is lost, the count grows), so
 *    a process already reported can never take more than half the ring. Above three
 *    quarters full, first events are sent without their context tail (88 instead of
 *    856 bytes), so the last quarter holds ten times as many first accesses.
 * 3. Drops. A first event the ring cannot take is counted in kive_counters and, per
 *    trapped file, in kive_drops, and its aggregation entry is removed so the process's
 *    next access is tried as a first one again. A report the ring cannot take is folded
 *    back into its entry instead.
 * docs/kernel.md gives the memory bound of these maps.
 */
#ifndef KIVE_FLOOD_H
#define KIVE_FLOOD_H

#include "kive.h"

/* Aggregation window; 0 turns aggregation off. Set by the loader (rodata). */
const volatile __u64 kive_agg_window_ns = 1000000000ULL;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384); /* userspace resizes before load */
	__type(key, struct kive_agg_key);
	__type(value, struct kive_agg_value);
} kive_agg SEC(".maps");

/* Events lost per trapped file; entries appear on the first drop and are read by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KIVE_MAX_TRAPS_DEFAULT); /* userspace sizes it like kive_traps */
	__type(key, struct kive_trap_key);
	__type(value, __u64);
} kive_drops SEC(".maps");

enum kive_agg_verdict {
	KIVE_AGG_OFF,    /* no aggregation: emit */
	KIVE_AGG_FIRST,  /* first access of this (process, trap, op): emit */
	KIVE_AGG_REPORT, /* window over: emit, carrying the folded count */
	KIVE_AGG_FOLD,   /* counted in the entry's repeats: do not emit */
};

/*
 * Per file first, total second: userspace reads the total first and the files after,
 * so every drop in the total it read is already under its file (src/alerts/lost.ts).
 */
static __always_inline void kive_count_drop(const struct kive_trap_key *key)
{
	__u64 one = 1, *n;

	n = bpf_map_lookup_elem(&kive_drops, key);
	if (n) {
		__sync_fetch_and_add(n, 1);
	} else if (bpf_map_update_elem(&kive_drops, key, &one, BPF_NOEXIST) != 0) {
		/* Lost the race to another CPU's insert: add to its entry. A full map leaves
		 * the drop in the total only (userspace reports it as unattributed). */
		n = bpf_map_lookup_elem(&kive_drops, key);
		if (n)
			__sync_fetch_and_add(n, 1);
	}
	kive_count(KIVE_CNT_DROPPED);
}

/* Unread bytes above `num / den` of the ring. */
static __always_inline bool kive_ring_above(__u64 num, __u64 den)
{
	__u64 size = bpf_ringbuf_query(&kive_events, BPF_RB_RING_SIZE);

	return bpf_ringbuf_query(&kive_events, BPF_RB_AVAIL_DATA) * den > size * num;
}

static __always_inline void kive_agg_key_of(struct kive_agg_key *k, __u32 slot, __u32 mask, __u16 op)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	k->start_ns = BPF_CORE_READ(task, group_leader, start_time);
	k->tgid = bpf_get_current_pid_tgid() >> 32;
	k->slot = slot;
	k->mask = mask;
	k->op = op;
	k->pad = 0;
}

/* Decides an access's fate; for KIVE_AGG_REPORT, *repeats is the count it carries. */
static __always_inline enum kive_agg_verdict kive_aggregate(const struct kive_agg_key *k, __u64 now, __u32 *repeats)
{
	struct kive_agg_value *v;
	__u32 r;

	if (!kive_agg_window_ns)
		return KIVE_AGG_OFF;
	v = bpf_map_lookup_elem(&kive_agg, k);
	if (!v) {
		struct kive_agg_value first = { .last_ns = now };

		bpf_map_update_elem(&kive_agg, k, &first, BPF_ANY);
		return KIVE_AGG_FIRST;
	}
	if (now - v->last_ns < kive_agg_window_ns || kive_ring_above(1, 2)) {
		__sync_fetch_and_add(&v->repeats, 1);
		kive_count(KIVE_CNT_AGGREGATED);
		return KIVE_AGG_FOLD;
	}
	/* Take exactly what we report: increments by other CPUs meanwhile stay counted. */
	r = v->repeats;
	__sync_fetch_and_add(&v->repeats, -r);
	v->last_ns = now;
	*repeats = r;
	return KIVE_AGG_REPORT;
}

/* The ring could not take the event: fold a report back, count a first access as lost. */
static __always_inline void kive_agg_undo(const struct kive_agg_key *k, const struct kive_trap_key *key,
					  enum kive_agg_verdict verdict, __u32 repeats)
{
	if (verdict == KIVE_AGG_REPORT) {
		struct kive_agg_value *v = bpf_map_lookup_elem(&kive_agg, k);

		if (v) {
			__sync_fetch_and_add(&v->repeats, repeats + 1);
			kive_count(KIVE_CNT_AGGREGATED);
			return;
		}
	}
	if (verdict == KIVE_AGG_FIRST)
		bpf_map_delete_elem(&kive_agg, k);
	kive_count_drop(key);
}

#endif /* KIVE_FLOOD_H */
