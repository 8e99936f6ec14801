# The Go toolchain image for the builder stage in the offline lab, where no
# golang image can be pulled: Debian 13's Go 1.24 on the lab's Debian base.
#
#   docker buildx build --load -f build/go-builder.Dockerfile \
#     -t 127.0.0.1:5443/examples/go-builder:1.24 build/
#
# Real users skip this file and keep the Dockerfile's default golang image.
ARG BASE_IMAGE=127.0.0.1:5443/lab/debian:13
FROM ${BASE_IMAGE}

ARG DEBIAN_FRONTEND=noninteractive
# No recommends: gcc and friends are only for cgo, and the service builds
# with CGO_ENABLED=0.
RUN apt-get update \
    && apt-get install -y --no-install-recommends golang-go make ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# The same layout as the official golang image, so that the service's
# Dockerfile and its cache mounts work unchanged with either. GOTOOLCHAIN=local
# keeps go from trying to download another toolchain, which fails offline.
ENV GOPATH=/go \
    PATH=/go/bin:$PATH \
    GOTOOLCHAIN=local
RUN install -d -m 1777 /go /go/bin /go/src
WORKDIR /go
