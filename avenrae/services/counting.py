"""How many rows a query gives, exactly when that is cheap and otherwise estimated."""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

# Below this many (estimated) rows a count is exact: counting them takes milliseconds.
EXACT_COUNT_BELOW = 50_000


def pages(rows: int, page_size: int) -> int:
    """How many pages `rows` fill, `page_size` to a page; at least one (an empty first page)."""
    return max(1, -(-rows // page_size))


class Count(int):
    """A number of rows that knows whether it is exact or the planner's estimate
    (say "about" then). It is an int, so it adds, compares and formats as one."""

    exact: bool

    def __new__(cls, value: int, exact: bool = True) -> Count:
        made = super().__new__(cls, value)
        made.exact = exact
        return made

    @property
    def value(self) -> int:
        return int(self)

    def __repr__(self) -> str:
        return f"Count({int(self)}, exact={self.exact})"


def count(session: Session, statement: Select, *, exact_below: int | None = None) -> Count:
    """How many rows `statement` gives: exact when the planner expects fewer than
    `exact_below` (default EXACT_COUNT_BELOW), otherwise the planner's estimate, from the
    tables' statistics; exact counts of millions of rows take seconds."""
    connection = session.connection()
    compiled = statement.compile(connection, compile_kwargs={"render_postcompile": True})
    plan = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params).scalar_one()
    estimate = int(plan[0]["Plan"]["Plan Rows"])
    if estimate < (EXACT_COUNT_BELOW if exact_below is None else exact_below):
        return Count(session.scalar(select(func.count()).select_from(statement.subquery())) or 0, True)
    return Count(estimate, False)
