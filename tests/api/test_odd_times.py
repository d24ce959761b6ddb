"""Times of day sent as the API should not take them: answered in words, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from avenrae.api import standalone
from tests.api.conftest import (
    bearer,
    booking_day,
    practitioner,  # noqa: F401  (fixture)
)


@pytest.fixture
def api(connection) -> Iterator[TestClient]:
    """As tests/api/conftest.api, but answering as a server does (a crash is a 500 answer)."""
    with TestClient(standalone(), base_url="http://testserver", raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "method", "body"),
    [
        pytest.param(
            "/api/practice/weekly-hours", "put",
            {"ranges": [{"dayOfWeek": 0, "start": "09:00", "end": "17:00+02:00"}]},
            id="weekly hours",
        ),
        pytest.param(
            "/api/practice/time-off", "post",
            {"firstDay": booking_day().isoformat(), "lastDay": booking_day().isoformat(),
             "startTime": "10:00+02:00", "endTime": "11:00"},
            id="part-day time off",
        ),
    ],
)  # fmt: skip
def test_a_time_with_a_utc_offset_is_refused_in_words_not_a_500(api, db, practitioner, path, method, body):  # noqa: F811
    """`time` fields accept ISO 8601 times with an offset ("17:00+02:00", valid JSON Schema
    `time`, and what a client in SAST may well send). The services compare them with naive
    times (availability._range_problems / until_midnight): TypeError, answered as 500."""
    answer = getattr(api, method)(path, json=body, headers=bearer(practitioner.user, db))
    assert answer.status_code == 422, (answer.status_code, answer.text)
