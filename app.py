"""Avenrae: page config and navigation. Routing only; pages live in pages/."""

import streamlit as st

st.set_page_config(page_title="Avenrae", page_icon="🌿", layout="wide")

home = st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)
st.navigation([home]).run()
