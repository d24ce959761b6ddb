"""Production mode refuses unsafe set-ups: `check --deploy`, `serve`, `db seed`, demo
accounts, the remember-me cookie, and visitors never see database error text."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient
from streamlit.testing.v1 import AppTest

from avenrae import db as app_db
from avenrae import deploy, localdb
from avenrae.config import REPO_ROOT, Settings, get_settings
from avenrae.db import session_scope
from avenrae.services import accounts, tokens
from avenrae.ui import auth
from avenrae.ui.page import DATABASE_UNAVAILABLE
from tests.factories import PASSWORD, make_client

GOOD = {
    "AVENRAE_ENVIRONMENT": "production",
    "AVENRAE_EFT_BANK_NAME": "First National Bank",
    "AVENRAE_EFT_ACCOUNT_NAME": "Avenrae (Pty) Ltd",
    "AVENRAE_EFT_ACCOUNT_NUMBER": "62000000000",
    "AVENRAE_EFT_BRANCH_CODE": "250655",
    "AVENRAE_JWT_SECRET": "k" * 48,
    "AVENRAE_PUBLIC_URL": "https://ops.avenrae.co.za",
    "AVENRAE_SMTP_HOST": "smtp.avenrae.co.za",
    "AVENRAE_STRIPE_SECRET_KEY": "sk_live_0123456789",
    "AVENRAE_STRIPE_WEBHOOK_SECRET": "whsec_live_0123456789",
    "DATABASE_URL": "postgresql://avenrae:secret@db.internal:5432/avenrae",
}


def avenrae(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AVENRAE_") and k != "DATABASE_URL"}
    # Settings also come from a .env in the checkout; point the state folder somewhere empty.
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "avenrae", *args],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_prints_one_line_per_problem_and_nothing_once_fixed():
    wrong = {
        **GOOD,
        "AVENRAE_JWT_SECRET": "",
        "AVENRAE_PUBLIC_URL": "http://ops.avenrae.co.za",
        "AVENRAE_STRIPE_SECRET_KEY": "sk_test_0123456789",
        "AVENRAE_STRIPE_WEBHOOK_SECRET": "",
        "AVENRAE_EFT_BANK_NAME": "",
        "AVENRAE_SMTP_HOST": "",
        "DATABASE_URL": "",
    }
    refused = avenrae("check", "--deploy", **wrong)
    lines = refused.stdout.strip().splitlines()
    assert refused.returncode == 1
    assert [line.split(":", 1)[0] for line in lines] == [
        "AVENRAE_JWT_SECRET",
        "AVENRAE_PUBLIC_URL",
        "AVENRAE_STRIPE_SECRET_KEY",
        "AVENRAE_STRIPE_WEBHOOK_SECRET",
        "AVENRAE_EFT_BANK_NAME",
        "AVENRAE_SMTP_HOST",
        "DATABASE_URL",
    ]
    assert all("Fix: " in line for line in lines)
    fine = avenrae("check", "--deploy", **GOOD)
    assert (fine.returncode, fine.stdout, fine.stderr) == (0, "", "")


def test_check_deploy_names_a_misspelt_setting():
    result = avenrae("check", "--deploy", **{**GOOD, "AVENRAE_JWT_SECRT": "x" * 40, "AVENRAE_SERVER_NAME": "web-1"})
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "AVENRAE_JWT_SECRT: is not a setting Avenrae knows (misspelt?), so it changes nothing. "
        "Fix: spell it as in .env.example, or remove it."
    ]


def test_every_setting_is_in_the_example_file():
    example = (REPO_ROOT / ".env.example").read_text()
    names = ["DATABASE_URL" if name == "database_url" else f"AVENRAE_{name.upper()}" for name in Settings.model_fields]
    assert [name for name in names if f"{name}=" not in example] == []


def test_several_wrong_settings_are_all_named_at_once():
    result = avenrae(
        "check", "--deploy", **{**GOOD, "AVENRAE_JWT_SECRET": "short", "AVENRAE_DATABASE_POOL_SIZE": "20 # x"}
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "AVENRAE_JWT_SECRET" in line and "AVENRAE_DATABASE_POOL_SIZE" in line


def test_check_deploy_warns_of_a_dotenv_file_that_production_settings_would_fall_back_on(monkeypatch, tmp_path):
    # Found by an operator's trial: a .env left in the checkout fills in whatever the unit's
    # environment file leaves out (a test key, the local database), silently.
    for name in [name for name in os.environ if name.startswith("AVENRAE_") or name == "DATABASE_URL"]:
        monkeypatch.delenv(name)
    dotenv = tmp_path / ".env"
    dotenv.write_text("".join(f"{name}={value}\n" for name, value in GOOD.items()))
    monkeypatch.setitem(Settings.model_config, "env_file", dotenv)
    [problem] = deploy.problems(Settings(), environ={})
    assert (problem.setting, problem.blocks_serving) == (".env", False)
    assert str(dotenv) in problem.problem and "avenrae.env" in problem.fix
    dotenv.unlink()
    for name, value in GOOD.items():
        monkeypatch.setenv(name, value)
    assert deploy.problems(Settings(), environ={}) == []


def test_check_deploy_warns_of_startup_options_a_pooler_refuses():
    with_options = GOOD["DATABASE_URL"] + "?sslmode=require&options=-c%20statement_timeout%3D5s"
    direct = avenrae("check", "--deploy", **{**GOOD, "DATABASE_URL": with_options})
    assert (direct.returncode, direct.stdout) == (0, "")  # straight to PostgreSQL, options= works (found by a review)
    result = avenrae("check", "--deploy", **{**GOOD, "DATABASE_URL": with_options, "AVENRAE_DATABASE_POOLED": "true"})
    assert result.returncode == 1
    [line] = result.stdout.splitlines()
    assert line.startswith("DATABASE_URL: carries an options= startup parameter, which PgBouncer refuses")
    assert "secret" not in line  # the URL's password is not repeated
    fine = avenrae("check", "--deploy", **{**GOOD, "DATABASE_URL": GOOD["DATABASE_URL"] + "?sslmode=require"})
    assert (fine.returncode, fine.stdout) == (0, "")


def test_a_wrong_combination_of_settings_is_said_plainly():
    result = avenrae(
        "check", "--deploy", **{**GOOD, "AVENRAE_SMTP_HOST": "smtp.example.co.za", "AVENRAE_SMTP_SECURITY": "none"}
    )
    [line] = result.stderr.strip().splitlines()
    assert result.returncode == 1
    assert line.startswith("error: settings") and "a setting" not in line
    assert "AVENRAE_SMTP_SECURITY=none sends passwords and mail in clear" in line


def test_check_deploy_says_when_the_environment_is_not_production():
    result = avenrae("check", "--deploy", **{**GOOD, "AVENRAE_ENVIRONMENT": "development"})
    assert result.returncode == 1
    assert result.stdout.startswith("AVENRAE_ENVIRONMENT: is 'development'")


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"AVENRAE_JWT_SECRET": ""}, "AVENRAE_JWT_SECRET"),
        ({"AVENRAE_PUBLIC_URL": "http://ops.avenrae.co.za"}, "AVENRAE_PUBLIC_URL"),
        ({"AVENRAE_STRIPE_SECRET_KEY": "sk_test_abc"}, "AVENRAE_STRIPE_SECRET_KEY"),
    ],
)
def test_serve_refuses_to_start_in_production_naming_the_setting(change, setting):
    result = avenrae("serve", "--dry-run", **{**GOOD, **change})
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: not serving in production: {setting}:")


def test_serve_listens_on_this_machine_unless_told_otherwise():
    env = {"DATABASE_URL": GOOD["DATABASE_URL"]}
    default = avenrae("serve", "--dry-run", **env)
    assert default.returncode == 0, default.stderr
    assert "--server.address 127.0.0.1" in default.stdout
    chosen = avenrae("serve", "--dry-run", "--address", "0.0.0.0", **env)
    assert "--server.address 0.0.0.0" in chosen.stdout


def test_a_short_jwt_secret_is_refused_in_bytes():
    result = avenrae("check", "--deploy", **{**GOOD, "AVENRAE_JWT_SECRET": "é" * 15})  # 15 characters, 30 bytes
    assert result.returncode == 1
    assert "AVENRAE_JWT_SECRET" in result.stderr and "32 bytes" in result.stderr


def test_db_seed_refuses_in_production(server_url):
    url = app_db.sibling_database(server_url, "avenrae_seed_refusal", recreate=True)
    app_db.migrate(url)
    result = avenrae(
        "db",
        "seed",
        "--practitioners",
        "2",
        "--clients",
        "2",
        "--bookings",
        "0",
        DATABASE_URL=url,
        AVENRAE_ENVIRONMENT="production",
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "error: refusing to load demo data in production (AVENRAE_ENVIRONMENT=production)"
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM users").scalar() == 0
    engine.dispose()


@pytest.fixture
def production(monkeypatch):
    monkeypatch.setattr(get_settings(), "environment", "production")


def test_demo_accounts_cannot_log_in_or_keep_a_session_in_production(db, production):
    demo = make_client(db, email="client@demo.avenrae.co.za", is_demo=True)
    with pytest.raises(accounts.AccountDisabled, match="Demo accounts cannot log in"):
        accounts.login(session=db, email=demo.email, password=PASSWORD)
    pair = tokens.issue(session=db, user=demo)  # a session from before the switch to production
    assert accounts.get_current(session=db, user_id=demo.id, family_id=pair.family_id) is None
    with pytest.raises(tokens.TokenError):
        tokens.rotate(session=db, refresh_token=pair.refresh_token)
    real = make_client(db)
    assert accounts.login(session=db, email=real.email, password=PASSWORD).user.id == real.id


def test_demo_accounts_log_in_outside_production(db):
    demo = make_client(db, is_demo=True)
    assert accounts.login(session=db, email=demo.email, password=PASSWORD).user.id == demo.id


def _cookie_route_client() -> TestClient:
    from avenrae.ui.server import remember_session

    return TestClient(Starlette(routes=[Route("/_avenrae/session", remember_session, methods=["POST"])]))


def test_the_remember_me_cookie_is_always_secure_in_production(db, production):
    with session_scope() as session:
        code = tokens.new_cookie_code(session=session, refresh_token="a-refresh-token")
    answer = _cookie_route_client().post("/_avenrae/session", content=code)  # plain http, no proxy header
    assert answer.status_code == 204
    cookie = answer.headers["set-cookie"]
    assert "avenrae_session=a-refresh-token" in cookie
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie


def test_an_unreachable_database_shows_one_friendly_banner_and_no_connection_details(db, monkeypatch):
    user = make_client(db)
    pair = tokens.issue(session=db, user=user)
    broken = create_engine("postgresql+psycopg://secret_user:hunter2@127.0.0.1:1/avenrae_gone", pool_pre_ping=False)
    monkeypatch.setitem(app_db.SessionLocal.kw, "bind", broken)
    app = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=30)
    app.session_state[auth.SESSION_KEY] = auth.AuthState(
        user.id, pair.access_token, pair.refresh_token, pair.family_id, remember=False
    )
    app.run()
    assert not app.exception
    shown = [e.value for e in app.error]
    assert shown == [DATABASE_UNAVAILABLE]
    everything = " ".join(str(getattr(e, "value", "")) for e in app.main) + " ".join(
        str(getattr(e, "value", "")) for e in app.sidebar
    )
    for secret in ("secret_user", "hunter2", "127.0.0.1", "avenrae_gone", "psycopg", "OperationalError"):
        assert secret not in everything


def test_a_restarted_cluster_keeps_a_port_whose_connections_linger_in_time_wait():
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        listener.listen()
        caller = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the server side closes first: its end of the connection lingers in TIME_WAIT
        caller.close()
    assert localdb._port_is_free(port)


def test_signing_secret_setting_is_used_when_given(monkeypatch):
    monkeypatch.setattr(get_settings(), "jwt_secret", SecretStr("x" * 40))
    assert tokens.signing_secret() == "x" * 40
