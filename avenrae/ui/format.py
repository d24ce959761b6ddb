"""How numbers, money, distances and times read on screen."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from avenrae.config import get_settings
from avenrae.services import validation

MISSING = "—"  # a table cell with no value (a month with no growth figure, a user never logged in)


def rand(amount: Decimal | float | int) -> str:
    """South African rand: R1,234.50."""
    value = Decimal(str(amount)).quantize(Decimal("0.01"))
    sign = "-" if value < 0 else ""
    return f"{sign}R{abs(value):,.2f}"


# Headline amounts: exact below WHOLE_RAND_FROM ("R9,999.99"); whole rand below
# COMPACT_FROM ("R58,342", as wide as "R4,434.08"); above it three significant figures
# ("R12.5 m", "R4.18 bn"). The exact amount is on hover, so five figures fit in a row.
WHOLE_RAND_FROM = Decimal(10_000)
COMPACT_FROM = Decimal(1_000_000)
_COMPACT_UNITS = ((Decimal(10) ** 12, "tn"), (Decimal(10) ** 9, "bn"), (Decimal(10) ** 6, "m"))


def compact_rand(amount: Decimal | float | int, *, whole: bool = False) -> str:
    """Rand that fits a headline: R4.18 bn, R12.5 m, R950,000; exact (R9,999.99) below R10,000
    unless `whole` (R9,999: beside larger amounts shown in whole rand)."""
    value = Decimal(str(amount)).quantize(Decimal("0.01"))
    sign = "-" if value < 0 else ""
    size = abs(value)
    if size < WHOLE_RAND_FROM and not whole:
        return rand(value)
    rounded = size.quantize(Decimal(1), rounding=ROUND_HALF_UP)
    if rounded < COMPACT_FROM:
        return f"{sign if rounded else ''}R{rounded:,}"  # -R0.30 in whole rand is R0, not -R0
    for scale, unit in _COMPACT_UNITS:
        if size >= scale or unit == "m":
            scaled = size / scale
            # three significant figures; 999.5 m rounds up into the next unit
            decimals = 0 if scaled >= 100 else 1 if scaled >= 10 else 2
            shown = round(scaled, decimals)
            if shown >= 1000 and unit != "tn":
                bigger = {"m": "bn", "bn": "tn"}[unit]
                return f"{sign}R{shown / 1000:.2f} {bigger}"
            return f"{sign}R{shown:,.{decimals}f} {unit}"
    raise AssertionError("unreachable: the last unit takes every amount left")  # pragma: no cover


def rand_metric(
    where, label: str, amount: Decimal | float | int, help: str | None = None, *, whole: bool = False
) -> None:
    """A headline amount as a metric: compact when large, the exact amount in its tooltip."""
    shown = compact_rand(amount, whole=whole)
    exact = rand(amount)
    if shown != exact:
        help = f"{help}\n\nExact: {exact}" if help else f"Exact: {exact}"
    where.metric(label, shown, help=help)


Figure = tuple[str, Decimal | float | int, str | None]  # label, amount, help


def rand_metrics(where: Sequence, figures: Sequence[Figure]) -> None:
    """A row of headline amounts at one precision: when one is shown in whole rand, all are
    (R74,778 beside R6,219, not R6,219.32), each exact on hover."""
    whole = any(abs(Decimal(str(amount)).quantize(Decimal("0.01"))) >= WHOLE_RAND_FROM for _, amount, _ in figures)
    for column, (label, amount, help) in zip(where, figures, strict=True):
        rand_metric(column, label, amount, help, whole=whole)


def count(value: int, noun: str | None = None, plural: str | None = None) -> str:
    """1,234 — or with a noun, "1 booking" / "2 bookings" ("1 entry" / "2 entries" given the plural)."""
    if noun is None:
        return f"{value:,}"
    return f"{value:,} " + (noun if value == 1 else plural or noun + "s")


def rows(value: int, exact: bool, noun: str, plural: str | None = None) -> str:
    """A count that may be an estimate: "1,234 bookings" or "about 1.8 million bookings"."""
    if exact:
        return count(value, noun, plural)
    many = plural or noun + "s"
    if value >= 1_000_000:
        return f"about {value / 1_000_000:.1f} million {many}"
    if value >= 1_000:
        return f"about {float(f'{value:.2g}'):,.0f} {many}"
    return f"about {value:,} {many}"


def distance(km: float) -> str:
    """'850 m' under a kilometre, '3.2 km' under 100 km, '153 km' beyond."""
    if km < 1:
        return f"{round(km * 1000, -1):.0f} m"
    if km < 100:
        return f"{km:.1f} km"
    return f"{km:,.0f} km"


def default_zone() -> str:
    """Where times are shown to people with no time zone of their own (clients, staff)."""
    return get_settings().default_time_zone


def today() -> date:
    """Today where the platform keeps its days (its time zone), not on the server's clock:
    after midnight in Johannesburg a UTC server still says yesterday."""
    return datetime.now(ZoneInfo(default_zone())).date()


def day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """The instants from the start of `first` to the end of `last` (exclusive), in days as the
    platform keeps them (its time zone), as Revenue & fees counts them."""
    zone = ZoneInfo(default_zone())
    return datetime.combine(first, time(0), zone), datetime.combine(last + timedelta(days=1), time(0), zone)


def local_time(moment: datetime, time_zone: str | None = None, pattern: str = "%a %d %b %Y, %H:%M") -> str:
    """An instant shown in the practitioner's (or the platform's) time zone."""
    zone = ZoneInfo(time_zone or default_zone())
    return moment.astimezone(zone).strftime(pattern)


def money(value: float | Decimal) -> Decimal:
    """A number from a widget as rand and cents; InvalidInput (said in words) for one that is
    no amount at all (infinite, or typed as 1e30)."""
    return validation.amount_field(value)


def percent(fraction: Decimal | float) -> str:
    """A rate as people read it: 0.15 -> '15%', 0.125 -> '12.5%'."""
    return f"{Decimal(str(fraction)) * 100:.2f}".rstrip("0").rstrip(".") + "%"


def month(year_month: str) -> str:
    """A calendar month as people write it: '2026-12' -> 'Dec 2026'."""
    return datetime.strptime(year_month, "%Y-%m").strftime("%b %Y")


def label(value: str) -> str:
    """An enum value as words: 'no_show' -> 'No show'."""
    return value.replace("_", " ").capitalize()


_CODE = re.compile(r"^[a-z]+(?:_[a-z]+)*$")  # no_show, in_person: a value of ours, not someone's text
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def field_value(value: object) -> str:
    """A recorded value as words: yes/no, instants in local time, codes as words."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(field_value(item) for item in value)
    if isinstance(value, dict):
        return fields(value)
    text = str(value)
    if _INSTANT.match(text):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return text
        return local_time(moment) if moment.tzinfo else text
    return text.replace("_", " ") if _CODE.match(text) else text


def fields(values: dict[str, object] | None) -> str:
    """A record's fields as a line: "Status: cancelled · Refund due: yes"."""
    return " · ".join(f"{label(key)}: {field_value(value)}" for key, value in (values or {}).items())


def action(code: str) -> str:
    """An audit action as words: 'payment.record_manual' -> 'Payment · record manual'."""
    subject, _, verb = code.partition(".")
    return f"{label(subject)} · {verb.replace('_', ' ')}" if verb else label(subject)


def escape(text: str) -> str:
    """User-written text made safe for HTML (map popups, tooltips, unsafe_allow_html)."""
    return html.escape(text, quote=True)


_MARKDOWN_SPECIALS = "\\`*_{}[]()#+-.!|<>~$="
# Streamlit's markdown turns bare "https://..." and "www...." into links (GFM autolink literals)
# after escapes are resolved, so backslashes do not stop them: a WORD JOINER (U+2060, invisible,
# no line break) inside the pattern does.
_WORD_JOINER = "\u2060"
_AUTOLINK_STARTS = re.compile(r"(?i)(?<=:)(?=//)|(?<=\bwww)(?=\\\.)")


def md(text: str) -> str:
    """User-written text made literal inside Streamlit markdown: no links (written or bare),
    images, emphasis, HTML, colours or maths."""
    escaped = "".join(f"\\{ch}" if ch in _MARKDOWN_SPECIALS else ch for ch in text)
    return _AUTOLINK_STARTS.sub(_WORD_JOINER, escaped)


def md_address(address: str) -> str:
    """An email address someone typed, shown in markdown exactly as typed and as text, not a
    mail link: in a code span (fenced longer than any run of backticks in it), which markdown
    neither links nor formats, and which copies as the address itself."""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", address)), default=0) + 1)
    pad = " " if address.startswith("`") or address.endswith("`") else ""
    return f"{fence}{pad}{address}{pad}{fence}"


def file_size(size_bytes: int) -> str:
    """401 bytes, 12 KB, 4.2 MB: a file's size as people read it (never "0 KB")."""
    if size_bytes < 1024:
        return count(size_bytes, "byte")
    if size_bytes < 1024 * 1024:
        return f"{size_bytes / 1024:,.0f} KB"
    return f"{size_bytes / 1024 / 1024:,.1f} MB"
