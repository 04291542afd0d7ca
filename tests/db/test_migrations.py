"""Migrations go up, down to base, and up again on both SQLite and the real PostgreSQL,
and the migrated schema is exactly what the ORM models describe."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot.db import migrate
from bot.db.models import Base
from bot.db.session import get_engine

TABLES = {
    "conversations",
    "messages",
    "answers",
    "feedback",
    "reviews",
    "model_versions",
    "learned_phrasings",
    "index_state",
    "handoffs",
    "review_posts",
    "transcripts",
    "finetune_runs",
    "faq_entries",
    "hard_negatives",
    "model_checks",
    "gap_decisions",
}


def _tables(url: str) -> set[str]:
    return set(sa.inspect(get_engine(url)).get_table_names()) - {"alembic_version"}


def _diff(url: str) -> list:
    with get_engine(url).connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request):
    return request.getfixturevalue(f"{request.param}_url")


def test_upgrade_downgrade_upgrade(db_url):
    migrate.upgrade(db_url)
    assert _tables(db_url) == TABLES
    assert migrate.is_up_to_date(db_url)

    migrate.downgrade(db_url, "base")
    assert _tables(db_url) == set()
    assert migrate.current_revision(db_url) is None

    migrate.upgrade(db_url)
    assert _tables(db_url) == TABLES
    assert migrate.current_revision(db_url) == migrate.head_revision(db_url)


def test_migrated_schema_matches_models(db_url):
    migrate.upgrade(db_url)
    assert _diff(db_url) == []


def test_unique_dedup_key_is_enforced_by_the_database(db_url):
    migrate.upgrade(db_url)
    engine = get_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO conversations (source, created_at, updated_at) VALUES ('slack', now(), now())"
                if db_url.startswith("postgres")
                else "INSERT INTO conversations (source, created_at, updated_at) VALUES ('slack', datetime(), datetime())"
            )
        )
        cid = conn.execute(sa.text("SELECT max(id) FROM conversations")).scalar()
    insert = sa.text(
        "INSERT INTO messages (conversation_id, role, text, dedup_key, created_at) "
        "VALUES (:c, 'user', 'hi', 'Ev123', CURRENT_TIMESTAMP)"
    )
    with engine.begin() as conn:
        conn.execute(insert, {"c": cid})
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as conn:
            conn.execute(insert, {"c": cid})
