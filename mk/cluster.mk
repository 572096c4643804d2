# Test control plane: etcd + kube-apiserver of one pinned Kubernetes release, built from
# the upstream Go modules by the module in test/cluster/bin and cached under
# ${XDG_CACHE_HOME:-$HOME/.cache}/kive/k8s/<version>/. See docs/testing.md.
#
#   make cluster-bins       etcd, kube-apiserver, kubectl (cold: ~15 min; warm: instant)
#   make cluster-bins-all   also kube-controller-manager, kube-scheduler, kubelet
#   make cluster            start etcd + kube-apiserver on 127.0.0.1, admin kubeconfig in .cluster/kubeconfig
#   make cluster-down       stop them and delete their data
#   make test-integration   the integration suite; each test file starts its own control plane

K8S_BIN_DIR = $(shell test/cluster/build-bins.sh --print-dir)
CLUSTER_DIR := .cluster

.PHONY: cluster-bins cluster-bins-all cluster cluster-down

cluster-bins:
	@test/cluster/build-bins.sh

cluster-bins-all:
	@test/cluster/build-bins.sh all

cluster: cluster-bins
	@test/cluster/control-plane.sh start $(CLUSTER_DIR)

cluster-down:
	@test/cluster/control-plane.sh stop $(CLUSTER_DIR)

test-integration: build cluster-bins
	KIVE_K8S_BIN_DIR=$(K8S_BIN_DIR) $(NODE_TEST) 'test/integration/**/*.test.ts'
