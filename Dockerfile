# vramfit agent image, for linux/amd64 and linux/arm64 (Grace Hopper and Grace Blackwell
# hosts): docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/vramfit:$(cat VERSION) --push .
# No public registry holds it: push it to your own (docs/deploy.md). Run it with the NVIDIA
# runtime so that libnvidia-ml.so.1 and the device nodes are injected:
# docker run --rm --runtime=nvidia -p 9847:9847 REGISTRY/vramfit:0.1.0 (or --gpus all).

# The binary links NVML through cgo, so it is built with a C toolchain and needs glibc at
# run time: the runtime image is the same Debian release, slim. The build stage runs on the
# builder's own platform and cross-compiles with Debian's cross compiler, as make release
# does, rather than under emulation.
ARG GO_VERSION=1.26
ARG DEBIAN_RELEASE=trixie

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-${DEBIAN_RELEASE} AS build
ARG TARGETARCH
RUN arch=${TARGETARCH:-$(go env GOHOSTARCH)}; \
    case "$arch" in \
      "$(go env GOHOSTARCH)") ;; \
      amd64) cross="gcc-x86-64-linux-gnu libc6-dev-amd64-cross" ;; \
      arm64) cross="gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;; \
      *) echo "vramfit builds for amd64 and arm64, not $arch" >&2; exit 1 ;; \
    esac; \
    if [ -n "${cross:-}" ]; then \
      apt-get update && apt-get install -y --no-install-recommends $cross && rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# VERSION, REVISION and BRANCH may be passed with --build-arg when .git is not in the
# context; the Makefile reads them from VERSION and git otherwise.
ARG VERSION
ARG REVISION
ARG BRANCH
RUN arch=${TARGETARCH:-$(go env GOHOSTARCH)}; \
    make build-linux-$arch \
      ${VERSION:+VERSION=$VERSION} ${REVISION:+REVISION=$REVISION} ${BRANCH:+BRANCH=$BRANCH} \
 && cp out/linux-$arch/vramfit /src/vramfit \
 && { [ "$arch" != "$(go env GOHOSTARCH)" ] || ./vramfit --version; }

FROM debian:${DEBIAN_RELEASE}-slim
COPY --from=build /src/vramfit /usr/local/bin/vramfit
COPY deploy/examples/targets.yml /etc/vramfit/targets.yml
# The NVIDIA container runtime reads these: every GPU, and only the utility libraries
# (NVML); the agent needs no CUDA.
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=utility
# nobody: NVML's memory queries need no privilege.
USER 65534:65534
EXPOSE 9847
ENTRYPOINT ["/usr/local/bin/vramfit"]
CMD ["serve", "--config.file=/etc/vramfit/targets.yml", "--web.listen-address=:9847"]
