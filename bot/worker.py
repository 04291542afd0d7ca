"""`supportbot worker`: the nightly fine-tune on an APScheduler 3 cron trigger.

The job lives in the product's database (SQLAlchemy job store), so a worker that was down at 02:00
finds the missed run when it starts again: within ``finetune_misfire_grace_s`` it runs once (missed
runs are coalesced), later than that it waits for the next night. Several workers may share the
database; the fine-tune itself is single-flight (finetune/lock.py), so only one ever trains.

The worker serves ``/healthz``, ``/readyz`` (database reachable, scheduler running) and ``/metrics``
on ``SUPPORTBOT_WORKER_METRICS_PORT``.
"""

from __future__ import annotations

import logging
import pickle
import signal
import threading
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.triggers.cron import CronTrigger
from apscheduler.util import ref_to_obj
from sqlalchemy import create_engine, inspect, select, text

from bot.observability.http import database_check, serve_ops
from bot.observability.metrics import WorkerMetrics
from bot.settings import Settings

log = logging.getLogger(__name__)
JOB_ID = "nightly-finetune"
JOB_FUNC = "bot.worker:nightly_finetune"


def nightly_trigger(settings: Settings) -> CronTrigger:
    hour, minute = (int(x) for x in settings.finetune_time.split(":"))
    return CronTrigger(hour=hour, minute=minute, timezone=ZoneInfo(settings.finetune_timezone))


def nightly_finetune() -> dict:
    """The scheduled job. Builds its own container: it may run in any worker process."""
    from bot.container import Container

    container = Container(Settings())
    try:
        return run_nightly(container)
    finally:
        container.close()


def run_nightly(container, *, finetune: bool = True) -> dict:
    """What the night does to ``container``'s store: the fine-tune (unless ``finetune`` is False),
    then the embedder re-tuned on the day's learned phrasings. The fine-tune's report, with
    ``embedder_retuned`` (the new embedder's path or None). `eval learning` runs it between days."""
    from finetune.pipeline import FinetunePipeline

    result = {}
    if finetune:
        report = FinetunePipeline(container).run()
        log.info("nightly fine-tune: %s", report.to_json())
        result = report.to_json()
    result["embedder_retuned"] = retune_embedder(container)
    return result


def retune_embedder(container) -> str | None:
    """Re-tune the embedder when the FAQ changed since it was tuned (phrasings admins approved during
    the day are searchable at once; tonight the embedder learns them too). Returns the new path."""
    from retrieval.tune import TuneError

    if not container.settings.tune_on_import or not container.index.tuning_is_stale():
        return None
    try:
        path = container.tune_embedder()
    except TuneError as exc:
        log.warning("embedder not re-tuned: %s", exc)
        return None
    log.info("embedder re-tuned to the FAQ: %s", path)
    return str(path)


MODEL_CHECK_POLL_S = 600.0  # how often the worker looks for a model in service nobody has measured


def measure_if_unmeasured(container):
    """``supportbot model check`` without an admin: measure the model in service once, when nothing
    has yet (day 0's bundled model once a FAQ is imported; a version promoted by hand), so that
    whether it generates is decided by its measured faithful share within minutes, not never.
    Returns the check (finetune.gate.ModelCheckResult), or None when there was nothing to do."""
    from bot.db.models import ModelCheck
    from finetune.gate import check_in_service

    if container.settings.generation != "earned":
        return None
    served = container.models.in_service()
    if served is None or not container.index.count_entries():
        return None
    with container.sessions() as session:
        if session.scalar(select(ModelCheck.id).where(ModelCheck.model_name == served.name)) is not None:
            return None
    log.info("measuring model %s on the FAQ's questions (it has not been measured)", served.name)
    result = check_in_service(container)
    log.info(
        "model %s: faithful in %.0f%% of %d answers (%s)",
        result.model,
        100 * result.faithful_share,
        result.n,
        container.generation_gate.judge(result.model).why,
    )
    return result


def _measure_unmeasured_models(container, stop: threading.Event) -> None:
    while True:
        try:
            measure_if_unmeasured(container)
        except Exception as exc:  # no model file, a database hiccup: try again next time
            log.warning("model check failed: %s", exc)
        if stop.wait(MODEL_CHECK_POLL_S):
            return


JOBS_TABLE = "apscheduler_jobs"


def rehome_stored_job(settings: Settings, func: str = JOB_FUNC) -> str | None:
    """Make the stored nightly job loadable by this release; what was done ("rehomed", "dropped")
    or None when nothing needed doing.

    The SQL job store pickles the job's function as the text ``module:name``. A release that moves
    the function would leave every database that holds the job naming a module that is gone, and
    APScheduler cannot restore such a job: ``get_job`` raises and the worker does not start. Rather
    than a migration per move (which a move is easy to ship without), the worker re-points the
    stored job at today's function before the scheduler reads it, keeping its next run time, so a
    night missed across the upgrade still runs. A state no release can unpickle is dropped; the
    scheduler then adds the job afresh."""
    engine = create_engine(settings.resolved_database_url)
    try:
        with engine.begin() as conn:
            if not inspect(conn).has_table(JOBS_TABLE):
                return None
            query = text(f"SELECT job_state FROM {JOBS_TABLE} WHERE id = :id")
            blob = conn.execute(query, {"id": JOB_ID}).scalar()
            if blob is None:
                return None
            try:
                # our own database, written by APScheduler, which unpickles it itself anyway
                state = pickle.loads(blob)  # noqa: S301
                stored = state["func"]
            except Exception as exc:
                conn.execute(text(f"DELETE FROM {JOBS_TABLE} WHERE id = :id"), {"id": JOB_ID})
                log.warning("the stored nightly job could not be read (%s): dropped, scheduled again", exc)
                return "dropped"
            if stored == func or _resolves(stored):
                return None  # loadable; build_scheduler replaces it if it names another function
            state["func"] = func
            conn.execute(
                text(f"UPDATE {JOBS_TABLE} SET job_state = :s WHERE id = :id"),
                {"s": pickle.dumps(state, pickle.HIGHEST_PROTOCOL), "id": JOB_ID},
            )
            log.warning("the stored nightly job named %s, which no longer exists: now %s", stored, func)
            return "rehomed"
    finally:
        engine.dispose()


def _resolves(ref: object) -> bool:
    try:
        ref_to_obj(ref)
    except (LookupError, TypeError, ValueError):
        return False
    return True


def build_scheduler(settings: Settings, *, func: str = JOB_FUNC) -> BackgroundScheduler:
    """A started, paused scheduler holding the nightly job; ``resume()`` lets it run.

    An existing job keeps its stored next run time (that is how a missed night is noticed), unless
    the configured time changed. A job stored under a function an earlier release kept elsewhere is
    re-pointed first (rehome_stored_job).
    """
    rehome_stored_job(settings, func)
    scheduler = BackgroundScheduler(
        jobstores={
            "default": SQLAlchemyJobStore(url=settings.resolved_database_url, tablename="apscheduler_jobs")
        },
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": settings.finetune_misfire_grace_s,
        },
        timezone=ZoneInfo(settings.finetune_timezone),
    )
    scheduler.start(paused=True)
    trigger = nightly_trigger(settings)
    job = scheduler.get_job(JOB_ID)
    if job is None or str(job.trigger) != str(trigger) or job.func_ref != func:
        scheduler.add_job(
            func,
            trigger=trigger,
            id=JOB_ID,
            name="nightly fine-tune",
            replace_existing=True,
            misfire_grace_time=settings.finetune_misfire_grace_s,
            coalesce=True,
            max_instances=1,
        )
    elif job.misfire_grace_time != settings.finetune_misfire_grace_s:
        job.modify(misfire_grace_time=settings.finetune_misfire_grace_s)
    return scheduler


def pending_transcripts(container) -> int:
    """Approved transcripts the next fine-tune has not trained on: newer than what the last finished
    run saw (the count FinetunePipeline compares with finetune_min_examples)."""
    from bot.db.models import FinetuneRun
    from bot.services.transcripts import TranscriptService

    with container.sessions() as session:
        done = session.scalars(
            select(FinetuneRun)
            .where(FinetuneRun.status.in_(("succeeded", "rejected")))
            .order_by(FinetuneRun.id.desc())
            .limit(1)
        ).first()
        seen = int((done.params or {}).get("transcripts_up_to", 0)) if done else 0
    return TranscriptService(container.sessions).count(after_id=seen)


def worker_metrics(container, scheduler: BackgroundScheduler) -> WorkerMetrics:
    metrics = WorkerMetrics()

    def record(event: JobExecutionEvent) -> None:
        if event.job_id != JOB_ID:
            return
        if event.code == EVENT_JOB_MISSED:
            metrics.finetune_runs.labels("missed").inc()
            return
        if event.exception is not None:
            metrics.finetune_runs.labels("error").inc()
            return
        report = event.retval or {}
        metrics.finetune_runs.labels(report.get("status", "error")).inc()
        if report.get("run_id") is not None:  # it trained (or tried to): its duration means something
            metrics.finetune_duration.observe(float(report.get("duration_s") or 0))

    def next_run() -> float | None:
        job = scheduler.get_job(JOB_ID)
        return job.next_run_time.timestamp() if job and job.next_run_time else None

    scheduler.add_listener(record, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    metrics.track(
        "supportbot_finetune_pending_transcripts",
        "Approved transcripts the next fine-tune has "
        "not trained on yet (queue depth of the nightly learning)",
        lambda: pending_transcripts(container),
    )
    metrics.track(
        "supportbot_finetune_next_run_timestamp_seconds",
        "When the next fine-tune is scheduled (Unix time)",
        next_run,
    )
    metrics.track("supportbot_model", "The model version in service", container.model_labels, info=True)
    return metrics


def run_worker(settings: Settings, stop: threading.Event | None = None) -> None:
    from bot.container import Container

    stop = stop or threading.Event()
    container = Container(settings)
    scheduler = build_scheduler(settings)

    def scheduler_running() -> None:
        if scheduler.state != STATE_RUNNING:
            raise RuntimeError("the scheduler is not running")

    metrics = worker_metrics(container, scheduler)
    ops = serve_ops(
        metrics.registry,
        {"database": database_check(container.sessions), "scheduler": scheduler_running},
        settings.metrics_host,
        settings.worker_metrics_port,
        setting="SUPPORTBOT_WORKER_METRICS_PORT",
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(sig, lambda *_: stop.set())
        except ValueError:  # not the main thread (tests)
            pass
    job = scheduler.get_job(JOB_ID)
    log.info("worker started; next fine-tune at %s", job.next_run_time if job else None)
    scheduler.resume()
    checker = threading.Thread(
        target=_measure_unmeasured_models, args=(container, stop), name="model-check", daemon=True
    )
    checker.start()
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)
        if ops:
            ops.stop()
