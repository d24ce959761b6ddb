"""E-mail copies of notifications, sent after the change that made them has committed."""

from __future__ import annotations

import threading

from avenrae.services import notifications

_lock = threading.Lock()


def flush_soon() -> None:
    """Send waiting e-mails in the background, so no page waits for an SMTP server."""
    if not notifications.email_enabled():
        return

    def send() -> None:
        if not _lock.acquire(blocking=False):
            return  # a flush is already running; it will pick these up
        try:
            notifications.send_pending_emails()
        finally:
            _lock.release()

    threading.Thread(target=send, name="avenrae-email", daemon=True).start()

