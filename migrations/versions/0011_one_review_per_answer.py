"""one review per answer: a unique index on reviews.answer_id

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-12 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Two reviews of one answer could only come from a race the service did not catch; the first
    # one is what took effect (it was learned from first), so it is the one kept.
    op.execute("DELETE FROM reviews WHERE id NOT IN (SELECT min(id) FROM reviews GROUP BY answer_id)")
    with op.batch_alter_table("reviews") as batch:
        batch.drop_index("ix_reviews_answer_id")
        batch.create_index("ix_reviews_answer_id", ["answer_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("reviews") as batch:
        batch.drop_index("ix_reviews_answer_id")
        batch.create_index("ix_reviews_answer_id", ["answer_id"], unique=False)
