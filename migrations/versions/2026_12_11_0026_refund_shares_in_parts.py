"""The analytics rollups are rebuilt once, for refunds given back in several parts.

A refund's split between the practitioner and the platform is now worked out on the
booking's refunds so far less what the earlier ones took (see services/ledger.py), so a
booking refunded in full in several parts takes back exactly its service amount and fee
rather than a cent more or less. Rollups made with the old split are rebuilt by the next
refresh: forgetting the last refresh makes it a full one, as 2026_12_01_0009 did.

Revision ID: 20261211_refund_shares_in_parts
Revises: 20261210_client_pending_holds
Create Date: 2026-12-11
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261211_refund_shares_in_parts"
down_revision: str | Sequence[str] | None = "20261210_client_pending_holds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM analytics_refresh")


def downgrade() -> None:
    op.execute("DELETE FROM analytics_refresh")
