"""`supportbot worker`: the nightly fine-tune on an APScheduler 3 cron trigger.

The job lives in the product's database (SQLAlchemy job store), so a worker that was down at 02:00
finds the missed run when it starts again: within ``finetune_misfire_grace_s`` it runs once (missed
runs are coalesced), later than that it waits for the next night. Several workers may share the
database; the fine-tune itself is single-flight (finetune/lock.py), so only one ever trains.
"""

from __future__ import annotations

import logging
import signal
import threading
from zoneinfo import ZoneInfo

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

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
    from finetune.pipeline import FinetunePipeline

    container = Container(Settings())
    report = FinetunePipeline(container).run()
    log.info("nightly fine-tune: %s", report.to_json())
    return report.to_json()


def build_scheduler(settings: Settings, *, func: str = JOB_FUNC) -> BackgroundScheduler:
    """A started, paused scheduler holding the nightly job; ``resume()`` lets it run.

    An existing job keeps its stored next run time (that is how a missed night is noticed), unless
    the configured time changed.
    """
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=settings.resolved_database_url, tablename="apscheduler_jobs")},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": settings.finetune_misfire_grace_s},
        timezone=ZoneInfo(settings.finetune_timezone),
    )
    scheduler.start(paused=True)
    trigger = nightly_trigger(settings)
    job = scheduler.get_job(JOB_ID)
    if job is None or str(job.trigger) != str(trigger) or job.func_ref != func:
        scheduler.add_job(func, trigger=trigger, id=JOB_ID, name="nightly fine-tune", replace_existing=True,
                          misfire_grace_time=settings.finetune_misfire_grace_s, coalesce=True, max_instances=1)
    elif job.misfire_grace_time != settings.finetune_misfire_grace_s:
        job.modify(misfire_grace_time=settings.finetune_misfire_grace_s)
    return scheduler


def run_worker(settings: Settings, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    scheduler = build_scheduler(settings)
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(sig, lambda *_: stop.set())
        except ValueError:  # not the main thread (tests)
            pass
    job = scheduler.get_job(JOB_ID)
    log.info("worker started; next fine-tune at %s", job.next_run_time if job else None)
    scheduler.resume()
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)
