"""The model engine on the real model: FIFO, no interleaving, backpressure, hot swap."""

import shutil
import threading

import pytest

from bot.db.models import ModelVersion, utcnow
from bot.llm.base import GenerationParams
from bot.llm.engine import Busy
from bot.llm.registry import sha256_file
from bot.settings import Settings

pytestmark = pytest.mark.slow  # over ~2 s each here: `make test-fast` leaves them out

PROMPTS = [
    f"### Instruction:\nName a fruit that starts with the letter {c}.\n\n### Response:\n"
    for c in "ABCDEFGHIJKLMNOP"
]


@pytest.fixture
def db_container(data_dir, model_path):
    """A container serving the *active database version* (no pinned model path)."""
    from bot.container import Container

    c = Container(Settings(data_dir=data_dir, model_poll_seconds=3600))
    c.ensure_schema()
    with c.sessions() as s:
        s.add(
            ModelVersion(
                name="v1",
                path=str(model_path),
                checksum=sha256_file(model_path),
                status="active",
                eval_scores={},
                promoted_at=utcnow(),
            )
        )
        s.commit()
    yield c
    c.engine.stop()


def promote(c, name, path, checksum=None):
    with c.sessions() as s:
        for v in s.query(ModelVersion).filter_by(status="active"):
            v.status = "retired"
        v = ModelVersion(
            name=name,
            path=str(path),
            checksum=checksum or sha256_file(path),
            status="active",
            eval_scores={},
            promoted_at=utcnow(),
        )
        s.add(v)
        s.commit()
        return v.id


def test_sixteen_concurrent_requests_all_answered_in_order_without_interleaving(container, runtime):
    params = lambda: GenerationParams(max_new_tokens=12)  # noqa: E731
    expected = ["".join(runtime.stream(p, params())) for p in PROMPTS]
    engine = container.engine
    results: dict[int, str] = {}
    streamed: dict[int, str] = {}

    def ask(i):
        job = engine.submit(PROMPTS[i], params())
        streamed[i] = "".join(job.stream())
        results[i] = job.wait().text

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert sorted(results) == list(range(16))  # none lost
    assert [results[i] for i in range(16)] == expected  # each got exactly its own answer
    assert [streamed[i] for i in range(16)] == expected  # and its stream carried nothing else


def test_full_queue_refuses_at_once_with_busy(settings, model_path):
    from bot.container import Container

    c = Container(settings.model_copy(update={"queue_capacity": 2}))
    c.ensure_schema()
    engine = c.engine
    long = GenerationParams(max_new_tokens=200)
    first = engine.submit(PROMPTS[0], long)
    first.pieces.get(timeout=60)  # the worker is busy with the first request now
    queued = [engine.submit(PROMPTS[i], GenerationParams(max_new_tokens=5)) for i in (1, 2)]
    assert [j.position for j in queued] == [0, 1]
    with pytest.raises(Busy, match="2 questions are waiting"):
        engine.submit(PROMPTS[3], GenerationParams(max_new_tokens=5))
    first.cancel()
    assert all(j.wait(120).text for j in queued)  # the queued ones are still answered
    engine.stop()


def test_promoted_version_is_swapped_in_between_requests(db_container, model_path, tmp_path):
    engine = db_container.engine
    assert engine.model.version_name == "v1"
    in_flight = engine.submit(PROMPTS[0], GenerationParams(max_new_tokens=60))
    in_flight.pieces.get(timeout=60)

    copy = tmp_path / "v2.gguf"
    shutil.copy(model_path, copy)
    promote(db_container, "v2", copy)
    assert engine.check_for_new_version() is True  # loaded in the background while v1 serves

    after = engine.submit(PROMPTS[1], GenerationParams(max_new_tokens=5))
    assert in_flight.wait(120).model_version == "v1"  # the in-flight answer finished on the old model
    assert after.wait(120).model_version == "v2"
    assert engine.check_for_new_version() is False  # nothing new to load


def test_a_version_that_fails_to_load_keeps_the_old_model(db_container, tmp_path):
    engine = db_container.engine
    assert engine.model.version_name == "v1"
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 1000)
    vid = promote(db_container, "v-broken", broken)
    assert engine.check_for_new_version() is False
    assert engine.generate(PROMPTS[2], GenerationParams(max_new_tokens=5)).model_version == "v1"
    with db_container.sessions() as s:
        assert "failed to load" in s.get(ModelVersion, vid).error
    assert engine.check_for_new_version() is False  # not retried in a loop


def test_watcher_picks_up_a_promotion_without_being_asked(data_dir, model_path, tmp_path):
    """A running server notices the database change by itself (no restart, no call)."""
    import time

    from bot.container import Container

    c = Container(Settings(data_dir=data_dir, model_poll_seconds=0.2))
    c.ensure_schema()
    with c.sessions() as s:
        s.add(
            ModelVersion(
                name="v1",
                path=str(model_path),
                checksum=sha256_file(model_path),
                status="active",
                eval_scores={},
            )
        )
        s.commit()
    engine = c.engine
    assert engine.model.version_name == "v1"
    copy = tmp_path / "v3.gguf"
    shutil.copy(model_path, copy)
    promote(c, "v3", copy)
    deadline = time.monotonic() + 60
    while engine.generate(PROMPTS[0], GenerationParams(max_new_tokens=2)).model_version != "v3":
        assert time.monotonic() < deadline, "promotion not picked up"
        time.sleep(0.3)
    engine.stop()
