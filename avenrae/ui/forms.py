"""Form pieces more than one page uses."""

from __future__ import annotations

from decimal import Decimal

import streamlit as st

from avenrae.config import get_settings
from avenrae.models import MeetingType, Specialization
from avenrae.services.accounts import PractitionerProfile
from avenrae.ui import format as fmt
from avenrae.ui import location

SPECIALIZATION_HELP = {
    Specialization.HEALER: "Traditional healing, herbs, ancestral guidance",
    Specialization.PROPHET: "Prayer, prophecy and spiritual direction",
    Specialization.MEDIUM: "Readings and connecting with those who have passed",
    Specialization.COUNSELOR: "Talking through grief, stress, relationships and life changes",
}


def practitioner_fields(
    current: PractitionerProfile | None = None, *, key: str = "practice"
) -> tuple[dict[str, object], bool]:
    """The practice fields of sign-up and the account page, inside the caller's form.

    Also whether the caller should wait: the town typed is ambiguous and the choice between
    its places has only now appeared (see `location.which_place`).
    """
    specializations = list(Specialization)
    specialization = st.selectbox(
        "Specialization",
        specializations,
        index=specializations.index(current.specialization) if current else None,
        format_func=lambda s: f"{fmt.label(s.value)} — {SPECIALIZATION_HELP[s]}",
        placeholder="Choose what you offer",
    )
    left, right = st.columns(2)
    street = left.text_input(
        "Street address (optional)",
        value=current.street_address if current else "",
        help="Shown to clients who book an in-person session.",
    )
    place = right.text_input(
        "Town or city",
        value=current.city or "" if current else "",
        help="Your suburb, township or town (“Umlazi”, “Soweto, Johannesburg”) or postal code. Clients find you there.",
    )
    saved = f"{current.city}, {current.province}" if current and current.city else None
    town, choosing = location.which_place(place, key=f"{key}_place", default=saved)
    left, right = st.columns(2)
    rate = left.number_input(
        "Rate per session (R)",
        step=50.0,
        format="%.2f",
        value=float(current.rate_per_session) if current else 400.0,
        help=f"Clients pay this plus the platform's {fmt.percent(get_settings().platform_fee_rate)} fee; "
        "you earn this amount.",
    )
    duration = right.number_input(
        "Session length (minutes)",
        step=15,
        value=current.session_duration_minutes if current else 60,
    )
    offered = st.multiselect(
        "Ways to meet",
        list(MeetingType),
        default=list(current.meeting_types) if current else list(MeetingType),
        format_func=lambda m: fmt.label(m.value),
    )
    bio = st.text_area("About you", value=current.bio if current else "", height=140)
    fields: dict[str, object] = {
        "specialization": specialization,
        "street_address": street,
        "place": town,
        "rate_per_session": Decimal(str(rate)).quantize(Decimal("0.01")),
        "session_duration_minutes": int(duration),
        "meeting_types": offered,
        "bio": bio,
    }
    return fields, choosing
