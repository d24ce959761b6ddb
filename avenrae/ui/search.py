"""The practitioner search: its form, cached reads, the map and the results table."""

from __future__ import annotations

from typing import cast

import folium
import pandas as pd
import streamlit as st
from folium.plugins import FastMarkerCluster

from avenrae import geo
from avenrae.config import get_settings
from avenrae.db import session_scope
from avenrae.models import MeetingType, Specialization
from avenrae.services import pricing, search
from avenrae.ui import feedback, location, maps, widgets
from avenrae.ui import format as fmt

COLOURS = {  # awesome-markers colour, and the same as a hex for legends and cells
    Specialization.HEALER: ("green", "#72B026"),
    Specialization.PROPHET: ("purple", "#D252B9"),
    Specialization.MEDIUM: ("cadetblue", "#436978"),
    Specialization.COUNSELOR: ("orange", "#F69730"),
}
ICONS = {
    Specialization.HEALER: "leaf",
    Specialization.PROPHET: "star",
    Specialization.MEDIUM: "eye",
    Specialization.COUNSELOR: "comments",
}
RADII = (1, 5, 10, 25, 50, 100, 200, 500)
# The browser builds each marker from a row [lat, lon, colour, icon, popup, tooltip];
# popup and tooltip are escaped in Python (`popup_html`, `fmt.escape`).
MARKER_CALLBACK = """function (row) {
    var icon = L.AwesomeMarkers.icon({icon: row[3], prefix: 'fa', markerColor: row[2]});
    var marker = L.marker(new L.LatLng(row[0], row[1]), {icon: icon});
    // On a phone the card must clear the zoom buttons and the notice across the top.
    marker.bindPopup(row[4], {maxWidth: Math.min(300, window.innerWidth - 120), autoPanPaddingTopLeft: [50, 50]});
    marker.bindTooltip(row[5]);
    return marker;
}"""
MAX_MARKERS = 300
TAPPED_HINT = "Book them with the button under the map."
NOT_BOOKABLE = "Not bookable until our staff have verified them."
ANY_MEETING = "any"  # not None: a radio whose value is None shows nothing chosen
PAGE_SIZE = 20


# --- the form ------------------------------------------------------------------------


def place_options() -> list[str]:
    """The places a search (or a client's home place) can name, most likely first."""
    return [place.label for place in geo.places()]


def search_form(*, key: str, default_place: str | None) -> search.SearchQuery:
    """Where and what to search; a click on the map (see `practitioner_map`) overrides the place."""
    state = st.session_state.setdefault(key, {"clicked": None, "page": 1})
    options = place_options()
    default = default_place if default_place in options else "Johannesburg, Gauteng"
    defaults = {
        f"{key}_place": default,
        f"{key}_radius": 25,
        f"{key}_specs": [],
        f"{key}_text": "",
        f"{key}_meeting": ANY_MEETING,
        f"{key}_verified": False,
        f"{key}_rating": 0.0,
        f"{key}_price": (0, 3000),
        f"{key}_sort": "best",
    }
    if state.setdefault("home", default_place) != default_place:
        # A new home place (saved on My account) opens the search there, whatever was searched before.
        state.update(home=default_place, clicked=None, which=None, page=1)
        st.session_state.pop(f"{key}_place", None)
        st.session_state.get(f"{key}_kept", {}).pop(f"{key}_place", None)
    widgets.kept(f"{key}_kept", defaults)
    with st.container(border=True):
        where, radius_col = st.columns([3, 2])
        clicked = state["clicked"]
        if clicked:
            where.markdown(f"**Searching around the point you clicked** ({clicked[0]:.4f}, {clicked[1]:.4f})")
            if where.button("Search by place instead", key=f"{key}_unclick"):
                state["clicked"] = None
                st.rerun()
            place = None
        else:
            place = where.selectbox(
                "Place",
                options,
                key=f"{key}_place",
                accept_new_options=True,
                help="Pick or type a town, suburb, township or postal code, or click the map to search there.",
            )
            with where:  # which of same-named places, as chosen before (kept across pages too)
                place, _ = location.which_place(place, key=f"{key}_place", default=state.get("which"))
            state["which"] = place
        radius = radius_col.select_slider("Within", RADII, format_func=lambda km: f"{km} km", key=f"{key}_radius")
        kinds, text_col = st.columns([3, 2])
        specializations = kinds.multiselect(
            "Specializations",
            list(Specialization),
            format_func=lambda s: fmt.label(s.value),
            placeholder="All specializations",
            key=f"{key}_specs",
        )
        text = text_col.text_input("Words", placeholder="e.g. grief, isiZulu, herbs", key=f"{key}_text")
        with st.expander("More filters"):
            left, middle, right = st.columns(3)
            chosen_meeting = left.radio(
                "Meeting",
                [ANY_MEETING, MeetingType.IN_PERSON, MeetingType.ONLINE],
                horizontal=True,
                format_func=lambda m: "Any" if m == ANY_MEETING else fmt.label(m.value),
                key=f"{key}_meeting",
            )
            meeting = None if chosen_meeting == ANY_MEETING else chosen_meeting
            verified_only = left.checkbox("Verified practitioners only", key=f"{key}_verified")
            min_rating = middle.select_slider(
                "Minimum rating",
                [step / 2 for step in range(11)],
                format_func=lambda stars: "Any" if not stars else f"{stars:g}★ or more",
                key=f"{key}_rating",
            )
            # a range: its first value (from `defaults`) is a pair
            price = middle.slider(
                "Price per session (R)",
                0,
                3000,
                step=50,
                key=f"{key}_price",
                help="What the client pays, fee included.",
            )
            low, high = cast(tuple[int, int], price)
            sort = right.selectbox(
                "Sort by",
                ["best", "distance", "rating", "price"],
                key=f"{key}_sort",
                format_func=lambda s: {
                    "best": "Best match for your words" if text.strip() else "Best match (nearest first)",
                    "distance": "Nearest first",
                    "rating": "Highest rated",
                    "price": "Lowest price",
                }[s],
            )
    widgets.remember(f"{key}_kept", defaults)
    query = search.SearchQuery(
        place=place,
        latitude=clicked[0] if clicked else None,
        longitude=clicked[1] if clicked else None,
        radius_km=radius,
        specializations=tuple(specializations),
        min_rating=min_rating or None,
        verified_only=verified_only,
        meeting_type=meeting,
        min_price=low or None,
        max_price=high if high < 3000 else None,
        text=text,
        sort=None if sort == "best" else sort,
        page=1,
        page_size=PAGE_SIZE,
    )
    if state.get("query_without_page") != query:
        state["query_without_page"], state["page"] = query, 1
    return search.SearchQuery(**{**query.__dict__, "page": state["page"]})


def set_page(key: str, page: int) -> None:
    st.session_state[key]["page"] = max(1, page)
    st.session_state[key]["paged"] = True  # the new page's first rows are brought into view


def page_buttons(found: search.ResolvedSearch, page: search.SearchPage, *, key: str) -> None:
    """← Previous and Next → side by side (on a phone too), and after either, the new page's
    first rows in view: the list stayed scrolled to its end, twenty tall rows below them."""
    if st.session_state[key].pop("paged", False):
        feedback.bring_into_view("search_results", when=found.page, block="start")
    with st.container(horizontal=True, horizontal_alignment="distribute"):
        st.button("← Previous", disabled=found.page == 1, on_click=set_page, args=(key, found.page - 1))
        st.button("Next →", disabled=not page.has_more, on_click=set_page, args=(key, found.page + 1))


def set_clicked(key: str, latitude: float, longitude: float) -> None:
    st.session_state[key]["clicked"] = (round(latitude, 5), round(longitude, 5))


# --- cached reads ----------------------------------------------------------------------


@st.cache_data(ttl=60, show_spinner="Searching ...")
def results(query: search.SearchQuery) -> search.SearchPage:
    with session_scope() as session:
        return search.search(session=session, query=query)


@st.cache_data(ttl=60, show_spinner=False)
def map_layer(query: search.SearchQuery) -> search.MapLayer:
    with session_scope() as session:
        return search.map_layer(session=session, query=query, max_markers=MAX_MARKERS)


# --- showing them ------------------------------------------------------------------------


def price_label(rate) -> str:
    price = pricing.quote(rate)
    return f"{fmt.rand(price.total_amount)} ({fmt.rand(price.service_amount)} + {fmt.rand(price.platform_fee)} fee)"


def rating_label(hit: search.Hit) -> str:
    if hit.rating is None:
        return "No reviews yet"
    return f"★ {hit.rating:.1f} ({hit.review_count} review{'s' if hit.review_count != 1 else ''})"


def bookable(hit: search.Hit) -> bool:
    """Whether clients can book this practitioner now (verified, or unverified ones allowed)."""
    return hit.verified or get_settings().allow_unverified_bookings


def popup_html(hit: search.Hit) -> str:
    """Everything user-written is escaped: a bio can hold anything."""
    badge = (
        '<span style="color:#2F6B4F;font-weight:600">✔ Verified</span>'
        if hit.verified
        else '<span style="color:#8a8a8a">Not verified</span>'
    )
    bio = fmt.escape(hit.bio[:180] + ("…" if len(hit.bio) > 180 else ""))
    return (
        f'<div style="font-family:sans-serif;font-size:13px;min-width:220px">'
        f"<b>{fmt.escape(hit.name)}</b><br>{fmt.escape(fmt.label(hit.specialization.value))} · {badge}<br>"
        f"{fmt.escape(rating_label(hit))}<br>{fmt.escape(price_label(hit.rate))}<br>"
        f"<b>{fmt.distance(hit.distance_km)}</b> away · {fmt.escape(hit.city or '')}"
        f'<p style="margin:6px 0 0;color:#444">{bio}</p>'
        + (
            f'<p style="margin:6px 0 0;font-weight:600;color:#2F6B4F">{TAPPED_HINT}</p></div>'
            if bookable(hit)
            else f'<p style="margin:6px 0 0;color:#8a8a8a">{NOT_BOOKABLE}</p></div>'
        )
    )


def booking_params(practitioner_id, meeting: MeetingType | None = None) -> dict[str, str]:
    """What the Book a session page is opened with: the practitioner, and the way of meeting
    the search asked for."""
    return {"practitioner": str(practitioner_id), **({"meeting": meeting.value} if meeting else {})}


def book_button(page: search.SearchPage) -> None:
    """Pick one of the results that can be booked and go to booking them."""
    open_to_book = [hit for hit in page.hits if bookable(hit)]
    if not open_to_book:
        st.caption("None of these practitioners can be booked yet: our staff have not verified them.")
        return
    left, right = st.columns([4, 1], vertical_alignment="bottom")
    chosen = left.selectbox(
        "Book with",
        open_to_book,
        format_func=lambda h: f"{h.name} · {fmt.label(h.specialization.value)} · {fmt.distance(h.distance_km)}",
        key="book_with_result",
    )
    if right.button("Book a session", type="primary", width="stretch"):
        st.switch_page("pages/book.py", query_params=booking_params(chosen.practitioner_id, page.search.meeting_type))


# Practitioners close together are one bubble counting them, in a colour no specialization
# has (the library's own green and yellow read as "9 healers" beside the legend's colours).
CLUSTER_COLOUR = "#3D4A43"
CLUSTER_ICON = f"""function (cluster) {{
    var count = cluster.getChildCount();
    var size = count < 10 ? 34 : count < 100 ? 40 : 46;
    return L.divIcon({{
        className: 'avenrae-cluster',
        iconSize: new L.Point(size, size),
        html: '<div style="width:' + size + 'px;height:' + size + 'px;border-radius:50%;'
            + 'background:rgba(61,74,67,0.3);display:flex;align-items:center;justify-content:center">'
            + '<div style="width:' + (size - 8) + 'px;height:' + (size - 8) + 'px;border-radius:50%;'
            + 'background:{CLUSTER_COLOUR};color:#fff;font:600 13px/' + (size - 8) + 'px sans-serif;'
            + 'text-align:center">' + count + '</div></div>'
    }});
}}"""


def build_map(page: search.SearchPage, layer: search.MapLayer) -> folium.Map:
    """The search drawn with folium: centre, radius, markers (clustered) and counted cells."""
    found = page.search
    zoom = max(5, min(14, round(14 - 1.15 * (found.radius_km**0.5) ** 0.9)))
    folium_map = maps.base_map(location=(found.latitude, found.longitude), zoom=zoom)
    folium.Circle(
        (found.latitude, found.longitude),
        radius=found.radius_km * 1000,
        color="#2F6B4F",
        weight=2,
        fill=True,
        fill_opacity=0.04,
        interactive=False,
    ).add_to(folium_map)
    folium.CircleMarker(  # the centre: small, so it hides no practitioner
        (found.latitude, found.longitude),
        radius=5,
        color="#1F2A24",
        weight=2,
        fill=True,
        fill_color="#FFFFFF",
        fill_opacity=1,
        tooltip=f"Searching around {fmt.escape(found.centre_label)}",
    ).add_to(folium_map)
    # Markers and cells are drawn by the browser from one JSON array each: hundreds of
    # separate folium elements take about a second to render on every rerun.
    FastMarkerCluster(
        [
            [
                hit.latitude,
                hit.longitude,
                COLOURS[hit.specialization][0],
                ICONS[hit.specialization],
                popup_html(hit),
                f"{fmt.escape(hit.name)} · {fmt.distance(hit.distance_km)}",
            ]
            for hit in layer.markers
        ],
        callback=MARKER_CALLBACK,
        icon_create_function=CLUSTER_ICON,
        options={"maxClusterRadius": 40, "disableClusteringAtZoom": 15},
    ).add_to(folium_map)
    if layer.cells:
        folium.GeoJson(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [cell.longitude, cell.latitude]},
                        "properties": {
                            "label": f"{cell.practitioners:,} more practitioners",
                            "radius": 6 + min(cell.practitioners, 400) ** 0.5,
                        },
                    }
                    for cell in layer.cells
                ],
            },
            marker=folium.CircleMarker(color="#555", weight=1, fill=True, fill_color="#999", fill_opacity=0.45),
            style_function=lambda feature: {"radius": feature["properties"]["radius"]},
            tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
            control=False,
        ).add_to(folium_map)
    folium_map.fit_bounds(_bounds(found.latitude, found.longitude, found.radius_km))
    return folium_map


def practitioner_map(page: search.SearchPage, layer: search.MapLayer, *, key: str) -> None:
    """The search on a map. A new click on it moves the search there (and reruns the page);
    a tap on a practitioner's marker offers booking them below the map (a link inside the
    map's frame cannot open a page: the browser keeps that frame from navigating the app)."""
    events = maps.show(
        build_map(page, layer), key=f"{key}_map", height=480, returned_objects=["last_clicked", "last_object_clicked"]
    )
    clicked = events.get("last_clicked")
    state = st.session_state[key]
    # streamlit-folium keeps reporting the last click; act on each click once only.
    if clicked and clicked != state.get("handled_click"):
        state["handled_click"] = clicked
        set_clicked(key, clicked["lat"], clicked["lng"])
        st.rerun()
    tapped = events.get("last_object_clicked")
    if tapped and tapped != state.get("handled_marker"):
        state["handled_marker"] = tapped
        hit = marker_at(layer, tapped["lat"], tapped["lng"])  # None for a cluster or a grey circle
        if hit is not None:
            state["tapped"] = hit.practitioner_id
    tapped_hit = next((hit for hit in layer.markers if hit.practitioner_id == state.get("tapped")), None)
    if tapped_hit is not None:
        tapped_card(tapped_hit, page.search.meeting_type)


def marker_at(layer: search.MapLayer, latitude: float, longitude: float) -> search.Hit | None:
    """The practitioner whose marker is at that point (as the map reports it back)."""
    return next(
        (hit for hit in layer.markers if abs(hit.latitude - latitude) < 1e-6 and abs(hit.longitude - longitude) < 1e-6),
        None,
    )


def tapped_card(hit: search.Hit, meeting: MeetingType | None) -> None:
    """The practitioner last tapped on the map, and booking them."""
    with st.container(border=True):
        words, action = st.columns([3, 1], vertical_alignment="center")
        words.markdown(
            f"**{fmt.md(hit.name)}** · {fmt.label(hit.specialization.value)} · {fmt.distance(hit.distance_km)} away"
            f" · {fmt.md(price_label(hit.rate))}"
        )
        if not bookable(hit):
            action.caption(NOT_BOOKABLE)
        # Named: "Book with" below has a "Book a session" button of its own, maybe for someone else.
        elif action.button(f"Book {fmt.md(hit.name)}", type="primary", width="stretch", key="book_tapped"):
            st.switch_page("pages/book.py", query_params=booking_params(hit.practitioner_id, meeting))


def _bounds(latitude: float, longitude: float, radius_km: float) -> list[list[float]]:
    import math

    dlat = radius_km / 111.32
    dlon = radius_km / (111.32 * max(math.cos(math.radians(latitude)), 0.2))
    return [[latitude - dlat, longitude - dlon], [latitude + dlat, longitude + dlon]]


def _legend_item(colour: str, words: str) -> str:
    """A dot and its words; the dot never ends a line apart from them."""
    first, _, rest = words.partition(" ")
    dot = (
        '<span style="display:inline-block;width:10px;height:10px;border-radius:50%;'
        f'background:{colour};margin:0 4px 0 12px"></span>'
    )
    return f'<span style="white-space:nowrap">{dot}{first}</span>{" " + rest if rest else ""}'


def legend(layer: search.MapLayer) -> None:
    """Colours of the markers, what the numbered circles count, and how many more practitioners
    the grey circles count."""
    items = [_legend_item(hex_colour, fmt.label(kind.value)) for kind, (_, hex_colour) in COLOURS.items()]
    items.append(_legend_item(CLUSTER_COLOUR, "numbered circle: several practitioners close together (tap to zoom in)"))
    if layer.cells:
        items.append(_legend_item("#999", f"{layer.aggregated:,} more, counted where they are"))
    st.html(f'<div style="font-size:0.85rem;color:#444">{" ".join(items)}</div>')


def results_table(page: search.SearchPage) -> None:
    """A plain table (names as text, never markup) numbered across pages."""
    hits = page.hits
    # What people choose by first: a phone shows only the first columns without scrolling sideways.
    table = pd.DataFrame(
        {
            "Name": [h.name + ("" if bookable(h) else " · not bookable yet") for h in hits],
            "You pay": [fmt.rand(pricing.quote(h.rate).total_amount) for h in hits],
            "Distance": [fmt.distance(h.distance_km) for h in hits],
            "Specialization": [fmt.label(h.specialization.value) for h in hits],
            "Rating": [rating_label(h) for h in hits],
            "Verified": ["✔ Verified" if h.verified else "Not verified" for h in hits],
            "Town": [h.city or "" for h in hits],
            "Meets": [
                " & ".join(m for m, on in (("in person", h.offers_in_person), ("online", h.offers_online)) if on)
                for h in hits
            ],
        },
        index=range(page.first_number, page.first_number + len(hits)),
    )
    widgets.plain_table(table)


def empty_state(found: search.ResolvedSearch) -> tuple[str, int | None]:
    """'No healers within 10 km of Kimberley — widen to 50 km?' and the wider radius, if any."""
    kinds = (
        " or ".join(fmt.label(s.value).lower() + "s" for s in found.specializations)
        if found.specializations
        else "practitioners"
    )
    wider = next((r for r in RADII if r >= found.radius_km * 3), None) or (
        search.MAX_RADIUS_KM if found.radius_km < search.MAX_RADIUS_KM else None
    )
    where = fmt.md(found.place_label.split(",")[0]) if found.place_label else "that point"
    message = f"No {kinds} within {found.radius_km:g} km of {where}"
    if found.words:  # a wider circle does not help words nobody uses
        words = fmt.md(" ".join(found.words))
        return message + f" match “{words}”. Check the words, or clear them to see everyone.", None
    if (
        found.words
        or found.min_rating
        or found.verified_only
        or found.meeting_type
        or found.min_price
        or found.max_price
    ):
        message += " with these filters"
    return message + (f" — widen to {wider} km?" if wider else "."), wider
