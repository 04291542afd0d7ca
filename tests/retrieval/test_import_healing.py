"""An import killed part way leaves vectors in Chroma for entries SQL never got ("orphans"). They are
never ranked, and the next writer of the index deletes them: the next `faq import`, or a process
opening the index for serving while no import holds the index lock. An import still running holds
that lock, so its vectors are never mistaken for leftovers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest
import sqlalchemy as sa

from bot.container import Container
from bot.db import migrate
from bot.db.models import FaqEntry
from bot.settings import Settings
from retrieval.faq import FaqItem, load_faq
from retrieval.index import REVIEW_ORPHAN_GRACE_S, IndexBusy, IndexLock
from retrieval.store import VectorDoc
from tests.support import SAMPLE_FAQ

# The real CLI in its own process, reporting each batch of vectors once Chroma has taken it; the test
# kills it with SIGKILL after a few, long before the import reaches its SQL commit.
IMPORT_REPORTING_BATCHES = textwrap.dedent(
    """
    import sys
    from retrieval.store import ChromaStore

    real_upsert = ChromaStore.upsert

    def upsert(self, docs):
        real_upsert(self, docs)
        print("UPSERTED", len(docs), flush=True)

    ChromaStore.upsert = upsert
    from bot.cli import main

    main(["faq", "import", sys.argv[1], "--no-tune"])
    """
)


def big_faq(path, n: int = 3000):
    path.write_text(
        "id,question,answer\n"
        + "".join(
            f"e{i},How do I configure gadget number {i}?,Open settings and pick gadget {i}.\n"
            for i in range(n)
        )
    )
    return path


def orphans(c: Container) -> set[str]:
    """Entry ids that have vectors in the store but no row in SQL."""
    in_store = {entry_id for _, entry_id, _ in c.index.store().doc_entries()}
    return in_store - c.index.entry_ids()


def cli_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTBOT_")}
    env |= {
        "SUPPORTBOT_DATA_DIR": str(settings.data_dir),
        "SUPPORTBOT_CHROMA_COLLECTION": settings.chroma_collection,
    }
    if settings.chroma_url:
        env["SUPPORTBOT_CHROMA_URL"] = settings.chroma_url
    return env


def kill_import_part_way(settings: Settings, faq) -> None:
    env = cli_env(settings)
    proc = subprocess.Popen(
        [sys.executable, "-c", IMPORT_REPORTING_BATCHES, str(faq)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    batches = 0
    deadline = time.monotonic() + 240
    try:
        for out_line in proc.stdout:
            batches += out_line.startswith("UPSERTED")
            if batches == 3 or time.monotonic() > deadline:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert batches == 3 and proc.returncode == -signal.SIGKILL


# No generative model: nothing here answers. Embedded Chroma and a Chroma server.
@pytest.fixture(params=["embedded", "server"])
def healing_settings(request, data_dir) -> Settings:
    extra = {}
    if request.param == "server":
        extra = {
            "chroma_url": request.getfixturevalue("chroma_server"),
            "chroma_collection": f"t{uuid.uuid4().hex[:16]}",
        }
    return Settings(data_dir=data_dir, tune_on_import=False, **extra)


@pytest.fixture
def container(data_dir) -> Container:
    c = Container(Settings(data_dir=data_dir, tune_on_import=False))
    c.ensure_schema()
    return c


@pytest.mark.slow
def test_a_killed_import_leaves_orphans_that_the_next_import_removes(healing_settings, tmp_path):
    c = Container(healing_settings)
    c.ensure_schema()
    kill_import_part_way(healing_settings, big_faq(tmp_path / "big.csv"))

    left = orphans(c)
    assert (
        c.index.count_entries() == 0 and len(left) >= 3 * c.index.IMPORT_BATCH
    )  # SQL unchanged, vectors not

    report = c.index.import_items(load_faq(SAMPLE_FAQ))
    assert report.orphans_removed >= len(left) and report.added == 37
    assert orphans(c) == set()
    sql = c.index.entry_ids()
    for question in ["How do I configure gadget number 5?", "How do I reset my VPN password?", "gadget 17"]:
        assert all(hit.id in sql for hit in c.index.search(question, k=10))


@pytest.mark.slow
def test_a_killed_import_is_healed_when_the_index_opens_for_serving(healing_settings, tmp_path):
    # Processes as in production: the CLI imports, is killed importing, then a bot process starts. (No
    # two processes have embedded Chroma open at once: Chroma does not support that.)
    seeded = subprocess.run(
        [sys.executable, "-m", "bot.cli", "faq", "import", str(SAMPLE_FAQ), "--no-tune"],
        env=cli_env(healing_settings),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert seeded.returncode == 0, seeded.stderr
    kill_import_part_way(healing_settings, big_faq(tmp_path / "big.csv"))

    serving = Container(healing_settings)  # a bot process starting: `serve` warms the index up first
    assert len(orphans(serving)) >= 3 * serving.index.IMPORT_BATCH  # what the killed import left
    result = serving.index.retrieve("How do I configure gadget number 5?", k=5)
    assert orphans(serving) == set()
    assert all(hit.id in serving.index.entry_ids() for hit in result.hits)
    assert not any(hit.id.startswith("e") and hit.id[1:].isdigit() for hit in result.hits)


VPN = "How do I reset my VPN password?"


def _plant_orphans(
    c: Container, entry_ids: list[str], *, by: str, age_s: float = 0.0, text: str = VPN
) -> None:
    """Vectors as a writer that died before its SQL commit would have left them: of ``text`` itself,
    so that, were they ranked, they would come first."""
    vector = c.embedder.encode([text])[0]
    at = time.time() - age_s
    c.index.store().upsert(
        [
            VectorDoc(
                id=f"{eid}#q0",
                entry_id=eid,
                text=text,
                embedding=vector,
                metadata={"kind": "question", "by": by, "at": at},
            )
            for eid in entry_ids
        ]
    )


@pytest.mark.slow
def test_vectors_of_an_import_still_running_are_not_deleted(container):
    container.index.import_items(load_faq(SAMPLE_FAQ))
    with container.index.writer_lock.hold() as got:  # an import in another process, part way
        assert got
        _plant_orphans(container, ["running-1", "running-2"], by="import")
        serving = Container(container.settings)
        # Never ranked: ranked, they would take the one place asked for and then be dropped.
        assert [h.id for h in serving.index.search(VPN, k=1)] == ["vpn-password-reset"]
        assert orphans(serving) == {"running-1", "running-2"}  # ...and not deleted under the import
        with pytest.raises(IndexBusy, match="another `supportbot faq import`"):
            serving.index.import_items(load_faq(SAMPLE_FAQ))
    assert Container(container.settings).index.heal() == 2  # the import is gone: they are leftovers
    assert orphans(container) == set()


@pytest.mark.slow
def test_an_approval_s_fresh_vectors_are_left_to_its_commit(container):
    """A curated entry's vectors precede its SQL row by milliseconds and take no lock."""
    container.index.import_items(load_faq(SAMPLE_FAQ))
    _plant_orphans(container, ["curated-fresh"], by="curated")
    _plant_orphans(container, ["curated-stale"], by="curated", age_s=REVIEW_ORPHAN_GRACE_S + 60)
    report = container.index.import_items(load_faq(SAMPLE_FAQ))
    assert report.orphans_removed == 1 and orphans(container) == {"curated-fresh"}


@pytest.mark.slow
def test_entries_whose_vectors_were_lost_are_reindexed(container):
    """SQL has the entry, the store lost its vectors (a Chroma volume reset): the next import puts
    them back without counting them as changes."""
    items = load_faq(SAMPLE_FAQ)
    container.index.import_items(items)
    container.index.add_curated_entry("Can I bring my dog?", "On Fridays.")
    lost = [
        "vpn-password-reset",
        "payslip",
        next(iter(i for i in container.index.entry_ids() if i.startswith("curated"))),
    ]
    container.index.store().delete_entries(lost)
    assert container.index.search("How do I reset my VPN password?", k=1)[0].id != "vpn-password-reset"

    report = container.index.import_items(items)
    assert (report.added, report.updated, report.unchanged, report.reindexed) == (0, 0, 37, 3)
    assert container.index.search("How do I reset my VPN password?", k=1)[0].id == "vpn-password-reset"
    assert container.index.search("may I bring my dog to work", k=1)[0].id == lost[2]
    assert container.index.import_items(items).reindexed == 0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def lock_engine(request, tmp_path):
    url = (
        f"sqlite:///{tmp_path / 'lock.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


def test_the_index_lock_is_one_holder_across_processes_and_dies_with_its_holder(lock_engine):
    url = lock_engine.url.render_as_string(hide_password=False)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, sqlalchemy as sa\n"
            "from retrieval.index import IndexLock\n"
            "with IndexLock(sa.create_engine(sys.argv[1])).hold() as got:\n"
            "    print(got, flush=True); time.sleep(600)\n",
            url,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "True"
        with IndexLock(lock_engine).hold() as got:
            assert got is False
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    deadline = time.monotonic() + 10  # PostgreSQL notices the dropped connection
    while True:
        with IndexLock(lock_engine).hold() as got:
            if got or time.monotonic() > deadline:
                break
        time.sleep(0.2)
    assert got
    with IndexLock(lock_engine).hold() as first, IndexLock(lock_engine).hold() as second:
        assert (first, second) == (True, False)


@pytest.mark.postgres
def test_healing_on_postgresql(postgres_url, data_dir):
    migrate.upgrade(postgres_url)
    s = Settings(
        data_dir=data_dir,
        database_url=postgres_url,
        chroma_collection=f"t{uuid.uuid4().hex[:12]}",
    )
    c = Container(s)
    c.index.import_items([FaqItem("gym", "Where is the gym?", "Floor 3.")])
    _plant_orphans(c, ["ghost"], by="import")
    assert c.index.import_items([FaqItem("gym", "Where is the gym?", "Floor 3.")]).orphans_removed == 1
    with c.sessions() as session:
        assert session.scalars(sa.select(FaqEntry.id)).all() == ["gym"]
    assert orphans(c) == set()
