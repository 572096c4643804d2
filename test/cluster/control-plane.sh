#!/usr/bin/env bash
# Starts and stops one test control plane: etcd plus kube-apiserver on 127.0.0.1 with
# client-certificate authentication, RBAC and service-account keys, modelled on
# controller-runtime's envtest. Used by `make cluster` (in .cluster/) and by
# test/helpers/cluster.ts (one per test file, in a temporary directory).
#
#   control-plane.sh start DIR    start, write DIR/kubeconfig, return once /readyz is ok
#   control-plane.sh stop DIR     stop both (their whole process groups), delete DIR's data
#   control-plane.sh status DIR   exit 0 and print the URL when running
#
# Environment:
#   KIVE_K8S_BIN_DIR         where etcd and kube-apiserver are (default: the build cache)
#   KIVE_CLUSTER_API_PORT    kube-apiserver --secure-port (default 6443)
#   KIVE_CLUSTER_ETCD_PORT   etcd client port (default 2379); peer port is KIVE_CLUSTER_ETCD_PEER_PORT (2380)
#   KIVE_CLUSTER_OWNER_PID   if set, a watchdog kills the control plane when that process is gone
#   KIVE_CLUSTER_NAME        prefix of messages (default "cluster")
#   KIVE_CLUSTER_TIMEOUT     seconds to wait for /readyz (default 90)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=${KIVE_CLUSTER_NAME:-cluster}
cmd=${1:-}
dir=${2:-}
[[ -n $cmd && -n $dir ]] || { echo "usage: control-plane.sh start|stop|status DIR" >&2; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
api_port=${KIVE_CLUSTER_API_PORT:-6443}
etcd_port=${KIVE_CLUSTER_ETCD_PORT:-2379}
peer_port=${KIVE_CLUSTER_ETCD_PEER_PORT:-2380}

die() { echo "$name: $*" >&2; exit 1; }
# A process that exists and is not a zombie (an exited server whose new parent has not
# reaped it yet must count as stopped).
running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ -n $stat && ${stat%% *} != Z ]]
}
alive() { [[ -f $dir/$1.pid ]] && running "$(cat "$dir/$1.pid")"; }
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
server_url() { cat "$dir/server" 2>/dev/null || echo "https://127.0.0.1:$api_port"; }

# Stops what runs and removes everything this script put in DIR; returns non-zero when
# nothing was running. kube-apiserver goes first (with etcd gone it would spend its
# whole grace period retrying): TERM to its process group, KILL after GRACE seconds,
# then the same for etcd.
stop() {
  local grace=${1:-10} c pid stopped=1 deadline
  for c in kube-apiserver etcd; do
    alive "$c" || continue
    stopped=0
    pid=$(cat "$dir/$c.pid")
    kill -TERM -- "-$pid" 2>/dev/null || true
    deadline=$((EPOCHSECONDS + grace))
    while running "$pid" && ((EPOCHSECONDS < deadline)); do sleep 0.05; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  rm -rf "$dir/etcd-data" "$dir/pki" "$dir/apiserver-certs" "$dir/kubeconfig" "$dir/server" \
    "$dir/etcd.pid" "$dir/kube-apiserver.pid" "$dir/etcd.log" "$dir/kube-apiserver.log"
  rmdir "$dir" 2>/dev/null || true
  return $stopped
}

# Run "$@" in a session (and process group) of its own, output to a log file.
launch() {
  local log=$1; shift
  setsid "$@" </dev/null >"$log" 2>&1 &
  echo $!
}

startup_failed() {
  echo "$name: $1; last lines of $2:" >&2
  tail -n 15 "$2" | sed 's/^/    /' >&2
  stop 2 || true
  exit 1
}

start() {
  if alive kube-apiserver || alive etcd; then
    echo "$name: already running at $(server_url) (kubeconfig: $dir/kubeconfig); stop it first with 'make cluster-down'"
    exit 0
  fi
  stop 0 >/dev/null 2>&1 || true   # leftovers of a control plane that died

  local bins=${KIVE_K8S_BIN_DIR:-$("$here/build-bins.sh" --print-dir)} b
  for b in etcd kube-apiserver; do
    [[ -x $bins/$b ]] || die "$bins/$b is missing; build it with 'make cluster-bins'"
  done
  local port what
  for port in "$api_port:kube-apiserver (KIVE_CLUSTER_API_PORT)" "$etcd_port:etcd (KIVE_CLUSTER_ETCD_PORT)" \
              "$peer_port:etcd peer (KIVE_CLUSTER_ETCD_PEER_PORT)"; do
    what=${port#*:}; port=${port%%:*}
    if in_use "$port"; then die "port $port on 127.0.0.1 is already in use; $what needs it: free it or choose another port"; fi
  done

  local t0=$EPOCHREALTIME
  mkdir -p "$dir"
  "$here/pki.sh" "$dir/pki"
  local pki=$dir/pki url="https://127.0.0.1:$api_port"

  launch "$dir/etcd.log" "$bins/etcd" \
    --name=kive --data-dir="$dir/etcd-data" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
    --initial-cluster="kive=http://127.0.0.1:$peer_port" \
    --unsafe-no-fsync=true --log-level=warn >"$dir/etcd.pid"

  launch "$dir/kube-apiserver.log" "$bins/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --cert-dir="$dir/apiserver-certs" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --secure-port="$api_port" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
    --service-cluster-ip-range=10.0.0.0/24 --endpoint-reconciler-type=none \
    --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --allow-privileged=true --profiling=false >"$dir/kube-apiserver.pid"
  echo "$url" >"$dir/server"

  if [[ -n ${KIVE_CLUSTER_OWNER_PID:-} ]]; then
    # Kills the control plane if its owner dies without stopping it (SIGKILL, crash).
    setsid bash -c '
      owner=$1 dir=$2 etcd=$3 api=$4
      while [[ -d /proc/$owner ]] && ! grep -q "^State:[[:space:]]*Z" "/proc/$owner/status" 2>/dev/null; do
        [[ -e $dir/kube-apiserver.pid ]] || exit 0
        sleep 1
      done
      [[ -e $dir/kube-apiserver.pid ]] || exit 0
      kill -KILL -- "-$api" "-$etcd" 2>/dev/null
      rm -rf "$dir"' watchdog "$KIVE_CLUSTER_OWNER_PID" "$dir" "$(cat "$dir/etcd.pid")" \
      "$(cat "$dir/kube-apiserver.pid")" </dev/null >/dev/null 2>&1 &
  fi

  # An admin kubeconfig with everything inline, so it works from any directory.
  "$here/kubeconfig.sh" "$pki" "$url" kive-test "$dir/kubeconfig"

  local deadline=$((SECONDS + ${KIVE_CLUSTER_TIMEOUT:-90})) body
  while :; do
    alive etcd || startup_failed "etcd exited during startup" "$dir/etcd.log"
    alive kube-apiserver || startup_failed "kube-apiserver exited during startup" "$dir/kube-apiserver.log"
    body=$(curl -sS --max-time 2 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
      "$url/readyz" 2>/dev/null) || true
    [[ $body == ok ]] && break
    ((SECONDS < deadline)) || startup_failed "kube-apiserver not ready after ${KIVE_CLUSTER_TIMEOUT:-90}s" "$dir/kube-apiserver.log"
    sleep 0.1
  done
  local t1=$EPOCHREALTIME ms
  ms=$(( (${t1/./} - ${t0/./}) / 1000 ))
  printf '%s: up at %s in %d.%02ds (kubeconfig: %s)\n' "$name" "$url" $((ms / 1000)) $((ms % 1000 / 10)) "$dir/kubeconfig"
}

case $cmd in
  start) start ;;
  stop)
    url=$(server_url)
    if stop "${KIVE_CLUSTER_STOP_GRACE:-10}"; then
      echo "$name: stopped $url and removed its data"
    else
      echo "$name: not running (nothing to stop)"
    fi ;;
  status)
    if alive kube-apiserver; then echo "$(server_url)"; else echo "$name: not running" >&2; exit 1; fi ;;
  *) echo "usage: control-plane.sh start|stop|status DIR" >&2; exit 2 ;;
esac
