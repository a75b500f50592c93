#!/bin/sh
# The image's entrypoint (under tini). On the first start (no service.json in
# $IPFS_CLUSTER_PATH) it runs `init --datastore $IPFS_CLUSTER_DATASTORE`, which
# saves the CLUSTER_* environment (secret, CLUSTER_SCYLLASTATE_HOSTS, ...) into
# service.json; invalid values stop the container with an error. Then it execs
# `ipfs-cluster-service "$@"` (CMD: daemon).
#
# Started as root, as in the image, it gives the folder to $IPFS_CLUSTER_USER
# [ipfs] and runs again as that user through gosu. Where that user or gosu
# does not exist (the tests run this script outside the image), it says so and
# goes on as the current user; IPFS_CLUSTER_DROP_PRIVILEGES=0 skips the step.
set -eu
user=${IPFS_CLUSTER_USER:-ipfs}
: "${IPFS_CLUSTER_PATH:?IPFS_CLUSTER_PATH must name the configuration folder}"

if [ "$(id -u)" -eq 0 ] && [ "${IPFS_CLUSTER_DROP_PRIVILEGES:-1}" != 0 ]; then
    if id "$user" >/dev/null 2>&1 && command -v gosu >/dev/null 2>&1; then
        mkdir -p "$IPFS_CLUSTER_PATH"
        chown -R "$user:" "$IPFS_CLUSTER_PATH"
        exec gosu "$user" "$0" "$@"
    fi
    echo "entrypoint.sh: user $user or gosu is missing: running as root" >&2
fi

if [ ! -e "$IPFS_CLUSTER_PATH/service.json" ]; then
    ipfs-cluster-service init --datastore "${IPFS_CLUSTER_DATASTORE:-scylla}"
fi

exec ipfs-cluster-service "$@"
