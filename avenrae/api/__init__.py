"""The public JSON API under /api, for web, mobile and partner apps.

A FastAPI app over the same services the pages use (no Streamlit here): every rule (fee,
overlap, radius, lockout, refund policy) stays in avenrae/services. `python -m avenrae
serve` mounts it at /api beside the pages (avenrae/ui/server.py); `python -m avenrae api`
serves it alone with uvicorn. See README, "The JSON API".
"""

from avenrae.api.app import create_app, standalone

__all__ = ["create_app", "standalone"]
