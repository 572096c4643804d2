#!/usr/bin/env bash
# Installs what `make image` needs and nothing else needs: Debian's mmdebstrap (the base
# root file system from Debian's packages) and umoci (OCI layers without a Docker daemon).
# Kept apart from install-deps.sh so a plain build or test run does not pull them in.
set -euo pipefail
exec "$(dirname "$0")/apt-install.sh" mmdebstrap umoci
