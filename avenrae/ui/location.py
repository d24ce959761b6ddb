"""Where a place is: a map to pin it on, the choice between same-named places, and the sentence
saying where a practitioner was placed."""

from __future__ import annotations

import folium
import streamlit as st

from avenrae import geo
from avenrae.ui import format as fmt
from avenrae.ui import maps

PIN_ZOOM = 15
TOWN_ZOOM = 12


def pin_picker(
    *, key: str, current: tuple[float, float] | None = None, centre: tuple[float, float] | None = None
) -> tuple[float, float] | None:
    """A map to click where you see clients; returns the pin (latitude, longitude), or None.

    The component keeps its pin in st.session_state[key]; `current` is where it starts
    (a saved pin), `centre` where the map opens when there is no pin (the practitioner's town).
    """
    state = st.session_state.setdefault(key, {"pin": current, "handled": None})
    pin = state["pin"]
    view = pin or centre or maps.SOUTH_AFRICA_CENTRE
    folium_map = maps.base_map(location=view, zoom=PIN_ZOOM if pin else TOWN_ZOOM if centre else 5)
    if pin:
        folium.Marker(pin, tooltip="Where you see clients", icon=folium.Icon(color="green", icon="home")).add_to(
            folium_map
        )
    elif centre:
        folium.CircleMarker(
            centre, radius=7, color="#2F6B4F", fill=True, fill_opacity=0.6, tooltip="Where clients find you now"
        ).add_to(folium_map)
    events = maps.show(folium_map, key=f"{key}_map", height=380, returned_objects=["last_clicked"])
    clicked = events.get("last_clicked")
    # streamlit-folium keeps reporting the last click; act on each click once only.
    if clicked and clicked != state["handled"]:
        state["handled"] = clicked
        state["pin"] = (round(clicked["lat"], 6), round(clicked["lng"], 6))
        st.rerun()
    if pin:
        left, right = st.columns([3, 1], vertical_alignment="center")
        left.caption(f"Pinned at {pin[0]:.5f}, {pin[1]:.5f}. Click the map again to move the pin.")
        if right.button("Remove the pin", key=f"{key}_remove"):
            state["pin"] = None
            st.rerun()
    return state["pin"]


def placed(note: str | None) -> None:
    """'Clients find you at Umlazi, KwaZulu-Natal (postal area 4066)': what the geocoder made of a place."""
    if note:
        st.caption(f":material/location_on: Clients find you at {fmt.md(note)}.")


def which_place(typed: str | None, *, key: str, default: str | None = None) -> tuple[str | None, bool]:
    """What to look up for the place a person typed, and whether the choice is new to them.

    When the name is ambiguous ("Chatsworth": KwaZulu-Natal or Western Cape) the geocoder's
    candidates are offered as a choice, its answer first and selected (or `default`, the
    place saved before, when it is one of them). The label chosen ("Chatsworth, Western
    Cape") is what is then looked up, so which place it means stays the geocoder's rule.
    The flag is True on the run the choice first appears: a form then shows it and waits,
    rather than saving a place the person was not offered a choice about.
    """
    options = geo.choices(typed) if typed and typed.strip() else []
    if not typed or not options:
        return typed, False
    widget = f"{key}_which_{geo.name_key(typed)}"
    new = widget not in st.session_state
    chosen = st.radio(
        f"More than one place is called “{fmt.md(typed.strip())}”. Which do you mean?",
        options,
        index=options.index(default) if default in options else 0,
        format_func=fmt.md,
        horizontal=True,
        key=widget,
    )
    return chosen, new


def ask_to_choose(button: str, *, field: str = "Town or city") -> None:
    """Why a form was not saved: the place typed is ambiguous and the choice just appeared."""
    st.warning(
        f"More than one place has the name you typed: choose yours under {field}, then press {button} again.",
        icon=":material/location_on:",
    )
