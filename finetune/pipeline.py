"""The nightly learning run: approved transcripts -> LoRA -> GGUF -> gate -> promote (or not).

Safe to kill at any point: the model in service changes only in the final transaction, after the
candidate file was written atomically, checksummed, loaded and evaluated. A killed run leaves a
``running`` row that the next run marks failed; the single-flight lock dies with its process.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from bot.db.models import FinetuneRun, ModelVersion, Transcript, utcnow
from bot.llm.provider import file_backend, load_runtime
from bot.llm.registry import active_version, promote, sha256_file
from bot.llm.verify import verify_model
from bot.services.model_check import faithful_share, record_check
from finetune import data
from finetune.gate import decide, evaluate_model
from finetune.lock import single_flight
from finetune.train import LoraParams, train_lora

log = logging.getLogger(__name__)
KEEP_REJECTED = 2  # newest rejected candidates whose files are kept (each is ~140 MB)
MIN_FREE_BYTES = 1 << 30  # a run needs the HF cache, the merged model and the GGUF: refuse below 1 GiB


class RunFailed(RuntimeError):
    pass


@dataclass
class RunReport:
    status: str  # succeeded | rejected | failed | skipped | busy
    run_id: int | None = None
    message: str = ""
    new_examples: int = 0
    n_train: int = 0
    n_eval: int = 0
    n_regression: int = 0
    metrics: dict = field(default_factory=dict)
    promoted: bool = False
    candidate_version: str | None = None
    served_version: str | None = None
    duration_s: float = 0.0

    def to_json(self) -> dict:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "message": self.message,
            "new_examples": self.new_examples,
            "n_train": self.n_train,
            "n_eval": self.n_eval,
            "n_regression": self.n_regression,
            "metrics": self.metrics,
            "promoted": self.promoted,
            "candidate_version": self.candidate_version,
            "served_version": self.served_version,
            "duration_s": round(self.duration_s, 1),
        }


Progress = Callable[[str, int, int], None]  # (stage, done, total)


def lora_params(settings) -> LoraParams:
    return LoraParams(
        rank=settings.finetune_lora_rank,
        alpha=settings.finetune_lora_alpha,
        targets=tuple(t.strip() for t in settings.finetune_lora_targets.split(",") if t.strip()),
        epochs=settings.finetune_epochs,
        learning_rate=settings.finetune_learning_rate,
        batch_size=settings.finetune_batch_size,
        max_seq_len=settings.finetune_max_seq_len,
        seed=settings.finetune_seed,
    )


class FinetunePipeline:
    def __init__(self, container, progress: Progress | None = None):
        self.c = container
        self.s = container.settings
        self.progress = progress or (lambda stage, done, total: None)

    def run(self, *, force: bool = False) -> RunReport:
        started = time.perf_counter()
        with single_flight(self.c.database_url) as held:
            if not held:
                return RunReport("busy", message="another fine-tune is running (single flight)")
            self._fail_interrupted_runs()
            report = self._run(force)
        report.duration_s = time.perf_counter() - started
        return report

    # ------------------------------------------------------------------
    def _fail_interrupted_runs(self) -> None:
        """We hold the lock, so any run still marked running died without finishing."""
        with self.c.sessions() as session:
            for run in session.scalars(select(FinetuneRun).where(FinetuneRun.status == "running")):
                run.status, run.finished_at = "failed", utcnow()
                run.error = (
                    run.error or ""
                ) + "interrupted: the process running it stopped before it finished"
            session.commit()

    def _cutoffs(self) -> tuple[int, int]:
        """(last transcript id a finished run already saw, newest transcript id)."""
        with self.c.sessions() as session:
            done = session.scalars(
                select(FinetuneRun)
                .where(FinetuneRun.status.in_(("succeeded", "rejected")))
                .order_by(FinetuneRun.id.desc())
                .limit(1)
            ).first()
            seen = int((done.params or {}).get("transcripts_up_to", 0)) if done else 0
            newest = session.scalar(select(func.max(Transcript.id))) or 0
        return seen, newest

    def _run(self, force: bool) -> RunReport:
        seen, newest = self._cutoffs()
        new = self.c.reviews.transcripts.count(after_id=seen)
        if new < self.s.finetune_min_examples and not force:
            return RunReport(
                "skipped",
                new_examples=new,
                message=f"{new} new approved transcripts; a run needs {self.s.finetune_min_examples}",
            )
        with self.c.sessions() as session:
            base = active_version(session)
            if base is None:
                return RunReport(
                    "skipped", new_examples=new, message="no model installed (supportbot model install)"
                )
            params = lora_params(self.s)
            run = FinetuneRun(
                status="running",
                base_version_id=base.id,
                params={**params.to_json(), "transcripts_up_to": newest, "margin": self.s.finetune_margin},
            )
            session.add(run)
            session.commit()
            run_id, base_id, base_name, base_path = run.id, base.id, base.name, Path(base.path)
        report = RunReport("running", run_id=run_id, new_examples=new, served_version=base_name)
        try:
            self._train_export_gate(report, run_id, base_id, base_path, params, newest)
        except Exception as exc:
            if isinstance(exc, RunFailed | data.RegressionFileError):  # a known cause, said in one line
                log.error("fine-tune run %s failed: %s", run_id, exc)
            else:
                log.exception("fine-tune run %s failed", run_id)
            report.status, report.message = "failed", f"{type(exc).__name__}: {exc}"
            with self.c.sessions() as session:
                run = session.get(FinetuneRun, run_id)
                run.status, run.error, run.finished_at = "failed", report.message[:4000], utcnow()
                run.metrics = report.metrics
                session.commit()
        return report

    def _train_export_gate(
        self, report: RunReport, run_id: int, base_id: int, base_path: Path, params: LoraParams, newest: int
    ) -> None:
        from finetune.export import export_gguf
        from finetune.weights import load_trainable

        s = self.s
        examples = data.approved_examples(self.c.sessions, retrieve=self._retrieve_id, up_to_id=newest)
        train, held = data.split(examples, s.finetune_eval_share)
        if not train or not held:
            raise RunFailed(
                f"{len(examples)} distinct approved examples are too few to train and evaluate on"
            )
        if s.finetune_regression_file:
            regression = data.regression_examples(s.finetune_regression_file, self.c.sessions)
        else:
            regression = data.faq_examples(self.c.sessions, limit=s.finetune_regression_size)
        report.n_train, report.n_eval, report.n_regression = len(train), len(held), len(regression)
        run_dir = s.data_dir / "finetune" / f"run-{run_id}"
        data.write_jsonl(run_dir / "train.jsonl", train)  # redacted before written
        data.write_jsonl(run_dir / "held_out.jsonl", held)
        self._update(run_id, n_train=len(train), n_eval=len(held))

        self._check_disk(s.models_dir)
        self.progress("load", 0, 1)
        model, tokenizer = load_trainable(base_path, s.models_dir / "hf-cache")
        self.progress("load", 1, 1)
        merged, stats = train_lora(
            model, tokenizer, train, params, on_step=lambda i, n, loss: self.progress("train", i, n)
        )
        report.metrics["training"] = stats.to_json()
        self._update(run_id, metrics=report.metrics)

        self._check_disk(s.models_dir)
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M")
        name = f"ft-{run_id}-{stamp}"
        candidate_path = s.models_dir / f"{name}.gguf"
        self.progress("export", 0, 1)
        try:  # until the version row exists, a failure must not leave an orphan file behind
            export_gguf(merged, base_path, candidate_path)
            del merged, model
            verify_model(candidate_path)  # loads and generates in a child process: a corrupt file stops here
            self.progress("export", 1, 1)
            served, candidate = self._evaluate(base_path, candidate_path, held, regression)
        except BaseException:
            candidate_path.unlink(missing_ok=True)
            raise
        decision = decide(candidate, served, s.finetune_margin, s.finetune_drop_tolerance)
        share, n, _ = faithful_share(candidate)
        if share is not None:
            earns = share >= s.faithful_bar and n >= s.model_check_min_answers
            decision.reasons.append(
                f"candidate faithful in {share:.0%} of {n} answers: "
                + (
                    "earns generating"
                    if earns
                    else f"below the bar of {s.faithful_bar:.0%}, serves the FAQ text"
                )
            )
        report.metrics |= {"served": served, "candidate": candidate, "reasons": decision.reasons}

        with self.c.sessions() as session:
            version = ModelVersion(
                name=name,
                path=str(candidate_path.resolve()),
                checksum=sha256_file(candidate_path),
                parent_id=base_id,
                status="candidate",
                eval_scores={
                    "held_out_rougeL": candidate["held_out"]["rougeL"],
                    "held_out_grounded": candidate["held_out"]["grounded"],
                    "regression_rougeL": candidate["regression"]["rougeL"],
                },
            )
            session.add(version)
            session.flush()
            base = session.get(ModelVersion, base_id)
            if not base.eval_scores:
                base.eval_scores = {
                    "held_out_rougeL": served["held_out"]["rougeL"],
                    "held_out_grounded": served["held_out"]["grounded"],
                    "regression_rougeL": served["regression"]["rougeL"],
                }
            # The same answers measured both versions' faithful share: whether each earns generating.
            backend = file_backend(s)
            record_check(session, name, backend, candidate)
            record_check(session, base.name, backend, served)
            run = session.get(FinetuneRun, run_id)
            run.candidate_version_id = version.id
            # Promote only if the served model is still the one this run was measured against.
            current = active_version(session)
            promoted = decision.promote and current is not None and current.id == base_id
            if promoted:
                promote(session, name)
            else:
                version.status = "rejected"
            status = "succeeded" if promoted else "rejected"
            run.status, run.promoted, run.metrics, run.finished_at = (
                status,
                promoted,
                report.metrics,
                utcnow(),
            )
            session.commit()
        self._discard_old_rejected()
        report.status, report.promoted, report.candidate_version = status, promoted, name
        report.served_version = name if promoted else report.served_version
        report.message = "; ".join(decision.reasons)

    def _evaluate(
        self, served_path: Path, candidate_path: Path, held: list, regression: list
    ) -> tuple[dict, dict]:
        sets = {"held_out": held, "regression": regression}
        total = 2 * (len(held) + len(regression))
        done = [0]

        def tick() -> None:
            done[0] += 1
            self.progress("evaluate", done[0], total)

        common = {
            "load": lambda path: load_runtime(self.s, path, backend=file_backend(self.s)),
            "max_new_tokens": self.s.max_new_tokens,
            "on_item": tick,
        }
        return evaluate_model(served_path, sets, **common), evaluate_model(candidate_path, sets, **common)

    def _discard_old_rejected(self) -> None:
        """Rejected candidates stay promotable by hand for a while; older ones give their disk back."""
        with self.c.sessions() as session:
            rejected = session.scalars(
                select(ModelVersion).where(ModelVersion.status == "rejected").order_by(ModelVersion.id.desc())
            ).all()
            for version in rejected[KEEP_REJECTED:]:
                Path(version.path).unlink(missing_ok=True)
                version.status = "discarded"
            session.commit()

    def _retrieve_id(self, question: str) -> str | None:
        found = self.c.index.retrieve(question, k=1)
        return None if found.abstain else found.top.id

    def _update(self, run_id: int, **fields) -> None:
        with self.c.sessions() as session:
            run = session.get(FinetuneRun, run_id)
            for k, v in fields.items():
                setattr(run, k, v)
            session.commit()

    @staticmethod
    def _check_disk(folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(folder).free
        if free < MIN_FREE_BYTES:
            raise RunFailed(
                f"only {free / 2**20:.0f} MiB free in {folder}; a fine-tune needs at least "
                f"{MIN_FREE_BYTES / 2**30:.0f} GiB. Nothing was changed."
            )
