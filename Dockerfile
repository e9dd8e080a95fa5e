# Multi-stage build: a static hookgate binary on a distroless base, non-root.
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
 && sed -E 's/\$\{([A-Z0-9_]+):-(dev-[^}]*|whsec_[^}]*)\}/${\1}/g' config.yaml > /out/config.yaml \
 && ! grep -n 'dev-\|:-whsec_' /out/config.yaml

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hookgate /usr/local/bin/hookgate
COPY --from=build --chown=nonroot:nonroot /out/data /data
# config.yaml without its development secrets: the container refuses to
# start until IIMMPACT_WEBHOOK_SECRET, CATALOG360_WEBHOOK_KEY and
# CATALOG_SYNC_SECRET are set, instead of accepting published dev keys.
COPY --from=build /out/config.yaml /etc/hookgate/config.yaml
USER nonroot:nonroot
# Ingest on all interfaces, the store on the volume. The admin listener stays
# on loopback unless HOOKGATE_ADMIN_LISTEN and HOOKGATE_ADMIN_TOKEN are set.
ENV HOOKGATE_CONFIG=/etc/hookgate/config.yaml \
    HOOKGATE_LISTEN=0.0.0.0:8080 \
    HOOKGATE_STORE_PATH=/data
VOLUME ["/data"]
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/hookgate"]
CMD ["serve"]
