#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, for end-to-end tests (`make e2e-up`,
# `make e2e-down`). Needs root. Everything it makes is under DIR (default .cluster/e2e),
# /run/kive-e2e (the containerd socket and state, which the operator's chart mounts), the
# cgroup hierarchies (/kubepods), one bridge (kive-e2e0) with its veths, and the iptables
# chains KIVE-E2E (nat: the Service address; filter, also ip6tables: kube-apiserver and the
# kubelet reachable only from this machine and the pods). `stop` removes all of it and is
# idempotent.
#
#   cluster.sh start [DIR]   etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
#                            a private containerd (CRI, cgroupfs, CNI bridge 192.168.0.0/24),
#                            a kubelet; imports the pause, busybox and Kive images
#   cluster.sh stop [DIR]
#
# Environment:
#   KIVE_K8S_BIN_DIR   where the Kubernetes binaries are (default: test/cluster/build-bins.sh --print-dir)
#   KIVE_E2E_IMAGE     the Kive OCI archive to import (default: build/image/kive-<version>.oci.tar)
#
# The pod network stays on this machine: bridge kive-e2e0 (192.168.0.1) and host-local IPAM
# from 192.168.0.3 (the first pod gets 192.168.0.3, the design document's sample pod's
# address), no NAT to the outside. No kube-proxy: one DNAT rule sends the `kubernetes`
# Service address (10.0.0.1:443) to kube-apiserver, which pods reach through the bridge.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cmd=${1:-}
dir=${2:-$repo/.cluster/e2e}
[[ $cmd == start || $cmd == stop ]] || { echo "usage: cluster.sh start|stop [DIR]" >&2; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
run=/run/kive-e2e
sock=$run/containerd.sock
bridge=kive-e2e0
chain=KIVE-E2E
node=kive-e2e-node
api_port=6443 etcd_port=2379 peer_port=2380
# kubelet, kubelet healthz, controller-manager, scheduler
other_ports="10250 10248 10257 10259"

die() { echo "e2e: $*" >&2; exit 1; }
running() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*) }; [[ ${s%% *} != Z ]]; }
alive() { [[ -f $dir/$1.pid ]] && running "$(cat "$dir/$1.pid")"; }
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
launch() { local name=$1; shift; setsid "$@" </dev/null >"$dir/$name.log" 2>&1 & echo $! >"$dir/$name.pid"; }
kubectl() { "$bins/kubectl" --kubeconfig "$dir/kubeconfig" "$@"; }
ctr_() { ctr --address "$sock" "$@"; }

# --- stop: the reverse order of start; each step tolerates "already gone".
stop_proc() {
  local c=$1 pid deadline
  alive "$c" || { rm -f "$dir/$c.pid"; return 0; }
  pid=$(cat "$dir/$c.pid")
  kill -TERM -- "-$pid" 2>/dev/null || true
  deadline=$((SECONDS + ${2:-10}))
  while running "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$dir/$c.pid"
}

rm_cgroups() {
  # Every cgroup named NAME in every v1 hierarchy (and the v2 one), deepest first.
  local name=$1 h
  for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/unified/; do
    [[ -d $h$name ]] || continue
    find "$h$name" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

stop() {
  stop_proc kubelet 15
  # Pods: through CRI while containerd still runs (stops tasks, tears down CNI).
  if [[ -S $sock ]]; then
    local t c
    for t in $(ctr_ -n k8s.io tasks ls -q 2>/dev/null); do ctr_ -n k8s.io tasks kill -s KILL "$t" >/dev/null 2>&1 || true; done
    sleep 0.5
    for c in $(ctr_ -n k8s.io containers ls -q 2>/dev/null); do
      ctr_ -n k8s.io tasks delete -f "$c" >/dev/null 2>&1 || true
      ctr_ -n k8s.io containers delete "$c" >/dev/null 2>&1 || true
    done
  fi
  stop_proc kube-scheduler
  stop_proc kube-controller-manager
  stop_proc kube-apiserver
  stop_proc etcd
  stop_proc containerd 15
  # Shims of our containerd (their command line names our socket's address).
  local p
  for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $sock" 2>/dev/null || true); do kill -KILL "$p" 2>/dev/null || true; done
  # Mounts under our directories, deepest first.
  local m
  for m in $(awk -v a="$dir/" -v b="$run/" '{ if (index($2, a) == 1 || index($2, b) == 1 || $2 == substr(a, 1, length(a)-1) || $2 == substr(b, 1, length(b)-1)) print $2 }' /proc/self/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  # Network namespaces the CNI plugins made (containerd names them cni-*), veths and the bridge.
  local ns
  for ns in $(ls /var/run/netns 2>/dev/null | grep '^cni-' || true); do
    if [[ -f $dir/netns-before ]] && grep -qx "$ns" "$dir/netns-before"; then continue; fi
    ip netns delete "$ns" 2>/dev/null || true
  done
  # The "outside" of test/e2e/e2e-network.ts, if a run died before removing it.
  ip link delete kive-e2e-out0 2>/dev/null || true
  ip netns delete kive-e2e-outside 2>/dev/null || true
  if ip link show "$bridge" >/dev/null 2>&1; then
    local v
    for v in $(ip -o link show master "$bridge" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do ip link delete "$v" 2>/dev/null || true; done
    ip link delete "$bridge" 2>/dev/null || true
  fi
  # The DNAT of the kubernetes Service address, the filter of the ports listening on all
  # addresses, and the chains the kubelet makes.
  if iptables -t nat -S "$chain" >/dev/null 2>&1; then
    iptables -t nat -D PREROUTING -j "$chain" 2>/dev/null || true
    iptables -t nat -D OUTPUT -j "$chain" 2>/dev/null || true
    iptables -t nat -F "$chain"; iptables -t nat -X "$chain"
  fi
  local ipt
  for ipt in iptables ip6tables; do
    if "$ipt" -S "$chain" >/dev/null 2>&1; then
      while "$ipt" -D INPUT -j "$chain" 2>/dev/null; do :; done
      "$ipt" -F "$chain"; "$ipt" -X "$chain"
    fi
  done
  local t ch
  for t in filter nat mangle; do
    for ch in KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT KUBE-FIREWALL KUBE-MARK-DROP KUBE-MARK-MASQ KUBE-POSTROUTING; do
      [[ -f $dir/iptables-before ]] && grep -qx "$t $ch" "$dir/iptables-before" && continue
      iptables -t "$t" -F "$ch" 2>/dev/null && iptables -t "$t" -X "$ch" 2>/dev/null || true
    done
  done
  for ch in KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT KUBE-FIREWALL; do
    for t in filter nat mangle; do ip6tables -t "$t" -F "$ch" 2>/dev/null && ip6tables -t "$t" -X "$ch" 2>/dev/null || true; done
  done
  rm_cgroups kubepods
  # libcni's result cache (a fixed path, /var/lib/cni/results): our network's entries and
  # the loopback entries of the same sandboxes.
  local r id
  for r in /var/lib/cni/results/kive-e2e-*; do
    [[ -e $r ]] || continue
    id=${r#/var/lib/cni/results/kive-e2e-}; id=${id%-eth0}
    rm -f "$r" "/var/lib/cni/results/cni-loopback-$id-lo"
  done
  if [[ -f $dir/varlib-before ]] && ! grep -qx cni "$dir/varlib-before"; then
    rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null || true
  fi
  # The kubelet's symlinks in /var/log/containers (a fixed path) to our pod logs.
  local l
  for l in /var/log/containers/*.log; do
    [[ -L $l && $(readlink "$l") == "$dir/"* ]] && rm -f "$l"
  done
  if [[ -f $dir/varlog-before ]]; then
    grep -qx containers "$dir/varlog-before" || rmdir /var/log/containers 2>/dev/null || true
    grep -qx pods "$dir/varlog-before" || rm -rf /var/log/pods
  fi
  # The operator's hostPath /var/lib/kive (its callback spool): what this cluster added.
  if [[ -f $dir/kive-before ]]; then
    if [[ ! -s $dir/kive-before ]]; then rm -rf /var/lib/kive
    else
      find /var/lib/kive -mindepth 1 -depth 2>/dev/null | while read -r f; do
        grep -qxF "$f" "$dir/kive-before" || rm -rf "$f"
      done
    fi
  fi
  rm -rf "$run" "$dir"
  rmdir "$(dirname "$dir")" 2>/dev/null || true
}

if [[ $cmd == stop ]]; then
  [[ $(id -u) == 0 ]] || die "needs root"
  stop
  echo "e2e: stopped; everything removed"
  exit 0
fi

# --- start: prerequisites first, each with a one-line error.
[[ $(id -u) == 0 ]] || die "needs root (kubelet, containerd, network namespaces)"
bins=${KIVE_K8S_BIN_DIR:-$("$repo/test/cluster/build-bins.sh" --print-dir)}
for b in etcd kube-apiserver kubectl kube-controller-manager kube-scheduler kubelet; do
  [[ -x $bins/$b ]] || die "$bins/$b is missing; build it with 'make cluster-bins-all'"
done
for b in containerd ctr containerd-shim-runc-v2 runc gcc iptables ip6tables ip openssl curl; do
  command -v "$b" >/dev/null || die "$b is not installed (apt-get install containerd runc gcc iptables iproute2 openssl curl)"
done
[[ -x /usr/bin/busybox ]] || die "/usr/bin/busybox is missing (apt-get install busybox-static)"
cni_bin=
for d in /usr/lib/cni /opt/cni/bin; do [[ -x $d/bridge && -x $d/host-local && -x $d/loopback ]] && cni_bin=$d && break; done
[[ -n $cni_bin ]] || die "CNI plugins (bridge, host-local, loopback) not found in /usr/lib/cni or /opt/cni/bin (apt-get install containernetworking-plugins)"
version=$(sed -n 's/^  "version": *"\([^"]*\)".*/\1/p' "$repo/package.json" | head -n1)
image=${KIVE_E2E_IMAGE:-$repo/build/image/kive-$version.oci.tar}
[[ -f $image ]] || die "$image is missing; build it with 'make image'"
[[ -d /sys/kernel/tracing/events ]] || die "tracefs is not mounted at /sys/kernel/tracing (mount -t tracefs nodev /sys/kernel/tracing)"
if alive kube-apiserver || alive kubelet || alive containerd; then
  die "already running (kubeconfig: $dir/kubeconfig); stop it first with 'make e2e-down'"
fi
for p in $api_port $etcd_port $peer_port $other_ports; do
  in_use "$p" && die "port $p on 127.0.0.1 is already in use (needed by the e2e cluster: apiserver $api_port, etcd $etcd_port/$peer_port, kubelet 10250/10248, controller-manager 10257, scheduler 10259)"
done
[[ -S $sock ]] && die "$sock exists: another e2e containerd is running; 'make e2e-down' first"
ip link show "$bridge" >/dev/null 2>&1 && die "network interface $bridge exists: leftovers of an earlier run; 'make e2e-down' first"
ip -o addr show | grep -q ' 192\.168\.0\.' && die "192.168.0.0/24 is already used by an interface here; the e2e pod network needs it"

t0=$SECONDS
stop >/dev/null 2>&1 || true   # leftovers of a run that died
mkdir -p "$dir" "$run"
trap 'echo "e2e: start failed; stopping what started (logs were in $dir)" >&2; for f in "$dir"/*.log; do echo "--- $f" >&2; tail -n 8 "$f" >&2; done; stop >/dev/null 2>&1' ERR
ls /var/run/netns 2>/dev/null >"$dir/netns-before" || true
ls /var/log >"$dir/varlog-before"
ls /var/lib >"$dir/varlib-before"
# What /var/lib/kive held (the chart mounts it; empty file: it did not exist).
if [[ -d /var/lib/kive ]]; then { echo /var/lib/kive; find /var/lib/kive -mindepth 1; } >"$dir/kive-before"; else : >"$dir/kive-before"; fi
for t in filter nat mangle; do iptables -t "$t" -S 2>/dev/null | awk -v t="$t" '$1 == "-N" { print t, $2 }'; done >"$dir/iptables-before"

# --- PKI: the test control plane's, its serving certificate also naming the Service
# address and the bridge (the operator reaches kube-apiserver as 10.0.0.1).
KIVE_PKI_EXTRA_SANS=IP:10.0.0.1,IP:192.168.0.1,DNS:kubernetes.default.svc.cluster.local \
  "$repo/test/cluster/pki.sh" "$dir/pki"
pki=$dir/pki
"$repo/test/cluster/kubeconfig.sh" "$pki" "https://127.0.0.1:$api_port" kive-e2e "$dir/kubeconfig"

# --- etcd + kube-apiserver (the flags of test/cluster/control-plane.sh, plus the kubelet
# client certificate for exec/logs and a bind address pods can reach through the bridge).
launch etcd "$bins/etcd" --name=kive-e2e --data-dir="$dir/etcd-data" \
  --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
  --listen-peer-urls="http://127.0.0.1:$peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
  --initial-cluster="kive-e2e=http://127.0.0.1:$peer_port" --unsafe-no-fsync=true --log-level=warn
launch kube-apiserver "$bins/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$etcd_port" --cert-dir="$dir/apiserver-certs" \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" --client-ca-file="$pki/ca.crt" \
  --secure-port="$api_port" --bind-address=0.0.0.0 --advertise-address=192.168.0.1 \
  --service-cluster-ip-range=10.0.0.0/24 --endpoint-reconciler-type=none \
  --authorization-mode=Node,RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --kubelet-client-certificate="$pki/admin.crt" --kubelet-client-key="$pki/admin.key" \
  --kubelet-preferred-address-types=InternalIP,Hostname \
  --allow-privileged=true --profiling=false

wait_for() { # WHAT SECONDS COMMAND...: poll until COMMAND succeeds
  local what=$1 limit=$2 deadline; shift 2
  deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { echo "e2e: $what not ready after ${limit}s" >&2; return 1; }
    sleep 0.3
  done
}
api_ready() { [[ $(curl -sS --max-time 2 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "https://127.0.0.1:$api_port/readyz") == ok ]]; }
wait_for kube-apiserver 120 api_ready

# --- controller-manager (service-account tokens, DaemonSets, namespaces, GC) and scheduler.
launch kube-controller-manager "$bins/kube-controller-manager" --kubeconfig="$dir/kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false --controllers='*' \
  --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
  --use-service-account-credentials=false --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key"
launch kube-scheduler "$bins/kube-scheduler" --kubeconfig="$dir/kubeconfig" --bind-address=127.0.0.1 --leader-elect=false

# --- containerd: its own root, state and socket; CRI with cgroupfs and the CNI bridge.
mkdir -p "$dir/cni/net.d" "$dir/containerd"
cat >"$dir/cni/net.d/10-kive-e2e.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "kive-e2e",
  "plugins": [{
    "type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": false, "hairpinMode": true,
    "ipam": {
      "type": "host-local", "dataDir": "$dir/cni/ipam",
      "ranges": [[{ "subnet": "192.168.0.0/24", "rangeStart": "192.168.0.3", "rangeEnd": "192.168.0.254", "gateway": "192.168.0.1" }]],
      "routes": [{ "dst": "0.0.0.0/0" }]
    }
  }]
}
EOF
cat >"$dir/containerd/config.toml" <<EOF
version = 2
root = "$dir/containerd/root"
state = "$run/state"
oom_score = 0
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "kive.e2e/pause:1"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$cni_bin"
    conf_dir = "$dir/cni/net.d"
EOF
launch containerd containerd --config "$dir/containerd/config.toml"
wait_for containerd 30 ctr_ version

# --- images: pause (a static C program blocked in pause()), busybox, Kive.
img=$dir/images
mkdir -p "$img"
# oci_archive NAME LAYER_DIR OUT CMD...: an OCI image-layout archive of one layer.
oci_archive() {
  local name=$1 layer_dir=$2 out=$3; shift 3
  local w; w=$(mktemp -d "$img/oci.XXXXXX")
  mkdir -p "$w/blobs/sha256"
  tar --numeric-owner --owner=0 --group=0 -C "$layer_dir" -cf "$w/layer.tar" .
  local ld ls cd cs md ms
  ld=$(sha256sum "$w/layer.tar" | cut -d' ' -f1); ls=$(stat -c %s "$w/layer.tar"); mv "$w/layer.tar" "$w/blobs/sha256/$ld"
  local cmdjson; cmdjson=$(printf '"%s",' "$@"); cmdjson="[${cmdjson%,}]"
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$cmdjson" "$ld" >"$w/config"
  cd=$(sha256sum "$w/config" | cut -d' ' -f1); cs=$(stat -c %s "$w/config"); mv "$w/config" "$w/blobs/sha256/$cd"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$cd" "$cs" "$ld" "$ls" >"$w/manifest"
  md=$(sha256sum "$w/manifest" | cut -d' ' -f1); ms=$(stat -c %s "$w/manifest"); mv "$w/manifest" "$w/blobs/sha256/$md"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$w/oci-layout"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$md" "$ms" "$name" "${name##*:}" >"$w/index.json"
  tar --numeric-owner -C "$w" -cf "$out" oci-layout index.json blobs
  rm -rf "$w"
}
mkdir -p "$img/pause/bin"
printf '#include <unistd.h>\n#include <signal.h>\nstatic void bye(int s) { (void)s; _exit(0); }\nint main(void) { signal(SIGTERM, bye); signal(SIGINT, bye); for (;;) pause(); }\n' >"$img/pause.c"
gcc -static -O2 -o "$img/pause/bin/pause" "$img/pause.c"
oci_archive kive.e2e/pause:1 "$img/pause" "$img/pause.tar" /bin/pause
mkdir -p "$img/busybox/bin" "$img/busybox/etc" "$img/busybox/tmp" "$img/busybox/proc" "$img/busybox/sys" "$img/busybox/dev"
cp /usr/bin/busybox "$img/busybox/bin/busybox"
for t in sh cat sleep ls echo id stat; do ln -s busybox "$img/busybox/bin/$t"; done
printf 'root:x:0:0:root:/:/bin/sh\n' >"$img/busybox/etc/passwd"
oci_archive kive.e2e/busybox:1 "$img/busybox" "$img/busybox.tar" /bin/sh
for a in "$img/pause.tar" "$img/busybox.tar" "$image"; do
  ctr_ -n k8s.io images import "$a" >/dev/null
done
rm -rf "$img"

# --- the kubernetes Service address (no kube-proxy): 10.0.0.1:443 -> kube-apiserver.
iptables -t nat -N "$chain"
iptables -t nat -A "$chain" -d 10.0.0.1/32 -p tcp --dport 443 -j DNAT --to-destination "192.168.0.1:$api_port"
iptables -t nat -A PREROUTING -j "$chain"
iptables -t nat -A OUTPUT -j "$chain"

# --- kube-apiserver and the kubelet listen on all addresses (pods reach them through the
# bridge; apiserver has one --bind-address, and 127.0.0.1 is what the kubeconfig names):
# only this machine (lo) and the pod bridge may connect, nothing from outside.
for ipt in iptables ip6tables; do
  "$ipt" -N "$chain"
  "$ipt" -A "$chain" -i lo -j RETURN
  "$ipt" -A "$chain" -i "$bridge" -j RETURN
  "$ipt" -A "$chain" -p tcp -m multiport --dports "$api_port,10250" -j DROP
  "$ipt" -I INPUT -j "$chain"
done

# --- kubelet.
mkdir -p "$dir/kubelet"
cat >"$dir/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 0.0.0.0
port: 10250
healthzBindAddress: 127.0.0.1
healthzPort: 10248
readOnlyPort: 0
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: false }
  x509: { clientCAFile: "$pki/ca.crt" }
authorization: { mode: AlwaysAllow }
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$sock
imageServiceEndpoint: unix://$sock
evictionHard: { memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%" }
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
resolvConf: /etc/resolv.conf
localStorageCapacityIsolation: false
protectKernelDefaults: false
makeIPTablesUtilChains: false
podLogsDir: "$dir/pod-logs"
EOF
# The node IP (the bridge's gateway address) must exist before the kubelet starts; the CNI
# bridge plugin adopts the bridge.
ip link add "$bridge" type bridge
ip addr add 192.168.0.1/24 dev "$bridge"
ip link set "$bridge" up
launch kubelet "$bins/kubelet" --config="$dir/kubelet/config.yaml" --kubeconfig="$dir/kubeconfig" \
  --root-dir="$dir/kubelet/root" --cert-dir="$dir/kubelet/pki" --hostname-override="$node" \
  --node-ip=192.168.0.1 --v=1
wait_for "node $node Ready" 120 bash -c "'$bins/kubectl' --kubeconfig '$dir/kubeconfig' get node $node -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
wait_for "service account default/default" 60 kubectl -n default get serviceaccount default
trap - ERR
echo "e2e: cluster up in $((SECONDS - t0))s: node $node, pods in 192.168.0.0/24 (first pod 192.168.0.3), images kive.e2e/pause:1, kive.e2e/busybox:1, kive:$version"
echo "e2e: export KUBECONFIG=$dir/kubeconfig; kubectl at $bins/kubectl; stop with 'make e2e-down'"
