"""Job runs: each background job's runs, by which server, so several app servers run each
job once per interval between them (not once each).

Revision ID: 20261203_job_runs
Revises: 20261202_idempotency_keys
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261203_job_runs"
down_revision: str | Sequence[str] | None = "20261202_idempotency_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("server", sa.String(length=120), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("report", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
    )
    op.create_index("ix_job_runs_name_started_at", "job_runs", ["name", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_job_runs_name_started_at", table_name="job_runs")
    op.drop_table("job_runs")
