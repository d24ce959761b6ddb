"""Notifications: what happened to your bookings and account, newest first."""

import streamlit as st

from avenrae.db import session_scope
from avenrae.services import notifications
from avenrae.ui import feedback, navigation
from avenrae.ui import format as fmt
from avenrae.ui.page import signed_in

user = signed_in(__file__)
st.title("Notifications")
feedback.show_flash()

unread_only = st.toggle("Unread only")
with session_scope() as session:
    entries = notifications.inbox(session=session, user_id=user.id, unread_only=unread_only)
    unread = notifications.unread_count(session=session, user_id=user.id)

if unread and st.button(f"Mark all {unread} as read"):
    feedback.attempt(lambda session: notifications.mark_read(session=session, user_id=user.id), success="All read.")
if not entries:
    st.info("Nothing unread." if unread_only else "No notifications yet.")
    st.stop()

can_open_bookings = navigation.allowed(navigation.spec_for("pages/bookings.py"), user)
for entry in entries:
    with st.container(border=True):
        left, right = st.columns([6, 1])
        marker = "" if entry.read_at else "● "
        left.markdown(f"**{marker}{fmt.md(entry.title)}** · {fmt.local_time(entry.created_at)}")
        left.markdown(fmt.md(entry.message))  # written by the platform, but it quotes names and reasons
        booking_id = (entry.data or {}).get("booking_id")
        if booking_id and can_open_bookings:
            left.page_link(
                "pages/bookings.py",
                label="Open the booking",
                icon=":material/calendar_month:",
                query_params={"booking": str(booking_id)},
            )
        if entry.read_at is None and right.button("Mark read", key=f"read_{entry.id}"):
            feedback.attempt(
                lambda session, entry=entry: notifications.mark_read(session=session, user_id=user.id, ids=[entry.id])
            )
