"""Avenrae: page config, who is logged in, and the navigation for their role. Routing only."""

import streamlit as st

from avenrae.ui import auth, navigation, style
from avenrae.ui import format as fmt
from avenrae.ui.page import database_error, database_unavailable

st.set_page_config(page_title="Avenrae", page_icon="🌿", layout="wide")
style.apply()

try:
    user = auth.current_user()
    unread = auth.unread_notifications(user)
    auth.render_cookie_action()
    if user is not None:
        st.sidebar.caption(f"Logged in as **{fmt.md(user.full_name)}** · {fmt.label(user.role.value)}")
    # Every page of the role stays in sight: an admin has more than the ten shown by default.
    st.navigation(navigation.build(user, auth.logout_page, unread), expanded=True).run()
except database_error() as exc:  # from any page: one banner, and the page returns by itself
    database_unavailable(exc)
