"""The two steps of a forgotten password: ask for a link by e-mail, then choose a new password
from it (services/password_resets.py)."""

from __future__ import annotations

import streamlit as st

from avenrae.config import get_settings
from avenrae.db import session_scope
from avenrae.services import accounts, notifications, password_resets
from avenrae.services.errors import ServiceError
from avenrae.ui import auth, feedback
from avenrae.ui import format as fmt
from avenrae.ui.page import LOGIN_PAGE

TOKEN_KEY = "password_reset_token"  # noqa: S105 - the session key a link's token is kept under
SENT_KEY = "password_reset_sent_to"


def take_token_from_address() -> str | None:
    """The token of the link this browser opened, kept in the session and taken out of the
    address bar at once (so it is neither in the history nor sent on to another site)."""
    if token := st.query_params.get("token"):
        st.session_state[TOKEN_KEY] = token
        del st.query_params["token"]
    return st.session_state.get(TOKEN_KEY)


def ask_for_link() -> None:
    st.title("Forgot password?")
    if not password_resets.available():
        st.info(
            "Resetting a password by e-mail is not set up on this server. Ask an administrator to set a "
            "temporary password for you; you choose your own when you next log in."
        )
        return
    if sent_to := st.session_state.get(SENT_KEY):
        minutes = get_settings().password_reset_minutes
        st.success(
            password_resets.ASKED.format(email=fmt.md_address(sent_to), minutes=minutes)
            + " Nothing there after a few minutes? Check your spam folder, or ask again."
        )
        if not notifications.email_enabled():
            st.caption(
                "This development server has no e-mail server (AVENRAE_SMTP_HOST), so the e-mail is "
                "written to the server's log instead."
            )
    st.write("Type the email you log in with, and we will send you a link to choose a new password.")
    with st.form("ask_for_link"):
        email = st.text_input("Email", autocomplete="email", key=feedback.key("reset_email"))
        asked = st.form_submit_button("Send me a link", type="primary", width="stretch")
    if asked:
        try:
            with session_scope() as session:
                address = password_resets.ask(session=session, email=email, ip_address=auth.client_ip())
        except ServiceError as error:
            feedback.show_error(error)
            return
        password_resets.send_soon(address, auth.client_ip())
        st.session_state[SENT_KEY] = address
        feedback.clear("reset_email")
        st.rerun()


def choose_new_password(token: str) -> bool:
    """The form for the link's new password; False when the link no longer works (said so)."""
    try:
        with session_scope() as session:
            email = password_resets.check(session=session, token=token)
    except password_resets.LinkNotValid as error:
        st.session_state.pop(TOKEN_KEY, None)
        st.error(str(error))
        return False
    st.title("Your new password")
    st.write(f"For {fmt.md_address(email)}. Saving it logs this account out on every device.")
    with st.form("choose_password"):
        password = st.text_input(
            "New password", type="password", autocomplete="new-password", help=accounts.RULES_FOR_PASSWORDS
        )
        repeated = st.text_input("The new password again", type="password", autocomplete="new-password")
        saved = st.form_submit_button("Save the new password", type="primary", width="stretch")
    if saved:
        if password != repeated:
            st.error("The two passwords are not the same. Type the new password twice.")
            return True
        done = feedback.attempt(
            lambda session: password_resets.choose_password(
                session=session, token=token, password=password, ip_address=auth.client_ip()
            ),
            rerun=False,
        )
        if done is not None:
            st.session_state.pop(TOKEN_KEY, None)
            st.session_state[auth.NOTICE_KEY] = password_resets.CHOSEN
            st.switch_page(LOGIN_PAGE)
    return True
