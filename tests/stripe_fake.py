"""Stripe without a network: an HTTP client for the real `stripe` library that answers
like Stripe's API from memory, and webhook payloads signed the way Stripe signs them.

Only the endpoints Avenrae calls are answered: customers, Checkout Sessions (create,
retrieve with the PaymentIntent expanded, expire), PaymentIntents (create, retrieve,
cancel), refunds (create, list). Every request is kept
(method, path, form fields, headers) so tests can assert on exactly what was sent.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlparse

import stripe

WEBHOOK_SECRET = "whsec_test_avenrae_0123456789abcdef"
# The PaymentIntent states Stripe lets one cancel.
CANCELLABLE = frozenset({"requires_payment_method", "requires_confirmation", "requires_action", "processing"})
_ids = itertools.count(1)
_run = secrets.token_hex(3)  # ids stay unique in databases kept between runs


def _new_id(prefix: str) -> str:
    return f"{prefix}_test{_run}{next(_ids):06d}"


class PaymentRefused(Exception):
    """The client tried to pay where Stripe would not let them (a page expired, an intent cancelled)."""


@dataclass
class Sent:
    method: str
    path: str
    form: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeStripe(stripe.HTTPClient):
    """Install with `stripe.StripeClient("sk_test_...", http_client=FakeStripe())`."""

    sent: list[Sent] = field(default_factory=list)
    customers: dict[str, dict] = field(default_factory=dict)
    sessions: dict[str, dict] = field(default_factory=dict)
    intents: dict[str, dict] = field(default_factory=dict)
    refunds: dict[str, dict] = field(default_factory=dict)
    by_idempotency_key: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    fail_next: str | None = None  # "network", "card_declined" or "invalid"
    new_refund_status: str = "succeeded"  # what a refund we ask for is at first ("pending": still processing)

    name = "fake-stripe"

    def __post_init__(self) -> None:
        super().__init__()

    # -- what Stripe's side does between our calls ----------------------------------------

    def pay(self, session_id: str) -> dict:
        """The client paid on the Checkout page: the session completes, its intent succeeds."""
        page = self.sessions[session_id]
        if page["status"] != "open":
            raise PaymentRefused(f"Stripe takes no money on a Checkout page that is {page['status']}")
        intent = self.intents[page["payment_intent"]]
        intent.update(status="succeeded", amount_received=intent["amount"], last_payment_error=None)
        page.update(status="complete", payment_status="paid")
        return intent

    def pay_intent(self, intent_id: str) -> dict:
        """The client app confirmed a PaymentIntent with a card that went through."""
        intent = self.intents[intent_id]
        if intent["status"] not in CANCELLABLE - {"processing"}:
            raise PaymentRefused(f"Stripe confirms no PaymentIntent that is {intent['status']}")
        intent.update(status="succeeded", amount_received=intent["amount"], last_payment_error=None)
        return intent

    def decline(self, session_id: str, message: str = "Your card was declined.") -> dict:
        intent = self.intents[self.sessions[session_id]["payment_intent"]]
        intent.update(
            status="requires_payment_method",
            last_payment_error={"code": "card_declined", "message": message, "type": "card_error"},
        )
        return intent

    def dashboard_refund(self, intent_id: str, cents: int, status: str = "succeeded") -> dict:
        refund = self._refund(intent_id, cents, status)
        return refund

    # -- the HTTP client interface ------------------------------------------------------------

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        parsed = urlparse(url)
        form = dict(parse_qsl(post_data.decode() if isinstance(post_data, bytes) else (post_data or "")))
        query = dict(parse_qsl(parsed.query))
        self.sent.append(Sent(method.upper(), parsed.path, form, dict(headers or {})))
        if self.fail_next == "network":
            self.fail_next = None
            raise stripe.APIConnectionError("Could not connect to Stripe (no network in tests).")
        if self.fail_next == "card_declined":
            self.fail_next = None
            return self._error(402, "card_error", "Your card was declined.", code="card_declined")
        if self.fail_next == "invalid":
            self.fail_next = None
            return self._error(400, "invalid_request_error", "Amount must be no more than the charge.")
        key = (headers or {}).get("Idempotency-Key")
        if key and key in self.by_idempotency_key:
            body, status = self.by_idempotency_key[key]
            return body, status, {"Idempotent-Replayed": "true"}
        body, status = self._route(method.upper(), parsed.path, form, query)
        encoded = json.dumps(body).encode()
        if key:
            self.by_idempotency_key[key] = (encoded, status)
        return encoded, status, {}

    def request_stream(self, method, url, headers, post_data=None, *, _usage=None):
        raise NotImplementedError

    def close(self):
        pass

    # -- the endpoints ----------------------------------------------------------------------------

    def _route(self, method: str, path: str, form: dict[str, str], query: dict[str, str]) -> tuple[dict, int]:
        if method == "POST" and path == "/v1/customers":
            customer = {
                "id": _new_id("cus"),
                "object": "customer",
                "email": form.get("email"),
                "name": form.get("name"),
            }
            self.customers[customer["id"]] = customer
            return customer, 200
        if method == "POST" and path == "/v1/checkout/sessions":
            return self._create_session(form), 200
        if method == "POST" and path.startswith("/v1/checkout/sessions/") and path.endswith("/expire"):
            return self._expire_session(path.split("/")[-2])
        if method == "GET" and path.startswith("/v1/checkout/sessions/"):
            page = self.sessions.get(path.rsplit("/", 1)[1])
            if page is None:
                return {"error": {"type": "invalid_request_error", "message": "No such checkout.session"}}, 404
            shown = dict(page)
            if query.get("expand[0]") == "payment_intent":
                shown["payment_intent"] = self.intents[page["payment_intent"]]
            return shown, 200
        if method == "POST" and path == "/v1/payment_intents":
            return self._create_intent(form), 200
        if method == "POST" and path.startswith("/v1/payment_intents/") and path.endswith("/cancel"):
            return self._cancel_intent(path.split("/")[-2])
        if method == "GET" and path.startswith("/v1/payment_intents/"):
            intent = self.intents.get(path.rsplit("/", 1)[1])
            if intent is None:
                return {"error": {"type": "invalid_request_error", "message": "No such payment_intent"}}, 404
            return intent, 200
        if method == "POST" and path == "/v1/refunds":
            intent = form["payment_intent"]
            left = self.intents[intent]["amount_received"] - sum(
                r["amount"] for r in self.refunds.values() if r["payment_intent"] == intent
            )
            metadata = {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")}
            return self._refund(intent, int(form.get("amount", left)), self.new_refund_status, metadata), 200
        if method == "GET" and path == "/v1/refunds":
            found = [r for r in self.refunds.values() if r["payment_intent"] == query.get("payment_intent")]
            return {"object": "list", "data": found, "has_more": False, "url": "/v1/refunds"}, 200
        return {"error": {"type": "invalid_request_error", "message": f"fake: no route {method} {path}"}}, 404

    def _create_session(self, form: dict[str, str]) -> dict:
        amount = int(form["line_items[0][price_data][unit_amount]"])
        intent = {
            "id": _new_id("pi"),
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "currency": form["line_items[0][price_data][currency]"],
            "status": "requires_payment_method",
            "customer": form.get("customer"),
            "metadata": {"booking_id": form.get("payment_intent_data[metadata][booking_id]")},
            "last_payment_error": None,
        }
        self.intents[intent["id"]] = intent
        page = {
            "id": _new_id("cs"),
            "object": "checkout.session",
            "url": f"https://checkout.stripe.com/c/pay/{intent['id']}",
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": amount,
            "currency": intent["currency"],
            "customer": form.get("customer"),
            "client_reference_id": form.get("client_reference_id"),
            "metadata": {"booking_id": form.get("metadata[booking_id]")},
            "payment_intent": intent["id"],
            "expires_at": int(form["expires_at"]),
        }
        self.sessions[page["id"]] = page
        return page

    def _create_intent(self, form: dict[str, str]) -> dict:
        intent_id = _new_id("pi")
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": int(form["amount"]),
            "amount_received": 0,
            "currency": form["currency"],
            "status": "requires_payment_method",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
            "customer": form.get("customer"),
            "description": form.get("description"),
            "metadata": {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")},
            "last_payment_error": None,
        }
        self.intents[intent_id] = intent
        return intent

    def _expire_session(self, session_id: str) -> tuple[dict, int]:
        """As Stripe: only an open session expires; its PaymentIntent is cancelled with it."""
        page = self.sessions.get(session_id)
        if page is None or page["status"] != "open":
            status = "missing" if page is None else page["status"]
            message = f"Only Checkout Sessions with a status in ['open'] can be expired (this one: {status})."
            return {"error": {"type": "invalid_request_error", "message": message}}, 400
        page.update(status="expired")
        intent = self.intents[page["payment_intent"]]
        if intent["status"] in CANCELLABLE:
            intent.update(status="canceled", cancellation_reason="abandoned")
        return page, 200

    def _cancel_intent(self, intent_id: str) -> tuple[dict, int]:
        """As Stripe: an intent that succeeded (or was cancelled) cannot be cancelled."""
        intent = self.intents.get(intent_id)
        if intent is None or intent["status"] not in CANCELLABLE:
            status = "missing" if intent is None else intent["status"]
            message = f"You cannot cancel this PaymentIntent because it has a status of {status}."
            return {"error": {"type": "invalid_request_error", "message": message}}, 400
        intent.update(status="canceled", cancellation_reason="requested_by_customer")
        return intent, 200

    def _refund(self, intent_id: str, cents: int, status: str, metadata: dict | None = None) -> dict:
        intent = self.intents[intent_id]
        already = sum(r["amount"] for r in self.refunds.values() if r["payment_intent"] == intent_id)
        if already + cents > intent["amount_received"]:
            raise AssertionError("the fake Stripe would refuse a refund beyond the charge")
        refund = {
            "id": _new_id("re"),
            "object": "refund",
            "amount": cents,
            "currency": "zar",
            "payment_intent": intent_id,
            "status": status,
            "metadata": metadata if metadata is not None else intent["metadata"],
        }
        self.refunds[refund["id"]] = refund
        return refund

    @staticmethod
    def _error(status: int, kind: str, message: str, code: str | None = None):
        error = {"type": kind, "message": message}
        if code:
            error["code"] = code
        return json.dumps({"error": error}).encode(), status, {}


def client_for(fake: FakeStripe) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_avenrae", http_client=fake, max_network_retries=0)


def signed_event(
    kind: str, data: dict[str, Any], *, secret: str = WEBHOOK_SECRET, at: int | None = None, event_id: str | None = None
) -> tuple[bytes, str]:
    """A webhook body and its Stripe-Signature header, signed as Stripe signs them."""
    at = int(time.time()) if at is None else at
    payload = json.dumps(
        {
            "id": event_id or _new_id("evt"),
            "object": "event",
            "api_version": "2025-10-29.clover",
            "created": at,
            "type": kind,
            "livemode": False,
            "pending_webhooks": 1,
            "data": {"object": data},
        }
    ).encode()
    signature = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return payload, f"t={at},v1={signature}"
