"""Reading EXPLAIN (FORMAT JSON) output in tests: which nodes, on which relations, with which index."""

from collections.abc import Iterator
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session


def explain(
    session: Session, sql: str, params: dict[str, Any] | None = None, *, analyze: bool = False
) -> dict[str, Any]:
    """The plan of `sql`; with `analyze`, run it too, so nodes carry their actual row counts."""
    options = "ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON"
    return session.execute(text(f"EXPLAIN ({options}) " + sql), params or {}).scalar()[0]["Plan"]


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def indexes_used(plan: dict[str, Any]) -> set[str]:
    return {node["Index Name"] for node in nodes(plan) if "Index Name" in node}


def sequential_scans(plan: dict[str, Any]) -> set[str]:
    return {node["Relation Name"] for node in nodes(plan) if node["Node Type"] == "Seq Scan"}
