"""The caller's own account, reviews and notifications (Bearer token)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import ConfigDict, Field

from avenrae.db import session_scope
from avenrae.models import Role
from avenrae.services import accounts, flows, notifications, reviews
from avenrae.services.errors import InvalidInput

from .. import problems
from ..deps import LoggedIn, LoggedInWithAnyPassword
from ..problems import Problem
from ..schemas import MAX_OFFSET, Message, Model
from ..threads import waits_on_others

router = APIRouter(tags=["me"])


class MeOut(Model):
    id: uuid.UUID
    email: str
    role: str
    firstName: str
    lastName: str
    phone: str | None
    practitionerId: uuid.UUID | None
    mustChangePassword: bool
    unreadNotifications: int


def _me(caller_id: uuid.UUID) -> MeOut:
    with session_scope() as session:
        user = accounts.get_current(session=session, user_id=caller_id)
        if user is None:
            raise Problem(401, "This account can no longer log in.", headers=problems.BEARER)
        unread = notifications.unread_count(session=session, user_id=caller_id)
    return MeOut(
        id=user.id,
        email=user.email,
        role=user.role.value,
        firstName=user.first_name,
        lastName=user.last_name,
        phone=user.phone,
        practitionerId=user.practitioner_id,
        mustChangePassword=user.must_change_password,
        unreadNotifications=unread,
    )


@router.get("/me", response_model=MeOut)
def me(caller: LoggedInWithAnyPassword) -> MeOut:
    """Who the token belongs to."""
    return _me(caller.id)


class ProfileIn(Model):
    # An e-mail or a role sent here is refused, not ignored: the app must not think it changed.
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    firstName: str | None = Field(None, description="Left out: unchanged.")
    lastName: str | None = Field(None, description="Left out: unchanged.")
    phone: str | None = Field(None, description="Left out: unchanged; null or empty: removed (not for practitioners).")


@router.patch("/me", response_model=MeOut)
def update_me(body: ProfileIn, caller: LoggedIn) -> MeOut:
    """Change one's name or phone: only the fields sent change (practitioners must keep a
    phone number)."""
    sent = body.model_fields_set
    with session_scope() as session:
        user = accounts.get_current(session=session, user_id=caller.id)
        if user is None:
            raise Problem(401, "This account can no longer log in.", headers=problems.BEARER)
        form = accounts.ProfileUpdate(
            first_name=(body.firstName or "") if "firstName" in sent else user.first_name,
            last_name=(body.lastName or "") if "lastName" in sent else user.last_name,
            phone=body.phone if "phone" in sent else user.phone,
        )
        flows.update_profile(session=session, user_id=caller.id, form=form)
    return _me(caller.id)


class PasswordIn(Model):
    currentPassword: str
    newPassword: str


@router.post("/me/password", response_model=Message)
@waits_on_others
def change_password(body: PasswordIn, caller: LoggedInWithAnyPassword) -> Message:
    """Change one's password. Every session ends (its refresh and access tokens, this one's
    too): log in again."""
    with session_scope() as session:
        accounts.change_password(
            session=session, user_id=caller.id, old_password=body.currentPassword, new_password=body.newPassword
        )
    return Message(message="Password changed. Log in again with the new password.")


# --- reviews ---------------------------------------------------------------------------


class ReviewIn(Model):
    bookingId: uuid.UUID
    rating: int = Field(description="1 to 5 stars")
    comment: str


class MyReviewOut(Model):
    id: uuid.UUID
    bookingId: uuid.UUID
    practitionerId: uuid.UUID
    practitionerName: str
    rating: int
    comment: str
    status: str = Field(description="pending (awaiting moderation), published, rejected or hidden")
    moderationReason: str | None
    reply: str | None
    createdAt: datetime | None


class MyReviewsOut(Model):
    reviews: list[MyReviewOut]


def _review_out(view: reviews.ReviewView) -> MyReviewOut:
    return MyReviewOut(
        id=view.id,
        bookingId=view.booking_id,
        practitionerId=view.practitioner_id,
        practitionerName=view.practitioner_name,
        rating=view.rating,
        comment=view.comment,
        status=view.status.value,
        moderationReason=view.moderation_reason,
        reply=view.reply,
        createdAt=view.created_at,
    )


@router.post("/reviews", status_code=201, response_model=MyReviewOut, tags=["reviews"])
def write_review(body: ReviewIn, caller: LoggedIn) -> MyReviewOut:
    """Review one of one's completed sessions (once, within 90 days; a rejected review can be written
    again, the same review); published after moderation."""
    with session_scope() as session:
        review = reviews.write(
            session=session, actor=caller.actor, booking_id=body.bookingId, rating=body.rating, comment=body.comment
        )
        view = reviews.get(session=session, actor=caller.actor, review_id=review.id)
    return _review_out(view)


@router.get("/reviews/mine", response_model=MyReviewsOut, tags=["reviews"])
def my_reviews(caller: LoggedIn) -> MyReviewsOut:
    """The reviews the caller wrote, whatever their state, newest first."""
    if caller.role != Role.CLIENT:
        raise Problem(403, "Only clients write reviews.")
    with session_scope() as session:
        views = reviews.mine(session=session, actor=caller.actor)
    return MyReviewsOut(reviews=[_review_out(view) for view in views])


# --- notifications -----------------------------------------------------------------------


class NotificationOut(Model):
    id: uuid.UUID
    type: str
    title: str
    message: str
    data: dict[str, Any] = Field(description='What it is about, e.g. {"bookingId": ...}')
    createdAt: datetime
    read: bool


class NotificationsOut(Model):
    notifications: list[NotificationOut]
    unread: int


@router.get("/notifications", response_model=NotificationsOut, tags=["notifications"])
def list_notifications(
    caller: LoggedIn,
    unreadOnly: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> NotificationsOut:
    """The caller's notifications, newest first."""
    with session_scope() as session:
        entries = notifications.inbox(
            session=session, user_id=caller.id, unread_only=unreadOnly, limit=limit, offset=offset
        )
        unread = notifications.unread_count(session=session, user_id=caller.id)
    return NotificationsOut(
        notifications=[
            NotificationOut(
                id=entry.id,
                type=entry.type,
                title=entry.title,
                message=entry.message,
                data={problems.camel(key): value for key, value in (entry.data or {}).items()},
                createdAt=entry.created_at,
                read=entry.read_at is not None,
            )
            for entry in entries
        ],
        unread=unread,
    )


class MarkReadIn(Model):
    ids: list[uuid.UUID] | None = Field(None, description="Which to mark read; leave out for all")


class MarkedOut(Model):
    marked: int


@router.post("/notifications/read", response_model=MarkedOut, tags=["notifications"])
def mark_read(body: MarkReadIn, caller: LoggedIn) -> MarkedOut:
    """Mark some (or all) of the caller's notifications read; others' are never touched."""
    if body.ids is not None and len(body.ids) > 500:
        raise problems.invalid(InvalidInput({"ids": "Mark at most 500 notifications at a time."}))
    with session_scope() as session:
        marked = notifications.mark_read(session=session, user_id=caller.id, ids=body.ids)
    return MarkedOut(marked=marked)
