#!/usr/bin/env bash
# Installs what `make image` needs and nothing else needs: Debian's mmdebstrap (the base
# root file system from Debian's packages) and umoci (OCI layers without a Docker daemon).
# Kept apart from install-deps.sh so a plain build or test run does not pull them in.
set -euo pipefail
packages=(mmdebstrap umoci)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]})) || exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-image-deps: missing Debian packages (${missing[*]}); run as root" >&2
  exit 1
fi
echo "install-image-deps: apt-get install ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
