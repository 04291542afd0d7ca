"""answer lease: questions whose answering process died are answered again

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("answer_lease_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("answer_attempts", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("placeholder_ts", sa.String(length=32), nullable=True))
        batch.create_index(batch.f("ix_messages_answer_lease_until"), ["answer_lease_until"])


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_index(batch.f("ix_messages_answer_lease_until"))
        batch.drop_column("placeholder_ts")
        batch.drop_column("answer_attempts")
        batch.drop_column("answer_lease_until")
