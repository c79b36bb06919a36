# syntax=docker/dockerfile:1
# Static, non-root image of shipbridge.
#   docker build --build-arg VERSION=$(git describe --tags --always) --build-arg COMMIT=$(git rev-parse --short HEAD) -t shipbridge .
#   docker run -d --name shipbridge -e SHIPBRIDGE_MOYSKLAD_TOKEN=... -e SHIPBRIDGE_CARRIERS_CDEK_SHIPMENT_POINT=MSK65 \
#     -v shipbridge-data:/var/lib/shipbridge shipbridge

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/shipbridge . \
 && mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/shipbridge /usr/local/bin/shipbridge
# The store lives on a volume owned by the nonroot user (uid 65532).
COPY --from=build --chown=65532:65532 /out/state /var/lib/shipbridge
WORKDIR /var/lib/shipbridge
VOLUME /var/lib/shipbridge
ENV SHIPBRIDGE_STORE_PATH=/var/lib/shipbridge/shipbridge.db \
    SHIPBRIDGE_LOG_FORMAT=json \
    SHIPBRIDGE_HTTP_LISTEN=:8080
EXPOSE 8080
USER nonroot:nonroot
# A configuration file is optional: mount one at /etc/shipbridge/config.yaml, or use SHIPBRIDGE_* variables.
ENTRYPOINT ["/usr/local/bin/shipbridge"]
CMD ["run"]
