"""The README's curl session, as written, against what `scripts/run` serves
(`python -m avenrae serve` on demo data): sign up, search around Durban, read open times,
book, list, see the refund, cancel, and a refused request."""

from __future__ import annotations

import json
import shutil
import subprocess

from sqlalchemy import create_engine, text

from avenrae.config import REPO_ROOT

SERVED_AT = "API=http://localhost:8501/api\n"


def readme_session() -> str:
    """The bash block after "A session against `scripts/run`" in the README."""
    readme = (REPO_ROOT / "README.md").read_text()
    start = readme.index("A session against `scripts/run`")
    opening = readme.index("```bash\n", start) + len("```bash\n")
    block = readme[opening : readme.index("\n```", opening)]
    assert block.startswith(SERVED_AT), "the session should start by naming where scripts/run serves the API"
    return block


def answers(output: str) -> list:
    """Each JSON document jq printed, in order."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while rest := output[at:].lstrip():
        value, at = decoder.raw_decode(output, len(output) - len(rest))
        found.append(value)
    return found


def test_the_readmes_curl_session_runs_as_written(app_url, e2e_database_url):
    for tool in ("curl", "jq"):
        assert shutil.which(tool), f"{tool} is needed for the README's session (scripts/test installs it)"
    script = readme_session().replace(SERVED_AT, f"API={app_url}/api\n", 1)
    # -e and pipefail: every curl in it must succeed (--fail-with-body), as a reader pasting it would see.
    done = subprocess.run(["bash", "-eo", "pipefail", "-c", script], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"

    assert done.stderr == ""  # everything it shows is on standard output, so `> log 2>&1` keeps it all
    shown = answers(done.stdout)
    [booked] = [a for a in shown if isinstance(a, dict) and "bookingId" in a]
    assert booked["status"] == "pending" and booked["bookingId"]
    assert '"status": "pending"' in done.stdout  # my bookings, before cancelling
    refused = json.loads(done.stdout[done.stdout.rindex("\n{\n") :])  # the last answer (jq's layout): a problem
    assert refused["status"] == 422 and refused["detail"]

    engine = create_engine(e2e_database_url)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT b.status, b.cancellation_reason, u.first_name FROM bookings b"
                    " JOIN users u ON u.id = b.client_id WHERE b.id = :id"
                ),
                {"id": booked["bookingId"]},
            ).one()
    finally:
        engine.dispose()
    assert (row.status, row.cancellation_reason, row.first_name) == ("cancelled", "My plans changed", "Thandeka")
    assert '"refund' in done.stdout  # what cancelling would refund was shown first
