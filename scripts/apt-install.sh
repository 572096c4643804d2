#!/usr/bin/env bash
# Installs the Debian packages named as arguments that are not installed yet (as root;
# apt runs only when one is missing). Used by install-deps.sh and install-image-deps.sh.
set -euo pipefail
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]})) || exit 0
if [ "$(id -u)" != 0 ]; then
  echo "$(basename "$0"): missing Debian packages (${missing[*]}); run as root" >&2
  exit 1
fi
echo "$(basename "$0"): apt-get install ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
