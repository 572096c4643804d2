# The eBPF kernel suite on real kernels: the host's own kernel directly, and pinned
# Debian kernels (test/kernels/matrix.txt) booted under QEMU with the host's root
# shared read-only over 9p. Needs root. See docs/kernels.md.
#   make kernels                          the whole matrix (part of `make test`)
#   make kernels KIVE_KERNELS_ONLY=6.1    a subset while developing (exits non-zero:
#                                         not a full run)
# The matrix's own verdict logic is tested first (a second, no root needed).
.PHONY: kernels

kernels: build
	$(NODE_TEST) 'test/kernels/*.test.ts'
	test/kernels/run-matrix.sh
