/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one contract between Kive's eBPF programs and userspace: map keys and values,
 * the event record, counter indexes and sizes. Fixed-size fields only, explicit
 * padding, no pointers, so the same bytes mean the same thing on both sides.
 *
 * The TypeScript side is src/kernel/contract.ts (every size, offset, flag, op and
 * counter index below; device encoding in src/kernel/dev.ts). test/kernel/layout.test.ts
 * checks that module against the BTF of the compiled objects, so a change here that is
 * not mirrored there fails.
 */
#ifndef KIVE_H
#define KIVE_H

/* Default capacity of the trap map; userspace may change it before load. */
#define KIVE_MAX_TRAPS_DEFAULT 65536

/* Enums rather than #defines so that they reach the BTF the layout test reads. */
enum kive_limit {
	KIVE_COMM_LEN = 16,
	/* Process context tail: bytes of argv, exe path and cwd path copied per event. */
	KIVE_ARGS_LEN = 256,
	KIVE_PATH_LEN = 256,
	/* How many path components the bounded dentry walk climbs before giving up. */
	KIVE_PATH_DEPTH = 24,
};

/*
 * Trap key: the identity of a file on one kernel. dev is the kernel's encoding of the
 * superblock's device, MKDEV(major, minor) = major << 20 | minor (not glibc's st_dev).
 * pad must be zero: the hash map compares all 16 bytes.
 */
struct kive_trap_key {
	__u64 ino;
	__u32 dev;
	__u32 pad;
};

/*
 * The inode-number pre-filter in front of the trap map (lib/filter.h): a bitmap of
 * 2^KIVE_FILTER_LOG2 bits in KIVE_FILTER_WORDS u64 words (the array map
 * kive_ino_filter, word i = bits 64i..64i+63). Bit h(ino) is set while at least one
 * trap has that inode number, on any device; an inode whose bit is clear is no trap's,
 * without reading its device or hashing a key. Linux's hash_32 of the folded number:
 * h(ino) = (u32)(((u32)ino ^ (u32)(ino >> 32)) * KIVE_FILTER_MULT) >> (32 - KIVE_FILTER_LOG2).
 */
enum kive_filter {
	KIVE_FILTER_LOG2 = 20,
	KIVE_FILTER_WORDS = 16384,
	KIVE_FILTER_MULT = 0x61C88647,
};

/* Trap value: slot is chosen by userspace and echoed in every event. */
struct kive_trap_value {
	__u32 slot;
	__u32 flags; /* reserved, must be zero */
};

/* What the hook saw. */
enum kive_op {
	KIVE_OP_PERMISSION = 1, /* inode_permission / security_inode_permission */
	KIVE_OP_OPEN = 2,       /* successful open(2) family, from the syscall exit */
	KIVE_OP_EXEC = 3,       /* successful execve(2) of the file */
};

/* The kernel's MAY_* bits (include/linux/fs.h); `mask` carries these. */
#define KIVE_MAY_EXEC 0x1
#define KIVE_MAY_WRITE 0x2
#define KIVE_MAY_READ 0x4
#define KIVE_MAY_APPEND 0x8
#define KIVE_MAY_ACCESS 0x10
#define KIVE_MAY_OPEN 0x20

/* kive_event.flags */
enum kive_event_flag {
	KIVE_EVF_CONTEXT = 0x1,    /* a struct kive_event_ctx tail follows the header */
	KIVE_EVF_ARGS_TRUNC = 0x2, /* argv was longer than KIVE_ARGS_LEN or unreadable */
	KIVE_EVF_EXE_TRUNC = 0x4,  /* exe path deeper/longer than the walk allows */
	KIVE_EVF_CWD_TRUNC = 0x8,  /* cwd path deeper/longer than the walk allows */
};

/*
 * One event, the header of every ring buffer record (88 bytes). ts_ns is
 * bpf_ktime_get_ns(), i.e. CLOCK_MONOTONIC. pid is the kernel pid (thread id), tgid the
 * userspace pid. uid/gid are the real ids of the task.
 */
struct kive_event {
	__u64 ts_ns;
	__u64 ino;
	__u64 cgroup_id;
	__u32 dev;
	__u32 mask;
	__u32 pid;
	__u32 tgid;
	__u32 uid;
	__u32 gid;
	__u32 slot; /* the matching trap's kive_trap_value.slot */
	__u16 op;
	__u16 flags;
	__u16 args_len; /* valid bytes in ctx.args (NUL-separated argv) */
	__u16 exe_len;  /* valid bytes in ctx.exe, no NUL */
	__u16 cwd_len;  /* valid bytes in ctx.cwd, no NUL */
	__u16 reserved;
	char comm[KIVE_COMM_LEN];
	/*
	 * Accesses by the same process to the same trap with the same op and mask that
	 * were folded into this event since that process's previous event for them
	 * (lib/flood.h). 0 when aggregation is off or there were none.
	 */
	__u32 repeats;
	__u32 pad; /* zero */
};

/* Optional tail, present when flags & KIVE_EVF_CONTEXT (record = header + tail). */
struct kive_event_ctx {
	struct kive_event hdr;
	char args[KIVE_ARGS_LEN];
	char exe[KIVE_PATH_LEN];
	char cwd[KIVE_PATH_LEN];
};

#define KIVE_EVENT_SIZE 88
#define KIVE_EVENT_CTX_SIZE (KIVE_EVENT_SIZE + KIVE_ARGS_LEN + 2 * KIVE_PATH_LEN)

/* Indexes into the per-CPU counters array. */
enum kive_counter {
	KIVE_CNT_EMITTED = 0,    /* records submitted to the ring buffer */
	KIVE_CNT_DROPPED = 1,    /* matches lost because the ring buffer was full */
	KIVE_CNT_AGGREGATED = 2, /* matches folded into a later event's repeats */
	KIVE_CNT_NO_CONTEXT = 3, /* events sent without their context tail: the ring was filling */
	KIVE_CNT_MAX = 4,
};

/*
 * Aggregation key: one process (tgid plus its start time, so a recycled pid is a new
 * process), one trap, one operation. Value: when it last produced an event and how
 * many accesses were folded since. Both live in an LRU hash (lib/flood.h).
 */
struct kive_agg_key {
	__u64 start_ns; /* task->group_leader->start_time */
	__u32 tgid;
	__u32 slot;
	__u32 mask;
	__u16 op;
	__u16 pad; /* zero: the hash compares all 24 bytes */
};

struct kive_agg_value {
	__u64 last_ns;
	__u32 repeats;
	__u32 pad;
};

#endif /* KIVE_H */
