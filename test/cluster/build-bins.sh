#!/usr/bin/env bash
# Builds the test control plane's binaries from the Go module in test/cluster/bin into
# ${XDG_CACHE_HOME:-$HOME/.cache}/kive/k8s/<kubernetes version>/ and prints nothing
# else on a warm cache (the binaries are there and were built from the same go.mod,
# go.sum and flags), so repeated runs cost milliseconds.
#
#   build-bins.sh            etcd, kube-apiserver, kubectl (what tests and `make cluster` use)
#   build-bins.sh all        also kube-controller-manager, kube-scheduler, kubelet
#   build-bins.sh --print-dir   print the cache directory and exit
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mod="$here/bin"
# shellcheck source=bin/versions.env
source "$mod/versions.env"

cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/kive/k8s
dest="$cache_root/$K8S_VERSION"

case "${1:-default}" in
  --print-dir) echo "$dest"; exit 0 ;;
  default) k8s_cmds=(kube-apiserver kubectl) ;;
  all) k8s_cmds=(kube-apiserver kubectl kube-controller-manager kube-scheduler kubelet) ;;
  *) echo "build-bins.sh: unknown argument '$1' (use nothing, 'all' or '--print-dir')" >&2; exit 2 ;;
esac

# A Go new enough for the module: the machine's, or one bootstrapped from Debian's
# golang-go and the Go module proxy (scripts/install-go.sh; it honours $GO).
go=$("$(dirname "${BASH_SOURCE[0]}")/../../scripts/install-go.sh") || { echo "build-bins.sh: no Go toolchain (scripts/install-go.sh failed)" >&2; exit 1; }

# The recipe: anything that changes the binaries. A different recipe rebuilds.
major_minor=${K8S_VERSION#v}; major=${major_minor%%.*}; minor=${major_minor#*.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean"
done
recipe=$( { cat "$mod/go.mod" "$mod/go.sum"; echo "$ldflags"; "$go" version; } | sha256sum | cut -c1-16)

needed=(etcd "${k8s_cmds[@]}")
up_to_date() {
  [[ -f $dest/.recipe && $(cat "$dest/.recipe") == "$recipe" ]] || return 1
  local b; for b in "${needed[@]}"; do [[ -x $dest/$b ]] || return 1; done
}
up_to_date && exit 0

mkdir -p "$cache_root"
exec 9>"$cache_root/.$K8S_VERSION.lock"
if ! flock -n 9; then
  echo "build-bins.sh: another build of $K8S_VERSION is running; waiting for it" >&2
  flock 9
  up_to_date && exit 0
fi

# Binaries of another recipe are stale: start over.
if [[ -d $dest && ! ( -f $dest/.recipe && $(cat "$dest/.recipe") == "$recipe" ) ]]; then
  rm -rf "$dest"
fi
mkdir -p "$dest"

export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"
start=$(date +%s)
missing=() pkgs=()
for c in "${k8s_cmds[@]}"; do
  [[ -x $dest/$c ]] || { missing+=("$c"); pkgs+=("k8s.io/kubernetes/cmd/$c"); }
done
[[ -x $dest/etcd ]] || missing=(etcd "${missing[@]}")
echo "build-bins.sh: building ${missing[*]} of Kubernetes $K8S_VERSION into $dest (cold, the default three: ~6 min on 2 cores)" >&2
tmp=$(mktemp -d "$dest/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$mod"
if ((${#pkgs[@]})); then
  "$go" build -trimpath -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}"
fi
if [[ ! -x $dest/etcd ]]; then
  "$go" build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3
fi
for f in "$tmp"/*; do [[ -e $f ]] && mv -f "$f" "$dest/"; done
echo "$recipe" > "$dest/.recipe"
echo "build-bins.sh: built ${missing[*]} in $(( $(date +%s) - start ))s" >&2
