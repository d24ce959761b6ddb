"""A forgotten password: ask for a link by e-mail, then choose a new password from it."""

import streamlit as st

from avenrae.ui import password_reset
from avenrae.ui.page import guard

token = password_reset.take_token_from_address()  # out of the address bar first, whoever opens it
guard(__file__)

_, middle, _ = st.columns([1, 2, 1])
with middle:
    if token is None or not password_reset.choose_new_password(token):
        password_reset.ask_for_link()
    st.page_link("pages/login.py", label="Remembered it? Log in", icon=":material/login:")
