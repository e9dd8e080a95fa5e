# Multi-stage build: a static hookgate binary on a distroless base, non-root.
# `make docker` passes the version: docker build --build-arg VERSION=... .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/hookgate/hookgate/internal/cli.Version=${VERSION}" \
      -o /out/hookgate . \
 && mkdir -p /out/data \
 && sh scripts/image-config.sh config.yaml > /out/config.yaml

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hookgate /usr/local/bin/hookgate
# The image's user by number, 65532 (distroless's nonroot): Kubernetes'
# runAsNonRoot can check a number, not a name; a bind-mounted /data must
# be owned by it (docs/deployment.md), a named volume takes it from here.
COPY --from=build --chown=65532:65532 /out/data /data
# config.yaml without its development secrets, and the subscriber's URL
# from CATALOG_SYNC_URL (scripts/image-config.sh): the container refuses to
# start until IIMMPACT_WEBHOOK_SECRET, CATALOG360_WEBHOOK_KEY,
# CATALOG_SYNC_SECRET and CATALOG_SYNC_URL are set, instead of accepting
# published dev keys or delivering to itself.
COPY --from=build /out/config.yaml /etc/hookgate/config.yaml
USER 65532:65532
# Ingest on all interfaces, the store on the volume. The admin listener stays
# on loopback unless HOOKGATE_ADMIN_LISTEN and HOOKGATE_ADMIN_TOKEN are set.
ENV HOOKGATE_CONFIG=/etc/hookgate/config.yaml \
    HOOKGATE_LISTEN=0.0.0.0:8080 \
    HOOKGATE_STORE_PATH=/data
VOLUME ["/data"]
EXPOSE 8080 9090
# Exec form: distroless has no shell. `hookgate health` reads the config
# above and GETs /readyz on the admin listener (loopback in the container,
# or a wildcard HOOKGATE_ADMIN_LISTEN dialled on loopback), giving up after
# 5s on its own, inside --timeout.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/hookgate", "health"]
ENTRYPOINT ["/usr/local/bin/hookgate"]
CMD ["serve"]
