# syntax=docker/dockerfile:1

# One image holds both binaries; the container's command picks the role:
#   docker run IMAGE                          -> edge (the default CMD)
#   docker run IMAGE /usr/local/bin/worker    -> worker
# docker-compose.yml and deploy/k8s set the entrypoint/command per service.

# GO_VERSION must be at least the `go` line of go.mod: the golang image sets
# GOTOOLCHAIN=local, so an older toolchain refuses to build instead of
# downloading a newer one.
ARG GO_VERSION=1.26.8

# The builder runs on the build host's platform and cross-compiles for the
# target (CGO is off), so multi-platform builds need no emulation.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src

# Module download is its own layer: it is rebuilt only when go.mod or go.sum
# change, not on every source edit.
COPY go.mod go.sum ./
RUN go mod download

COPY . .
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/worker ./cmd/edge

# Static binaries need no libc: distroless/static has CA certificates, tzdata
# and /etc/passwd, and no shell. The :nonroot tag runs as uid/gid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/worker /out/edge /usr/local/bin/
# Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
# edge serves the API on 8080 and /metrics on 9095; worker serves /healthz,
# /readyz and /metrics on 9091. All bind 127.0.0.1 unless HTTP_ADDR and
# METRICS_ADDR say otherwise (0.0.0.0:PORT in containers).
EXPOSE 8080 9091 9095
CMD ["/usr/local/bin/edge"]
