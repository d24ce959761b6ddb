"""What a production deployment must get right before it faces the internet.

`python -m avenrae check --deploy` lists every problem with its fix (as Django's
`check --deploy` does); `serve` refuses to start in production while a problem that
would put money or sessions at risk remains.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from avenrae.config import MIN_SECRET_BYTES, Settings

STRIPE_TEST_PREFIXES = ("sk_test_", "rk_test_")
# Read from the environment outside Settings (by jobs, the local cluster, `assets`), or an alias.
OTHER_VARIABLES = {"AVENRAE_DATABASE_URL", "AVENRAE_SERVER_NAME", "AVENRAE_PG_BINDIR", "AVENRAE_NPM_REGISTRY"}


@dataclass(frozen=True)
class Problem:
    setting: str
    problem: str
    fix: str
    # The server will not start in production while this is wrong.
    blocks_serving: bool = True

    def __str__(self) -> str:
        return f"{self.setting}: {self.problem} Fix: {self.fix}"


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """AVENRAE_* variables no setting reads: misspellings, which would silently do nothing."""
    known = {f"AVENRAE_{name.upper()}" for name in Settings.model_fields} | OTHER_VARIABLES
    return sorted(name for name in environ if name.startswith("AVENRAE_") and name not in known)


def _settings_file() -> Path | None:
    """The `.env` Settings read, when there is one."""
    env_file = Settings.model_config.get("env_file")
    path = Path(env_file) if isinstance(env_file, str | Path) else None
    return path if path is not None and path.exists() else None


def _has_startup_options(url: str) -> bool:
    return "options" in parse_qs(urlsplit(url).query)


def problems(settings: Settings, environ: Mapping[str, str] | None = None) -> list[Problem]:
    """Every unsafe or missing setting for a production deployment, in a fixed order."""
    found: list[Problem] = [
        Problem(
            name,
            "is not a setting Avenrae knows (misspelt?), so it changes nothing.",
            "spell it as in .env.example, or remove it.",
            blocks_serving=False,
        )
        for name in unknown_variables(os.environ if environ is None else environ)
    ]
    if not settings.production:
        found.append(
            Problem(
                "AVENRAE_ENVIRONMENT",
                f"is {settings.environment!r}, so the production safeguards are off.",
                "set AVENRAE_ENVIRONMENT=production.",
                blocks_serving=False,
            )
        )
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else ""
    if len(secret.encode()) < MIN_SECRET_BYTES:
        found.append(
            Problem(
                "AVENRAE_JWT_SECRET",
                "is not set, so sessions are signed with a key generated on this one machine.",
                f"set it to at least {MIN_SECRET_BYTES} random bytes (`openssl rand -base64 48`), "
                "the same on every app server.",
            )
        )
    public = urlsplit(settings.public_url)
    if public.scheme != "https" or not public.hostname:
        found.append(
            Problem(
                "AVENRAE_PUBLIC_URL",
                f"is {settings.public_url!r}, not an https address: cookies and payment returns would travel in clear.",
                "set it to the https address clients use, e.g. https://ops.avenrae.co.za.",
            )
        )
    stripe_key = settings.stripe_secret_key.get_secret_value() if settings.stripe_secret_key else ""
    if stripe_key.startswith(STRIPE_TEST_PREFIXES):
        found.append(
            Problem(
                "AVENRAE_STRIPE_SECRET_KEY",
                "is a test-mode key: clients would 'pay' with test cards and nothing would be charged.",
                "use the live secret key (sk_live_...) from the Stripe dashboard.",
            )
        )
    if stripe_key and not settings.stripe_webhook_secret:
        found.append(
            Problem(
                "AVENRAE_STRIPE_WEBHOOK_SECRET",
                "is not set, so Stripe's events are refused and bookings are confirmed only by the minute job.",
                "add the endpoint <public URL>/_avenrae/stripe/webhook in the Stripe dashboard and set its "
                "signing secret (whsec_...).",
                blocks_serving=False,
            )
        )
    bank = (settings.eft_bank_name, settings.eft_account_name, settings.eft_account_number, settings.eft_branch_code)
    if not all(bank):
        found.append(
            Problem(
                "AVENRAE_EFT_BANK_NAME",
                "and the other AVENRAE_EFT_* settings are not all set, so clients paying by EFT are not told "
                "where to pay.",
                "set AVENRAE_EFT_BANK_NAME, AVENRAE_EFT_ACCOUNT_NAME, AVENRAE_EFT_ACCOUNT_NUMBER and "
                "AVENRAE_EFT_BRANCH_CODE to the platform's bank account.",
                blocks_serving=False,
            )
        )
    if not settings.smtp_host:
        found.append(
            Problem(
                "AVENRAE_SMTP_HOST",
                "is not set, so nobody gets e-mail: notifications stay in the app, and people who forget their "
                "password cannot reset it themselves (an administrator sets a temporary one).",
                "set AVENRAE_SMTP_HOST and the other AVENRAE_SMTP_* settings to your mail relay.",
                blocks_serving=False,
            )
        )
    if not settings.database_url:
        found.append(
            Problem(
                "DATABASE_URL",
                "is not set, so the server would use the project-local cluster in .avenrae/ (no backups, no replica).",
                "point it at the production PostgreSQL (see docs/deploy.md).",
                blocks_serving=False,
            )
        )
    settings_file = _settings_file()
    if settings.production and settings_file is not None:
        found.append(
            Problem(
                ".env",
                f"exists ({settings_file}): every setting the environment does not give is read from it, so a "
                "development value left there (a test key, a local database) quietly applies in production.",
                "move what it holds to /etc/avenrae/avenrae.env (docs/deploy.md) and delete it.",
                blocks_serving=False,
            )
        )
    # Only through a pooler (AVENRAE_DATABASE_POOLED): straight to PostgreSQL, options= works.
    if settings.database_pooled and settings.database_url and _has_startup_options(settings.database_url):
        found.append(
            Problem(
                "DATABASE_URL",
                "carries an options= startup parameter, which PgBouncer refuses (AVENRAE_DATABASE_POOLED is true): "
                "no connection opens.",
                "set those parameters on the database or role instead (ALTER DATABASE ... SET, ALTER ROLE ... "
                "SET) and drop options= from the URL.",
                blocks_serving=False,
            )
        )
    if settings.allow_unverified_bookings:
        found.append(
            Problem(
                "AVENRAE_ALLOW_UNVERIFIED_BOOKINGS",
                "is true: clients can book and pay practitioners nobody has checked.",
                "leave it unset (false) in production.",
                blocks_serving=False,
            )
        )
    return found


def serving_blockers(settings: Settings) -> list[Problem]:
    """In production, the problems the server refuses to start with; none elsewhere."""
    if not settings.production:
        return []
    return [problem for problem in problems(settings) if problem.blocks_serving]
