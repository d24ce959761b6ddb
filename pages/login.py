"""Log in."""

import streamlit as st

from avenrae.ui import auth
from avenrae.ui.page import asked_for, carried_on, go_on, guard

guard(__file__)
asked = asked_for()

_, middle, _ = st.columns([1, 2, 1])
with middle:
    st.title("Log in to Avenrae")
    if notice := auth.take_notice():
        st.info(notice)
    if asked is not None:
        st.info(f"Log in to open {asked.title}.")
    with st.form("login"):
        email = st.text_input("Email", autocomplete="email")
        password = st.text_input("Password", type="password", autocomplete="current-password")
        remember = st.checkbox("Keep me logged in on this device for 7 days")
        submitted = st.form_submit_button("Log in", type="primary", width="stretch")
    if submitted:
        refusal = auth.log_in(email, password, remember=remember)
        if refusal:
            st.error(refusal)
        else:
            go_on(auth.current_user())
    st.page_link("pages/reset_password.py", label="Forgot your password?", icon=":material/lock_reset:")
    st.page_link(
        "pages/signup.py",
        label="New to Avenrae? Create an account",
        icon=":material/person_add:",
        query_params=carried_on(),  # a new account also lands on the page asked for
    )
