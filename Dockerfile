# vramfit agent image: docker build -t vramfit/vramfit:$(cat VERSION) .
# Run it with the NVIDIA runtime so that libnvidia-ml.so.1 and the device nodes are
# injected: docker run --rm --runtime=nvidia -p 9847:9847 vramfit/vramfit:0.1.0
# (or --gpus all). docs/deploy.md has the details.

# The binary links NVML through cgo, so it is built with the C toolchain of the Go image
# and needs glibc at run time: the runtime image is the same Debian release, slim.
ARG GO_VERSION=1.26
ARG DEBIAN_RELEASE=trixie

FROM golang:${GO_VERSION}-${DEBIAN_RELEASE} AS build
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
RUN make build BINARY=vramfit \
      ${VERSION:+VERSION=$VERSION} ${REVISION:+REVISION=$REVISION} ${BRANCH:+BRANCH=$BRANCH} \
 && ./vramfit --version

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
