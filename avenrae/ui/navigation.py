"""Every page, who may open it, and the navigation each role sees.

One registry: app.py builds the navigation from it and each page's guard checks it,
so a page's roles are written down once. Pages a role may not open are still routed
(hidden), so opening one by URL shows the refusal instead of a silent redirect; a
visitor who is not logged in is sent to log in, and the login page returns them to the
page they asked for (only ever one of these pages, never a URL from outside).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import streamlit as st

from avenrae.config import REPO_ROOT
from avenrae.models import ADMINS, ANALYSTS, EMPLOYEES, OPERATORS, Role
from avenrae.services.accounts import CurrentUser

EVERYONE = frozenset(Role)
ANONYMOUS: frozenset[Role] = frozenset()


@dataclass(frozen=True)
class PageSpec:
    path: str
    title: str
    icon: str
    section: str
    roles: frozenset[Role]  # empty: only for visitors who are not logged in

    @property
    def url_path(self) -> str:
        return Path(self.path).stem


# Who sees which page, composed from the role groups in models.
CLIENTS = frozenset({Role.CLIENT})
PRACTITIONERS = frozenset({Role.PRACTITIONER})
FINDERS = CLIENTS | OPERATORS  # find and book a practitioner (operators for a client)
BOOKING_PARTIES = CLIENTS | PRACTITIONERS | OPERATORS
SCHEDULERS = PRACTITIONERS | OPERATORS

PAGES: tuple[PageSpec, ...] = (
    PageSpec("pages/home.py", "Home", ":material/monitoring:", "Overview", EMPLOYEES),
    PageSpec("pages/search.py", "Find practitioners", ":material/travel_explore:", "Sessions", FINDERS),
    PageSpec("pages/book.py", "Book a session", ":material/event_available:", "Sessions", FINDERS),
    PageSpec("pages/bookings.py", "Bookings", ":material/calendar_month:", "Sessions", BOOKING_PARTIES),
    PageSpec("pages/availability.py", "Availability", ":material/schedule:", "Sessions", SCHEDULERS),
    PageSpec("pages/payments.py", "Payments", ":material/payments:", "Money", OPERATORS),
    PageSpec("pages/earnings.py", "Earnings", ":material/account_balance_wallet:", "Money", SCHEDULERS),
    PageSpec("pages/revenue.py", "Revenue & fees", ":material/query_stats:", "Analytics", ANALYSTS),
    PageSpec("pages/bookings_map.py", "Bookings map", ":material/hexagon:", "Analytics", ANALYSTS),
    PageSpec("pages/my_reviews.py", "My reviews", ":material/rate_review:", "Trust & safety", CLIENTS),
    PageSpec("pages/reviews.py", "Reviews", ":material/reviews:", "Trust & safety", PRACTITIONERS),
    PageSpec("pages/verification.py", "Verification", ":material/verified:", "Trust & safety", PRACTITIONERS),
    PageSpec("pages/moderation.py", "Review moderation", ":material/fact_check:", "Trust & safety", OPERATORS),
    PageSpec("pages/verification_queue.py", "Verification queue", ":material/badge:", "Trust & safety", OPERATORS),
    PageSpec("pages/users.py", "Users", ":material/group:", "Administration", ADMINS),
    PageSpec("pages/audit.py", "Audit log", ":material/history:", "Administration", ADMINS),
    PageSpec("pages/notifications.py", "Notifications", ":material/notifications:", "Account", EVERYONE),
    PageSpec("pages/account.py", "My account", ":material/person:", "Account", EVERYONE),
    PageSpec("pages/login.py", "Log in", ":material/login:", "Welcome", ANONYMOUS),
    PageSpec("pages/signup.py", "Sign up", ":material/person_add:", "Welcome", ANONYMOUS),
    PageSpec("pages/reset_password.py", "Forgot password", ":material/lock_reset:", "Welcome", ANONYMOUS),
)
FORCED_PASSWORD_CHANGE = "pages/account.py"  # noqa: S105 - a page path, not a password


def spec_for(page_file: str) -> PageSpec:
    """A page's entry, from its file (a page's `__file__`) or its path in the repository."""
    path = Path(page_file)
    relative = path.resolve().relative_to(REPO_ROOT).as_posix() if path.is_absolute() else path.as_posix()
    return next(spec for spec in PAGES if spec.path == relative)


def allowed(spec: PageSpec, user: CurrentUser | None) -> bool:
    if user is None:
        return not spec.roles
    if user.must_change_password:
        return spec.path == FORCED_PASSWORD_CHANGE
    return user.role in spec.roles


def default_page(user: CurrentUser | None) -> str:
    if user is None:
        return "pages/login.py"
    if user.must_change_password:
        return "pages/account.py"
    if user.role == Role.PRACTITIONER:
        return "pages/bookings.py"
    if user.role == Role.CLIENT:
        return "pages/search.py"
    return "pages/home.py"


RETURN_PARAM = "next"  # the login page's query parameter: the page asked for, and its own query


def return_target(spec: PageSpec, query: Mapping[str, str]) -> str:
    """What the login page is given to return to: the page's URL path and its query."""
    query = {key: value for key, value in query.items() if key != RETURN_PARAM}
    return f"{spec.url_path}?{urlencode(query)}" if query else spec.url_path


def return_page(target: str | None) -> tuple[PageSpec, dict[str, str]] | None:
    """The page (and its query) a return target names. Only a page for logged-in users;
    anything else (another site, an unknown path, the login page itself) is None."""
    if not target:
        return None
    path, _, query = target.partition("?")
    spec = next((s for s in PAGES if s.roles and s.url_path == path), None)
    if spec is None:
        return None
    params = {key: value for key, value in parse_qsl(query) if key != RETURN_PARAM}
    return spec, params


def build(user: CurrentUser | None, logout_page, unread: int = 0) -> dict[str, list[st.Page]]:
    """Sections of the pages this user may open; every other page routed but hidden. The
    site's bare address is a hidden page of its own that moves on to the role's first page:
    Streamlit serves its default page only at /, so were that page the login page (or a
    role's first page), /login, /search, /bookings or /home would be "Page not found"."""

    def first_page() -> None:
        st.switch_page(default_page(user), query_params=st.query_params.to_dict())

    sections: dict[str, list[st.Page]] = {
        "": [st.Page(first_page, title="Avenrae", url_path="start", default=True, visibility="hidden")]
    }
    for spec in PAGES:
        visible = allowed(spec, user)
        title = f"{spec.title} ({unread})" if spec.path == "pages/notifications.py" and unread else spec.title
        page = st.Page(
            spec.path,
            title=title,
            icon=spec.icon,
            url_path=spec.url_path,
            visibility="visible" if visible else "hidden",
        )
        sections.setdefault(spec.section if visible else "", []).append(page)
    if user is not None:
        sections.setdefault("Account", []).append(
            st.Page(logout_page, title="Log out", icon=":material/logout:", url_path="logout")
        )
    return sections
