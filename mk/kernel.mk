# Kernel-side helpers owned by the eBPF work (src/kernel, bpf/, bench/): the C load
# generator the benchmarks time. Built by `make build` so nothing compiles at test or
# bench time (the QEMU guests see the repo read-only).
BENCH_BINS := $(BUILD)/bench/openloop

$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(BUILD)/bench
	$(CC) -O2 -Wall -Werror -o $@ $<

build: $(BENCH_BINS)
bench: $(BENCH_BINS)

# Test programs the kernel tests run as ordinary processes (test/kernel/fixtures/*.c):
# each opens a file by a route the tracepoint backend used to miss.
KERNEL_TEST_BINS := $(BUILD)/test/evade

$(BUILD)/test/%: test/kernel/fixtures/%.c
	@mkdir -p $(BUILD)/test
	$(CC) -O2 -Wall -Werror -o $@ $<

build: $(KERNEL_TEST_BINS)
