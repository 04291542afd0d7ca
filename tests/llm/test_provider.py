"""ModelProvider: the one answer to "which version serves", and the mock backend."""

import shutil

from bot.container import Container
from bot.db.models import ModelVersion, utcnow
from bot.llm.base import GenerationParams
from bot.llm.mock_runtime import MockRuntime
from bot.llm.provider import file_backend, load_runtime
from bot.llm.registry import sha256_file
from bot.prompts import ContextEntry, build_prompt
from bot.settings import Settings


def _register(c: Container, name: str, path, status: str, scores: dict | None = None) -> None:
    with c.sessions() as s:
        s.add(
            ModelVersion(
                name=name,
                path=str(path),
                checksum=sha256_file(path),
                status=status,
                eval_scores=scores or {},
                promoted_at=utcnow(),
            )
        )
        s.commit()


def test_in_service_names_the_active_version_until_the_engine_has_loaded_one(data_dir, model_path, tmp_path):
    c = Container(Settings(data_dir=data_dir, model_poll_seconds=3600))
    c.ensure_schema()
    assert c.models.in_service() is None  # nothing installed
    _register(c, "v1", model_path, "active", {"held_out": {"rougeL": 0.4}})
    served = c.models.in_service()
    assert (served.name, served.backend, served.eval_scores) == (
        "v1",
        "ctransformers",
        {"held_out": {"rougeL": 0.4}},
    )
    # (the tests run with SUPPORTBOT_GENERATION=always: tests/conftest.py)
    assert c.model_labels() == {"version": "v1", "backend": "ctransformers", "generates": "true"}

    c.engine.start()
    assert c.engine.model.version_name == "v1"
    # v2 promoted in the database but not swapped in here: this process still serves v1.
    copy = tmp_path / "v2.gguf"
    shutil.copy(model_path, copy)
    with c.sessions() as s:
        s.query(ModelVersion).filter_by(name="v1").update({"status": "retired"})
        s.commit()
    _register(c, "v2", copy, "active")
    assert c.models.in_service(c.started_engine()).name == "v1"
    assert c.models.in_service().name == "v2"  # what a process that has loaded nothing would load
    c.engine.stop()


def test_a_configured_path_serves_under_its_stem(data_dir, model_path):
    c = Container(Settings(data_dir=data_dir, model_path=model_path))
    served = c.models.in_service()
    assert served.name == model_path.stem and served.source == "model_path"


def test_the_gate_loads_files_with_the_configured_runtime_or_the_default_for_servers(data_dir):
    assert file_backend(Settings(data_dir=data_dir)) == "ctransformers"
    assert file_backend(Settings(data_dir=data_dir, model_backend="llama-cpp")) == "llama-cpp"
    assert file_backend(Settings(data_dir=data_dir, model_backend="openai")) == "ctransformers"
    assert isinstance(
        load_runtime(Settings(data_dir=data_dir, model_backend="mock"), data_dir / "x.gguf"), MockRuntime
    )


def test_mock_backend_answers_by_quoting_the_entry_without_any_model_file(data_dir):
    c = Container(Settings(data_dir=data_dir, model_backend="mock"))
    c.ensure_schema()
    entry = ContextEntry(
        "vpn", "How do I reset my VPN password?", "Open the portal. Click reset. Wait a minute."
    )
    job = c.engine.submit(build_prompt("vpn reset?", [entry]), GenerationParams(max_new_tokens=50))
    result = job.wait(10)
    assert result.text == "Open the portal. Click reset."
    assert result.model_version == "mock" and c.models.in_service().backend == "mock"
    assert "".join(MockRuntime().stream(build_prompt("hi", []), GenerationParams())) == ""
    c.engine.stop()
