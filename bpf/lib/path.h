/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Process context for a matched event: the first bytes of argv, the executable's path
 * and the working directory. Userspace cannot read these from /proc once a short-lived
 * process (`cat secret`) has exited, so they travel with the event. Only kive_emit()
 * calls this, i.e. only on a match: none of it is on the hot path.
 *
 * Paths come from a bounded walk up the dentry tree, crossing mount points through
 * struct mount, stopping at the task's root (so a container process sees its own
 * "/usr/bin/cat"). The walk stops after KIVE_PATH_DEPTH components or KIVE_PATH_LEN
 * bytes and flags the event as truncated; the result then holds the deepest components.
 * A path not reachable from the task's root is flagged the same way.
 * test/kernel/path-walk.test.ts runs this walk on the real kernel.
 */
#ifndef KIVE_PATH_H
#define KIVE_PATH_H

#include "kive.h"

/*
 * Scratch space for the walk, twice KIVE_PATH_LEN: names are written right to left at
 * offsets masked to KIVE_PATH_LEN - 1 with lengths masked the same way, so the verifier
 * can prove every write stays inside 2 * KIVE_PATH_LEN without tracking how the offset
 * and length relate.
 */
struct kive_path_scratch {
	char buf[2 * KIVE_PATH_LEN];
	/*
	 * Write position, kept in map memory on purpose: the verifier does not track values
	 * through map memory, so every iteration starts from the same "unknown but masked"
	 * state and is pruned, instead of one state per (iteration, position) pair, which
	 * blows through the 1M-instruction budget.
	 */
	__u32 pos;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kive_path_scratch);
} kive_scratch SEC(".maps");

#define KIVE_PATH_MASK (KIVE_PATH_LEN - 1)

static __always_inline struct vfsmount *kive_vfsmount_of(struct mount *m)
{
	/* CO-RE offset: struct mount is private to fs/ and has moved fields before. */
	return (struct vfsmount *)((void *)m + bpf_core_field_offset(struct mount, mnt));
}

/*
 * Writes the path of (dentry, vfsmnt) into out[0..len) and returns len (no NUL).
 * *trunc is set when the walk gave up before reaching the root.
 */
static __always_inline __u16 kive_path(struct dentry *d, struct vfsmount *vm, struct dentry *root_d,
				       struct vfsmount *root_m, char *out, bool *trunc)
{
	struct kive_path_scratch *s;
	struct mount *m;
	__u32 zero = 0, pos, n;
	bool done = false;
	int i;

	s = bpf_map_lookup_elem(&kive_scratch, &zero);
	if (!s || !d || !vm)
		return 0;
	m = (struct mount *)((void *)vm - bpf_core_field_offset(struct mount, mnt));
	s->pos = KIVE_PATH_LEN;

	for (i = 0; i < KIVE_PATH_DEPTH; i++) {
		struct dentry *parent, *mnt_root;
		const unsigned char *name;
		__u32 len;

		if (d == root_d && vm == root_m) {
			done = true;
			break;
		}
		mnt_root = BPF_CORE_READ(vm, mnt_root);
		parent = BPF_CORE_READ(d, d_parent);
		if (d == mnt_root || d == parent) {
			struct mount *mp = BPF_CORE_READ(m, mnt_parent);

			/*
			 * The global root without passing the task's root (a cwd outside a
			 * chroot), a detached mount (umount -l) or a disconnected dentry: the
			 * path is not reachable from the task's root, so what was collected is
			 * only its tail and is flagged like a truncated one.
			 */
			if (d != mnt_root || mp == m) {
				*trunc = true;
				done = true;
				break;
			}
			d = BPF_CORE_READ(m, mnt_mountpoint);
			m = mp;
			vm = kive_vfsmount_of(m);
			continue;
		}
		name = BPF_CORE_READ(d, d_name.name);
		len = BPF_CORE_READ(d, d_name.len);
		pos = s->pos;
		/* Room for "/" + name, keeping pos >= 1 so the copy below is < KIVE_PATH_LEN. */
		if (len + 2 > pos)
			break;
		pos -= len;
		bpf_probe_read_kernel(&s->buf[pos & KIVE_PATH_MASK], len & KIVE_PATH_MASK, name);
		pos -= 1;
		s->buf[pos & KIVE_PATH_MASK] = '/';
		s->pos = pos;
		d = parent;
	}
	pos = s->pos;
	if (!done)
		*trunc = true;
	if (pos == KIVE_PATH_LEN) {
		pos -= 1;
		s->buf[pos & KIVE_PATH_MASK] = '/';
	}
	n = KIVE_PATH_LEN - pos;
	if (bpf_probe_read_kernel(out, n & KIVE_PATH_MASK, &s->buf[pos & KIVE_PATH_MASK]))
		return 0;
	return n & KIVE_PATH_MASK;
}

static __always_inline void kive_fill_context(struct kive_event_ctx *e)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	struct dentry *root_d = NULL;
	struct vfsmount *root_m = NULL;
	bool trunc = false;

	e->hdr.flags |= KIVE_EVF_CONTEXT;
	if (fs) {
		root_d = BPF_CORE_READ(fs, root.dentry);
		root_m = BPF_CORE_READ(fs, root.mnt);
		e->hdr.cwd_len = kive_path(BPF_CORE_READ(fs, pwd.dentry), BPF_CORE_READ(fs, pwd.mnt), root_d,
					   root_m, e->cwd, &trunc);
		if (trunc)
			e->hdr.flags |= KIVE_EVF_CWD_TRUNC;
	}
	if (!mm) /* kernel thread */
		return;

	unsigned long start = BPF_CORE_READ(mm, arg_start);
	unsigned long end = BPF_CORE_READ(mm, arg_end);
	__u64 n = end > start ? end - start : 0;

	if (n > KIVE_ARGS_LEN) {
		n = KIVE_ARGS_LEN;
		e->hdr.flags |= KIVE_EVF_ARGS_TRUNC;
	}
	/* Non-sleepable context: a page of argv that is swapped out reads as an error. */
	if (n && bpf_probe_read_user(e->args, n, (const void *)start) == 0)
		e->hdr.args_len = n;
	else if (n)
		e->hdr.flags |= KIVE_EVF_ARGS_TRUNC;

	struct file *exe = BPF_CORE_READ(mm, exe_file);

	if (exe) {
		trunc = false;
		e->hdr.exe_len = kive_path(BPF_CORE_READ(exe, f_path.dentry), BPF_CORE_READ(exe, f_path.mnt),
					   root_d, root_m, e->exe, &trunc);
		if (trunc)
			e->hdr.flags |= KIVE_EVF_EXE_TRUNC;
	}
}

#endif /* KIVE_PATH_H */
