"""`GET /api/health`: 200 while the API's database answers, else 503 with Retry-After (for
probes in front of `python -m avenrae api`; see avenrae.readiness)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from avenrae import readiness

from . import problems

router = APIRouter(include_in_schema=False)


@router.get("/health")
async def health() -> JSONResponse:
    if await readiness.database_ready():
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})
    return problems.response(
        503, "The database is not answering; try again shortly.", headers=readiness.NOT_READY_HEADERS
    )
