"""Choosing a person: type part of a name or email, pick from what matches."""

from __future__ import annotations

import streamlit as st

from avenrae.db import session_scope
from avenrae.models import Role
from avenrae.services import accounts
from avenrae.ui import format as fmt

FIRST_MATCHES = 20  # people listed for a search; more are found by typing more


def person(
    role: Role, *, key: str, label: str, show_email: bool = True, bookable_only: bool = False
) -> accounts.Person | None:
    """A search box and the matching clients or practitioners (at most 20); None until chosen.
    Nothing is listed before something is typed: a list of everyone's first 20 invited typing
    into it, where only those 20 are found.

    Clients choosing a practitioner do not see e-mail addresses (`show_email=False`), and
    someone about to book sees only practitioners who can be booked (`bookable_only`).
    """
    query = st.text_input(
        f"Find a {label}",
        key=f"{key}_query",
        placeholder="Part of a name or email" if show_email else "Part of a name",
        on_change=st.session_state.pop,  # a new search starts a new choice
        args=(f"{key}_choice", None),
    )
    if not query.strip():
        st.caption(f"Type part of a {label}’s name above to see who matches.")
        return None
    with session_scope() as session:
        found = accounts.find_people(
            session=session,
            role=role,
            query=query,
            bookable_only=bookable_only,
            match_email=show_email,
            limit=FIRST_MATCHES,
        )
    if not found:
        st.caption(f"No {label} matches “{fmt.md(query)}”.")
        return None
    if len(found) == FIRST_MATCHES:  # the list below holds only these: say how to reach the rest
        st.caption(f"The first {FIRST_MATCHES} matches are listed: type more of the name above to find anyone else.")
    return st.selectbox(
        label.capitalize(),
        found,
        index=0 if len(found) == 1 else None,  # never guess whom the user meant
        format_func=lambda p: p.label if show_email else p.public_label,
        placeholder=f"Choose a {label}",
        key=f"{key}_choice",
    )
