#!/usr/bin/env bash
# Writes an admin kubeconfig with everything inline (so it works from any directory) for
# a control plane whose certificates pki.sh made: the client certificate CN=kive-admin,
# O=system:masters. Used by control-plane.sh and test/e2e/cluster.sh.
#
#   kubeconfig.sh PKI_DIR SERVER_URL CLUSTER_NAME OUT_FILE
set -euo pipefail
pki=${1:?usage: kubeconfig.sh PKI_DIR SERVER_URL CLUSTER_NAME OUT_FILE}
url=${2:?} name=${3:?} out=${4:?}
ca=$(base64 -w0 "$pki/ca.crt"); cert=$(base64 -w0 "$pki/admin.crt"); key=$(base64 -w0 "$pki/admin.key")
umask 077
cat >"$out" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: $name
  cluster:
    server: $url
    certificate-authority-data: $ca
users:
- name: kive-admin
  user:
    client-certificate-data: $cert
    client-key-data: $key
contexts:
- name: $name
  context:
    cluster: $name
    user: kive-admin
current-context: $name
KUBECONFIG
