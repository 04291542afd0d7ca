"""Migration 0011 on SQLite and the real PostgreSQL: duplicate reviews of one answer (a race before
the constraint) keep the first, and from then on a second review of an answer is refused."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from bot.db import migrate
from bot.db.session import get_engine

from .test_migration_0009 import _seed

NOW = datetime(2026, 12, 12, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request):
    return request.getfixturevalue(f"{request.param}_url")


def _review(conn, review_id: int, action: str) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO reviews (id, answer_id, reviewer_id, action, created_at) "
            "VALUES (:id, 1, 'UOTHER', :action, :now)"
        ),
        {"id": review_id, "action": action, "now": NOW},
    )


def test_0011_keeps_the_first_review_of_an_answer_and_refuses_a_second(db_url):
    migrate.upgrade(db_url, "0010")
    engine = get_engine(db_url)
    _seed(engine)  # review 1: a reject of answer 1
    with engine.begin() as conn:
        _review(conn, 2, "approve")  # the race's loser, recorded before the constraint existed

    migrate.upgrade(db_url, "0011")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id, action FROM reviews")).all() == [(1, "reject")]
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        _review(conn, 3, "approve")

    migrate.downgrade(db_url, "0010")
    with engine.begin() as conn:
        _review(conn, 3, "approve")  # allowed again without the constraint
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM reviews WHERE id = 3"))
    migrate.upgrade(db_url)
    assert migrate.is_up_to_date(db_url)
