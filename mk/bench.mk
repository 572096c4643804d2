# The benchmark's own eBPF program (bench/baseline.bpf.c: the yardstick `make bench`
# compares Kive's backends with, not part of Kive), built with the product's objects so
# the QEMU guests, which see the repo read-only, find it ready.
BENCH_BPF := $(BUILD)/bench/baseline.bpf.o

$(BUILD)/bench/%.bpf.o: bench/%.bpf.c $(BUILD)/vmlinux.h
	@mkdir -p $(BUILD)/bench
	clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror -I$(BUILD) -c $< -o $@

build: $(BENCH_BPF)
bench: $(BENCH_BPF)

# The operator at scale (bench/scale.ts: a real control plane, real containers, the real
# kernel; ~15 min) and the trap map at capacity (bench/trap-map.ts). Not part of `make
# test` or `make bench`; results in docs/performance.md. SCALE_ARGS e.g.
# `--containers 20 --traps 10 --idle-seconds 10` for a quick run.
.PHONY: bench-scale
bench-scale: build cluster-bins
	$(NODE) bench/trap-map.ts
	KIVE_K8S_BIN_DIR=$(K8S_BIN_DIR) $(NODE) bench/scale.ts $(SCALE_ARGS)
