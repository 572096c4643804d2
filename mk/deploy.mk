# Shipping Kive: the operator image and the deploy/ manifests (Helm chart, kustomize base,
# deploy/operator.yaml), all from scripts/. See docs/operator.md ("Install").
#   make image        build/image/kive-<version>.oci.tar (no Docker daemon: mmdebstrap + umoci)
#   make test-image   that image under a private containerd, as the DaemonSet runs it
#   make deploy       regenerate deploy/ from scripts/deploy/ (a unit test checks it is current)
#   make helm-bin     helm from its Go module (test/cluster/helm), for the chart tests
.PHONY: image test-image deploy helm-bin

image: build
	@scripts/install-image-deps.sh
	scripts/build-image.sh

test-image: image
	$(NODE_TEST) 'test/image/*.test.ts'

test: test-image

deploy: deps
	$(NODE) scripts/gen-deploy.ts

helm-bin:
	@test/cluster/build-helm.sh >/dev/null

test-integration: helm-bin
