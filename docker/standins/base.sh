#!/usr/bin/env bash
# Build the stand-in images for a machine that reaches no image registry (only package
# registries): a Debian bookworm base made with debootstrap, then, layered on it, stand-ins for
# the official images docker-compose.yml and the Dockerfile use. Each image is kept in the engine
# as a cache: a rerun builds only what is missing or changed (Docker's layer cache decides).
#
#   supportbot-standin/debian:bookworm     debootstrap --variant=minbase, `docker import`ed
#   supportbot-standin/python:3.11-slim    for python:3.11-slim (Dockerfile's PYTHON_IMAGE)
#   supportbot-standin/postgres:15         for postgres:16 (bookworm ships PostgreSQL 15)
#   supportbot-standin/chroma:1.5.9        for chromadb/chroma:1.5.9
#
# Usage: DOCKER=/usr/bin/docker bash docker/standins/base.sh
set -euo pipefail
cd "$(dirname "$0")"
DOCKER=${DOCKER:-/usr/bin/docker}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# pip in a build reaches PyPI only through this machine's CA bundle (the one `pip config` names).
CERT=${PIP_CERT:-$(python3 -m pip config get global.cert 2>/dev/null || echo /etc/ssl/certs/ca-certificates.crt)}
log() { echo "[standins] $*" >&2; }
export DOCKER_BUILDKIT=1

if ! "$DOCKER" image inspect supportbot-standin/debian:bookworm >/dev/null 2>&1; then
  t0=$SECONDS
  root=$(mktemp -d /var/tmp/standin-bookworm.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  log "debootstrap bookworm (minbase) from $MIRROR"
  debootstrap --variant=minbase bookworm "$root" "$MIRROR" >/dev/null
  # What the official debian images also do: no apt caches or lists in the image.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - supportbot-standin/debian:bookworm >/dev/null
  rm -rf "$root"
  trap - EXIT
  log "base image in $((SECONDS - t0)) s"
fi

build() {  # build NAME DOCKERFILE
  local t0=$SECONDS
  "$DOCKER" build -q --network host --secret "id=pip_cert,src=$CERT" -f "$2" -t "$1" . >/dev/null
  log "$1 ready ($((SECONDS - t0)) s)"
}
build supportbot-standin/python:3.11-slim python.Dockerfile
build supportbot-standin/postgres:15 postgres.Dockerfile
build supportbot-standin/chroma:1.5.9 chroma.Dockerfile
