#!/usr/bin/env bash
# Builds helm from its Go module (test/cluster/helm/go.mod pins helm.sh/helm/v3) into
# ${XDG_CACHE_HOME:-$HOME/.cache}/kive/helm/<version>/helm and prints that path. Warm (same
# go.mod, go.sum, flags and Go), it prints the path in milliseconds. The chart tests use it
# (test/integration/deploy-chart.test.ts), like build-bins.sh's Kubernetes binaries.
#   build-helm.sh            build if needed, print the binary's path
#   build-helm.sh --print    print the path only
set -euo pipefail
mod=$(cd "$(dirname "${BASH_SOURCE[0]}")/helm" && pwd)
version=$(awk '$1=="helm.sh/helm/v3"{print $2}' "$mod/go.mod")
[[ -n $version ]] || { echo "build-helm.sh: no helm.sh/helm/v3 in $mod/go.mod" >&2; exit 1; }
dest=${XDG_CACHE_HOME:-$HOME/.cache}/kive/helm/$version
[[ ${1:-} == --print ]] && { echo "$dest/helm"; exit 0; }

go=$("$(dirname "${BASH_SOURCE[0]}")/../../scripts/install-go.sh") || { echo "build-helm.sh: no Go toolchain (scripts/install-go.sh failed)" >&2; exit 1; }
# `helm version` reports this instead of "v3.x+unknown".
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
recipe=$( { cat "$mod/go.mod" "$mod/go.sum"; echo "$ldflags"; "$go" version; } | sha256sum | cut -c1-16)
up_to_date() { [[ -x $dest/helm && -f $dest/.recipe && $(cat "$dest/.recipe") == "$recipe" ]]; }
up_to_date && { echo "$dest/helm"; exit 0; }

mkdir -p "$dest"
exec 9>"$dest/.lock"
flock 9
if ! up_to_date; then
  echo "build-helm.sh: building helm $version into $dest (cold: a few minutes on 2 cores)" >&2
  start=$(date +%s)
  (cd "$mod" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" \
    "$go" build -trimpath -ldflags "$ldflags" -o "$dest/helm.tmp" helm.sh/helm/v3/cmd/helm)
  mv -f "$dest/helm.tmp" "$dest/helm"
  echo "$recipe" > "$dest/.recipe"
  echo "build-helm.sh: built helm in $(( $(date +%s) - start ))s" >&2
fi
echo "$dest/helm"
