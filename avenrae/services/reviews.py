"""Reviews: only clients of completed sessions write them, staff moderate, ratings follow.

A review starts pending and is published, rejected or (later) hidden by staff. A
practitioner's rating and review count are those of their published reviews: a
database rule on the reviews table keeps them, in the same transaction as every change
(migration 20261125_trust), so no code path can forget it.

Text is stored exactly as typed and escaped wherever it is shown.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, func, or_, select, true
from sqlalchemy.orm import Session, aliased

from avenrae.models import OPERATORS, Booking, BookingStatus, Practitioner, Review, ReviewStatus, Role, User
from avenrae.services import audit, bookings, counting, validation
from avenrae.services.bookings import Actor
from avenrae.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from avenrae.services.screening import flags_for, refused_in_public

REVIEW_WINDOW = timedelta(days=90)
COMMENT_MAX = 2000
REASON_MAX = 500

# What staff may do to a review in each state, and where it ends up.
MODERATION = {
    "publish": ({ReviewStatus.PENDING, ReviewStatus.HIDDEN}, ReviewStatus.PUBLISHED),
    "reject": ({ReviewStatus.PENDING}, ReviewStatus.REJECTED),
    "hide": ({ReviewStatus.PUBLISHED}, ReviewStatus.HIDDEN),
}

# ---------------------------------------------------------------------------- views


@dataclass(frozen=True)
class Reviewable:
    """A completed session the client may still review."""

    booking_id: uuid.UUID
    practitioner_name: str
    session_start: datetime
    review_by: datetime
    rejected: bool = False  # reviewed, but moderators did not publish it: it can be written again


@dataclass(frozen=True)
class ReviewView:
    id: uuid.UUID
    booking_id: uuid.UUID
    practitioner_id: uuid.UUID
    practitioner_name: str
    client_name: str  # first name and initial: what the public sees
    session_start: datetime
    rating: int
    comment: str
    status: ReviewStatus
    flags: list[str] = field(default_factory=list)
    moderation_reason: str | None = None
    moderated_at: datetime | None = None
    moderator_name: str | None = None  # who decided last (staff)
    reply: str | None = None
    replied_at: datetime | None = None
    created_at: datetime | None = None


_client = aliased(User)
_practitioner_user = aliased(User)
_decided_by = aliased(User)


def _views() -> Select:
    return (
        select(
            Review.id,
            Review.booking_id,
            Review.practitioner_id,
            (_practitioner_user.first_name + " " + _practitioner_user.last_name).label("practitioner_name"),
            (_client.first_name + " " + func.left(_client.last_name, 1) + ".").label("client_name"),
            Booking.session_start,
            Review.rating,
            Review.comment,
            Review.status,
            Review.flags,
            Review.moderation_reason,
            Review.moderated_at,
            (_decided_by.first_name + " " + _decided_by.last_name).label("moderator_name"),
            Review.practitioner_reply.label("reply"),
            Review.replied_at,
            Review.created_at,
        )
        .join(Booking, Booking.id == Review.booking_id)
        .join(_client, _client.id == Review.client_id)
        .join(Practitioner, Practitioner.id == Review.practitioner_id)
        .join(_practitioner_user, _practitioner_user.id == Practitioner.user_id)
        .outerjoin(_decided_by, _decided_by.id == Review.moderated_by_id)
    )


def _view(row: Row[Any] | Any) -> ReviewView:
    fields = {key: value for key, value in row._mapping.items() if key != "author_id"}
    return ReviewView(**{**fields, "flags": list(row.flags)})


def _moderator(actor: Actor) -> None:
    if actor.role not in OPERATORS:
        raise PermissionDenied("Only staff can moderate reviews.")


def _practitioner_of(session: Session, actor: Actor) -> Practitioner:
    practitioner = session.scalar(select(Practitioner).where(Practitioner.user_id == actor.id))
    if actor.role != Role.PRACTITIONER or practitioner is None:
        raise PermissionDenied("Only practitioners have reviews to reply to.")
    return practitioner


# ---------------------------------------------------------------------------- clients


def open_for_review(now: datetime) -> ColumnElement[bool]:
    """The one rule for which sessions can be reviewed, used to list them and to write:
    completed, and ended 90 days ago or less (exactly 90 days still counts)."""
    return and_(Booking.status == BookingStatus.COMPLETED, Booking.session_end >= now - REVIEW_WINDOW)


def reviewable(*, session: Session, actor: Actor, now: datetime | None = None) -> list[Reviewable]:
    """The client's sessions open for review that have no review yet, or one moderators
    did not publish (to write again), newest first."""
    if actor.role != Role.CLIENT:
        return []
    now = now or datetime.now(UTC)
    rows = session.execute(
        select(
            Booking.id,
            (_practitioner_user.first_name + " " + _practitioner_user.last_name),
            Booking.session_start,
            Booking.session_end,
            Review.id.is_not(None),
        )
        .join(Practitioner, Practitioner.id == Booking.practitioner_id)
        .join(_practitioner_user, _practitioner_user.id == Practitioner.user_id)
        .outerjoin(Review, Review.booking_id == Booking.id)
        .where(
            Booking.client_id == actor.id,
            open_for_review(now),
            or_(Review.id.is_(None), Review.status == ReviewStatus.REJECTED),
        )
        .order_by(Booking.session_start.desc())
    ).all()
    return [Reviewable(b, name, start, end + REVIEW_WINDOW, again) for b, name, start, end, again in rows]


def _rating(value: object) -> int:
    try:
        return validation.whole_number(value, label="Rating", minimum=1, maximum=5)
    except validation.FieldError:
        raise InvalidInput({"rating": "Choose a rating from 1 to 5 stars."}) from None


def write(
    *,
    session: Session,
    actor: Actor,
    booking_id: uuid.UUID,
    rating: object,
    comment: str,
    now: datetime | None = None,
) -> Review:
    """A client reviews one of their completed sessions, once, within 90 days of it; a
    review moderators did not publish (rejected) can be written again, and waits for them
    once more. One taken down after publishing cannot."""
    now = now or datetime.now(UTC)
    problems: dict[str, str] = {}
    stars = 0
    try:
        stars = _rating(rating)
    except InvalidInput as error:
        problems.update(error.problems)
    try:
        comment = validation.text(comment, label="Your review", max_length=COMMENT_MAX)
    except validation.FieldError as error:
        problems["comment"] = str(error) if (comment or "").strip() else "Write a few words about the session."
    if problems:
        raise InvalidInput(problems)
    if actor.role != Role.CLIENT:
        raise PermissionDenied("Clients review the sessions they had.")
    booking = session.scalar(select(Booking).where(Booking.id == booking_id).with_for_update())
    if booking is None or booking.client_id != actor.id:
        raise bookings.not_found()  # someone else's session reads as one that does not exist
    if not session.scalar(select(open_for_review(now)).where(Booking.id == booking.id)):
        if booking.status != BookingStatus.COMPLETED:
            raise Conflict("You can review a session once it has taken place and been marked completed.")
        raise Conflict("Reviews are open for 90 days after a session; this one is older.")
    earlier = session.scalar(select(Review).where(Review.booking_id == booking_id).with_for_update())
    if earlier is not None and earlier.status != ReviewStatus.REJECTED:
        raise Conflict("You have already reviewed this session.")
    if earlier is not None:  # written again after a rejection: back in the moderators' queue
        earlier.rating, earlier.comment, earlier.flags = stars, comment, flags_for(comment)
        earlier.status = ReviewStatus.PENDING
        earlier.moderation_reason = earlier.moderated_by_id = earlier.moderated_at = None
        session.flush()
        return earlier
    review = Review(
        booking_id=booking.id,
        client_id=actor.id,
        practitioner_id=booking.practitioner_id,
        rating=stars,
        comment=comment,
        flags=flags_for(comment),
    )
    session.add(review)
    session.flush()
    return review


def mine(*, session: Session, actor: Actor) -> list[ReviewView]:
    """The reviews this client wrote, whatever their state."""
    rows = session.execute(_views().where(Review.client_id == actor.id).order_by(Review.created_at.desc())).all()
    return [_view(row) for row in rows]


def get(*, session: Session, actor: Actor, review_id: uuid.UUID) -> ReviewView:
    """One review, if this person may see it: published ones to everyone, the rest only
    to their author, the practitioner reviewed and staff."""
    row = session.execute(
        _views().where(Review.id == review_id).add_columns(Review.client_id.label("author_id"))
    ).one_or_none()
    if row is None:
        raise NotFound("No such review.")
    view = _view(row)
    if view.status != ReviewStatus.PUBLISHED and actor.role not in OPERATORS:
        own_practitioner = session.scalar(
            select(Practitioner.id).where(Practitioner.user_id == actor.id, Practitioner.id == view.practitioner_id)
        )
        if row.author_id != actor.id and own_practitioner is None:
            raise NotFound("No such review.")  # not "forbidden": that would confirm it exists
    return view


# ---------------------------------------------------------------------------- practitioners


@dataclass(frozen=True)
class Summary:
    rating: float | None
    review_count: int
    stars: dict[int, int]  # published reviews per star


def summary(*, session: Session, practitioner_id: uuid.UUID) -> Summary:
    practitioner = session.get(Practitioner, practitioner_id)
    if practitioner is None:
        raise NotFound("No such practitioner.")
    counts = dict(
        session.execute(
            select(Review.rating, func.count())
            .where(Review.practitioner_id == practitioner_id, Review.status == ReviewStatus.PUBLISHED)
            .group_by(Review.rating)
        ).all()
    )
    rating = float(practitioner.rating) if practitioner.rating is not None else None
    return Summary(rating, practitioner.review_count, {star: counts.get(star, 0) for star in range(5, 0, -1)})


def published(
    *, session: Session, practitioner_id: uuid.UUID, limit: int = 20, offset: int = 0, unanswered_only: bool = False
) -> list[ReviewView]:
    """A practitioner's published reviews, newest first: what clients see (or only those
    still without the practitioner's reply)."""
    rows = session.execute(
        _views()
        .where(Review.practitioner_id == practitioner_id, Review.status == ReviewStatus.PUBLISHED)
        .where(Review.practitioner_reply.is_(None) if unanswered_only else true())
        .order_by(Review.created_at.desc(), Review.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [_view(row) for row in rows]


@dataclass(frozen=True)
class MyReviews:
    """A page of the practitioner's own published reviews, and how many there are."""

    practitioner: Practitioner
    reviews: list[ReviewView]
    published: int
    unanswered: int  # published, without their reply yet
    unanswered_only: bool  # whether `reviews` are only those


def for_me(
    *, session: Session, actor: Actor, unanswered_only: bool | None = None, limit: int = 10, offset: int = 0
) -> MyReviews:
    """The practitioner's own published reviews (those they may reply to), a page at a time;
    `unanswered_only`: only those still waiting for their reply (None: those when there are
    any, else all)."""
    practitioner = _practitioner_of(session, actor)
    total, unanswered = session.execute(
        select(func.count(), func.count().filter(Review.practitioner_reply.is_(None))).where(
            Review.practitioner_id == practitioner.id, Review.status == ReviewStatus.PUBLISHED
        )
    ).one()
    waiting = bool(unanswered) if unanswered_only is None else unanswered_only
    found = published(
        session=session, practitioner_id=practitioner.id, limit=limit, offset=offset, unanswered_only=waiting
    )
    return MyReviews(practitioner, found, total, unanswered, waiting)


def reply(*, session: Session, actor: Actor, review_id: uuid.UUID, text: str, now: datetime | None = None) -> Review:
    """The practitioner's one public reply to a published review of theirs."""
    practitioner = _practitioner_of(session, actor)
    try:
        text = validation.text(text, label="Your reply", max_length=COMMENT_MAX)
    except validation.FieldError as error:
        raise InvalidInput({"reply": str(error)}) from None
    # A reply is published at once, with no moderator to read it first: what a review would
    # be held for is refused here, saying what to take out.
    refused = refused_in_public(text, field="reply", label="A public reply")
    if refused:
        raise InvalidInput({"reply": refused})
    review = session.scalar(select(Review).where(Review.id == review_id).with_for_update())
    if review is None or review.practitioner_id != practitioner.id:
        raise NotFound("No such review of yours.")
    if review.status != ReviewStatus.PUBLISHED:
        raise Conflict("You can reply once the review is published.")
    if review.practitioner_reply is not None:
        raise Conflict("You have already replied to this review.")
    review.practitioner_reply = text
    review.replied_at = now or datetime.now(UTC)
    session.flush()
    return review


# ---------------------------------------------------------------------------- staff


@dataclass(frozen=True)
class QueueFilter:
    status: ReviewStatus = ReviewStatus.PENDING
    flagged_only: bool = False
    text: str = ""  # part of the client's or practitioner's name or e-mail


def queue(
    *, session: Session, actor: Actor, filters: QueueFilter = QueueFilter(), limit: int = 50
) -> tuple[list[ReviewView], counting.Count]:
    """Reviews in one state for moderators, flagged ones first, then oldest first; and how many in all."""
    _moderator(actor)
    matching = _views().where(Review.status == filters.status)
    if filters.flagged_only:
        matching = matching.where(func.cardinality(Review.flags) > 0)
    for word in filters.text.lower().split()[:4]:
        pattern = validation.contains(word)
        matching = matching.where(or_(_client.search_text.like(pattern), _practitioner_user.search_text.like(pattern)))
    # Estimated when counting exactly would read tens of thousands of reviews (Count.exact says which).
    total = counting.count(session, matching)
    rows = session.execute(
        matching.order_by((func.cardinality(Review.flags) > 0).desc(), Review.created_at, Review.id).limit(limit)
    ).all()
    return [_view(row) for row in rows], total


def moderate(
    *,
    session: Session,
    actor: Actor,
    review_id: uuid.UUID,
    action: str,
    reason: str = "",
    now: datetime | None = None,
) -> Review:
    """Publish, reject or hide a review. Rejecting and hiding need a reason, which the
    client is told; every action leaves one audit row."""
    _moderator(actor)
    if action not in MODERATION:
        raise InvalidInput({"action": "Choose publish, reject or hide."})
    allowed_from, target = MODERATION[action]
    if action != "publish":
        try:
            reason = validation.text(reason, label="A reason", max_length=REASON_MAX)
        except validation.FieldError as error:
            raise InvalidInput({"reason": f"{error} The client is told why."}) from None
    else:
        reason = validation.text(reason, label="A note", max_length=REASON_MAX, required=False)
    review = session.scalar(select(Review).where(Review.id == review_id).with_for_update())
    if review is None:
        raise NotFound("No such review.")
    if review.status not in allowed_from:
        raise Conflict(f"This review is {review.status.value} and cannot be {target.value} now; refresh the queue.")
    before = {"status": review.status.value}
    review.status = target
    review.moderated_by_id = actor.id
    review.moderated_at = now or datetime.now(UTC)
    review.moderation_reason = reason or None
    audit.record(
        session=session,
        actor_id=actor.id,
        action=f"review.{action}",
        target_type="review",
        target_id=review.id,
        before=before,
        # Published with its flags, the log says so: a moderator chose to show it as it is.
        after={"status": target.value, "rating": review.rating}
        | ({"published_with_flags": list(review.flags)} if action == "publish" and review.flags else {}),
        reason=reason or None,
    )
    session.flush()  # the rating rule runs now, inside this transaction
    return review


def excerpt(text: str, length: int = 120) -> str:
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"
