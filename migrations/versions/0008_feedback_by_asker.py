"""feedback: whether the asker pressed it (only the asker's feedback counts in the figures)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("by_asker", sa.Boolean(), nullable=True))
    # Feedback recorded so far: the presser is the asker when they are the question's author.
    # (NULL stays where the question has no recorded author.)
    asker = (
        "SELECT m.user_id FROM answers a JOIN messages m ON m.id = a.question_message_id "
        "WHERE a.id = feedback.answer_id"
    )
    op.execute(
        sa.text(
            f"UPDATE feedback SET by_asker = CASE WHEN ({asker}) IS NULL THEN NULL "
            f"WHEN ({asker}) = feedback.user_id THEN :yes ELSE :no END"
        ).bindparams(sa.bindparam("yes", True, sa.Boolean()), sa.bindparam("no", False, sa.Boolean()))
    )


def downgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("by_asker")
