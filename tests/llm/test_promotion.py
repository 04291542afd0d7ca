"""Promote and roll back model versions; a damaged file is never promoted."""

import shutil

import pytest
from sqlalchemy import select

from bot.db.models import ModelVersion, utcnow
from bot.llm.registry import PromotionError, active_version, promote, rollback, sha256_file


@pytest.fixture
def versions(container, model_path, tmp_path):
    """Three registered versions backed by copies of the real model file; 'base' is active."""
    with container.sessions() as s:
        for i, name in enumerate(["base", "ft-1", "ft-2"]):
            path = tmp_path / f"{name}.gguf"
            shutil.copyfile(model_path, path)
            s.add(
                ModelVersion(
                    name=name,
                    path=str(path),
                    checksum=sha256_file(path),
                    status="active" if i == 0 else "candidate",
                    eval_scores={},
                    promoted_at=utcnow() if i == 0 else None,
                )
            )  # as install_base_model does
        s.commit()
    return container


def _active(c) -> str:
    with c.sessions() as s:
        return active_version(s).name


def test_promote_then_roll_back_step_by_step(versions):
    c = versions
    with c.sessions() as s:
        promote(s, "ft-1")
        s.commit()
    assert _active(c) == "ft-1"
    with c.sessions() as s:
        promote(s, "ft-2")
        s.commit()
        assert [v.status for v in s.scalars(select(ModelVersion).order_by(ModelVersion.id))] == [
            "retired",
            "retired",
            "active",
        ]
    with c.sessions() as s:
        assert rollback(s).name == "ft-1"
        s.commit()
    with c.sessions() as s:
        assert rollback(s).name == "base"
        s.commit()
    with c.sessions() as s, pytest.raises(PromotionError, match="no earlier version"):
        rollback(s)


def test_a_damaged_or_unknown_version_is_not_promoted(versions, tmp_path):
    c = versions
    with open(tmp_path / "ft-1.gguf", "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00corrupt\x00")
    with c.sessions() as s:
        with pytest.raises(PromotionError, match="checksum"):
            promote(s, "ft-1")
        with pytest.raises(PromotionError, match="no model version"):
            promote(s, "nope")
    assert _active(c) == "base"


def test_cli_promote_and_rollback(versions, monkeypatch):
    from typer.testing import CliRunner

    from bot.cli import app

    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(versions.settings.data_dir))
    runner = CliRunner()
    r = runner.invoke(app, ["model", "promote", "ft-2"])
    assert r.exit_code == 0 and "ft-2" in r.output
    r = runner.invoke(app, ["model", "rollback"])
    assert r.exit_code == 0 and "base" in r.output
    r = runner.invoke(app, ["model", "rollback"])
    assert r.exit_code == 1 and "no earlier version" in r.output
