/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * 32-bit opens on x86-64 (int 0x80, sysenter, a 32-bit binary): the syscalls:sys_exit_*
 * tracepoints skip compat syscalls (arch_trace_is_compat_syscall), so
 * kive_tracepoint.bpf.c sees them at raw_syscalls:sys_exit, which fires for every
 * syscall. The 32-bit numbers and flag positions it needs are here. x86 only.
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

#endif /* KIVE_COMPAT_H */
