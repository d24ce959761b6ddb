"""Property: a practitioner's rating and review count are always those of their published
reviews, to the cent, whatever clients write and moderators publish, reject or hide."""

from contextlib import suppress
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from avenrae.models import BookingStatus, Review, ReviewStatus, Role
from avenrae.services import flows, reviews
from avenrae.services.bookings import Actor
from avenrae.services.errors import Conflict
from tests.factories import make_booking, make_practitioner, make_user

steps = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(min_value=1, max_value=5)),
        st.tuples(st.sampled_from(["publish", "reject", "hide"]), st.integers(min_value=0, max_value=20)),
    ),
    min_size=1,
    max_size=14,
)


def expected(db, practitioner_id) -> tuple[Decimal | None, int]:
    """Independently: the plain mean of the published ratings, half-up to the cent."""
    ratings = db.scalars(
        select(Review.rating).where(Review.practitioner_id == practitioner_id, Review.status == ReviewStatus.PUBLISHED)
    ).all()
    if not ratings:
        return None, 0
    return (Decimal(sum(ratings)) / len(ratings)).quantize(Decimal("0.01"), ROUND_HALF_UP), len(ratings)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps)
def test_the_rating_is_the_mean_of_published_reviews_after_every_change(db, plan):
    with db.begin_nested() as example:
        staff = Actor(make_user(db, role=Role.STAFF).id, Role.STAFF)
        practitioner = make_practitioner(db)
        written: list[Review] = []
        for action, value in plan:
            if action == "write":
                booking = make_booking(
                    db,
                    practitioner=practitioner,
                    start=datetime.now(UTC) - timedelta(days=len(written) + 1),
                    status=BookingStatus.COMPLETED,
                )
                written.append(
                    reviews.write(
                        session=db,
                        actor=Actor(booking.client_id, Role.CLIENT),
                        booking_id=booking.id,
                        rating=value,
                        comment="Thank you.",
                    )
                )
            elif written:
                target = written[value % len(written)]
                with suppress(Conflict):  # not allowed from its current state: nothing changes
                    flows.moderate_review(session=db, actor=staff, review_id=target.id, action=action, reason="Checked")
            db.refresh(practitioner)
            assert (practitioner.rating, practitioner.review_count) == expected(db, practitioner.id)
        example.rollback()
