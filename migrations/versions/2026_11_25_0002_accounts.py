"""Accounts: why each login attempt failed, and trigram search over users.

Revision ID: 20261125_accounts
Revises: 20261125_foundation
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261125_accounts"
down_revision: str | Sequence[str] | None = "20261125_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("login_attempts", sa.Column("reason", sa.String(length=20), nullable=True))
    op.execute("UPDATE login_attempts SET reason = CASE WHEN succeeded THEN 'ok' ELSE 'bad_password' END")
    op.alter_column("login_attempts", "reason", nullable=False)
    op.create_check_constraint(
        op.f("ck_login_attempts_reason_known"),
        "login_attempts",
        "reason IN ('ok', 'unknown_email', 'bad_password', 'inactive', 'locked')",
    )
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.add_column(
        "users",
        sa.Column(
            "search_text",
            sa.Text(),
            sa.Computed("lower((((first_name || ' ') || last_name) || ' ') || email)", persisted=True),
            nullable=True,
        ),
    )
    op.create_index(
        "ix_users_search_text_trgm",
        "users",
        ["search_text"],
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_users_search_text_trgm", table_name="users")
    op.drop_column("users", "search_text")
    op.execute("DROP EXTENSION IF EXISTS pg_trgm")
    op.drop_constraint(op.f("ck_login_attempts_reason_known"), "login_attempts", type_="check")
    op.drop_column("login_attempts", "reason")
