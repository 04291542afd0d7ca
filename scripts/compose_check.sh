#!/usr/bin/env bash
# make compose-check: the real Dockerfile and docker-compose.yml, built and run on this machine.
#
#   bash scripts/compose_check.sh                        # every scenario (docs/reliability.md)
#   bash scripts/compose_check.sh --quick                # setup, health, one DM, /metrics
#   bash scripts/compose_check.sh --quick --skip-if-unavailable   # CI: no Docker here -> skip, exit 0
#
# 1. scripts/compose/engine.sh: Docker engine and the Compose v2 plugin, installed and started if
#    missing (Debian, root).
# 2. docker/standins/base.sh: images standing in for the official ones no registry serves here
#    (cached in the engine; a rerun only checks them).
# 3. scripts/compose_check.py: the README's Deployment steps in a copy of the working tree, then
#    the scenarios, each printing a FIGURES line; everything it started is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
skip=0
args=()
for a in "$@"; do
  if [ "$a" = --skip-if-unavailable ]; then skip=1; else args+=("$a"); fi
done
start=$SECONDS
if ! out=$(bash scripts/compose/engine.sh); then
  if [ "$skip" = 1 ]; then
    echo "compose-check SKIPPED: Docker could not be installed or started on this machine (see above)" >&2
    exit 0
  fi
  echo "compose-check: Docker could not be installed or started (see above)" >&2
  exit 1
fi
export DOCKER=${out##*$'\n'}
if ! DOCKER=$DOCKER bash docker/standins/base.sh; then
  if [ "$skip" = 1 ]; then
    echo "compose-check SKIPPED: the stand-in images could not be built here (see above)" >&2
    exit 0
  fi
  exit 1
fi
echo "[compose-check] engine and stand-in images ready in $((SECONDS - start)) s"
exec .venv/bin/python scripts/compose_check.py "${args[@]}"
