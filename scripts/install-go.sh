#!/usr/bin/env bash
# Prints the path of a Go toolchain new enough for every module under test/cluster/ (Go
# is only a tool here: it builds the upstream etcd, kube-apiserver and helm the tests run).
#
# A Go on PATH, in $GO or in /usr/local/go is used when its version is high enough.
# Otherwise Debian's golang-go (too old by itself) fetches the required release as the
# golang.org/toolchain module through the Go module proxy (the same way `go` switches
# toolchains on its own since Go 1.21), cached under ~/.cache/kive/go/.
#   --force-bootstrap: ignore existing toolchains (to test this path)
set -euo pipefail
cd "$(dirname "$0")/.."
want=$(awk '$1=="go"{print $2}' test/cluster/*/go.mod | sort -V | tail -n1)   # e.g. 1.26.0
force=${1:-}

version_ok() { # $1: a go binary
  local v
  v=$("$1" env GOVERSION 2>/dev/null | sed 's/^go//') || return 1
  [[ -n $v ]] && [[ $(printf '%s\n%s\n' "$want" "$v" | sort -V | head -n1) == "$want" ]]
}

if [[ $force != --force-bootstrap ]]; then
  for cand in "${GO:-}" "$(command -v go || true)" /usr/local/go/bin/go; do
    if [[ -n $cand && -x $cand ]] && version_ok "$cand"; then echo "$cand"; exit 0; fi
  done
fi

cache=${XDG_CACHE_HOME:-$HOME/.cache}/kive/go
toolchain="golang.org/toolchain@v0.0.1-go${want}.linux-amd64"
marker=$cache/$want.path
if [[ -f $marker && -x $(cat "$marker") ]] && version_ok "$(cat "$marker")"; then cat "$marker"; exit 0; fi

if ! dpkg-query -W -f='${Status}' golang-go 2>/dev/null | grep -q 'install ok installed'; then
  echo "install-go: apt-get install golang-go (to bootstrap Go $want)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go >&2
fi
mkdir -p "$cache"
echo "install-go: fetching $toolchain" >&2
dir=$(cd "$cache" && GOPATH=$cache/gopath GOFLAGS=-modcacherw GO111MODULE=on /usr/bin/go mod download -json "$toolchain" | awk -F'"' '$2=="Dir"{print $4}')
[[ -d $dir ]] || { echo "install-go: could not fetch $toolchain" >&2; exit 1; }
# Module zips do not keep file modes; the toolchain's programs must be executable.
chmod +x "$dir/bin/"* "$dir"/pkg/tool/*/* 2>/dev/null || true
version_ok "$dir/bin/go" || { echo "install-go: $dir/bin/go is not Go >= $want" >&2; exit 1; }
echo "$dir/bin/go" > "$marker"
echo "$dir/bin/go"
