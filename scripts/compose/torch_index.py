"""A PEP 503 index on 127.0.0.1: the CPU torch wheel from pip's find-links folder, PyPI for the rest.

The Dockerfile installs torch with `--index-url $TORCH_INDEX_URL` (PyTorch's CPU index by default,
which also hosts torch's own dependencies: filelock, sympy, ...). On a machine where that index is
unreachable and the wheel lies in pip's configured find-links folder, this stands in for it, for a
build that runs on the host's network: /torch/ lists the local wheel, and every other project page
redirects to PyPI's (pip follows the redirect and fetches the files from PyPI as usual).

    python scripts/compose/torch_index.py --serve       # prints the URL, serves until killed
    from scripts.compose.torch_index import serve        # (url, server) in a thread
"""

from __future__ import annotations

import argparse
import functools
import glob
import os
import subprocess
import sys
import tempfile
import threading
import tomllib
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def torch_pin() -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(d for d in deps if d.startswith("torch==")).split("==", 1)[1]


def find_links() -> list[str]:
    """pip's find-links folders: PIP_FIND_LINKS, else what `pip config` says."""
    value = (
        os.environ.get("PIP_FIND_LINKS")
        or subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.find-links"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    return value.split()


def cpu_wheel(version: str | None = None) -> Path:
    version = version or torch_pin()
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    for folder in find_links():
        found = sorted(
            glob.glob(os.path.join(folder.removeprefix("file://"), f"torch-{version}+cpu-{tag}-*.whl"))
        )
        if found:
            return Path(found[0])
    raise FileNotFoundError(
        f"no torch-{version}+cpu {tag} wheel in pip's find-links ({' '.join(find_links()) or 'none set'})"
    )


class _Index(SimpleHTTPRequestHandler):
    upstream = "https://pypi.org/simple/"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/torch/"):
            return super().do_GET()
        self._redirect()

    def do_HEAD(self) -> None:
        if self.path.startswith("/torch/"):
            return super().do_HEAD()
        self._redirect()

    def _redirect(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.upstream + self.path.lstrip("/"))
        self.send_header("Content-Length", "0")
        self.end_headers()


# A fixed port: the URL is a build argument, and BuildKit keys every later RUN of the stage on it,
# so a new port per run would rebuild all the dependencies each time.
DEFAULT_PORT = int(os.environ.get("TORCH_INDEX_PORT", "38917"))


def serve(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> tuple[str, ThreadingHTTPServer]:
    """Serve <tmp>/torch/<wheel> (a directory listing is a valid PEP 503 project page)."""
    wheel = cpu_wheel()
    root = Path(tempfile.mkdtemp(prefix="torch-index-"))
    (root / "torch").mkdir()
    (root / "torch" / wheel.name).symlink_to(wheel)
    handler = functools.partial(_Index, directory=str(root))
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError:  # taken: any free port (the dependency layers are then rebuilt, not reused)
        server = ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://{host}:{server.server_address[1]}/", server


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--serve", action="store_true")
    args = ap.parse_args()
    url, server = serve()
    print(url, flush=True)
    if args.serve:
        threading.Event().wait()
