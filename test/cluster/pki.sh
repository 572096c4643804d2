#!/usr/bin/env bash
# Makes the certificates and keys of one test control plane in DIR:
#   ca.crt / ca.key               the CA that signs everything below (client CA, too)
#   apiserver.crt / apiserver.key serving certificate for 127.0.0.1 and localhost
#   admin.crt / admin.key         client certificate CN=kive-admin, O=system:masters
#   sa.key / sa.pub               service-account token signing key pair
# ECDSA P-256 throughout: generating it takes milliseconds, unlike RSA.
#
#   pki.sh DIR
# KIVE_PKI_EXTRA_SANS: more subjectAltName entries for apiserver.crt, comma-separated
# (test/e2e/cluster.sh adds the Service address and the pod bridge's).
set -euo pipefail
dir=${1:?usage: pki.sh DIR}
mkdir -p "$dir"
cd "$dir"
umask 077

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
# sign NAME SUBJECT EXTENSIONS: a certificate for NAME.key signed by the CA.
sign() {
  openssl req -new -key "$1.key" -subj "$2" |
    openssl x509 -req -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" \
      -days 3650 -out "$1.crt" -extfile <(printf '%s\n' "$3") 2>/dev/null
}

newkey ca.key
openssl req -x509 -new -key ca.key -subj "/CN=kive-test-ca" -days 3650 -out ca.crt \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"

newkey apiserver.key
sign apiserver "/CN=kube-apiserver" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc${KIVE_PKI_EXTRA_SANS:+,$KIVE_PKI_EXTRA_SANS}"

newkey admin.key
sign admin "/O=system:masters/CN=kive-admin" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"

newkey sa.key
openssl pkey -in sa.key -pubout -out sa.pub
