"""Users (admins): find people, create staff accounts, change roles, deactivate, reset passwords."""

import pandas as pd
import streamlit as st

from avenrae.db import session_scope
from avenrae.models import Role
from avenrae.services import accounts
from avenrae.ui import feedback
from avenrae.ui import format as fmt
from avenrae.ui.page import signed_in

admin = signed_in(__file__)

st.title("Users")
feedback.show_flash()

with st.expander("Create a staff, analyst or admin account"), st.form("create_user", clear_on_submit=False):
    left, right = st.columns(2)
    first_name = left.text_input("First name")
    last_name = right.text_input("Last name")
    email = left.text_input("Email")
    role = right.selectbox("Role", accounts.STAFF_ROLES, format_func=lambda r: fmt.label(r.value))
    temporary = st.text_input(
        "Temporary password", type="password", help="They must choose their own password when they first log in."
    )
    if st.form_submit_button("Create account", type="primary"):
        form = accounts.StaffUserCreate(
            role=role, email=email, first_name=first_name, last_name=last_name, temporary_password=temporary
        )
        feedback.attempt(
            lambda s: accounts.create_staff_user(session=s, actor_id=admin.id, form=form),
            success=f"Account created for {email}. Share the temporary password safely.",
        )

left, middle, right = st.columns([3, 1, 1])
query = left.text_input("Search by name or email", placeholder="e.g. thandi or @example.co.za")
role_filter = middle.selectbox("Role", [None, *Role], format_func=lambda r: "All roles" if r is None else fmt.label(r))
page_number = right.number_input("Page", min_value=1, value=1, step=1)

with session_scope() as session:
    found = accounts.search_users(session=session, query=query, role=role_filter, page=int(page_number))

if not found.rows:
    st.info("No users match this search." if found.total == 0 else f"There are only {found.pages} pages.")
    st.stop()

exact = getattr(found.total, "exact", True)
st.caption(f"{fmt.rows(found.total, exact, 'user')} · page {found.page} of {'' if exact else 'about '}{found.pages:,}")
st.dataframe(
    pd.DataFrame(
        {
            "Name": [f"{r.first_name} {r.last_name}" for r in found.rows],
            "Email": [r.email for r in found.rows],
            "Role": [fmt.label(r.role.value) for r in found.rows],
            "Active": [r.is_active for r in found.rows],
            "Temporary password": [r.must_change_password for r in found.rows],
            "Last login": [
                fmt.local_time(r.last_login_at, pattern="%d %b %Y %H:%M") if r.last_login_at else "never"
                for r in found.rows
            ],
        }
    ),
    hide_index=True,
    width="stretch",
)

st.subheader("Change a user")
chosen = st.selectbox(
    "User",
    found.rows,
    format_func=lambda r: f"{r.first_name} {r.last_name} <{r.email}>",
    help="Users on this page of the results.",
)
reason = st.text_input("Reason (kept in the audit log)")
roles_col, active_col, password_col = st.columns(3)

with roles_col:
    if chosen.role in accounts.STAFF_ROLES:
        new_role = st.selectbox(
            "New role",
            accounts.STAFF_ROLES,
            index=accounts.STAFF_ROLES.index(chosen.role),
            format_func=lambda r: fmt.label(r.value),
        )
        if st.button("Change role", disabled=new_role == chosen.role):
            feedback.attempt(
                lambda s: accounts.change_role(
                    session=s, actor_id=admin.id, user_id=chosen.id, role=new_role, reason=reason
                ),
                success=f"{chosen.email} is now {fmt.label(new_role.value).lower()}.",
            )
    else:
        st.caption(f"{fmt.label(chosen.role.value)}s keep their role.")

with active_col:
    if chosen.is_active:
        if st.button("Deactivate", type="secondary"):
            feedback.attempt(
                lambda s: accounts.set_active(
                    session=s, actor_id=admin.id, user_id=chosen.id, active=False, reason=reason
                ),
                success=f"{chosen.email} is deactivated and logged out everywhere.",
            )
    elif st.button("Reactivate"):
        feedback.attempt(
            lambda s: accounts.set_active(session=s, actor_id=admin.id, user_id=chosen.id, active=True, reason=reason),
            success=f"{chosen.email} can log in again.",
        )

with password_col:
    temporary_password = st.text_input("New temporary password", type="password", key="reset_password")
    if st.button("Set temporary password"):
        feedback.attempt(
            lambda s: accounts.set_temporary_password(
                session=s, actor_id=admin.id, user_id=chosen.id, password=temporary_password, reason=reason
            ),
            success=f"{chosen.email} must choose a new password at their next login.",
        )
