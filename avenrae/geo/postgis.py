"""PostGIS expressions for points and distances, with bound parameters."""

from __future__ import annotations

from typing import Any

from geoalchemy2 import Geography, Geometry
from sqlalchemy import and_, cast, func, or_
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

# A mapped column (Practitioner.location) or any SQL expression.
Expression = ColumnElement[Any] | QueryableAttribute[Any]

GEOGRAPHY_POINT = Geography(geometry_type="POINT", srid=4326)
GEOMETRY_POINT = Geometry(geometry_type="POINT", srid=4326)


def point(latitude: float | Expression, longitude: float | Expression) -> ColumnElement[Any]:
    """A geography point for SQL, with bound coordinates: longitude first, as PostGIS wants it."""
    return cast(func.ST_SetSRID(func.ST_MakePoint(longitude, latitude), 4326), GEOGRAPHY_POINT)


def within(column: Expression, centre: Expression, metres: Expression | float) -> ColumnElement[Any]:
    """`column` lies within `metres` (on the spheroid) of `centre`, index-assisted.

    This is what ST_DWithin does inside (a bounding-box test the GiST index answers,
    then the exact distance), written out because PostgreSQL estimates an ST_DWithin
    on geography to match almost no rows: it then sorts every candidate instead of
    walking the index nearest-first (measured: 50 ms against 2 ms for the first page
    of 50,000 practitioners in one city).
    """
    return and_(column.op("&&")(func._ST_Expand(centre, metres)), closer_than(column, centre, metres))


# A sphere and the WGS 84 spheroid disagree on a distance by well under 1%.
SPHERE_MARGIN = 0.99


def closer_than(column: Expression, centre: Expression, metres: Expression | float) -> ColumnElement[Any]:
    """Exactly ST_Distance(column, centre) <= metres (spheroid), but cheap for most rows.

    The spheroid distance costs ten times the sphere distance (`<->`); a row clearly
    inside by the sphere needs no spheroid check, and only the others pay for one.
    """
    return or_(column.op("<->")(centre) <= metres * SPHERE_MARGIN, func.ST_Distance(column, centre) <= metres)


def as_geometry(column: Expression) -> ColumnElement[Any]:
    """A geography column as a geometry, for ST_X/ST_Y and grid snapping."""
    return cast(column, GEOMETRY_POINT)


def point_wkt(latitude: float, longitude: float) -> str:
    """The EWKT of a point, for inserting into a geography column."""
    return f"SRID=4326;POINT({longitude} {latitude})"
