"""A contact's time zone: its own (``Contact.time_zone``), else guessed from its country (the
``country`` property, an ISO code or a name), else the workspace's."""

from __future__ import annotations

import re
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from django.core.exceptions import ValidationError

from contacts.country_zones import COUNTRY_ZONES

COUNTRY_PROPERTY = "country"
_ALIASES = {
    "usa": "US",
    "u.s.": "US",
    "u.s.a.": "US",
    "united states of america": "US",
    "america": "US",
    "uk": "GB",
    "u.k.": "GB",
    "united kingdom": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "south korea": "KR",
    "korea": "KR",
    "north korea": "KP",
    "czechia": "CZ",
    "holland": "NL",
    "the netherlands": "NL",
    "uae": "AE",
    "viet nam": "VN",
    "russian federation": "RU",
    "ivory coast": "CI",
    "türkiye": "TR",
    "turkiye": "TR",
}


def _key(name: str) -> str:
    return re.sub(r"\s+", " ", name.strip().lower())


_BY_NAME = {_key(name): code for code, (name, _) in COUNTRY_ZONES.items()} | {
    # "Britain (UK)", "Korea (South)": the name without its bracket too.
    _key(re.sub(r"\s*\(.*\)$", "", name)): code
    for code, (name, _) in COUNTRY_ZONES.items()
    if "(" in name
}


@lru_cache(maxsize=4096)
def zone_of_country(country: str | None) -> str | None:
    """The time zone of a country given as an ISO 3166 code or a common name; None when
    unknown."""
    if not country or not isinstance(country, str):
        return None
    text = _key(country)
    code = _ALIASES.get(text) or (text.upper() if len(text) == 2 else _BY_NAME.get(text))
    entry = COUNTRY_ZONES.get(code or "")
    return entry[1] if entry else None


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def effective_zone_name(time_zone: str, country: object, default: str) -> str:
    """The zone a contact's local times are in: its own, its country's, or ``default``."""
    if time_zone:
        return time_zone
    return zone_of_country(country if isinstance(country, str) else None) or default


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def validate_time_zone(value: str) -> None:
    """Model field validator: an IANA time zone name (or blank)."""
    if value and value not in _known_zones():
        raise ValidationError(f"Unknown time zone '{value[:64]}' (use an IANA name).")
