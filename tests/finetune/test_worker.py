"""The nightly trigger, misfire handling, coalescing and single flight, on real job stores.

The clock is controlled through the job's stored next run time: setting it into the past is what a
worker that was down at 02:00 finds when it starts again.
"""

from __future__ import annotations

import pickle
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from bot.settings import Settings
from bot.worker import JOB_ID, build_scheduler, nightly_trigger
from finetune.lock import single_flight

FUNC = "tests.finetune.test_worker:record_call"
CALLS: list[float] = []


def record_call() -> None:
    """The job under test (importable by reference, as the SQL job store requires)."""
    CALLS.append(time.time())


@pytest.fixture(autouse=True)
def _reset():
    CALLS.clear()


def _settings(tmp_path, **kw) -> Settings:
    return Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'jobs.db'}", **kw)


def _set_next_run(settings: Settings, when: datetime) -> None:
    """Move the stored next run time: the controllable clock. The SQL job store keeps it twice,
    in a column (for the due-jobs query) and in the pickled job state; both are moved."""
    engine = sa.create_engine(settings.resolved_database_url)
    with engine.begin() as conn:
        blob = conn.execute(
            sa.text("SELECT job_state FROM apscheduler_jobs WHERE id = :id"), {"id": JOB_ID}
        ).scalar()
        state = pickle.loads(blob)
        state["next_run_time"] = when
        conn.execute(
            sa.text("UPDATE apscheduler_jobs SET next_run_time = :t, job_state = :s WHERE id = :id"),
            {"t": when.timestamp(), "s": pickle.dumps(state, pickle.HIGHEST_PROTOCOL), "id": JOB_ID},
        )
    engine.dispose()


def _wait(predicate, timeout=10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_nightly_trigger_uses_the_configured_time_and_zone():
    s = Settings(finetune_time="02:30", finetune_timezone="Europe/Berlin")
    trigger = nightly_trigger(s)
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime(2026, 11, 23, 1, 0, tzinfo=berlin)
    assert trigger.get_next_fire_time(None, now) == datetime(2026, 11, 23, 2, 30, tzinfo=berlin)
    after = datetime(2026, 11, 23, 2, 31, tzinfo=berlin)
    assert trigger.get_next_fire_time(None, after) == datetime(2026, 11, 24, 2, 30, tzinfo=berlin)
    # across the spring DST change (02:00-03:00 does not exist on 2027-03-28 in Berlin) it still fires once
    spring = trigger.get_next_fire_time(None, datetime(2027, 3, 27, 12, 0, tzinfo=berlin))
    assert spring.date() == datetime(2027, 3, 28).date() or spring.date() == datetime(2027, 3, 29).date()
    assert Settings().finetune_time == "02:00"


def test_job_lives_in_the_database_and_keeps_its_next_run_across_restarts(tmp_path):
    s = _settings(tmp_path)
    first = build_scheduler(s, func=FUNC)
    next_run = first.get_job(JOB_ID).next_run_time
    first.shutdown()
    second = build_scheduler(s, func=FUNC)
    assert second.get_job(JOB_ID).next_run_time == next_run  # not recomputed: a missed night stays missed
    second.shutdown()
    changed = build_scheduler(_settings(tmp_path, finetune_time="03:15"), func=FUNC)
    assert changed.get_job(JOB_ID).next_run_time.hour == 3  # a new configured time replaces it
    changed.shutdown()


def test_a_missed_night_within_the_grace_runs_once_coalesced(tmp_path):
    s = _settings(tmp_path, finetune_misfire_grace_s=3 * 3600)
    build_scheduler(s, func=FUNC).shutdown()
    # The worker was down: the stored run is 20 minutes overdue.
    _set_next_run(s, datetime.now(UTC) - timedelta(minutes=20))
    scheduler = build_scheduler(s, func=FUNC)
    scheduler.resume()
    try:
        assert _wait(lambda: len(CALLS) >= 1)
        time.sleep(0.5)
        assert len(CALLS) == 1
        nxt = scheduler.get_job(JOB_ID).next_run_time
        assert nxt > datetime.now(UTC) and (nxt.hour, nxt.minute) == (2, 0)
    finally:
        scheduler.shutdown()


def test_a_run_missed_beyond_the_grace_waits_for_the_next_night(tmp_path):
    from apscheduler.events import EVENT_JOB_MISSED

    # The nightly time half a day away: with the default 02:00, a run of this test between 02:00 and
    # 03:00 UTC found today's night still within the grace, and the scheduler ran it (2026-12-04).
    far = (datetime.now(UTC) + timedelta(hours=12)).strftime("%H:%M")
    s = _settings(tmp_path, finetune_misfire_grace_s=3600, finetune_time=far, finetune_timezone="UTC")
    build_scheduler(s, func=FUNC).shutdown()
    _set_next_run(s, datetime.now(UTC) - timedelta(hours=5))
    scheduler = build_scheduler(s, func=FUNC)
    missed = []
    scheduler.add_listener(lambda e: missed.append(e.job_id), EVENT_JOB_MISSED)
    scheduler.resume()
    try:
        # The scheduler's first wake-up reads the SQL job store on its own thread: on a loaded CI
        # machine that took more than 10 s once (2026-12-02).
        assert _wait(lambda: missed == [JOB_ID], timeout=60), missed
        time.sleep(0.5)
        assert CALLS == []
        assert scheduler.get_job(JOB_ID).next_run_time > datetime.now(UTC)
    finally:
        scheduler.shutdown()


def test_single_flight_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    with single_flight(url) as first:
        assert first
        with single_flight(url) as second:
            assert not second  # another holder: refused at once, no waiting
    with single_flight(url) as again:
        assert again  # released


def test_single_flight_dies_with_its_process(tmp_path):
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'a.db'}"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time; from finetune.lock import single_flight\n"
            f"with single_flight({url!r}) as h:\n print(h, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "True"
        with single_flight(url) as held:
            assert not held
        holder.kill()  # a fine-tune killed mid-run
        holder.wait()
        with single_flight(url) as held:
            assert held
    finally:
        if holder.poll() is None:
            holder.kill()


@pytest.mark.postgres
def test_single_flight_on_postgres(postgres_url):
    with single_flight(postgres_url) as first:
        assert first
        with single_flight(postgres_url) as second:
            assert not second
    with single_flight(postgres_url) as again:
        assert again


def test_the_stored_job_reference_resolves_to_the_nightly_job():
    """The SQL job store pickles the job's function as the text ``module:name``: JOB_FUNC must name
    the function itself (a database holding an older name is re-pointed at start, tested below)."""
    from apscheduler.util import ref_to_obj

    from bot.worker import JOB_FUNC, nightly_finetune

    assert ref_to_obj(JOB_FUNC) is nightly_finetune


@pytest.mark.slow
def test_the_worker_measures_an_unmeasured_model_in_service_once(container):
    """Day 0 without an admin running `model check`: the worker measures the bundled model once a
    FAQ is there, and the measurement decides whether it generates."""
    from bot.worker import measure_if_unmeasured
    from retrieval.faq import load_faq
    from tests.support import SAMPLE_FAQ

    container.settings.generation = "earned"
    container.settings.model_check_questions = 20
    assert measure_if_unmeasured(container) is None  # no FAQ yet: nothing to measure on
    container.index.import_items(load_faq(SAMPLE_FAQ))
    first = measure_if_unmeasured(container)
    assert first is not None and first.n == 20 and first.model == container.models.in_service().name
    verdict = container.generation_gate.judge(first.model)
    assert (verdict.share, verdict.generates) == (first.faithful_share, first.faithful_share >= 0.9)
    assert measure_if_unmeasured(container) is None  # measured once: not again


def _store_job_named(settings: Settings, func_ref: str, when: datetime) -> None:
    """What a database written by an older release holds: the nightly job under its id, naming its
    function by ``module:name`` as that release had it, due at ``when``."""
    build_scheduler(settings, func=FUNC).shutdown()
    _set_next_run(settings, when)
    engine = sa.create_engine(settings.resolved_database_url)
    with engine.begin() as conn:
        state = pickle.loads(
            conn.execute(
                sa.text("SELECT job_state FROM apscheduler_jobs WHERE id = :id"), {"id": JOB_ID}
            ).scalar()
        )
        state["func"] = func_ref
        conn.execute(
            sa.text("UPDATE apscheduler_jobs SET job_state = :s WHERE id = :id"),
            {"s": pickle.dumps(state, pickle.HIGHEST_PROTOCOL), "id": JOB_ID},
        )
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_job_stored_under_a_function_that_moved_is_rehomed_and_keeps_its_missed_night(
    backend, tmp_path, request
):
    """Upgrading onto a release where the nightly job's function lives elsewhere: the stored job
    names a module that no longer exists. APScheduler cannot restore it (``get_job`` raises), which
    crashed the worker at start. The worker re-points the stored job at today's function and keeps
    its next run time, so a night missed during the upgrade still runs."""
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    s = Settings(data_dir=tmp_path, database_url=url) if url else _settings(tmp_path)
    overdue = (datetime.now(UTC) - timedelta(minutes=20)).replace(microsecond=0)
    _store_job_named(s, "bot.old_worker:nightly_finetune", overdue)

    scheduler = build_scheduler(s, func=FUNC)
    try:
        job = scheduler.get_job(JOB_ID)
        assert job.func_ref == FUNC
        assert job.next_run_time == overdue  # not recomputed: the missed night is still due
        scheduler.resume()
        assert _wait(lambda: len(CALLS) >= 1)
    finally:
        scheduler.shutdown()


def test_a_stored_job_that_cannot_be_read_at_all_is_dropped_and_added_again(tmp_path):
    """A job state no release can unpickle (a trigger class gone, a truncated row): the worker
    drops it and schedules the night afresh rather than failing to start."""
    s = _settings(tmp_path)
    build_scheduler(s, func=FUNC).shutdown()
    engine = sa.create_engine(s.resolved_database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE apscheduler_jobs SET job_state = :s"), {"s": b"\x80\x05not a pickle"})
    engine.dispose()
    scheduler = build_scheduler(s, func=FUNC)
    try:
        job = scheduler.get_job(JOB_ID)
        assert job.func_ref == FUNC and job.next_run_time > datetime.now(UTC)
    finally:
        scheduler.shutdown()
