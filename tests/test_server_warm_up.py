"""A server loads what the pages import as it starts, not on its first visitor's time."""

import subprocess
import sys

from avenrae.config import REPO_ROOT

PROBE = """
import sys
from avenrae import geo
from avenrae.ui import server
before = {m for m in server.WARM_UP_MODULES if m in sys.modules}
server.warm_up()
after = {m for m in server.WARM_UP_MODULES if m in sys.modules}
print(sorted(before), sorted(after) == sorted(server.WARM_UP_MODULES), geo.gazetteer.cache_info().currsize)
"""


def test_warm_up_loads_the_heavy_page_modules_and_the_gazetteer():
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    before, all_loaded, gazetteers = done.stdout.strip().rsplit(" ", 2)
    assert "folium" not in before  # the server alone does not import it
    assert all_loaded == "True"
    assert gazetteers == "1"
