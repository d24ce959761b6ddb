"""The map's JavaScript and CSS (and the API docs'), served by the app itself so they work offline.

folium points Leaflet, jQuery, Bootstrap, Font Awesome and its plugins at public
CDNs; a browser without internet then draws a blank map. `fetch()` downloads the
same libraries once from the npm registry (checked against pinned SHA-256 sums) into
`static/vendor/`, which Streamlit serves at `/app/static/vendor/`. `local_url()`
maps a CDN address to its local copy; avenrae.ui.maps rewrites every map with it and
falls back to the CDN for anything not downloaded.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from avenrae.config import REPO_ROOT

VENDOR_DIR = REPO_ROOT / "static" / "vendor"
STATIC_URL = "app/static/vendor"  # Streamlit's static route, relative to the server root
REGISTRY = os.environ.get("AVENRAE_NPM_REGISTRY", "https://registry.npmjs.org").rstrip("/")


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    sha256: str
    folder: str  # under static/vendor
    files: dict[str, str]  # path in the tarball (under package/) -> path under folder
    cdn: dict[str, str]  # CDN URL folium uses (relative to cdn_prefix) -> path under folder
    cdn_prefix: str = ""

    @property
    def tarball_url(self) -> str:
        basename = self.name.split("/")[-1]
        return f"{REGISTRY}/{self.name}/-/{basename}-{self.version}.tgz"


def _images(prefix: str, names: list[str]) -> dict[str, str]:
    return {f"{prefix}/{name}": f"images/{name}" for name in names}


PACKAGES = (
    Package(
        "leaflet",
        "1.9.3",
        "10d016716b56048661eaf9cde004dc82e80bd3613b52c4f53cf5aec73088006c",
        "leaflet",
        {
            "dist/leaflet.js": "leaflet.js",
            "dist/leaflet.css": "leaflet.css",
            **_images(
                "dist/images",
                ["layers.png", "layers-2x.png", "marker-icon.png", "marker-icon-2x.png", "marker-shadow.png"],
            ),
        },
        {
            "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js": "leaflet.js",
            "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css": "leaflet.css",
        },
    ),
    Package(
        "jquery",
        "3.7.1",
        "68a9f787516da47c680e09c187bcbac4536b6f85d90eb882844e12919e583f53",
        "jquery",
        {"dist/jquery.min.js": "jquery.min.js"},
        {"https://code.jquery.com/jquery-3.7.1.min.js": "jquery.min.js"},
    ),
    Package(
        "bootstrap",
        "5.2.2",
        "6ae3403f9085283be866fd9bca04f3034ffc755e466e6a1ff9836e8c0a1340d4",
        "bootstrap",
        {
            "dist/js/bootstrap.bundle.min.js": "bootstrap.bundle.min.js",
            "dist/css/bootstrap.min.css": "bootstrap.min.css",
        },
        {
            "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js": "bootstrap.bundle.min.js",
            "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css": "bootstrap.min.css",
        },
    ),
    Package(
        "leaflet.awesome-markers",
        "2.0.5",
        "b0180e6ae1c9bce3a212bb0b4f3a8c484cf8c15725958e930c68b7e3f7693aa7",
        "awesome-markers",
        {
            "dist/leaflet.awesome-markers.js": "leaflet.awesome-markers.js",
            "dist/leaflet.awesome-markers.css": "leaflet.awesome-markers.css",
            **_images(
                "dist/images",
                ["markers-soft.png", "markers-soft@2x.png", "markers-shadow.png", "markers-shadow@2x.png"],
            ),
        },
        {
            "leaflet.awesome-markers.js": "leaflet.awesome-markers.js",
            "leaflet.awesome-markers.css": "leaflet.awesome-markers.css",
        },
        "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/",
    ),
    Package(
        "@fortawesome/fontawesome-free",
        "6.2.0",
        "627ba11e9f2923be8f4c3f8688b9b4f17d787ce02691f32837893f53e8276c2a",
        "fontawesome",
        {
            "css/all.min.css": "css/all.min.css",
            **{
                f"webfonts/{f}": f"webfonts/{f}"
                for f in [
                    "fa-brands-400.woff2",
                    "fa-regular-400.woff2",
                    "fa-solid-900.woff2",
                    "fa-v4compatibility.woff2",
                    "fa-brands-400.ttf",
                    "fa-regular-400.ttf",
                    "fa-solid-900.ttf",
                    "fa-v4compatibility.ttf",
                ]
            },
        },
        {"https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css": "css/all.min.css"},
    ),
    Package(
        "leaflet.markercluster",
        "1.1.0",
        "47219016d91e524b329a0fb2365961bf8228109bb58e370ad0b1ab6299288b91",
        "markercluster",
        {
            "dist/leaflet.markercluster.js": "leaflet.markercluster.js",
            "dist/MarkerCluster.css": "MarkerCluster.css",
            "dist/MarkerCluster.Default.css": "MarkerCluster.Default.css",
        },
        {
            "leaflet.markercluster.js": "leaflet.markercluster.js",
            "MarkerCluster.css": "MarkerCluster.css",
            "MarkerCluster.Default.css": "MarkerCluster.Default.css",
        },
        "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/",
    ),
)

NEIGHBOURS = ("zaf", "lso", "swz", "nam", "bwa", "zwe", "moz")
# Country outlines (Natural Earth via mledoze/countries, ODbL) for an offline base map.
COUNTRY_OUTLINES = Package(
    "world-countries",
    "5.1.0",
    "329eb6ef4099ffb590219c9beb634bf489a5e4b10d8ab0ac52a58ebf7b9f8495",
    "countries",
    {f"data/{code}.geo.json": f"{code}.geo.json" for code in NEIGHBOURS} | {"LICENSE": "LICENSE"},
    {},
)

# The JSON API's interactive documentation (/api/docs), served by the API itself.
API_DOCS = Package(
    "swagger-ui-dist",
    "5.35.0",
    "1b8e891893404ea4c3558b6a87e2a3e494e7eedba41168c2ece5800a391a6ea6",
    "swagger-ui",
    {"swagger-ui-bundle.js": "swagger-ui-bundle.js", "swagger-ui.css": "swagger-ui.css", "LICENSE": "LICENSE"},
    {},
)

# folium ships the heat-map plugin's script inside its own package; copy it from there.
FOLIUM_HEAT_CDN = "https://cdn.jsdelivr.net/gh/python-visualization/folium@main/folium/templates/leaflet_heat.min.js"
# Styles folium links that our maps never need (Bootstrap 3 glyph icons, icon rotation);
# offline they would only fail to load.
UNUSED_CDN = (
    "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css",
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css",
)


class AssetError(RuntimeError):
    """A download failed or did not match its pinned checksum."""


def _installed(package: Package) -> bool:
    return all((VENDOR_DIR / package.folder / target).exists() for target in package.files.values())


def _download(url: str) -> bytes:
    if not url.startswith(("https://", "http://")):
        raise AssetError(f"not downloading {url}: only http(s) addresses are fetched")
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - scheme checked above
            return response.read()
    except OSError as exc:
        raise AssetError(f"could not download {url}: {exc}") from exc


def _install(package: Package, data: bytes) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if digest != package.sha256:
        raise AssetError(f"{package.name}@{package.version}: checksum {digest} does not match the pinned one")
    staging = VENDOR_DIR / f".{package.folder}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for source, target in package.files.items():
            member = archive.extractfile(f"package/{source}")
            if member is None:
                raise AssetError(f"{package.name}@{package.version} has no {source}")
            path = staging / target
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(member.read())
    final = VENDOR_DIR / package.folder
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)


def _install_heat_plugin() -> bool:
    import folium

    target = VENDOR_DIR / "folium" / "leaflet_heat.min.js"
    if target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(folium.__file__).parent / "templates" / "leaflet_heat.min.js", target)
    return True


def fetch(force: bool = False, log: Callable[[str], None] = print) -> int:
    """Download what is missing (everything with `force`); returns how many packages."""
    VENDOR_DIR.mkdir(parents=True, exist_ok=True)
    fetched = 0
    for package in (*PACKAGES, COUNTRY_OUTLINES, API_DOCS):
        if _installed(package) and not force:
            continue
        log(f"Downloading {package.name}@{package.version} ...")
        _install(package, _download(package.tarball_url))
        fetched += 1
    fetched += _install_heat_plugin()
    return fetched


def country_outline_files() -> list[Path]:
    """GeoJSON outlines of South Africa and its neighbours, South Africa first (if downloaded)."""
    folder = VENDOR_DIR / COUNTRY_OUTLINES.folder
    return [path for code in NEIGHBOURS if (path := folder / f"{code}.geo.json").exists()]


def local_paths() -> dict[str, Path]:
    """CDN URL -> local file, for every asset folium may ask for."""
    paths = {
        package.cdn_prefix + url: VENDOR_DIR / package.folder / target
        for package in PACKAGES
        for url, target in package.cdn.items()
    }
    paths[FOLIUM_HEAT_CDN] = VENDOR_DIR / "folium" / "leaflet_heat.min.js"
    return paths


def local_url(cdn_url: str, base_path: str = "") -> str | None:
    """The app-served address of a CDN asset, or None when it is not downloaded."""
    path = local_paths().get(cdn_url)
    if path is None or not path.exists():
        return None
    relative = path.relative_to(VENDOR_DIR).as_posix()
    prefix = f"/{base_path.strip('/')}" if base_path.strip("/") else ""
    return f"{prefix}/{STATIC_URL}/{relative}"
