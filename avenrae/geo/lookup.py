"""From what a person types ("12 Florida Road, Morningside, Durban, 4001") to a place, offline.

Parsing: split on commas; drop "South Africa" and other country names; a province names a
filter; a four-digit number standing alone (or beside a place name) is a postal code; street
numbers and street names, PO Box, Private Bag, Stand, Erf, Unit and Flat parts are dropped.
What is left are place names, the most specific first.

Resolving, in this order:
1. the most specific place name, accepted only near (NEAR_KM) the next name that resolves,
   or near the postal code's area: precision "place";
2. the postal code: precision "postal area";
3. a less specific name (usually the city): precision "city", approximate.
Otherwise PlaceNotFound, with the names closest to what was typed.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from enum import StrEnum

from avenrae.geo.gazetteer import Place, gazetteer, km, loose_key, name_key, normalise

NEAR_KM = 50
PROVINCE_NAMES = {
    "KwaZulu-Natal": ("kwazulu natal", "kzn", "natal", "kwazulu"),
    "Gauteng": ("gauteng", "gp"),
    "Western Cape": ("western cape", "wc", "w cape"),
    "Eastern Cape": ("eastern cape", "ec", "e cape"),
    "Northern Cape": ("northern cape", "nc", "n cape"),
    "Free State": ("free state", "fs", "orange free state", "ofs"),
    "North West": ("north west", "northwest", "nw"),
    "Limpopo": ("limpopo", "lp", "northern province"),
    "Mpumalanga": ("mpumalanga", "mp"),
}
PROVINCE_BY_NAME = {alias: province for province, aliases in PROVINCE_NAMES.items() for alias in aliases}
COUNTRY_NAMES = {"south africa", "za", "rsa", "republic of south africa", "suid afrika", "mzansi", "sa"}
# Current and former names, short forms and nicknames GeoNames does not carry: alias -> (name, province).
ALIASES = {
    "jozi": ("Johannesburg", "Gauteng"),
    "egoli": ("Johannesburg", "Gauteng"),
    "jhb": ("Johannesburg", "Gauteng"),
    "joburg": ("Johannesburg", "Gauteng"),
    "pta": ("Pretoria", "Gauteng"),
    "tshwane": ("Pretoria", "Gauteng"),
    "cpt": ("Cape Town", "Western Cape"),
    "kaapstad": ("Cape Town", "Western Cape"),
    "dbn": ("Durban", "KwaZulu-Natal"),
    "ethekwini": ("Durban", "KwaZulu-Natal"),
    "pmb": ("Pietermaritzburg", "KwaZulu-Natal"),
    "maritzburg": ("Pietermaritzburg", "KwaZulu-Natal"),
    "msunduzi": ("Pietermaritzburg", "KwaZulu-Natal"),
    "bloem": ("Bloemfontein", "Free State"),
    "mangaung": ("Bloemfontein", "Free State"),
    "gqeberha": ("Port Elizabeth", "Eastern Cape"),
    "nelson mandela bay": ("Port Elizabeth", "Eastern Cape"),
    "buffalo city": ("East London", "Eastern Cape"),
    "komani": ("Queenstown", "Eastern Cape"),
    "makhanda": ("Grahamstown", "Eastern Cape"),
    "mthatha": ("Mthatha", "Eastern Cape"),
    "umtata": ("Mthatha", "Eastern Cape"),
    "mbizana": ("Bizana", "Eastern Cape"),
    "makhado": ("Louis Trichardt", "Limpopo"),
    "polokwane": ("Polokwane", "Limpopo"),
    "pietersburg": ("Polokwane", "Limpopo"),
    "mokopane": ("Mokopane", "Limpopo"),
    "potgietersrus": ("Mokopane", "Limpopo"),
    "modimolle": ("Modimolle", "Limpopo"),
    "nylstroom": ("Modimolle", "Limpopo"),
    "bela bela": ("Bela-Bela", "Limpopo"),
    "warmbaths": ("Bela-Bela", "Limpopo"),
    "musina": ("Musina", "Limpopo"),
    "messina": ("Musina", "Limpopo"),
    "lephalale": ("Lephalale", "Limpopo"),
    "ellisras": ("Lephalale", "Limpopo"),
    "qwaqwa": ("Phuthaditjhaba", "Free State"),
    "witsieshoek": ("Phuthaditjhaba", "Free State"),
    "emalahleni": ("Emalahleni", "Mpumalanga"),
    "witbank": ("Emalahleni", "Mpumalanga"),
    "mbombela": ("Nelspruit", "Mpumalanga"),
    "emkhondo": ("Piet Retief", "Mpumalanga"),
    "mashishing": ("Lydenburg", "Mpumalanga"),
    "emakhazeni": ("Belfast", "Mpumalanga"),
    "kwadukuza": ("Stanger", "KwaZulu-Natal"),
    "umhlanga": ("Umhlanga Rocks", "KwaZulu-Natal"),
    "mahikeng": ("Mafikeng", "North West"),
    "mafikeng": ("Mafikeng", "North West"),
    "alex": ("Alexandra", "Gauteng"),
    "pe": ("Port Elizabeth", "Eastern Cape"),
    "el": ("East London", "Eastern Cape"),
    "potch": ("Potchefstroom", "North West"),
    "stellies": ("Stellenbosch", "Western Cape"),
    "durbs": ("Durban", "KwaZulu-Natal"),
    "kimberly": ("Kimberley", "Northern Cape"),
}
STREET_WORDS = {
    "street", "st", "str", "road", "rd", "avenue", "ave", "av", "drive", "dr", "lane", "ln", "crescent", "cres",
    "close", "cl", "way", "boulevard", "blvd", "highway", "hwy", "terrace", "walk", "circle", "square", "sq",
    "section", "straat", "weg", "laan", "rylaan", "singel", "steeg", "pad",
}  # fmt: skip
STREET_WORD = re.compile(r"\b(" + "|".join(sorted(STREET_WORDS)) + r")\b\.?", re.IGNORECASE)
# Parts that name a box, a plot or a unit, never a place.
UNIT_PART = re.compile(
    r"^(p\s*o\s*box|po\s*box|box|postnet suite|private bag|p\s*bag|stand|erf|plot|unit|flat|suite|house|apartment|"
    r"apt|shop|building|block|no)\b"
)
# Trailing words that narrow a place down further than the gazetteer does.
CENTRE_SUFFIX = re.compile(r"\s+(cbd|central|centre|center|city centre|city center|town centre|inner city|city)$")
AREA_SUFFIX = re.compile(
    r"\s+(north|south|east|west|ext\s*\d*|extension\s*\d*|zone\s*\d+|phase\s*\d+|block\s*\w+|section\s*\w*|"
    r"unit\s*\w+|[a-z]\s*section|village|township|location|\d+)$"
)
POSTAL_CODE = re.compile(r"^\d{4}$")


class Precision(StrEnum):
    PLACE = "place"
    POSTAL = "postal area"
    CITY = "city"
    PIN = "map pin"
    ONLINE = "online"


class PlaceNotFound(ValueError):
    """No place matches; `suggestions` holds the closest names."""

    def __init__(self, query: str, suggestions: list[str]):
        self.query = query
        self.suggestions = suggestions
        hint = f" Did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(
            f"We could not find “{query}” in South Africa.{hint} Try your suburb or township and town "
            "(“Umlazi, Durban”), or your postal code."
        )


@dataclass(frozen=True)
class Located:
    """Where a query was placed, what matched and how precisely."""

    query: str
    place: Place
    precision: Precision
    latitude: float
    longitude: float
    postal_code: str | None = None
    # The part that could not be placed when the answer fell back to the city.
    unplaced: str | None = None
    # Same-named places elsewhere, most likely first, for the person to choose from.
    alternatives: tuple[Place, ...] = ()
    # For online answers: the provider's full name for the place (an address, often).
    display_name: str | None = None

    @property
    def description(self) -> str:
        """'Umlazi, KwaZulu-Natal (postal area 4066)'."""
        if self.precision == Precision.POSTAL:
            return f"{self.place.label} (postal area {self.postal_code})"
        if self.precision == Precision.CITY:
            missing = f"“{self.unplaced}” is not in our offline map" if self.unplaced else "town level"
            return f"{self.place.label} (approximate: {missing})"
        if self.precision == Precision.PIN:
            return f"your map pin ({self.latitude:.5f}, {self.longitude:.5f}), near {self.place.label}"
        if self.precision == Precision.ONLINE:
            return f"{self.place.label} (found online: OpenStreetMap data via Nominatim)"
        elsewhere = [p for p in self.alternatives if p.province != self.place.province and p.name == self.place.name][
            :2
        ]
        if elsewhere:
            others = " and ".join(f"“{p.label}”" for p in elsewhere)
            return f"{self.place.label} (for the {self.place.name} elsewhere, type {others})"
        return self.place.label

    @property
    def sentence(self) -> str:
        return f"Placed at {self.description}"

    @property
    def is_approximate(self) -> bool:
        return self.precision == Precision.CITY


@dataclass
class ParsedQuery:
    names: list[str] = field(default_factory=list)  # most specific first
    postal_code: str | None = None
    province: str | None = None


def _province_of(part: str) -> str | None:
    return PROVINCE_BY_NAME.get(normalise(part))


def _is_street(words: list[str]) -> bool:
    if len(words) >= 2 and words[-1] in STREET_WORDS:
        return True
    return bool(words) and bool(re.fullmatch(r"\d+[a-z]?", words[0])) and len(words) >= 2


def parse(query: str) -> ParsedQuery:
    """The place names, postal code and province in a query."""
    parsed = ParsedQuery()
    for raw in query.split(","):
        part = normalise(raw)
        if not part or part in COUNTRY_NAMES:
            continue
        if (province := _province_of(part)) is not None and (parsed.names or parsed.postal_code):
            parsed.province = province
            continue
        if UNIT_PART.match(part):
            continue
        words = part.split()
        codes = [w for w in (words[0], words[-1]) if POSTAL_CODE.match(w)]
        rest = [w for w in words if not POSTAL_CODE.match(w)]
        if codes and not _is_street(rest) and not any(w.isdigit() for w in rest):
            parsed.postal_code = parsed.postal_code or codes[0]
            if rest:
                parsed.names.append(raw.strip().replace(codes[0], "").strip())
            continue
        if _is_street(words):
            # "12 Florida Road Morningside Durban 4001", typed without commas: the place follows the street.
            street_words = list(STREET_WORD.finditer(raw))
            after = raw[street_words[-1].end() :].split() if len(street_words) and words[0] not in STREET_WORDS else []
            if after and POSTAL_CODE.match(after[-1]):
                parsed.postal_code = parsed.postal_code or after.pop()
            if after:
                parsed.names.append(" ".join(after))
            continue
        parsed.names.append(raw.strip())
    return parsed


def _exact(name: str, province: str | None) -> list[Place]:
    index = gazetteer().by_key
    key = name_key(name)
    places = list(index.get(key, ()) or gazetteer().by_loose_key.get(loose_key(key), ()))
    alias = ALIASES.get(normalise(name)) or ALIASES.get(key)
    if alias:
        target = [p for p in index.get(name_key(alias[0]), ()) if p.province == alias[1]]
        places = target + [p for p in places if p not in target]
    if province:
        places = [p for p in places if p.province == province] or places
    return places


def candidates(name: str, province: str | None = None) -> tuple[list[Place], bool]:
    """Places a name may mean, most likely first, and whether they are only approximate.

    "Cape Town CBD" is Cape Town itself; "Mamelodi East" or "Tembisa Ext 5" fall back to
    Mamelodi or Tembisa, which is approximate.
    """
    found = _exact(name, province)
    if found:
        return found, False
    text = normalise(name)
    centre = CENTRE_SUFFIX.sub("", text)
    if centre != text and (found := _exact(centre, province)):
        return found, False
    shorter = AREA_SUFFIX.sub("", text)
    if shorter != text and (found := _exact(shorter, province)):
        return found, True
    return [], False


def _near(place: Place, others: list[Place]) -> bool:
    return any(km(place.latitude, place.longitude, o.latitude, o.longitude) <= NEAR_KM for o in others)


def _alternatives(chosen: Place, places: list[Place], typed: str, limit: int = 3) -> tuple[Place, ...]:
    """Places far from `chosen` that are called what was typed (or what `chosen` is called).

    A place found only by an old or foreign name of its own is no alternative: "Durban" does
    not mean Durbanville, once called D'Urban.
    """
    names = {loose_key(name_key(typed)), loose_key(name_key(chosen.name))}
    others: list[Place] = []
    for place in places:
        same_name = loose_key(name_key(place.name)) in names
        if same_name and place is not chosen and not _near(place, [chosen, *others]):
            others.append(place)
    return tuple(others[:limit])


def _located(query: str, place: Place, precision: Precision, **details) -> Located:
    return Located(query, place, precision, place.latitude, place.longitude, **details)


def _split_run_together(name: str, province: str | None) -> list[str]:
    """'Umlazi Durban' or 'Mitchells Plain Cape Town', typed without a comma, as two parts.

    Only a name that is not a place itself is split, before the shortest ending that is one.
    """
    words = name.split()
    if len(words) < 2 or candidates(name, province)[0]:
        return [name]
    for i in range(1, len(words)):
        tail = " ".join(words[i:])
        if _exact(tail, province):
            return [*_split_run_together(" ".join(words[:i]), province), tail]
    return [name]


def locate(query: str) -> Located:
    """Where `query` is, offline; PlaceNotFound with suggestions when nothing fits."""
    text = (query or "").strip()
    parsed = parse(text)
    if not parsed.names and not parsed.postal_code:
        raise PlaceNotFound(text, [])
    province = parsed.province
    names = [part for name in parsed.names for part in _split_run_together(name, province)]
    parsed.names = names
    found = [candidates(name, province) for name in names]
    known_code = gazetteer().near_code(parsed.postal_code) if parsed.postal_code else None
    by_code = list(gazetteer().by_code.get(known_code or "", ()))
    if province:
        by_code = [p for p in by_code if p.province == province] or by_code
    code = parsed.postal_code if by_code else None

    # 1. The most specific name, where the rest of the query agrees.
    if found and found[0][0]:
        places, approximate = found[0]
        context = next((places for places, _ in found[1:] if places), None) or by_code
        agreeing = [p for p in places if _near(p, context)] if context else places
        if agreeing:
            chosen = agreeing[0]
            return _located(
                text,
                chosen,
                Precision.CITY if approximate else Precision.PLACE,
                postal_code=code if known_code in chosen.all_postal_codes else None,
                unplaced=parsed.names[0] if approximate else None,
                alternatives=() if context else _alternatives(chosen, places, parsed.names[0]),
            )
    # 2. The postal code, preferring a place the query also names.
    if by_code:
        named = [p for p in by_code if any(p in places for places, _ in found)]
        return _located(text, (named or by_code)[0], Precision.POSTAL, postal_code=code)
    # 3. A less specific name: the suburb was not found, the town was.
    for i, (places, _) in enumerate(found[1:], start=1):
        if not places:
            continue
        later = [p for p, _ in found[i + 1 :] if p]
        agreeing = [p for p in places if _near(p, later[0])] if later else places
        if agreeing:
            return _located(text, agreeing[0], Precision.CITY, unplaced=parsed.names[0])
    raise PlaceNotFound(text, suggest_names(parsed.names[0] if parsed.names else text))


def choices(query: str) -> list[str]:
    """The places a person may mean by an ambiguous `query`, as text `locate` takes back.

    ["Chatsworth, KwaZulu-Natal", "Chatsworth, Western Cape"]: the answer first, then its
    alternatives. Only labels that lead back to their own place are offered (two same-named
    places in one province share a label), so looking up the one chosen is the whole rule.
    Empty when the query is not ambiguous, or not found.
    """
    try:
        located = locate(query)
    except PlaceNotFound:
        return []
    labels: list[str] = []
    for place in (located.place, *located.alternatives):
        if place.label not in labels and locate(place.label).place == place:
            labels.append(place.label)
    return labels if len(labels) > 1 and labels[0] == located.place.label else []


# South Africa's mainland, generously: a pin outside it, or far from every place, is refused.
SOUTH_AFRICA_BOUNDS = ((-35.0, 16.3), (-22.0, 33.0))
PIN_MAX_KM_FROM_A_PLACE = 60


class PinOutside(ValueError):
    """A map pin that is not in South Africa."""

    def __init__(self) -> None:
        super().__init__("That point is not in South Africa. Click where you work on the map, or clear the pin.")


def pin(latitude: float, longitude: float) -> Located:
    """A practitioner's own point on the map, named after the nearest place."""
    (south, west), (north, east) = SOUTH_AFRICA_BOUNDS
    if not (south <= latitude <= north and west <= longitude <= east):
        raise PinOutside()
    nearest = gazetteer().nearest(latitude, longitude)
    if nearest is None or nearest[1] > PIN_MAX_KM_FROM_A_PLACE:
        raise PinOutside()
    return Located(f"{latitude:.5f}, {longitude:.5f}", nearest[0], Precision.PIN, latitude, longitude)


def geocode(query: str) -> Place:
    """The place a user means by 'Durban', 'durban, South Africa' or 'Bethlehem, FS'."""
    return locate(query).place


def suggest_names(text: str, limit: int = 3) -> list[str]:
    """Labels of the places whose names are closest to `text`."""
    key = name_key(text)
    if len(key) < 3:
        return []
    index = gazetteer().by_key
    # Misspellings seldom change the first letter or the length by much: comparing only those
    # keys keeps a refusal as fast as an answer (difflib over every key took ~6 ms).
    pool = [k for k in gazetteer().keys_by_initial.get(key[0], ()) if abs(len(k) - len(key)) <= 3]
    close = difflib.get_close_matches(key, pool, n=limit * 3, cutoff=0.75)
    labels: list[str] = []
    for match in close:
        label = index[match][0].label
        if label not in labels:
            labels.append(label)
    return labels[:limit]
