"""Streamlit helpers shared by pages: the only part of avenrae that imports Streamlit."""
