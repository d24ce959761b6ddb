"""Interactive documentation at /api/docs, offline: Swagger UI's script and styles come from
this app (downloaded once by `python -m avenrae assets`, like the map's), never a CDN."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from avenrae.assets import API_DOCS, VENDOR_DIR

from .problems import Problem

router = APIRouter(include_in_schema=False)
FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}


@router.get("/docs")
def docs(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    return get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json",
        title="Avenrae API",
        swagger_js_url=f"{root}/docs/assets/swagger-ui-bundle.js",
        swagger_css_url=f"{root}/docs/assets/swagger-ui.css",
        swagger_favicon_url="data:,",
    )


@router.get("/docs/assets/{name}")
def docs_asset(name: str) -> FileResponse:
    path = VENDOR_DIR / API_DOCS.folder / name
    if name not in FILES or not path.exists():
        raise Problem(404, "The documentation's files are not downloaded: run `python -m avenrae assets`.")
    return FileResponse(path, media_type=FILES[name], headers={"Cache-Control": "public, max-age=86400"})
