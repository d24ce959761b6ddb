"""The security probes open pages as the page tests do."""

from tests.pages.conftest import _fresh_caches, _pages_through_app_py, page  # noqa: F401 - shared with tests/pages
from tests.services.conftest import client, fake, gateway, pending  # noqa: F401 - the money fixtures, shared
