"""Domain logic, one module per capability. Never imports Streamlit."""
