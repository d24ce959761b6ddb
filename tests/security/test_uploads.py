"""Verification uploads cannot hurt staff: small uploads counted before any is read, every
image decoded in full once at upload (bombs, huge pictures and truncated files refused in
plain words, nothing stored), a thumbnail kept, and a queue that never decodes the
original again and always shows the decision form."""

from __future__ import annotations

import io
import random
import tomllib

import pytest
from PIL import Image, ImageFile
from sqlalchemy import func, select

from avenrae.config import REPO_ROOT
from avenrae.models import ApplicationStatus, Role, VerificationApplication, VerificationDocument, VerificationStatus
from avenrae.services import verification
from avenrae.services.bookings import Actor
from avenrae.services.errors import InvalidInput
from avenrae.ui import verification as ui_verification
from tests.factories import make_practitioner, make_user, sample_document


def form(documents) -> verification.ApplicationForm:
    return verification.ApplicationForm(
        legal_name="Nomvula Mkhize", years_of_practice=12, statement="Trained in Inanda.", documents=documents
    )


@pytest.fixture
def applicant(db):
    practitioner = make_practitioner(db, first_name="Nomvula", verification_status=VerificationStatus.UNVERIFIED)
    return practitioner, Actor(practitioner.user_id, Role.PRACTITIONER)


def stored(db) -> tuple[int, int]:
    return (
        db.scalar(select(func.count()).select_from(VerificationApplication)),
        db.scalar(select(func.count()).select_from(VerificationDocument)),
    )


def png(size: tuple[int, int], mode: str = "1") -> bytes:
    """A real PNG of this many pixels, all one colour: a few KB whatever its size."""
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, "PNG")
    return buffer.getvalue()


def noisy_jpeg(size=(800, 600)) -> bytes:
    rng = random.Random(7)
    image = Image.frombytes("RGB", size, bytes(rng.getrandbits(8) for _ in range(size[0] * size[1] * 3)))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


class BrowserFile:
    """What st.file_uploader hands the page: a name, a size, and the bytes when asked."""

    def __init__(self, name: str, data: bytes, read: list[str]) -> None:
        self.name, self.size, self._data, self._read = name, len(data), data, read

    def getvalue(self) -> bytes:
        self._read.append(self.name)
        return self._data


def test_uploads_are_capped_at_6_mb_by_the_server():
    config = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())
    assert 5 <= config["server"]["maxUploadSize"] <= 6  # Streamlit's default is 200 (MB)


def test_seven_files_are_refused_before_any_is_read(db, applicant):
    _, actor = applicant
    read: list[str] = []
    files = [BrowserFile(f"page{n}.pdf", sample_document("pdf"), read) for n in range(7)]
    with pytest.raises(InvalidInput) as refused:
        verification.apply(session=db, actor=actor, form=form(ui_verification.uploads(files)))
    assert refused.value.problems["documents"] == "Attach at most 6 documents at a time."
    assert read == [] and stored(db) == (0, 0)


def test_a_file_over_5_mb_is_refused_by_its_size_without_being_read(db, applicant):
    _, actor = applicant
    read: list[str] = []
    big = BrowserFile("scan.pdf", b"%PDF-1.4\n" + bytes(5 * 1024 * 1024) + b"%%EOF", read)
    with pytest.raises(InvalidInput) as refused:
        verification.apply(session=db, actor=actor, form=form(ui_verification.uploads([big])))
    assert "scan.pdf is 5.0 MB; each document may be at most 5 MB." in refused.value.problems["documents"]
    assert read == [] and stored(db) == (0, 0)


def test_a_12000_by_12000_png_is_refused_for_its_pixels(db, applicant):
    practitioner, actor = applicant
    huge = png((12000, 12000))
    assert len(huge) < 1024 * 1024  # small on disk, 144 megapixels decoded
    with pytest.raises(InvalidInput) as refused:
        verification.apply(session=db, actor=actor, form=form([verification.Upload("id.png", huge)]))
    assert refused.value.problems["documents"] == (
        "id.png is 12,000 × 12,000 pixels (144 megapixels); images may be at most 25 megapixels. "
        "Save it at a smaller size and upload it again."
    )
    assert stored(db) == (0, 0)
    db.refresh(practitioner)
    assert practitioner.verification_status == VerificationStatus.UNVERIFIED


def test_a_decompression_bomb_is_refused_in_plain_words(db, applicant):
    _, actor = applicant
    bomb = png((14000, 14000))  # 196 megapixels: Pillow itself refuses to open it
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(bomb))
    with pytest.raises(InvalidInput) as refused:
        verification.apply(session=db, actor=actor, form=form([verification.Upload("bomb.png", bomb)]))
    assert refused.value.problems["documents"].startswith("bomb.png has far too many pixels; images may be at most 25")
    assert stored(db) == (0, 0)


def test_a_truncated_jpeg_is_refused_with_nothing_stored(db, applicant):
    _, actor = applicant
    photo = noisy_jpeg()
    cut = photo[: len(photo) // 2]
    with pytest.raises(InvalidInput) as refused:
        verification.apply(
            session=db,
            actor=actor,
            form=form([verification.Upload("letter.pdf", sample_document("pdf")), verification.Upload("id.jpg", cut)]),
        )
    assert refused.value.problems["documents"] == (
        "id.jpg is damaged or incomplete: it could not be read to the end. "
        "Save or scan it again and upload the new file."
    )
    assert stored(db) == (0, 0)


def test_an_image_is_stored_with_a_small_thumbnail_and_a_pdf_without(db, applicant):
    _, actor = applicant
    photo = noisy_jpeg((1600, 1200))
    verification.apply(
        session=db,
        actor=actor,
        form=form([verification.Upload("id.jpg", photo), verification.Upload("letter.pdf", sample_document("pdf"))]),
    )
    documents = {d.file_name: d for d in db.scalars(select(VerificationDocument))}
    assert documents["letter.pdf"].thumbnail is None
    with Image.open(io.BytesIO(documents["id.jpg"].thumbnail)) as thumbnail:
        assert thumbnail.format == "JPEG" and max(thumbnail.size) == 320
    assert documents["id.jpg"].content == photo


@pytest.fixture
def legacy_queue(db, applicant):
    """An application holding what older versions let in: a truncated JPEG and a
    144-megapixel PNG (no thumbnails), a photo with a broken thumbnail, and one good photo."""
    practitioner, actor = applicant
    verification.apply(
        session=db, actor=actor, form=form([verification.Upload("good.png", sample_document("png", size=(900, 600)))])
    )
    application = db.scalar(select(VerificationApplication))
    photo = noisy_jpeg()
    for name, content, thumbnail in [
        ("cut.jpg", photo[: len(photo) // 2], None),
        ("huge.png", png((12000, 12000)), None),
        ("odd.jpg", photo, b"\xff\xd8\xff not a thumbnail at all"),
    ]:
        db.add(
            VerificationDocument(
                application_id=application.id,
                file_name=name,
                content_type="image/png" if name.endswith("png") else "image/jpeg",
                size_bytes=len(content),
                sha256="0" * 64,
                content=content,
                thumbnail=thumbnail,
                uploaded_by_id=actor.id,
            )
        )
    db.flush()
    return practitioner


def test_the_queue_shows_thumbnails_never_decodes_originals_and_always_offers_the_decision(
    db, page, legacy_queue, monkeypatch
):
    decoded: list[tuple[int, int]] = []
    original_load = ImageFile.ImageFile.load

    def load(self):
        decoded.append(self.size)
        return original_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    staff = make_user(db, role=Role.STAFF)
    app = page("pages/verification_queue.py", user=staff)
    assert not app.exception, app.exception
    assert all(max(size) <= 320 for size in decoded), decoded  # thumbnails only, never an original
    assert len(app.get("image")) == 1  # good.png's thumbnail
    assert any("No preview of this image" in i.value for i in app.info)  # the two without a thumbnail
    assert any("odd.jpg could not be shown" in w.value.replace("\\", "") for w in app.warning)
    assert len(app.get("download_button")) == 4

    app.radio[0].set_value("approve")
    next(b for b in app.button if b.label == "Send decision").click()
    app = app.run()
    next(b for b in app.button if b.label == "Yes, approve").click()
    app = app.run()
    assert not app.exception, app.exception
    assert "Nomvula" in app.success[0].value
    db.refresh(legacy_queue)
    assert legacy_queue.verification_status == VerificationStatus.VERIFIED
    assert db.scalar(select(VerificationApplication.status)) == ApplicationStatus.APPROVED
