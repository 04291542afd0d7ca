"""The nightly pipeline end to end on the real model: train, export, verify, gate, promote or refuse.

Runs are small (30 approved transcripts, one epoch, short answers) so that a whole run takes about
two minutes on two cores; the code path is the one the nightly job takes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.container import Container
from bot.db.models import FinetuneRun, ModelCheck, ModelVersion, utcnow
from bot.llm.registry import active_version, sha256_file
from bot.services.model_check import faithful_share
from bot.services.transcripts import load_jsonl
from bot.settings import Settings
from finetune import pipeline as pipeline_module
from finetune.gate import decide
from finetune.lock import single_flight
from finetune.pipeline import FinetunePipeline
from finetune.train import TrainStats
from tests.support import ROOT, SAMPLE_FAQ

SMALL_RUN = {
    "finetune_epochs": 1,
    "finetune_regression_size": 3,
    "max_new_tokens": 48,
    "finetune_max_seq_len": 256,
    "finetune_min_examples": 20,
}


@pytest.fixture(scope="module")
def hf_cache(tmp_path_factory) -> Path:
    """Trainable weights are derived from the GGUF once and shared by every run in this module."""
    return tmp_path_factory.mktemp("hf-cache")


@pytest.fixture
def ft(data_dir, model_path, hf_cache) -> Container:
    """A data dir whose database serves the bundled model as 'base', with the sample FAQ and 30
    approved transcripts: what a team has after a few days of reviews."""
    from retrieval.faq import load_faq

    c = Container(Settings(data_dir=data_dir, **SMALL_RUN))
    c.ensure_schema()
    c.settings.models_dir.mkdir(parents=True, exist_ok=True)
    (c.settings.models_dir / "hf-cache").symlink_to(hf_cache, target_is_directory=True)
    with c.sessions() as s:
        s.add(
            ModelVersion(
                name="base",
                path=str(model_path),
                checksum=sha256_file(model_path),
                status="active",
                eval_scores={},
                promoted_at=utcnow(),
            )
        )
        s.commit()
    c.index.import_items(load_faq(SAMPLE_FAQ))
    c.reviews.transcripts.import_rows(load_jsonl(ROOT / "examples" / "transcripts.jsonl")[:30])
    return c


def _versions(c: Container) -> dict[str, str]:
    with c.sessions() as s:
        return {v.name: v.status for v in s.scalars(select(ModelVersion).order_by(ModelVersion.id))}


def _runs(c: Container) -> list[FinetuneRun]:
    with c.sessions() as s:
        return list(s.scalars(select(FinetuneRun).order_by(FinetuneRun.id)))


def _cli(c: Container, *args: str, **popen) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTBOT_")}
    env |= {"SUPPORTBOT_DATA_DIR": str(c.settings.data_dir)}
    env |= {f"SUPPORTBOT_{k.upper()}": str(v) for k, v in SMALL_RUN.items()}
    exe = Path(sys.executable).with_name("supportbot")
    return subprocess.Popen(
        [str(exe), "finetune", "run", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )


@pytest.mark.slow
def test_a_killed_run_leaves_serving_untouched_and_the_next_run_completes(ft):
    c = ft
    run_dir = c.settings.data_dir / "finetune" / "run-1"
    proc = _cli(c, "--now", "--json", start_new_session=True)
    deadline = time.monotonic() + 120
    while not (run_dir / "train.jsonl").exists():  # training data written: weights load, training starts
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never wrote its training data"
        time.sleep(0.2)
    time.sleep(3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert _versions(c) == {"base": "active"}  # nothing half-made is registered, let alone served
    assert [r.status for r in _runs(c)] == ["running"]  # it died without a word

    # The next run (the CLI, as the worker or an admin would start it) finds the dead run, marks it
    # failed, and goes all the way.
    proc = _cli(c, "--now", "--json")
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    report = json.loads(stdout.strip().splitlines()[-1])
    first, second = _runs(c)
    assert first.status == "failed" and "interrupted" in first.error
    assert report["run_id"] == second.id and report["status"] == second.status
    assert report["status"] in ("succeeded", "rejected")
    assert (report["n_train"], report["n_eval"], report["n_regression"]) == (second.n_train, second.n_eval, 3)
    assert report["n_train"] + report["n_eval"] == 30 and report["n_eval"] >= 1
    assert second.metrics["training"]["steps"] == -(-report["n_train"] // 4)
    for model in ("served", "candidate"):  # every number of both models is recorded on the run
        for split in ("held_out", "regression"):
            m = second.metrics[model][split]
            assert set(m) == {"n", "rougeL", "grounded", "support", "reasons"} and 0 <= m["rougeL"] <= 1

    with c.sessions() as s:
        candidate = s.scalar(select(ModelVersion).where(ModelVersion.name == report["candidate_version"]))
        assert candidate.checksum == sha256_file(Path(candidate.path))
        served = active_version(s)
        # The decision on record is the gate's, on the recorded numbers, and serving follows it.
        decision = decide(
            second.metrics["candidate"],
            second.metrics["served"],
            c.settings.finetune_margin,
            c.settings.finetune_drop_tolerance,
        )
        assert report["promoted"] == decision.promote == second.promoted
        if report["promoted"]:
            assert served.name == candidate.name and candidate.parent_id is not None
        else:
            assert served.name == "base" and candidate.status == "rejected"
        share, n, _ = faithful_share(second.metrics["candidate"])
        earns = share >= c.settings.faithful_bar and n >= c.settings.model_check_min_answers
        said = "earns generating" if earns else "serves the FAQ text"
        assert report["message"].startswith("; ".join(decision.reasons)) and said in report["message"]
        # Both versions' faithful share, measured on the same answers, decides whether each generates.
        checks = {row.model_name: row for row in s.scalars(select(ModelCheck))}
        assert set(checks) == {candidate.name, "base"}
        assert (checks[candidate.name].faithful_share, checks[candidate.name].n) == (share, n)
        assert checks["base"].faithful_share == faithful_share(second.metrics["served"])[0]


@pytest.mark.slow
def test_a_corrupt_export_is_caught_before_promotion(ft, monkeypatch):
    c = ft

    def skip_training(model, tokenizer, examples, params, on_step=None):
        return model, TrainStats(examples=len(examples))  # training is not what this test is about

    def corrupt_export(model, template, out, quant="q8_0"):
        out.write_bytes(Path(template).read_bytes()[: 4 << 20])  # a truncated file, as a full disk leaves

    monkeypatch.setattr(pipeline_module, "train_lora", skip_training)
    monkeypatch.setattr("finetune.export.export_gguf", corrupt_export)
    report = FinetunePipeline(c).run(force=True)
    assert report.status == "failed" and not report.promoted
    assert _versions(c) == {"base": "active"}
    assert not list(c.settings.models_dir.glob("ft-*.gguf"))  # the broken file is cleaned up
    (run,) = _runs(c)
    assert run.status == "failed" and run.error == report.message and run.finished_at is not None


def test_too_little_disk_fails_before_any_work(ft, monkeypatch):
    class Usage:
        free = 200 << 20

    monkeypatch.setattr(pipeline_module.shutil, "disk_usage", lambda path: Usage)
    report = FinetunePipeline(c := ft).run(force=True)
    assert report.status == "failed" and "200 MiB free" in report.message
    assert _versions(c) == {"base": "active"} and [r.status for r in _runs(c)] == ["failed"]


def test_no_run_below_the_minimum_and_never_two_at_once(ft):
    c = ft
    c.settings.finetune_min_examples = 31
    report = FinetunePipeline(c).run()
    assert report.status == "skipped" and report.new_examples == 30 and "needs 31" in report.message
    with single_flight(c.database_url) as held:
        assert held
        assert FinetunePipeline(c).run(force=True).status == "busy"
    assert _runs(c) == []


def test_only_the_newest_rejected_candidates_keep_their_files(ft, model_path):
    c = ft
    with c.sessions() as s:
        for i in range(4):
            path = c.settings.models_dir / f"ft-{i}.gguf"
            path.write_bytes(b"GGUF")
            s.add(
                ModelVersion(name=f"ft-{i}", path=str(path), checksum="x", status="rejected", eval_scores={})
            )
        s.commit()
    FinetunePipeline(c)._discard_old_rejected()
    assert _versions(c) == {
        "base": "active",
        "ft-0": "discarded",
        "ft-1": "discarded",
        "ft-2": "rejected",
        "ft-3": "rejected",
    }
    assert sorted(p.name for p in c.settings.models_dir.glob("ft-*.gguf")) == ["ft-2.gguf", "ft-3.gguf"]
    assert model_path.exists()


def _scores(rouge: float, grounded: float = 0.5, support: float = 0.8) -> dict:
    return {"n": 10, "rougeL": rouge, "grounded": grounded, "support": support}


@pytest.mark.parametrize(
    "candidate, promote",
    [
        ({"held_out": _scores(0.40), "regression": _scores(0.30)}, True),
        ({"held_out": _scores(0.31), "regression": _scores(0.30)}, False),  # gain under the margin
        ({"held_out": _scores(0.40), "regression": _scores(0.25)}, False),  # regression quality dropped
        ({"held_out": _scores(0.40, grounded=0.3), "regression": _scores(0.30)}, False),  # less grounded
        ({"held_out": _scores(0.40), "regression": _scores(0.30, support=0.795)}, True),  # noise, not a drop
    ],
)
def test_the_gate_needs_the_margin_and_no_drop(candidate, promote):
    served = {"held_out": _scores(0.30), "regression": _scores(0.30)}
    decision = decide(candidate, served, margin=0.02, tolerance=0.01)
    assert decision.promote is promote
    assert decision.reasons[0].startswith("held-out ROUGE-L 0.300 -> ")


@pytest.mark.slow
def test_a_bad_regression_file_fails_the_run_before_training_in_one_line(ft, tmp_path, caplog):
    bad = tmp_path / "regression.jsonl"
    bad.write_text('[1]\n{"question": "q", "expected_id": "no-such-entry", "reference_answer": "a"}\n')
    ft.settings.finetune_regression_file = bad
    started = time.monotonic()
    report = FinetunePipeline(ft).run()
    assert report.status == "failed"
    assert report.message.startswith("RegressionFileError: SUPPORTBOT_FINETUNE_REGRESSION_FILE: ")
    assert (
        f"{bad}:1: expected a JSON object" in report.message
        and f"{bad}:2: unknown FAQ entry" in report.message
    )
    assert not any(r.exc_info for r in caplog.records)  # a known cause: no traceback in the log
    assert time.monotonic() - started < 120 and _runs(ft)[-1].status == "failed"  # no weights were loaded
