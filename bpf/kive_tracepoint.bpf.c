// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Tracepoint backend, for kernels that refuse kprobes and fentry (no CONFIG_KPROBES,
 * lockdown). It sees what succeeded rather than what was checked: the syscall-exit
 * tracepoints of the open family resolve the returned fd to its inode, and
 * sched_process_exec reports the executed file. docs/backends.md lists what it misses.
 *
 * Classic per-syscall tracepoints for the 64-bit opens, not raw_tp/sys_exit: the raw
 * tracepoint runs on every syscall of every task, these only on the opens. Two routes
 * into the kernel skip those tracepoints and are caught elsewhere: io_uring opens at
 * their completion (lib/io_uring.h), and 32-bit opens, which the syscall tracepoints
 * ignore, at tp_btf/sys_exit (lib/compat.h). That one runs on every syscall and returns
 * after two loads for any syscall that is not a 32-bit open.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "lib/filter.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* uapi asm-generic/fcntl.h values (x86-64 and arm64 agree); vmlinux.h has no macros. */
#define KIVE_O_ACCMODE 00000003
#define KIVE_O_WRONLY 00000001
#define KIVE_O_RDWR 00000002
#define KIVE_O_CREAT 00000100
#define KIVE_O_TRUNC 00001000
#define KIVE_O_APPEND 00002000
#define KIVE_O_PATH 010000000

enum kive_open_call { KIVE_SYS_OPEN, KIVE_SYS_OPENAT, KIVE_SYS_OPENAT2, KIVE_SYS_CREAT, KIVE_SYS_OPEN_BY_HANDLE_AT };

/*
 * The file behind fd in the current task's table. task -> files -> fdt are plain loads
 * from the BTF-typed task (5.11+); the slot fdt->fd[fd] stays a probe read, because the
 * verifier allows only constant offsets into a BTF-typed object.
 */
static __always_inline struct file *kive_fd_file(long fd)
{
	struct file **fds, *f = NULL;

	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf)) {
		struct fdtable *fdt = bpf_get_current_task_btf()->files->fdt;

		if (!fdt || fd >= fdt->max_fds)
			return NULL;
		fds = fdt->fd;
	} else {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);

		if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
			return NULL;
		fds = BPF_CORE_READ(fdt, fd);
	}
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/*
 * The flags the caller passed, for the MAY_* mask. The saved user registers hold the
 * syscall's arguments at exit (bpf_task_pt_regs, 5.15+); before that, the open file's
 * f_flags, which keep O_ACCMODE and O_APPEND but have lost O_TRUNC.
 */
static __always_inline __u64 kive_open_flags(enum kive_open_call call, struct file *f)
{
	if (call == KIVE_SYS_CREAT)
		return KIVE_O_CREAT | KIVE_O_WRONLY | KIVE_O_TRUNC;
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs)) {
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
		__u64 flags = 0;

		if (call == KIVE_SYS_OPEN)
			return PT_REGS_PARM2_CORE_SYSCALL(regs);
		if (call == KIVE_SYS_OPENAT || call == KIVE_SYS_OPEN_BY_HANDLE_AT)
			return PT_REGS_PARM3_CORE_SYSCALL(regs);
		/* openat2: struct open_how starts with the u64 flags. */
		if (bpf_probe_read_user(&flags, sizeof(flags), (void *)PT_REGS_PARM3_CORE_SYSCALL(regs)) == 0)
			return flags;
	}
	return BPF_CORE_READ(f, f_flags);
}

/* The access the kernel checked for this open (fs/open.c build_open_flags). */
static __always_inline __u32 kive_open_mask(__u64 flags)
{
	__u32 mask = KIVE_MAY_OPEN;

	switch (flags & KIVE_O_ACCMODE) {
	case 0:
		mask |= KIVE_MAY_READ;
		break;
	case KIVE_O_WRONLY:
		mask |= KIVE_MAY_WRITE;
		break;
	default:
		mask |= KIVE_MAY_READ | KIVE_MAY_WRITE;
	}
	if (flags & KIVE_O_TRUNC)
		mask |= KIVE_MAY_WRITE;
	if (flags & KIVE_O_APPEND)
		mask |= KIVE_MAY_APPEND;
	return mask;
}

/* The trap watching the file behind fd, or NULL (the common case); fills *key and *f. */
static __always_inline struct kive_trap_value *kive_fd_trap(long fd, struct kive_trap_key *key, struct file **f)
{
	if (fd < 0)
		return NULL;
	*f = kive_fd_file(fd);
	return kive_lookup_file(*f, key);
}

static __always_inline int kive_emit_open(const struct kive_trap_key *key, const struct kive_trap_value *trap, __u64 flags)
{
	/* O_PATH checks no permission on the file itself, like the permission hooks. */
	if (flags & KIVE_O_PATH)
		return 0;
	return kive_emit(key, trap, kive_open_mask(flags), KIVE_OP_OPEN);
}

static __always_inline int kive_on_open_exit(long ret, enum kive_open_call call)
{
	struct kive_trap_key key = {};
	struct kive_trap_value *trap;
	struct file *f = NULL;

	trap = kive_fd_trap(ret, &key, &f);
	/* The filter core's lookup first; the mask only for a match. */
	if (!trap)
		return 0;
	return kive_emit_open(&key, trap, kive_open_flags(call, f));
}

SEC("tracepoint/syscalls/sys_exit_open")
int kive_tp_open(struct trace_event_raw_sys_exit *ctx)
{
	return kive_on_open_exit(ctx->ret, KIVE_SYS_OPEN);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int kive_tp_openat(struct trace_event_raw_sys_exit *ctx)
{
	return kive_on_open_exit(ctx->ret, KIVE_SYS_OPENAT);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int kive_tp_openat2(struct trace_event_raw_sys_exit *ctx)
{
	return kive_on_open_exit(ctx->ret, KIVE_SYS_OPENAT2);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int kive_tp_creat(struct trace_event_raw_sys_exit *ctx)
{
	return kive_on_open_exit(ctx->ret, KIVE_SYS_CREAT);
}

SEC("tracepoint/syscalls/sys_exit_open_by_handle_at")
int kive_tp_open_by_handle_at(struct trace_event_raw_sys_exit *ctx)
{
	return kive_on_open_exit(ctx->ret, KIVE_SYS_OPEN_BY_HANDLE_AT);
}

/* After kive_fd_file() and the open helpers above, which these two use. */
#include "lib/io_uring.h"
#if defined(__TARGET_ARCH_x86)
#include "lib/compat.h"
#endif

/* Only io_uring users pay for this one: it runs once per completion. */
SEC("raw_tp/io_uring_complete")
int kive_tp_uring_complete(struct bpf_raw_tracepoint_args *ctx)
{
	/* (ctx, req, ...) on every kernel since 5.x; what follows req changed. */
	struct io_kiocb *req = (struct io_kiocb *)ctx->args[1];
	struct kive_trap_key key = {};
	struct kive_trap_value *trap;
	__u64 flags = 0;
	struct file *f = kive_uring_open_file(req, &flags);

	trap = kive_lookup_file(f, &key);
	if (!trap)
		return 0;
	return kive_emit_open(&key, trap, flags);
}

#if defined(__TARGET_ARCH_x86)
/*
 * The one program of the backend on the hot path of all syscalls. As tp_btf its
 * arguments are typed, so the syscall number is two plain loads away and no helper
 * runs for a syscall whose number is not a 32-bit open; only then is TS_COMPAT checked
 * (those numbers are also fstat, lseek, preadv and openat2 in the 64-bit table).
 */
SEC("tp_btf/sys_exit")
int BPF_PROG(kive_tp_compat_exit, struct pt_regs *regs, long ret)
{
	struct kive_trap_key key = {};
	struct kive_trap_value *trap;
	struct file *f = NULL;
	long nr = regs->orig_ax;

	if (nr != KIVE_NR32_OPENAT && nr != KIVE_NR32_OPEN && nr != KIVE_NR32_OPENAT2 && nr != KIVE_NR32_CREAT &&
	    nr != KIVE_NR32_OPEN_BY_HANDLE_AT)
		return 0;
	if (!(bpf_get_current_task_btf()->thread_info.status & KIVE_TS_COMPAT))
		return 0;
	trap = kive_fd_trap(ret, &key, &f);
	if (!trap)
		return 0;
	return kive_emit_open(&key, trap, kive_compat_open_flags(regs, nr));
}
#endif

/* raw_tp: unlike the classic tracepoint, its arguments include bprm (the new file). */
SEC("raw_tp/sched_process_exec")
int kive_tp_exec(struct bpf_raw_tracepoint_args *ctx)
{
	struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];

	return kive_filter_inode(BPF_CORE_READ(bprm, file, f_inode), KIVE_MAY_EXEC, KIVE_OP_EXEC);
}
