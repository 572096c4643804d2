/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * 32-bit opens on x86-64 (int 0x80, sysenter, a 32-bit binary): the syscalls:sys_exit_*
 * tracepoints skip compat syscalls (arch_trace_is_compat_syscall), so these are seen at
 * raw_syscalls:sys_exit, which fires for every syscall. That makes this the one program
 * of the backend on the hot path of all syscalls. As tp_btf its arguments are typed, so
 * the syscall number is two plain loads away and no helper runs for a syscall whose
 * number is not one of the 32-bit opens; only then is TS_COMPAT checked (the numbers
 * are also fstat, lseek, preadv and openat2 in the 64-bit table).
 * Included by kive_tracepoint.bpf.c, x86 only.
 */
#ifndef KIVE_COMPAT_H
#define KIVE_COMPAT_H

/*
 * arch/x86/include/asm/thread_info.h: set on entry of a 32-bit syscall and cleared on
 * the way back to user mode, after sys_exit has fired.
 */
#define KIVE_TS_COMPAT 0x0002

/* arch/x86/entry/syscalls/syscall_32.tbl */
#define KIVE_NR32_OPEN 5
#define KIVE_NR32_CREAT 8
#define KIVE_NR32_OPENAT 295
#define KIVE_NR32_OPEN_BY_HANDLE_AT 342
#define KIVE_NR32_OPENAT2 437

/* The open flags of a finished compat open; arguments are ebx, ecx, edx, ... */
static __always_inline __u64 kive_compat_open_flags(struct pt_regs *regs, long nr)
{
	__u64 flags = 0;

	switch (nr) {
	case KIVE_NR32_OPEN:
		return (__u32)regs->cx;
	case KIVE_NR32_CREAT:
		return KIVE_O_CREAT | KIVE_O_WRONLY | KIVE_O_TRUNC;
	case KIVE_NR32_OPENAT2:
		/* A 32-bit pointer to struct open_how, whose first member is the u64 flags. */
		bpf_probe_read_user(&flags, sizeof(flags), (void *)(unsigned long)(__u32)regs->dx);
		return flags;
	default: /* openat, open_by_handle_at */
		return (__u32)regs->dx;
	}
}

SEC("tp_btf/sys_exit")
int BPF_PROG(kive_tp_compat_exit, struct pt_regs *regs, long ret)
{
	struct kive_trap_key key = {};
	struct kive_trap_value *trap;
	struct file *f = NULL;
	long nr = regs->orig_ax;

	/* The hot path: every syscall of every task ends here unless it is one of these. */
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

#endif /* KIVE_COMPAT_H */
