"""The Users page's parts: the staff-account form, the results table and the controls that
change one user. Each change goes through `accounts`, which audits it. Nobody is picked to
change until the admin picks them (or a search finds only them); deactivating (which needs
a reason) and setting a temporary password ask first, naming the person."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pandas as pd
import streamlit as st

from avenrae.services import accounts
from avenrae.services.accounts import CurrentUser, UserRow
from avenrae.services.errors import InvalidInput
from avenrae.ui import feedback
from avenrae.ui import format as fmt

PICK_KEY = "users_pick"
REASON_KEY = "users_reason"
TEMPORARY_KEY = "users_temporary"  # the box for a temporary password
CONFIRM_KEY = "users_confirm"  # the id of the user a deactivation waits to be confirmed for
CONFIRM_RESET_KEY = "users_confirm_reset"  # the id of the user a temporary password waits to be confirmed for
NOBODY_PICKED = "Choose a user above to change their role, deactivate them or set a temporary password."


def create_staff_form(admin: CurrentUser) -> None:
    with st.expander("Create a staff, analyst or admin account"), st.form("create_user", clear_on_submit=False):
        left, right = st.columns(2)  # a row each: on a phone columns stack, so fields still read in order
        first_name = left.text_input("First name")
        last_name = right.text_input("Last name")
        left, right = st.columns(2)
        email = left.text_input("Email")
        role = right.selectbox("Role", accounts.STAFF_ROLES, format_func=lambda r: fmt.label(r.value))
        temporary = st.text_input(
            "Temporary password", type="password", help="They must choose their own password when they first log in."
        )
        if st.form_submit_button("Create account", type="primary"):
            form = accounts.StaffUserCreate(
                role=role, email=email, first_name=first_name, last_name=last_name, temporary_password=temporary
            )
            created = feedback.attempt(
                lambda s: accounts.create_staff_user(session=s, actor_id=admin.id, form=form), rerun=False
            )
            if created is not None:  # said as saved (the domain lower-cased), and chosen below
                st.session_state[PICK_KEY] = str(created.id)
                st.session_state[feedback.FLASH_KEY] = (
                    f"Account created for {fmt.md(created.email)} — share the temporary password with them safely."
                )
                st.rerun()


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
        placeholder=fmt.MISSING,
        width="stretch",
        # The marks narrow, so "Last login" fits beside a long email without scrolling.
        column_config={
            "Active": st.column_config.CheckboxColumn(width="small"),
            "Temporary password": st.column_config.CheckboxColumn(
                "Temp. password", width=115, help="Must choose their own password at the next login"
            ),
            "Last login": st.column_config.TextColumn(width="medium"),
        },
    )


def who(row: UserRow) -> str:
    return f"{row.first_name} {row.last_name} <{row.email}>"


def choose(rows: list[UserRow]) -> UserRow | None:
    """The user to change, picked by id and read from this run's rows, so the controls
    below match the table after a change (a picked row object would keep its old state).
    None until the admin picks someone, unless the search found only one person: opening
    the page never puts the first user of the list under the controls."""
    options = {str(row.id): row for row in rows}
    if st.session_state.get(PICK_KEY) not in options:  # picked before this search, or nobody yet
        st.session_state[PICK_KEY] = next(iter(options)) if len(options) == 1 else None
    picked = st.selectbox(
        "User",
        list(options),
        format_func=lambda key: who(options[key]),
        placeholder="Choose a user",
        help="Users on this page of the results.",
        key=PICK_KEY,
    )
    return options.get(picked)


def change_controls(admin: CurrentUser, chosen: UserRow) -> None:
    """Role, active and password controls for one user, with one reason for the audit log."""
    reason = st.text_input(
        "Reason (kept in the audit log)", key=feedback.key(REASON_KEY), help="Needed to deactivate someone."
    )
    roles_col, active_col, password_col = st.columns(3)
    with roles_col:
        _role_control(admin, chosen, reason)
    with active_col:
        if chosen.id == admin.id:  # refused before anyone is asked to confirm it
            asked = False
            st.caption(accounts.NOT_YOURSELF)
        elif chosen.is_active:
            asked = st.button("Deactivate", type="secondary")
        else:
            asked = False
            if st.button("Reactivate"):
                feedback.attempt(
                    lambda s: accounts.set_active(
                        session=s, actor_id=admin.id, user_id=chosen.id, active=True, reason=reason
                    ),
                    success=f"{fmt.md(who(chosen))} can log in again.",
                    clears=(REASON_KEY,),
                )
    with password_col:
        if chosen.id == admin.id:  # it would log them out at once; their own password is on My account
            st.caption("Change your own password on My account.")
            _deactivation(admin, chosen, reason, asked=asked)
            return
        temporary_password = st.text_input("New temporary password", type="password", key=feedback.key(TEMPORARY_KEY))
        asked_password = st.button("Set temporary password")
    _temporary_password(admin, chosen, temporary_password, reason, asked=asked_password)
    _deactivation(admin, chosen, reason, asked=asked)


def _asking(key: str, chosen: UserRow, *, asked: bool, check: Callable[[], object]) -> bool:
    """Whether a question about `chosen` waits for "Yes" under `key`: asked now (once the
    service's `check` passes, so nobody confirms what will be refused; its refusal is shown
    instead), or before about the same person (not one picked since)."""
    if asked:
        st.session_state.pop(key, None)
        try:
            check()
        except InvalidInput as error:
            feedback.show_error(error)
            return False
        st.session_state[key] = chosen.id
    if st.session_state.get(key) != chosen.id:
        st.session_state.pop(key, None)
        return False
    return True


def _temporary_password(admin: CurrentUser, chosen: UserRow, password: str, reason: str, *, asked: bool) -> None:
    """A temporary password logs the person out everywhere, so it asks first, naming them."""
    allowed = functools.partial(accounts.temporary_password_allowed, password, email=chosen.email)
    if not _asking(CONFIRM_RESET_KEY, chosen, asked=asked, check=allowed):
        return
    with st.container(border=True):
        st.warning(
            f"Set a temporary password for **{fmt.md(who(chosen))}**? They are logged out everywhere"
            " and must choose a new password when they next log in."
        )
        yes, keep = st.columns(2)
        if yes.button("Yes, set it", type="primary", key="confirm_temporary_password"):
            feedback.attempt(
                lambda s: accounts.set_temporary_password(
                    session=s, actor_id=admin.id, user_id=chosen.id, password=password, reason=reason
                ),
                success=f"{fmt.md(who(chosen))} must choose a new password at their next login.",
                # a reason given for another action is not this one's
                clears=(TEMPORARY_KEY, REASON_KEY, CONFIRM_RESET_KEY),
            )
            st.session_state.pop(CONFIRM_RESET_KEY, None)  # only reached when refused; the error is shown
        if keep.button("Cancel", key="keep_password"):
            st.session_state.pop(CONFIRM_RESET_KEY, None)
            st.rerun()


def _deactivation(admin: CurrentUser, chosen: UserRow, reason: str, *, asked: bool) -> None:
    """Deactivate asks first, naming the person."""
    waiting = _asking(CONFIRM_KEY, chosen, asked=asked, check=lambda: accounts.deactivation_reason(reason))
    if not waiting or not chosen.is_active:
        st.session_state.pop(CONFIRM_KEY, None)  # not asked, or already inactive
        return
    with st.container(border=True):
        st.warning(
            f"Deactivate **{fmt.md(who(chosen))}**? They are logged out everywhere and cannot log in until reactivated."
        )
        st.caption("Reason: " + fmt.md(reason.strip()))
        yes, keep = st.columns(2)
        if yes.button("Yes, deactivate", type="primary", key="confirm_deactivate"):
            feedback.attempt(
                lambda s: accounts.set_active(
                    session=s, actor_id=admin.id, user_id=chosen.id, active=False, reason=reason
                ),
                success=f"{fmt.md(who(chosen))} is deactivated and logged out everywhere.",
                clears=(REASON_KEY, CONFIRM_KEY),
            )
            st.session_state.pop(CONFIRM_KEY, None)  # only reached when refused; the error is shown
        if keep.button("Keep active", key="keep_active"):
            st.session_state.pop(CONFIRM_KEY, None)
            st.rerun()


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
            clears=(REASON_KEY,),
        )
