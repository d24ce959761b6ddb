"""A forgotten password through the API: the same answer for any address, the link e-mailed
after the answer, and the new password set once from its token."""

import email
import email.policy

from avenrae.services import accounts
from tests.factories import PASSWORD

NEW_PASSWORD = "Jacaranda season 2031"


def test_forgot_password_emails_a_link_whose_token_sets_the_password_once(api, db, client_user, smtp_server):
    login = api.post("/api/auth/login", json={"email": client_user.email, "password": PASSWORD}).json()
    asked = api.post("/api/auth/forgot-password", json={"email": client_user.email})
    unknown = api.post("/api/auth/forgot-password", json={"email": "nobody@example.co.za"})
    assert (asked.status_code, unknown.status_code) == (202, 202)
    assert asked.json()["message"].replace(client_user.email, "x") == unknown.json()["message"].replace(
        "nobody@example.co.za", "x"
    )
    [envelope] = smtp_server.messages
    body = email.message_from_bytes(envelope.content, policy=email.policy.default).get_content()
    token = body.split("/reset_password?token=")[1].split()[0]

    weak = api.post("/api/auth/reset-password", json={"token": token, "password": "password12"})
    assert weak.status_code == 422 and "guess" in weak.json()["errors"]["password"]
    done = api.post("/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD})
    assert done.status_code == 200, done.text
    assert done.json() == {"message": "Your new password is saved. Log in with it."}
    db.refresh(client_user)
    assert accounts.verify_password(NEW_PASSWORD, client_user.password_hash)
    # Every session of the account ended.
    refreshed = api.post("/api/auth/refresh", json={"refreshToken": login["refreshToken"]})
    assert refreshed.status_code == 401
    again = api.post("/api/auth/reset-password", json={"token": token, "password": "Another fine day 2031"})
    assert again.status_code == 400 and "already used" in again.json()["detail"]
    assert api.post("/api/auth/login", json={"email": client_user.email, "password": NEW_PASSWORD}).status_code == 200


def test_forgot_password_without_an_address_is_422(api):
    answer = api.post("/api/auth/forgot-password", json={"email": ""})
    assert answer.status_code == 422
    assert answer.json()["errors"] == {"email": "Enter the email you log in with."}
