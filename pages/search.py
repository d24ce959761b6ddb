"""Find practitioners: a place (or a click on the map), a radius and filters; a map and a table."""

import streamlit as st

from avenrae.db import session_scope
from avenrae.services import accounts
from avenrae.services.errors import InvalidInput
from avenrae.ui import feedback
from avenrae.ui import format as fmt
from avenrae.ui import search as finder
from avenrae.ui.page import signed_in

user = signed_in(__file__)
st.title("Find practitioners")
feedback.show_flash()
KEY = "find"

with session_scope() as session:
    home_place = accounts.preferred_place(session=session, user_id=user.id)
query = finder.search_form(key=KEY, default_place=home_place)
try:
    page = finder.results(query)
except InvalidInput as problem:
    feedback.show_error(problem)
    st.stop()

found = page.search
with st.container():  # one element whatever it holds, so the map below keeps its place (and iframe)
    if not page.hits:
        message, wider = finder.empty_state(found)
        st.info(message)
        if wider:
            st.button(f"Search within {wider} km", on_click=lambda: st.session_state.update({f"{KEY}_radius": wider}))
    else:
        last = page.first_number + len(page.hits) - 1
        more = f" of more than {last:,}" if page.has_more else ""
        centre = fmt.md(found.centre_label)
        st.caption(f"Showing {page.first_number}–{last}{more} within {found.radius_km:g} km of {centre}")
    if found.place_note:
        st.caption(f":material/location_on: {fmt.md(found.place_note)}")

# The table needs only the page of results; the map (which counts everyone else too)
# fills its place above it afterwards, so the list shows first on a busy city.
map_area = st.container()
if page.hits:
    with st.container(key="search_results"):
        finder.book_button(page)  # above the table: on a phone twenty rows run to two screens
        finder.results_table(page)
    finder.page_buttons(found, page, key=KEY)
with map_area:
    layer = finder.map_layer(query)
    finder.practitioner_map(page, layer, key=KEY)
    finder.legend(layer)
