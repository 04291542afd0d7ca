"""Migration 0009 on a database that already holds reviews, on SQLite and the real PostgreSQL: the
reviews keep their rows (with no chosen entry), hard negatives are unique per (entry, question) and go
with their entry, and the downgrade keeps the reviews."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from bot.db import migrate
from bot.db.session import get_engine

NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request):
    return request.getfixturevalue(f"{request.param}_url")


def _seed(engine: sa.Engine) -> None:
    """As 0008 left it: an entry, a question, its answer and a review."""
    meta = sa.MetaData()
    meta.reflect(engine, only=["conversations", "messages", "answers", "reviews", "faq_entries"])
    t = meta.tables
    with engine.begin() as conn:
        conn.execute(
            t["faq_entries"].insert(),
            [
                {
                    "id": "vpn",
                    "question": "VPN?",
                    "answer": "Reset it.",
                    "alt_questions": [],
                    "tags": [],
                    "content_hash": "x",
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            ],
        )
        conn.execute(
            t["conversations"].insert(), [{"id": 1, "source": "cli", "created_at": NOW, "updated_at": NOW}]
        )
        conn.execute(
            t["messages"].insert(),
            [{"id": 1, "conversation_id": 1, "role": "user", "text": "q", "created_at": NOW}],
        )
        conn.execute(
            t["answers"].insert(),
            [
                {
                    "id": 1,
                    "question_message_id": 1,
                    "text": "a",
                    "sources": [{"id": "vpn", "score": 0.5}],
                    "abstained": False,
                    "mode": "faq",
                    "latency_ms": 1.0,
                    "tokens": 0,
                    "created_at": NOW,
                }
            ],
        )
        conn.execute(
            t["reviews"].insert(),
            [{"id": 1, "answer_id": 1, "reviewer_id": "UADMIN", "action": "reject", "created_at": NOW}],
        )


def test_0009_adds_hard_negatives_and_keeps_reviews(db_url):
    migrate.upgrade(db_url, "0008")
    engine = get_engine(db_url)
    _seed(engine)

    migrate.upgrade(db_url, "0009")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id, action, entry_id FROM reviews")).all() == [
            (1, "reject", None)
        ]
    insert = sa.text(
        "INSERT INTO hard_negatives (entry_id, text, text_sha256, answer_id, reviewer_id, action, created_at) "
        "VALUES ('vpn', 'q', 'h', 1, 'UADMIN', 'reject', CURRENT_TIMESTAMP)"
    )
    with engine.begin() as conn:
        conn.execute(insert)
    with pytest.raises(sa.exc.IntegrityError):  # one row per (entry, question)
        with engine.begin() as conn:
            conn.execute(insert)
    with engine.begin() as conn:
        if db_url.startswith("sqlite"):
            conn.execute(sa.text("PRAGMA foreign_keys=ON"))
        conn.execute(sa.text("DELETE FROM faq_entries WHERE id = 'vpn'"))
    with engine.connect() as conn:  # the entry is gone: so are its negatives
        assert conn.execute(sa.text("SELECT count(*) FROM hard_negatives")).scalar() == 0

    migrate.downgrade(db_url, "0008")
    inspector = sa.inspect(get_engine(db_url))
    assert "hard_negatives" not in inspector.get_table_names()
    assert "entry_id" not in {c["name"] for c in inspector.get_columns("reviews")}
    with get_engine(db_url).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM reviews")).scalar() == 1
    migrate.upgrade(db_url)
    assert migrate.is_up_to_date(db_url)
