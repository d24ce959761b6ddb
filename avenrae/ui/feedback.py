"""Running a change from a form, or a read for a page, and telling the user how it went, in plain words."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import streamlit as st
from sqlalchemy.orm import Session
from streamlit.components.v1 import html as run_in_browser

from avenrae.db import session_scope
from avenrae.services.errors import InvalidInput, ServiceError
from avenrae.ui import outbox

T = TypeVar("T")
FLASH_KEY = "avenrae_flash"
WARNING_KEY = "avenrae_flash_warning"


def show_error(error: ServiceError) -> None:
    """One problem as a sentence; several (fields, or lines of one field) as a list."""
    messages = (
        [line for message in error.problems.values() for line in message.split("\n")]
        if isinstance(error, InvalidInput)
        else []
    )
    if len(messages) > 1:
        st.error("Please fix these:\n" + "\n".join(f"- {message}" for message in messages))
    else:
        st.error(str(error))


# Brings a box the page just drew into view unless all of it is seen already, on touch screens
# (a mouse's wheel is at hand, and a page that moves under a pointer loses clicks). It runs once per
# box: the same script again (a rerun with the question still open) is the same frame, not a new one.
# At once, not smoothly: a box still gliding into place moves a button from under a finger.
_INTO_VIEW = """<script>/* avenrae-into-view {when} */
const box = window.parent.document.querySelector(".st-key-{key}");
if (box && window.parent.matchMedia("(hover: none)").matches) {{
  const edges = box.getBoundingClientRect();
  if (edges.top < 0 || edges.bottom > window.parent.innerHeight) {{
    box.scrollIntoView({{block: "{block}", behavior: "instant"}});
  }}
}}
</script>"""


def bring_into_view(key: str, *, when: object = "", block: str = "center") -> None:
    """Scroll the box made with `st.container(key=key)` into view on a touch screen, unless all of
    it is on screen: once for each `when` (a page number, say). On a phone a tap's result was drawn
    below the fold, and the tap seemed to do nothing."""
    run_in_browser(_INTO_VIEW.format(key=key, when=when, block=block), height=0)


@contextmanager
def question(name: str) -> Iterator[None]:
    """A question waiting for "Yes", in a box of its own brought into view when it appears: on a
    phone it was drawn below the fold, and the tap that asked it seemed to do nothing."""
    key = f"question_{name}"
    with st.container(border=True, key=key):
        yield
        bring_into_view(key)


def read(query: Callable[[Session], T]) -> T:
    """Run one read in its own session. On a ServiceError show it and stop the page."""
    try:
        with session_scope() as session:
            return query(session)
    except ServiceError as error:
        show_error(error)
        st.stop()


ROUNDS_KEY = "_widget_rounds"


def key(name: str) -> str:
    """The key to create a widget with that `clear(name)` can empty. Taking a widget's value
    out of session state empties it for the script only: the browser keeps showing what was
    typed, and sends it back with the next submit. A widget under a new key starts empty."""
    round_ = st.session_state.get(ROUNDS_KEY, {}).get(name, 0)
    return f"{name}~{round_}" if round_ else name


def clear(*names: str) -> None:
    """Empty the widgets created with `key(name)` (from the next run on), and forget any
    other value kept under these names (a question waiting for "Yes", say)."""
    rounds = st.session_state.setdefault(ROUNDS_KEY, {})
    for name in names:
        st.session_state.pop(key(name), None)
        st.session_state.pop(name, None)
        rounds[name] = rounds.get(name, 0) + 1


def belong_to(owner: object, *names: str, key: str) -> None:
    """What `names` hold (widgets and kept values) belongs to `owner`: when another owner
    comes (staff turn to another practitioner, say), they are cleared, not carried over."""
    if st.session_state.get(key, owner) != owner:
        clear(*names)
    st.session_state[key] = owner


def attempt(
    change: Callable[[Session], T],
    *,
    success: str | None = None,
    rerun: bool = True,
    raises: tuple[type[ServiceError], ...] = (),
    clears: tuple[str, ...] = (),
) -> T | None:
    """Run `change` in one transaction. On a ServiceError show it and change nothing, the
    form keeping what was typed (errors of the kinds in `raises` are left to the caller); on
    success `clear` the keys `clears`, remember `success` for the next run and rerun the page."""
    try:
        with session_scope() as session:
            result = change(session)
    except raises:
        raise
    except ServiceError as error:
        show_error(error)
        return None
    outbox.flush_soon()  # the change committed: now its e-mails may go
    clear(*clears)
    if success:
        st.session_state[FLASH_KEY] = success
    if rerun:
        st.rerun()
    return result


def show_flash() -> None:
    """The success message of the change that led to this run, shown once: at the top of
    the page, and as a toast, which shows wherever the reader has scrolled to (on a phone
    the button they pressed is often a screen or two below the top)."""
    message = st.session_state.pop(FLASH_KEY, None)
    if message:
        st.success(message)
        st.toast(message, icon=":material/check_circle:")
    warning = st.session_state.pop(WARNING_KEY, None)
    if warning:
        st.warning(warning)
