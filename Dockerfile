# ipfs-cluster-service with the Scylla-backed shared pinset, and upstream's
# ipfs-cluster-ctl. Configure the database through the environment at the
# first start, e.g.:
#   docker run -e CLUSTER_SECRET=... -e CLUSTER_SCYLLASTATE_HOSTS=db1,db2,db3 \
#     -e CLUSTER_SCYLLASTATE_KEYSPACE=pins -e CLUSTER_IPFSHTTP_NODEMULTIADDRESS=/dns4/ipfs/tcp/5001 image
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -mod=readonly -tags scylla -o /out/ ./cmd/ipfs-cluster-service && \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -mod=readonly -o /out/ github.com/ipfs-cluster/ipfs-cluster/cmd/ipfs-cluster-ctl

FROM debian:bookworm-slim
RUN apt-get update && \
    apt-get install -y --no-install-recommends ca-certificates tini gosu && \
    rm -rf /var/lib/apt/lists/* && \
    useradd --uid 1000 --create-home ipfs
ENV IPFS_CLUSTER_PATH=/data/ipfs-cluster \
    IPFS_CLUSTER_DATASTORE=scylla
COPY --from=builder /out/ /usr/local/bin/
COPY docker/entrypoint.sh /usr/local/bin/entrypoint.sh
RUN mkdir -p "$IPFS_CLUSTER_PATH" && chown ipfs:ipfs "$IPFS_CLUSTER_PATH"
# 9094 REST API, 9095 IPFS proxy, 9096 cluster swarm (9097 pinning service API on localhost)
EXPOSE 9094 9095 9096
VOLUME /data/ipfs-cluster
ENTRYPOINT ["tini", "--", "/usr/local/bin/entrypoint.sh"]
CMD ["daemon"]
