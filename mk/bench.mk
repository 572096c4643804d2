# The benchmark's own eBPF program (bench/baseline.bpf.c: the yardstick `make bench`
# compares Kive's backends with, not part of Kive), built with the product's objects so
# the QEMU guests, which see the repo read-only, find it ready.
BENCH_BPF := $(BUILD)/bench/baseline.bpf.o

$(BUILD)/bench/%.bpf.o: bench/%.bpf.c $(BUILD)/vmlinux.h
	@mkdir -p $(BUILD)/bench
	clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror -I$(BUILD) -c $< -o $@

build: $(BENCH_BPF)
bench: $(BENCH_BPF)
