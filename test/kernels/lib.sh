# Sourced by the matrix scripts (prepare-kernel.sh, boot-guest.sh, run-matrix.sh): the
# names they must agree on.

# Where prepared kernels are cached, shared by every checkout and run of this user.
kive_kernel_cache() {
  echo "${XDG_CACHE_HOME:-${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}/.cache}/kive/kernels"
}

# The initramfs is named after what goes into it (init.sh, prepare-kernel.sh, busybox):
# two checkouts with different init.sh each boot their own, and a file once renamed into
# the cache is never rewritten, so a run booting it cannot see it change.
kive_initramfs_id() {
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  cat "$here/init.sh" "$here/prepare-kernel.sh" "$(command -v busybox)" | sha256sum | cut -c1-16
}
