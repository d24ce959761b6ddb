"""The Users page's parts: the staff-account form, the results table and the controls that
change one user. Each change goes through `accounts`, which audits it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from avenrae.services import accounts
from avenrae.services.accounts import CurrentUser, UserRow
from avenrae.ui import feedback
from avenrae.ui import format as fmt


def create_staff_form(admin: CurrentUser) -> None:
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
                success=f"Account created for {fmt.md(email)}. Share the temporary password safely.",
            )


def table(rows: list[UserRow]) -> None:
    st.dataframe(
        pd.DataFrame(
            {
                "Name": [f"{r.first_name} {r.last_name}" for r in rows],
                "Email": [r.email for r in rows],
                "Role": [fmt.label(r.role.value) for r in rows],
                "Active": [r.is_active for r in rows],
                "Temporary password": [r.must_change_password for r in rows],
                "Last login": [
                    fmt.local_time(r.last_login_at, pattern="%d %b %Y %H:%M") if r.last_login_at else "never"
                    for r in rows
                ],
            }
        ),
        hide_index=True,
        width="stretch",
    )


def change_controls(admin: CurrentUser, chosen: UserRow) -> None:
    """Role, active and password controls for one user, with one reason for the audit log."""
    reason = st.text_input("Reason (kept in the audit log)")
    roles_col, active_col, password_col = st.columns(3)
    with roles_col:
        _role_control(admin, chosen, reason)
    with active_col:
        if chosen.is_active:
            if st.button("Deactivate", type="secondary"):
                feedback.attempt(
                    lambda s: accounts.set_active(
                        session=s, actor_id=admin.id, user_id=chosen.id, active=False, reason=reason
                    ),
                    success=f"{fmt.md(chosen.email)} is deactivated and logged out everywhere.",
                )
        elif st.button("Reactivate"):
            feedback.attempt(
                lambda s: accounts.set_active(
                    session=s, actor_id=admin.id, user_id=chosen.id, active=True, reason=reason
                ),
                success=f"{fmt.md(chosen.email)} can log in again.",
            )
    with password_col:
        temporary_password = st.text_input("New temporary password", type="password", key="reset_password")
        if st.button("Set temporary password"):
            feedback.attempt(
                lambda s: accounts.set_temporary_password(
                    session=s, actor_id=admin.id, user_id=chosen.id, password=temporary_password, reason=reason
                ),
                success=f"{fmt.md(chosen.email)} must choose a new password at their next login.",
            )


def _role_control(admin: CurrentUser, chosen: UserRow, reason: str) -> None:
    if chosen.role not in accounts.STAFF_ROLES:
        st.caption(f"{fmt.label(chosen.role.value)}s keep their role.")
        return
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
            success=f"{fmt.md(chosen.email)} is now {fmt.label(new_role.value).lower()}.",
        )
