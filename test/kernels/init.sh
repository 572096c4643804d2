#!/bin/busybox sh
# PID 1 of the QEMU guest (copied into each kernel's initramfs as /init by
# prepare-kernel.sh). Runs busybox only: the initramfs has no libc.
#
# Two virtio-9p shares come from boot-guest.sh:
#   hostroot  the host's / (read-only)      -> /mnt, then chroot into it
#   scratch   a per-guest writable dir       -> /mnt/tmp/kive-scratch inside the chroot
# The scratch share carries the job in (run.sh) and the results out
# (exit-code, report.json, bench.json). Whatever happens, we power off at the end so
# QEMU exits; a missing exit-code file tells the host the guest did not finish.
/bin/busybox mkdir -p /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

say() { echo "kive-init: $*"; }
finish() {
  sync
  say "powering off"
  poweroff -f
  sleep 5   # poweroff -f does not return; keep PID 1 alive just in case
}
fail() {
  say "FAILED: $*"
  [ -d /scratch/. ] && echo "$*" > /scratch/init-error 2>/dev/null
  finish
}

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# Loopback only (QEMU runs with -nic none): the tests' callback receivers and /metrics
# listen on 127.0.0.1, which binds with lo down but cannot be reached.
ip link set lo up || say "cannot bring up loopback; tests that need 127.0.0.1 will fail"

# Modules in dependency order, as resolved by modprobe --show-depends on the host.
for m in $(cat /modules/order); do
  insmod "/modules/$m.ko" || fail "insmod $m"
done

# msize: larger 9p messages, far fewer round trips for Node reading its files.
# cache=loose on the read-only root lets the guest page cache keep what it read
# (Node, node_modules); the scratch share stays uncached so results reach the host
# as soon as they are written.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 scratch /scratch \
  || fail "mount scratch share"
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose hostroot /mnt \
  || fail "mount host root"
[ -f /scratch/run.sh ] || fail "no run.sh in the scratch share"

# Inside the chroot: the usual pseudo file systems, a private writable /tmp, bpffs for
# pinned maps, tracefs for tracepoints, and cgroup2.
mount -t proc proc /mnt/proc
mount -t sysfs sys /mnt/sys
mount -t devtmpfs dev /mnt/dev
mkdir -p /mnt/dev/pts /mnt/dev/shm 2>/dev/null
mount -t devpts devpts /mnt/dev/pts 2>/dev/null
mount -t tmpfs tmpfs /mnt/dev/shm
# The writable tmpfs on /tmp and /run would hide the repo if it lives there (a CI
# clone under /tmp): hold it aside with a bind mount and put it back on top.
repo=$(cat /scratch/repo 2>/dev/null)
case "$repo" in
  /tmp/*|/run/*) mkdir -p /repo && mount --bind "/mnt$repo" /repo || fail "bind $repo" ;;
  *) repo= ;;
esac
mount -t tmpfs -o mode=1777 tmpfs /mnt/tmp || fail "mount /tmp"
mount -t tmpfs tmpfs /mnt/run 2>/dev/null
if [ -n "$repo" ]; then
  mkdir -p "/mnt$repo" && mount --bind /repo "/mnt$repo" || fail "restore $repo"
fi
mount -t bpf bpf /mnt/sys/fs/bpf || fail "mount bpffs"
mount -t tracefs tracefs /mnt/sys/kernel/tracing || fail "mount tracefs"
mount -t debugfs debugfs /mnt/sys/kernel/debug 2>/dev/null
mount -t cgroup2 cgroup2 /mnt/sys/fs/cgroup 2>/dev/null
mkdir -p /mnt/tmp/kive-scratch
mount --bind /scratch /mnt/tmp/kive-scratch || fail "bind scratch"

release=$(uname -r)
say "kernel $release up $(cut -d' ' -f1 /proc/uptime)s after boot; running the job"
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/ TERM=dumb NO_COLOR=1 LANG=C.UTF-8 KIVE_UNDER_EMULATION=1 \
  chroot /mnt /bin/sh /tmp/kive-scratch/run.sh
rc=$?
echo "$rc" > /scratch/exit-code || say "FAILED: cannot write the exit code to the scratch share"
say "job exited with $rc at $(cut -d' ' -f1 /proc/uptime)s"
finish
