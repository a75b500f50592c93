#!/bin/sh
# Runs ipfs-cluster-service as user ipfs. On the first start (no
# service.json) it runs `init --datastore $IPFS_CLUSTER_DATASTORE`, which
# saves the CLUSTER_* environment (secret, CLUSTER_SCYLLASTATE_HOSTS, ...)
# into service.json; invalid values stop the container with an error.
set -e
user=ipfs

if [ "$(id -u)" -eq 0 ]; then
    chown -R "$user:$user" "$IPFS_CLUSTER_PATH"
    exec gosu "$user" "$0" "$@"
fi

if [ ! -e "$IPFS_CLUSTER_PATH/service.json" ]; then
    ipfs-cluster-service init --datastore "${IPFS_CLUSTER_DATASTORE:-scylla}"
fi

exec ipfs-cluster-service "$@"
