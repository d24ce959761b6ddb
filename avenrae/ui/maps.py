"""folium maps that work offline: Leaflet and friends come from the app itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import folium
import streamlit as st
from branca.element import Element, MacroElement
from folium.utilities import JsCode
from jinja2 import Template
from streamlit_folium import st_folium

from avenrae import assets
from avenrae.config import get_settings

SOUTH_AFRICA_CENTRE = (-28.9, 25.5)
SOUTH_AFRICA_BOUNDS = [(-34.9, 16.4), (-22.1, 32.9)]  # south-west and north-east corners
TILE_ATTRIBUTION = "&copy; OpenStreetMap contributors"


def _walk(element: Element) -> Iterator[Element]:
    yield element
    for child in getattr(element, "_children", {}).values():
        yield from _walk(child)


def localise(element: Element) -> Element:
    """Point the map and every plugin in it at the app's copies of their JS and CSS.

    Anything not downloaded (see `python -m avenrae assets`) keeps its CDN address.
    """
    if not get_settings().offline_map_assets:
        return element
    base_path = st.get_option("server.baseUrlPath") or ""
    for node in _walk(element):
        if hasattr(node, "default_js"):
            node.default_js = [(name, assets.local_url(url, base_path) or url) for name, url in node.default_js]
        if hasattr(node, "default_css"):
            node.default_css = [
                (name, assets.local_url(url, base_path) or url)
                for name, url in node.default_css
                if url not in assets.UNUSED_CDN
            ]
    return element


def _rounded(coordinates: Any) -> Any:
    if isinstance(coordinates[0], float | int):
        return [round(coordinates[0], 3), round(coordinates[1], 3)]
    return [_rounded(part) for part in coordinates]


@lru_cache(maxsize=1)
def country_outlines() -> dict[str, Any] | None:
    """South Africa and its neighbours as one small GeoJSON (~100 m precision), if downloaded."""
    features = []
    for path in assets.country_outline_files():
        for feature in json.loads(path.read_text())["features"]:
            geometry = feature["geometry"]
            polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
            # Leave out the Prince Edward Islands, 1,800 km south: they would only stretch the view.
            polygons = [p for p in polygons if p[0][0][1] > -40]
            features.append(
                {
                    "type": "Feature",
                    "properties": {"home": path.name.startswith("zaf")},
                    "geometry": {"type": "MultiPolygon", "coordinates": _rounded(polygons)},
                }
            )
    return {"type": "FeatureCollection", "features": features} if features else None


def _outline_style(feature: dict[str, Any]) -> dict[str, Any]:
    home = feature["properties"]["home"]
    return {
        "fillColor": "#F4F1EA" if home else "#E6E3DC",
        "color": "#8A9A8F" if home else "#C9C6BF",
        "weight": 1.2 if home else 0.8,
        "fillOpacity": 1,
    }


def base_map(location: tuple[float, float] = SOUTH_AFRICA_CENTRE, zoom: int = 5, **options: Any) -> folium.Map:
    """OpenStreetMap tiles over an offline outline of South Africa and its neighbours.

    Online the tiles cover the outline; offline the tiles fail and the outline (from
    the app's own assets) keeps the map readable. Markers draw either way. `max_zoom`
    is always set: MarkerCluster refuses a map without it. On a phone one finger scrolls the
    page and two move the map (a map that took every swipe could not be scrolled past).
    """
    options.setdefault("dragging", JsCode("!L.Browser.mobile"))
    folium_map = folium.Map(
        location=location, zoom_start=zoom, tiles=None, max_zoom=18, min_zoom=4, control_scale=True, **options
    )
    # The only base layer: kept out of any layer control (it showed as a lone "openstreetmap" choice).
    tiles = folium.TileLayer("OpenStreetMap", attr=TILE_ATTRIBUTION, max_zoom=18, control=False)
    tiles.add_to(folium_map)
    _SaysWhenTilesFail(tiles).add_to(folium_map)
    outlines = country_outlines()
    if outlines:
        # Below the tile pane (z-index 200), so real tiles, when they load, win.
        folium.map.CustomPane("outline", z_index=150).add_to(folium_map)
        folium.GeoJson(
            outlines,
            name="Outline",
            style_function=_outline_style,
            pane="outline",
            interactive=False,
            control=False,
        ).add_to(folium_map)
    folium_map.get_root().header.add_child(  # type: ignore[attr-defined]  # a Figure, which folium types as Element
        Element("<style>.leaflet-container { background: #D9E4EA; }</style>")
    )
    return folium_map


class _SaysWhenTilesFail(MacroElement):
    """A line on the map when its street tiles do not load (no internet, or the tile server
    refuses us): the outline alone would otherwise look like a broken map."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {{ this.tiles.get_name() }}.once("tileerror", function () {
            // Bottom right, above the credits: the top right holds layer choices on some maps.
            var note = L.control({position: "bottomright"});
            note.onAdd = function () {
                var box = L.DomUtil.create("div", "avenrae-tiles-unavailable");
                box.style.cssText = "background: rgba(255,255,255,.85); padding: 2px 6px; font: 12px sans-serif;";
                box.textContent = "Street map unavailable: showing country outlines.";
                return box;
            };
            note.addTo({{ this._parent.get_name() }});
        });
        {% endmacro %}
        """
    )

    def __init__(self, tiles: folium.TileLayer):
        super().__init__()
        self._name = "SaysWhenTilesFail"
        self.tiles = tiles


def show(folium_map: folium.Map, *, key: str, height: int = 460, **options: Any) -> dict[str, Any]:
    """Render the map through streamlit-folium with local assets; returns its events."""
    localise(folium_map)
    return st_folium(folium_map, key=key, height=height, use_container_width=True, **options) or {}
