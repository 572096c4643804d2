# Kernel-side helpers owned by the eBPF work (src/kernel, bpf/, bench/): the C load
# generator the benchmarks time. Built by `make build` so nothing compiles at test or
# bench time (the QEMU guests see the repo read-only).
BENCH_BINS := $(BUILD)/bench/openloop

$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(BUILD)/bench
	$(CC) -O2 -Wall -Werror -o $@ $<

build: $(BENCH_BINS)
bench: $(BENCH_BINS)
