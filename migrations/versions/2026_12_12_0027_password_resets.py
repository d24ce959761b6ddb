"""Forgotten passwords are reset from a link sent by e-mail.

`password_resets` keeps the hash of each link (never the link), when it runs out and when
it was used. A new password chosen from a link is a login attempt of its own kind
(`password_reset`), which ends a lockout as a successful login does.

Revision ID: 20261212_password_resets
Revises: 20261211_refund_shares_in_parts
Create Date: 2026-12-12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261212_password_resets"
down_revision: str | Sequence[str] | None = "20261211_refund_shares_in_parts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REASONS = "'ok', 'unknown_email', 'bad_password', 'inactive', 'locked'"


def upgrade() -> None:
    op.create_table(
        "password_resets",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_password_resets_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_resets")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_resets_token_hash")),
    )
    op.create_index("ix_password_resets_user_created_at", "password_resets", ["user_id", "created_at"])
    op.create_index("ix_password_resets_expires_at", "password_resets", ["expires_at"])
    op.drop_constraint(op.f("ck_login_attempts_reason_known"), "login_attempts", type_="check")
    op.create_check_constraint(
        op.f("ck_login_attempts_reason_known"), "login_attempts", f"reason IN ({REASONS}, 'password_reset')"
    )


def downgrade() -> None:
    op.execute("DELETE FROM login_attempts WHERE reason = 'password_reset'")
    op.drop_constraint(op.f("ck_login_attempts_reason_known"), "login_attempts", type_="check")
    op.create_check_constraint(op.f("ck_login_attempts_reason_known"), "login_attempts", f"reason IN ({REASONS})")
    op.drop_index("ix_password_resets_expires_at", table_name="password_resets")
    op.drop_index("ix_password_resets_user_created_at", table_name="password_resets")
    op.drop_table("password_resets")
