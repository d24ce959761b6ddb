"""An index of the few users who are deactivated or deleted, for cheap anti-joins in search.

Revision ID: 20261125_unlisted_users
Revises: 20261125_search
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261125_unlisted_users"
down_revision: str | Sequence[str] | None = "20261125_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_users_unlisted",
        "users",
        ["id"],
        unique=False,
        postgresql_where=sa.text("is_active IS false OR deleted_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_users_unlisted", table_name="users")
