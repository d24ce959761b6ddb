"""Users (admins): find people, create staff accounts, change roles, deactivate, reset passwords."""

import streamlit as st

from avenrae.db import session_scope
from avenrae.models import Role
from avenrae.services import accounts
from avenrae.ui import feedback, users, widgets
from avenrae.ui import format as fmt
from avenrae.ui.page import signed_in

admin = signed_in(__file__)

st.title("Users")
feedback.show_flash()
users.create_staff_form(admin)

left, middle, right = st.columns([3, 1, 1])
query = left.text_input("Search by name or email", placeholder="e.g. thandi or @example.co.za")
role_filter = middle.selectbox("Role", [None, *Role], format_func=lambda r: "All roles" if r is None else fmt.label(r))
with right:
    page_number = widgets.page_number(key="users_page")

with session_scope() as session:
    found = accounts.search_users(session=session, query=query, role=role_filter, page=page_number)

if not found.rows:
    st.info("No users match this search." if found.total == 0 else f"There are only {found.pages} pages.")
    st.stop()

exact = getattr(found.total, "exact", True)
st.caption(f"{fmt.rows(found.total, exact, 'user')} · page {found.page} of {'' if exact else 'about '}{found.pages:,}")
users.table(found.rows)

st.subheader("Change a user")
chosen = users.choose(found.rows)
if chosen is None:
    st.caption(users.NOBODY_PICKED)
else:
    users.change_controls(admin, chosen)
