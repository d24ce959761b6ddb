"""Public text screened for what a moderator must look at: contact details (people are to
meet and pay through Avenrae), profanity and health-outcome claims. Reviews are held for a
moderator when flagged; a practitioner's public reply and their "About you" are refused."""

from __future__ import annotations

import re

FLAG_LABELS = {
    "contact": "Contact details",
    "profanity": "Profanity",
    "health_claim": "Health-outcome claim",
}
_CONTACT = [
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.I),  # e-mail
    re.compile(r"\b(?:https?://|www\.)[^\s<>()\[\]\"']*[^\s<>()\[\]\"'.,;:!?]", re.I),  # link, not its closing bracket
    re.compile(r"\b[\w-]+\.(?:co\.za|org\.za|com|net|org|info|africa|me|ly)\b(?:/\S*)?", re.I),  # bare domain
    re.compile(r"(?<!\d)(?:\+\s?27|0)(?:[\s\-().]*\d){9}(?!\d)"),  # South African phone number
    re.compile(r"(?<!\d)\d(?:[\s\-.]*\d){9,12}(?!\d)"),  # any other long run of digits
    re.compile(r"\b(?:whats\s?app|telegram|call me on|sms me)\b", re.I),
]
_PROFANITY = re.compile(
    r"\b(?:fuck\w*|shit\w*|bullshit|bitch\w*|bastard\w*|asshole\w*|arsehole\w*|cunt\w*|dickhead\w*|"
    r"wanker\w*|motherfuck\w*|poes|doos|naai\w*|jou\s+ma\s+se|kak)\b",
    re.I,
)
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "@": "a", "$": "s", "5": "s", "*": "u"})
_CONDITIONS = (
    r"cancer|tumou?rs?|hiv|aids|diabetes|tb|tuberculosis|covid|infertility|epilepsy|asthma|"
    r"depression|schizophrenia|stroke|heart disease|blood pressure|arthritis"
)
_HEALTH_CLAIMS = [
    re.compile(r"\bcur(?:e|ed|es|ing)\b", re.I),
    re.compile(r"\bguarantee(?:d|s)?\b", re.I),
    re.compile(r"\b100\s?%\s*(?:success|results?|effective|healed|cured|works?)", re.I),
    re.compile(
        r"\b(?:heal(?:s|ed|ing)?|treat(?:s|ed|ing|ment)?|revers(?:e|es|ed|ing)|remov(?:e|es|ed|ing)|got rid of|"
        r"took away|take away|eliminat(?:e|es|ed|ing)|fix(?:es|ed)?)\b"
        rf"[\w\s',]{{0,25}}\b(?:{_CONDITIONS})\b",
        re.I,
    ),
    re.compile(
        rf"\b(?:{_CONDITIONS})\b[\w\s',]{{0,25}}"
        r"\b(?:is|was|are|were|will be|will go|goes) (?:gone|healed|cured|away)\b",
        re.I,
    ),
    re.compile(
        r"\b(?:stop(?:ped)?|quit|no longer (?:need|take|taking)|don't need|do not need|threw away)\b[\w\s']{0,15}"
        r"\b(?:medication|medicine|meds|pills|treatment|chemo\w*|arvs?|insulin|doctor|hospital)\b",
        re.I,
    ),
    re.compile(
        r"\b(?:better than|instead of|replaces?)\b[\w\s]{0,10}\b(?:doctors?|hospitals?|medicine|chemo\w*)\b", re.I
    ),
]


def flag_matches(text: str) -> dict[str, list[str]]:
    """What in `text` a moderator should look at, by flag; an empty dict for plain text."""
    found: dict[str, list[str]] = {}

    def add(flag: str, snippets: list[str]) -> None:
        # Each thing once: two patterns may catch the same number, or part of it, and people
        # write one number with and without spaces. Compared on letters and digits only.
        def key(snippet: str) -> str:
            return "".join(ch for ch in snippet.casefold() if ch.isalnum())

        kept: list[str] = []
        for snippet in sorted({s.strip() for s in snippets}, key=lambda s: (-len(key(s)), text.find(s))):
            if not any(key(snippet) in key(longer) for longer in kept):
                kept.append(snippet)
        if kept:
            found.setdefault(flag, []).extend(sorted(kept, key=text.find))

    add("contact", [m.group(0) for pattern in _CONTACT for m in pattern.finditer(text)])
    add("profanity", [m.group(0) for m in _PROFANITY.finditer(text.translate(_LEET))])
    add("health_claim", [m.group(0) for pattern in _HEALTH_CLAIMS for m in pattern.finditer(text)])
    return found


def flags_for(text: str) -> list[str]:
    return sorted(flag_matches(text))


def refused_in_public(text: str, *, field: str, label: str) -> str | None:
    """Why `text` cannot be shown publicly as written (for `field`'s error), or None."""
    flagged = flag_matches(text)
    if not flagged:
        return None
    what = "; ".join(f"{FLAG_LABELS[flag].lower()} (“{'”, “'.join(found)}”)" for flag, found in flagged.items())
    return f"{label} cannot include {what}. Take that out and {'post it' if field == 'reply' else 'save'} again."
