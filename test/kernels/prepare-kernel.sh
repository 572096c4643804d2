#!/usr/bin/env bash
# prepare-kernel.sh PACKAGE VERSION
#
# Makes sure one pinned Debian kernel is ready to boot under QEMU and prints its cache
# directory on stdout. The kernel is never installed on the host: the .deb is fetched
# with `apt-get download` and unpacked with `dpkg -x`. Everything lands in
#   ${XDG_CACHE_HOME:-$HOME/.cache}/kive/kernels/PACKAGE_VERSION/
#     vmlinuz               the kernel image as packaged (compressed bzImage)
#     vmlinux               the same kernel decompressed, when it can boot through its
#                           PVH entry point (CONFIG_PVH): QEMU then loads it directly
#                           and the guest skips ~4.5 s of decompressing under TCG
#     boot-image            which of the two boot-guest.sh passes to -kernel
#     release               its `uname -r`
#     config                its kernel config (handy to check what is built in)
#     modules/lib/modules/RELEASE/   the package's module tree (+ depmod output)
#     initramfs-ID.cpio.gz  busybox-static + the 9p/virtio/overlay modules + init.sh
#                           as /init; ID names its inputs (lib.sh, kive_initramfs_id)
# The directory name carries the version, so changing a pin in matrix.txt is what makes
# a new download; a cached kernel is used without asking apt anything. A new initramfs
# is built (cheap, no download) when init.sh, this script or busybox change.
#
# Several runs (this checkout's, other clones') may share the cache at once: whatever
# changes a kernel's directory runs under an exclusive lock (flock on PACKAGE_VERSION.lock)
# and lands by rename, and nothing a run may be booting is ever rewritten or removed
# while it is in use; initramfs files unused for a day are removed.
set -euo pipefail

pkg=${1:?usage: prepare-kernel.sh PACKAGE VERSION}
ver=${2:?usage: prepare-kernel.sh PACKAGE VERSION}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cache_root=$(kive_kernel_cache)
dir=$cache_root/${pkg}_${ver}
initramfs=$dir/initramfs-$(kive_initramfs_id).cpio.gz
tmp=

log() { echo "prepare-kernel: $*" >&2; }
die() { echo "prepare-kernel: ERROR: $*" >&2; exit 1; }

# --- is PACKAGE=VERSION in the archive? ---------------------------------------------
in_archive() { apt-cache madison "$pkg" 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2}' | grep -qxF "$ver"; }

# Newest package of the same series and flavour: linux-image-6.1.0-NN-amd64-unsigned
# for a 6.1 pin, linux-image-6.12.NN+deb12-amd64-unsigned for a 6.12 pin. The -cloud-
# and -rt- flavours are left out (cloud has no 9p).
newest_in_series() {
  local series best_pkg="" best_ver="" p v
  series=$(sed -E 's/^linux-image-([0-9]+\.[0-9]+)[.].*/\1/' <<<"$pkg")
  for p in $(apt-cache search --names-only "^linux-image-${series//./\\.}\\..*-amd64-unsigned\$" | awk '{print $1}' | grep -Ev -- '-(cloud|rt)-amd64'); do
    for v in $(apt-cache madison "$p" | awk -F'|' '{gsub(/ /,"",$2); print $2}'); do
      if [ -z "$best_ver" ] || dpkg --compare-versions "$v" gt "$best_ver"; then best_pkg=$p best_ver=$v; fi
    done
  done
  [ -n "$best_pkg" ] && echo "$best_pkg $best_ver" || echo "(none found for series $series)"
}

fetch_and_unpack() {
  if ! in_archive; then
    # A fresh machine may never have run `apt-get update`, or its lists may be old.
    log "$pkg=$ver not in the local apt lists; running apt-get update"
    apt-get update -qq >&2 || log "apt-get update failed (continuing with the lists we have)"
  fi
  if ! in_archive; then
    die "pinned kernel $pkg=$ver is no longer in the Debian archive.
  Newest available of that series: $(newest_in_series)
  Update the line in test/kernels/matrix.txt to that package and version."
  fi

  tmp=$(mktemp -d "$cache_root/.tmp.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT   # no half-unpacked leftovers when a step fails
  # APT::Sandbox::User=root: apt would otherwise try to download as _apt, which cannot
  # enter a cache in root's home directory, and warn.
  log "apt-get download $pkg=$ver"
  (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver" >&2)
  log "dpkg -x"
  mkdir -p "$tmp/x"
  dpkg -x "$tmp"/*.deb "$tmp/x"
  rm -f "$tmp"/*.deb

  local release
  release=$(ls "$tmp/x/lib/modules")
  [ -n "$release" ] && [ -f "$tmp/x/boot/vmlinuz-$release" ] || die "unexpected layout in $pkg (no boot/vmlinuz-RELEASE)"
  # The package has no modules.dep (its postinst would run depmod): make one.
  depmod -b "$tmp/x" "$release"

  mkdir -p "$tmp/out/modules/lib"
  mv "$tmp/x/boot/vmlinuz-$release" "$tmp/out/vmlinuz"
  mv "$tmp/x/boot/config-$release" "$tmp/out/config"
  mv "$tmp/x/lib/modules" "$tmp/out/modules/lib/modules"
  echo "$release" > "$tmp/out/release"
  echo "$pkg=$ver" > "$tmp/out/package"

  # Only a directory of another package (a broken cache) is ever replaced, under the lock.
  rm -rf "$dir"
  mv "$tmp/out" "$dir"
  rm -rf "$tmp"
  trap - EXIT
}

# Decompress one module for busybox insmod, which takes plain .ko files only.
decompress_module() {
  case "$1" in
    *.ko.xz)  busybox xzcat "$1" ;;
    *.ko.zst) zstd -dcq "$1" ;;
    *.ko.gz)  busybox zcat "$1" ;;
    *.ko)     cat "$1" ;;
    *) die "unknown module format: $1" ;;
  esac
}

build_initramfs() {
  local release staging m name busybox
  release=$(cat "$dir/release")
  # The initramfs has no libc: it needs the static busybox (busybox-static conflicts
  # with the dynamic busybox package, so when it is installed /bin/busybox is static).
  dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' \
    || die "busybox-static is not installed (scripts/install-deps.sh installs it)"
  busybox=$(command -v busybox)
  staging=$(mktemp -d "$cache_root/.initramfs.XXXXXX")
  mkdir -p "$staging"/{bin,dev,proc,sys,mnt,scratch,modules}
  cp "$busybox" "$staging/bin/busybox"
  ln -s busybox "$staging/bin/sh"
  cp "$here/init.sh" "$staging/init"
  chmod 0755 "$staging/init"

  # The modules that take the guest from "kernel booted" to "host root mounted over
  # 9p": virtio PCI transport, 9p network layer, its virtio transport, the 9p file
  # system; plus overlay, built into the host kernel, so tests that use overlayfs
  # (container root file systems) find it in the guest too; plus loop and btrfs for
  # test/kernel/btrfs.test.ts (a loop-mounted btrfs image). The host root has no
  # /lib/modules for these kernels, so nothing can be modprobed after the chroot. modprobe --show-depends resolves their dependencies in load order against
  # this kernel's own tree (6.1 needs netfs + fscache, 6.12 folds fscache into netfs,
  # and some are built in on some kernels). Names go to /modules/order for init.sh.
  : > "$staging/modules/order"
  while read -r kind path _; do
    [ "$kind" = insmod ] || continue
    name=$(basename "$path"); name=${name%%.ko*}
    grep -qxF "$name" "$staging/modules/order" && continue   # listed once, first position
    decompress_module "$path" > "$staging/modules/$name.ko"
    echo "$name" >> "$staging/modules/order"
  done < <(modprobe -d "$dir/modules" -S "$release" --show-depends -a virtio_pci 9pnet_virtio 9p overlay loop btrfs)
  log "initramfs modules for $release: $(tr '\n' ' ' < "$staging/modules/order")"

  # Written aside and renamed: a run that boots it never sees half of one.
  (cd "$staging" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) \
    | gzip -1 > "$staging.cpio.gz"
  mv "$staging.cpio.gz" "$initramfs"
  rm -rf "$staging"
}

mkdir -p "$cache_root"
# One preparer per kernel at a time; a second run waits here and then finds it ready.
exec {lock}>"$dir.lock"
if ! flock -n "$lock"; then
  log "another run is preparing ${pkg}_${ver}; waiting for it"
  flock "$lock"
fi
if [ ! -f "$dir/package" ] || [ "$(cat "$dir/package")" != "$pkg=$ver" ]; then
  fetch_and_unpack
fi

# The decompressed kernel for PVH boot (see above). The payload of a bzImage is one
# compressed stream (xz on Debian 6.1, zstd on 6.12, gzip elsewhere); find its magic,
# decompress, and keep it only if it is an ELF file. Otherwise boot the bzImage.
extract_vmlinux() {
  local magic off tool
  grep -q '^CONFIG_PVH=y' "$dir/config" || return 1
  for magic in xz zstd gzip; do
    case $magic in
      xz)   off=$(LC_ALL=C grep -abo $'\xfd7zXZ' "$dir/vmlinuz" | head -1 | cut -d: -f1); tool="xz -dcq" ;;   # busybox xz lacks the BCJ filter
      zstd) off=$(LC_ALL=C grep -abo $'\x28\xb5\x2f\xfd' "$dir/vmlinuz" | head -1 | cut -d: -f1); tool="zstd -dcq" ;;
      gzip) off=$(LC_ALL=C grep -abo $'\x1f\x8b\x08' "$dir/vmlinuz" | head -1 | cut -d: -f1); tool="busybox zcat" ;;
    esac
    [ -n "$off" ] && command -v "${tool%% *}" >/dev/null || continue
    # The decompressors complain about the bzImage's trailing bytes; the output is whole.
    tail -c +$((off + 1)) "$dir/vmlinuz" | $tool > "$dir/vmlinux.$$" 2>/dev/null
    if [ "$(head -c 4 "$dir/vmlinux.$$" | od -An -c | tr -d ' ')" = '177ELF' ]; then
      mv "$dir/vmlinux.$$" "$dir/vmlinux"
      return 0
    fi
  done
  rm -f "$dir/vmlinux.$$"
  return 1
}
if [ ! -f "$dir/boot-image" ]; then
  if extract_vmlinux; then echo vmlinux > "$dir/boot-image.$$"; else echo vmlinuz > "$dir/boot-image.$$"; fi
  mv "$dir/boot-image.$$" "$dir/boot-image"
  log "boot image for $(cat "$dir/release"): $(cat "$dir/boot-image")"
fi

if [ ! -f "$initramfs" ]; then
  build_initramfs
fi
touch "$initramfs"   # in use: keeps it from the clean-up below
# Initramfs files of other init.sh / busybox versions, unused for a day. (The unnamed
# initramfs.cpio.gz of older checkouts is theirs to keep up to date: left alone.)
find "$dir" -maxdepth 1 -name 'initramfs-*.cpio.gz' -mtime +0 ! -path "$initramfs" -delete

echo "$dir"
