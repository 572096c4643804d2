# End-to-end: a real single-node cluster on this machine (root): etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, a private containerd and a kubelet, with the
# Kive image imported. See test/e2e/cluster.sh. `make test` runs `make e2e` last (after
# test-image, whose image it installs): about a minute warm (docs/testing.md).
#   make e2e-up     build what it needs, start the cluster; kubeconfig in .cluster/e2e/kubeconfig
#   make e2e-down   stop it and remove everything it made (idempotent)
#   make e2e        e2e-up, test/e2e/*.test.ts, e2e-down
.PHONY: e2e-up e2e-down e2e

E2E_DIR := .cluster/e2e

e2e-up: deps cluster-bins-all image helm-bin
	@test/e2e/cluster.sh start $(E2E_DIR)

e2e-down:
	@test/e2e/cluster.sh stop $(E2E_DIR)

e2e: e2e-up
	@status=0; KIVE_E2E_KUBECONFIG=$(E2E_DIR)/kubeconfig KIVE_K8S_BIN_DIR=$(K8S_BIN_DIR) \
	  KIVE_HELM=$$(test/cluster/build-helm.sh) \
	  $(NODE_TEST) 'test/e2e/*.test.ts' || status=$$?; \
	  test/e2e/cluster.sh stop $(E2E_DIR); exit $$status

test: e2e
