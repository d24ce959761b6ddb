"""Document thumbnails: a small JPEG of each image document, made once when it is
uploaded, so staff's verification queue never decodes the original again. Existing
images get one here when they decode safely (at most 25 megapixels, read to the end);
the others keep none and the queue says so.

Revision ID: 20261202_document_thumbnails
Revises: 20261202_geocoding
Create Date: 2026-12-02
"""

import io
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_document_thumbnails"
down_revision: str | Sequence[str] | None = "20261202_geocoding"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MAX_PIXELS = 25_000_000


def _thumbnail(data: bytes) -> bytes | None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.size[0] * image.size[1] > MAX_PIXELS:
                return None
            image.load()
            image.thumbnail((320, 320))
            out = io.BytesIO()
            image.convert("RGB").save(out, "JPEG", quality=80)
            return out.getvalue()
    except Exception:  # any file that does not decode simply gets no thumbnail
        return None


def upgrade() -> None:
    op.add_column("verification_documents", sa.Column("thumbnail", sa.LargeBinary(), nullable=True))
    op.create_check_constraint(
        op.f("ck_verification_documents_thumbnail_size_limit"),
        "verification_documents",
        "thumbnail IS NULL OR octet_length(thumbnail) <= 262144",
    )
    connection = op.get_bind()
    ids = connection.execute(
        sa.text("SELECT id FROM verification_documents WHERE content_type IN ('image/jpeg', 'image/png')")
    ).scalars()
    for document_id in list(ids):  # one at a time: at most one 5 MB original in memory
        content = connection.execute(
            sa.text("SELECT content FROM verification_documents WHERE id = :id"), {"id": document_id}
        ).scalar_one()
        thumbnail = _thumbnail(bytes(content))
        if thumbnail is not None:
            connection.execute(
                sa.text("UPDATE verification_documents SET thumbnail = :thumbnail WHERE id = :id"),
                {"id": document_id, "thumbnail": thumbnail},
            )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_verification_documents_thumbnail_size_limit"), "verification_documents", type_="check")
    op.drop_column("verification_documents", "thumbnail")
