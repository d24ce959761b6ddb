"""Offline maps: every script and style folium asks for has a local copy the app serves."""

import folium
import pytest
from folium.plugins import HeatMap, MarkerCluster

from avenrae import assets
from avenrae.ui import maps


def _links(element) -> list[str]:
    urls = []
    for node in maps._walk(element):
        urls += [url for _, url in getattr(node, "default_js", [])]
        urls += [url for _, url in getattr(node, "default_css", [])]
    return urls


def _map_with_plugins() -> folium.Map:
    folium_map = folium.Map(location=(-29.86, 31.03), zoom_start=8, max_zoom=18)
    MarkerCluster().add_to(folium_map)
    HeatMap([(-29.86, 31.03, 1.0)]).add_to(folium_map)
    return folium_map


def test_every_cdn_link_of_folium_and_its_plugins_is_known():
    known = set(assets.local_paths()) | set(assets.UNUSED_CDN)
    unknown = [url for url in _links(_map_with_plugins()) if url not in known]
    assert unknown == [], "folium links an asset we do not download; add it to avenrae/assets.py"


@pytest.fixture
def vendor(tmp_path, monkeypatch):
    monkeypatch.setattr(assets, "VENDOR_DIR", tmp_path)
    return tmp_path


def test_localise_serves_downloaded_assets_from_the_app(vendor):
    for path in assets.local_paths().values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("/* test */")
    folium_map = maps.localise(_map_with_plugins())
    links = _links(folium_map)
    assert links and all(url.startswith("/app/static/vendor/") for url in links)
    assert not set(links) & set(assets.UNUSED_CDN)
    html = folium_map.get_root().render()
    assert "cdn.jsdelivr.net" not in html and "cdnjs.cloudflare.com" not in html


def test_missing_assets_fall_back_to_the_cdn(vendor):
    links = _links(maps.localise(_map_with_plugins()))
    assert all(url.startswith("https://") for url in links)


def test_a_download_that_does_not_match_its_checksum_installs_nothing(vendor, monkeypatch):
    monkeypatch.setattr(assets, "_download", lambda url: b"definitely not leaflet")
    with pytest.raises(assets.AssetError, match="checksum"):
        assets.fetch(log=lambda _: None)
    assert not (vendor / "leaflet").exists()


def test_base_map_keeps_max_zoom_for_marker_clusters():
    folium_map = maps.base_map()
    MarkerCluster().add_to(folium_map)
    assert '"maxZoom": 18' in folium_map.get_root().render()


def test_country_outlines_cover_south_africa_without_far_islands():
    outlines = maps.country_outlines()
    if outlines is None:
        pytest.skip("country outlines not downloaded (python -m avenrae assets)")
    home = next(f for f in outlines["features"] if f["properties"]["home"])
    latitudes = [pt[1] for polygon in home["geometry"]["coordinates"] for ring in polygon for pt in ring]
    assert min(latitudes) > -35 and max(latitudes) < -22
