"""Settings from the environment and `.env`, validated once.

Every setting is documented in `.env.example`. Names carry the `AVENRAE_` prefix,
except `DATABASE_URL`, which is accepted under its conventional name as well.
"""

from __future__ import annotations

import ipaddress
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
# Settings the environment does not give are read from here (development only).
ENV_FILE = REPO_ROOT / ".env"
MIN_SECRET_BYTES = 32
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
THIS_MACHINE_PROXIES = "127.0.0.1,::1"  # AVENRAE_TRUSTED_PROXIES unless set: nginx on the same machine


def normalise_database_url(url: str) -> str:
    """Point any PostgreSQL URL at the psycopg 3 driver SQLAlchemy should use."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith("postgresql+psycopg://"):
        return url
    raise ValueError("must be a PostgreSQL URL (postgresql://user:password@host:port/dbname)")


def libpq_url(url: str) -> str:
    """The same URL in the plain form psql and libpq accept."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AVENRAE_",
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        extra="ignore",
    )

    environment: Literal["development", "test", "production"] = "development"
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "AVENRAE_DATABASE_URL")
    )
    # DATABASE_URL leads to PgBouncer in transaction pooling mode: no prepared statements
    # (PgBouncer 1.18 cannot route them), nothing kept in a connection between transactions.
    database_pooled: bool = False
    # Connections each process keeps open (and how many more it may open for a burst, closed
    # again after). Size it to the requests one process runs at once: below that, connections
    # are opened and closed all the time (a PostgreSQL connection costs a process and a login;
    # with 5, the API's bookings fell from 178/s to 130/s). Every process's pool together must
    # fit the server's max_connections, or go through PgBouncer.
    database_pool_size: int = Field(default=20, ge=1, le=500)
    database_pool_overflow: int = Field(default=10, ge=0, le=500)
    # Optional read-only database for analytics (a streaming replica of DATABASE_URL);
    # when set, the analytics pages read there and nothing else does.
    analytics_database_url: str | None = None
    # Where the project-local cluster keeps its state; only used without DATABASE_URL.
    state_dir: Path = REPO_ROOT / ".avenrae"
    platform_fee_rate: Decimal = Decimal("0.15")
    default_time_zone: str = "Africa/Johannesburg"
    # Serve Leaflet and friends from static/vendor when present (see avenrae/assets.py).
    offline_map_assets: bool = True
    # Whether `serve` runs the background jobs (avenrae.jobs); off where systemd timers or
    # cron run `python -m avenrae jobs NAME` instead.
    run_jobs: bool = True

    # Signing secret for access tokens; generated once into state_dir when unset.
    jwt_secret: SecretStr | None = None
    access_token_hours: int = Field(default=24, ge=1, le=24 * 7)
    refresh_token_days: int = Field(default=7, ge=1, le=90)
    lockout_failures: int = Field(default=5, ge=1)
    lockout_minutes: int = Field(default=15, ge=1)

    # Sign-in limits per client address, counted across every app server: login attempts
    # per 15 minutes and sign-ups per hour.
    login_attempts_per_ip: int = Field(default=30, ge=1)
    signups_per_ip: int = Field(default=10, ge=1)
    # A forgotten password: how long an e-mailed link to choose a new one works, and how many
    # links one client address may ask for per hour (one account gets at most three an hour).
    password_reset_minutes: int = Field(default=60, ge=5, le=24 * 60)
    password_resets_per_ip: int = Field(default=10, ge=1)
    # A refresh token presented again this soon after it was rotated (two tabs restoring
    # the same remember-me cookie at once) gets the same successor instead of a theft alarm.
    refresh_reuse_grace_seconds: int = Field(default=30, ge=0, le=300)

    # The public JSON API (/api): web origins allowed to call it from a browser (CORS),
    # comma-separated, none by default; the largest request body it reads; requests per
    # minute from one client address and with one access token, counted across servers.
    cors_origins: str = ""
    # The proxies (nginx, a load balancer) whose X-Forwarded-For the app servers believe,
    # comma-separated addresses or networks; "*" believes anyone (only when nothing but the
    # proxy can reach the servers). The limits per client address read it.
    trusted_proxies: str = THIS_MACHINE_PROXIES
    api_max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=10 * 1024 * 1024)
    api_requests_per_ip: int = Field(default=600, ge=1)
    api_requests_per_token: int = Field(default=300, ge=1)
    # How many requests one `python -m avenrae api` process works on at once (the rest wait
    # their turn, cheaply): few, because their time is the database's and the interpreter's,
    # which many threads only contend for (on two cores with two processes, 2 served 1.2x the
    # bookings of Starlette's 40, bench/README.md); more processes for more at once. Work that
    # mostly waits on Stripe, Nominatim or a password hash has threads of its own
    # (avenrae.api.threads), each of which may hold a database connection while it waits: keep
    # both together within the pool (AVENRAE_DATABASE_POOL_SIZE + _OVERFLOW, 30). `serve`,
    # which answers /api beside the pages, keeps Starlette's threads.
    api_threads: int = Field(default=2, ge=1, le=1000)
    api_waiting_threads: int = Field(default=16, ge=1, le=1000)

    # Bookings: how long an unpaid booking holds its slot; the longest any hold may last
    # (opening a card payment page extends it up to this); how many unpaid holds one client
    # may have at once; whether practitioners not yet verified can be booked.
    booking_hold_minutes: int = Field(default=15, ge=1, le=24 * 60)
    booking_hold_max_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    max_unpaid_holds: int = Field(default=3, ge=1, le=100)
    allow_unverified_bookings: bool = False

    # Paying by EFT: a booking held for a bank transfer stays held this many hours, but only
    # until this many hours before the session (never past it); and the account clients pay.
    eft_hold_hours: int = Field(default=24, ge=1, le=14 * 24)
    eft_cutoff_hours: int = Field(default=2, ge=0, le=7 * 24)
    eft_bank_name: str | None = None
    eft_account_name: str | None = None
    eft_account_number: str | None = None
    eft_branch_code: str | None = None

    # Payouts: a practitioner's earnings from a session are paid out once it ended this many
    # days ago (time for a client to say the practitioner did not come).
    payout_hold_days: int = Field(default=2, ge=0, le=60)

    # Retention (POPIA: keep personal information no longer than needed); the purge job
    # deletes older rows daily.
    login_attempts_retention_days: int = Field(default=90, ge=1)
    expired_tokens_retention_days: int = Field(default=7, ge=0)
    stripe_events_retention_days: int = Field(default=30, ge=4)  # Stripe retries for 3 days

    # E-mail for notifications and password reset links; without a host, notifications stay in
    # the app only, and a forgotten password is reset by an administrator (in development the
    # reset link is written to the server's log instead).
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # starttls (port 587) or tls (implicit, port 465), both with a verified certificate;
    # none only for a relay on this machine (localhost).
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_timeout_seconds: float = Field(default=20, gt=0, le=300)
    smtp_from: str = "Avenrae <no-reply@avenrae.co.za>"

    # Stripe: with a secret key, clients pay on Stripe Checkout; without one, staff record
    # cash and EFT payments (the manual gateway, always available to staff).
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    # Where the app is reached from outside; Stripe sends clients back here after paying.
    public_url: str = "http://localhost:8501"

    # Geocoding: "offline" (the built-in gazetteer only) or "nominatim", which asks a Nominatim
    # server when the gazetteer refuses a place or only finds its town. Answers are cached in
    # the database; on any error or timeout the offline answer stands.
    geocoder: Literal["offline", "nominatim"] = "offline"
    nominatim_url: str = "https://nominatim.openstreetmap.org"
    # Nominatim's usage policy asks for an agent naming the application and a contact.
    nominatim_user_agent: str = "Avenrae operations platform (https://avenrae.co.za; ops@avenrae.co.za)"
    nominatim_timeout_seconds: float = Field(default=3.0, gt=0, le=30)
    # At most one request per this many seconds from all the servers together (the public server allows one per second).
    nominatim_min_delay_seconds: float = Field(default=1.0, ge=1.0)

    @field_validator("nominatim_url")
    @classmethod
    def _nominatim_url_is_http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://, for example https://nominatim.example.co.za")
        return value.rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        for entry in entries:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an address or network; give addresses, for example 10.0.0.5,10.0.1.0/24"
                ) from None
        if not entries:
            raise ValueError("name at least one address, for example 127.0.0.1")
        return ",".join(entries)

    @field_validator("database_url", "analytics_database_url")
    @classmethod
    def _normalise_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return normalise_database_url(value.strip())

    @field_validator("jwt_secret", "stripe_secret_key", "stripe_webhook_secret", "smtp_password", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("jwt_secret")
    @classmethod
    def _secret_is_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"must be at least {MIN_SECRET_BYTES} bytes; generate one with `openssl rand -base64 48`")
        return value

    @model_validator(mode="after")
    def _smtp_in_clear_only_on_this_machine(self) -> Settings:
        if self.smtp_security == "none" and self.smtp_host and self.smtp_host not in LOOPBACK_HOSTS:
            raise ValueError(
                "AVENRAE_SMTP_SECURITY=none sends passwords and mail in clear: only allowed for a relay on "
                "localhost; use starttls or tls"
            )
        return self

    @model_validator(mode="after")
    def _demo_bank_account_outside_production(self) -> Settings:
        # So a demo shows the whole EFT path; production names its own account (check --deploy).
        if not self.production and not any(
            (self.eft_bank_name, self.eft_account_name, self.eft_account_number, self.eft_branch_code)
        ):
            self.eft_bank_name, self.eft_account_name = "First National Bank", "Avenrae Demo (Pty) Ltd"
            self.eft_account_number, self.eft_branch_code = "62000000001", "250655"
        return self

    @property
    def allowed_origins(self) -> list[str]:
        """AVENRAE_CORS_ORIGINS as a list ("https://app.example.co.za, https://partner.example")."""
        return [origin.strip().rstrip("/") for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @field_validator("platform_fee_rate")
    @classmethod
    def _fee_rate_is_a_fraction(cls, value: Decimal) -> Decimal:
        if not Decimal("0") <= value < Decimal("1"):
            raise ValueError("must be a fraction between 0 and 1, for example 0.15")
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
