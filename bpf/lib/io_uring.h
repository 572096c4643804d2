/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * io_uring opens for the tracepoint backend. IORING_OP_OPENAT/OPENAT2 never pass
 * through the open syscalls, so the request is caught where its completion is posted
 * (io_uring:io_uring_complete, which only io_uring users pay for). By then the open
 * has finished: cqe.res is the new fd, or for a direct descriptor (file_slot != 0) 0 or
 * the slot the kernel allocated, and the file sits in the ring's fixed file table.
 *
 * The request and table layouts are io_uring internals and changed between kernels;
 * every read is CO-RE and guarded, so a kernel with another layout loads the program
 * and gets no event (src/kernel/tracepoint-routes.ts checks the same fields in the
 * kernel's BTF and reports that kernel's io_uring as a gap instead).
 */
#ifndef KIVE_IO_URING_H
#define KIVE_IO_URING_H

/* uapi io_uring.h: sqe.file_index asking the kernel to pick a free slot. */
#define KIVE_IORING_FILE_INDEX_ALLOC (~0U)
/*
 * The low bits of a fixed file pointer are flags (FFS_NOWAIT, FFS_ISREG, and FFS_SCM
 * before 6.7). struct file is at least 8-aligned, so masking three bits is right on all.
 */
#define KIVE_FFS_MASK (~7UL)

/* 5.19-6.12: the fixed file table is an array of tagged file pointers. */
struct io_fixed_file___files {
	unsigned long file_ptr;
} __attribute__((preserve_access_index));

struct io_file_table___files {
	struct io_fixed_file___files *files;
} __attribute__((preserve_access_index));

struct io_ring_ctx___files {
	struct io_file_table___files file_table;
	unsigned int nr_user_files;
} __attribute__((preserve_access_index));

/* The file in direct-descriptor slot `slot` of the request's ring, or NULL. */
static __always_inline struct file *kive_uring_fixed_file(struct io_kiocb *req, __u32 slot)
{
	void *ctx = BPF_CORE_READ(req, ctx);
	unsigned long ptr = 0;

	if (bpf_core_field_exists(struct io_file_table, data)) {
		/* 6.13+: an array of resource nodes, each holding the tagged pointer. */
		struct io_ring_ctx *c = ctx;
		struct io_rsrc_node **nodes = BPF_CORE_READ(c, file_table.data.nodes);
		struct io_rsrc_node *node = NULL;

		if (slot >= BPF_CORE_READ(c, file_table.data.nr))
			return NULL;
		bpf_probe_read_kernel(&node, sizeof(node), &nodes[slot]);
		if (!node)
			return NULL;
		ptr = BPF_CORE_READ(node, file_ptr);
	} else if (bpf_core_field_exists(struct io_file_table___files, files)) {
		struct io_ring_ctx___files *c = ctx;
		struct io_fixed_file___files *files = BPF_CORE_READ(c, file_table.files);

		if (slot >= BPF_CORE_READ(c, nr_user_files))
			return NULL;
		bpf_probe_read_kernel(&ptr, sizeof(ptr), &files[slot].file_ptr);
	}
	return (struct file *)(ptr & KIVE_FFS_MASK);
}

/*
 * The open request's file and the flags it was opened with, when `req` is a finished
 * IORING_OP_OPENAT/OPENAT2; NULL for anything else (the common case: one byte read).
 */
static __always_inline struct file *kive_uring_open_file(struct io_kiocb *req, __u64 *flags)
{
	struct io_open *open;
	struct file *f;
	__u32 slot;
	__u8 op;
	int res;

	if (!bpf_core_field_exists(req->opcode) || !bpf_core_field_exists(req->cqe) ||
	    !bpf_core_type_exists(struct io_open))
		return NULL;
	op = BPF_CORE_READ(req, opcode);
	if (op != bpf_core_enum_value(enum io_uring_op, IORING_OP_OPENAT) &&
	    op != bpf_core_enum_value(enum io_uring_op, IORING_OP_OPENAT2))
		return NULL;
	res = BPF_CORE_READ(req, cqe.res);
	if (res < 0)
		return NULL;
	/* io_kiocb_to_cmd(): the command's own struct starts the request. */
	open = (struct io_open *)req;
	slot = BPF_CORE_READ(open, file_slot);
	if (!slot)
		f = kive_fd_file(res);
	else
		f = kive_uring_fixed_file(req, slot == KIVE_IORING_FILE_INDEX_ALLOC ? (__u32)res : slot - 1);
	*flags = BPF_CORE_READ(open, how.flags);
	return f;
}

#endif /* KIVE_IO_URING_H */
