"""Normalised place names for fair matching of countries, states/provinces and cities.

``fold`` removes case, accents and punctuation; ``country_code`` maps any common spelling of a country
("USA", "United States", "Russia", "Côte d'Ivoire", "UK") to its ISO 3166-1 alpha-2 code with
``pycountry`` plus a short alias table for names pycountry does not carry; ``subdivision_key`` maps a
state/province name or code to its ISO 3166-2 code within a country. Unknown names fall back to their
folded text, so two unknown spellings still match when they fold equally.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_PUNCT = re.compile(r"[\W_]+")

# Common names pycountry's lookup misses (it knows ISO names, official names and some common names).
COUNTRY_ALIASES = {
    "uk": "GB",
    "u k": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "america": "US",
    "united states of america": "US",
    "u s": "US",
    "u s a": "US",
    "russia": "RU",
    "korea": "KR",
    "republic of korea": "KR",
    "turkey": "TR",
    "turkiye": "TR",
    "ivory coast": "CI",
    "macedonia": "MK",
    "holland": "NL",
    "the netherlands": "NL",
    "micronesia": "FM",
    "palestine": "PS",
    "kosovo": "XK",
    "vatican": "VA",
    "vatican city": "VA",
    "holy see": "VA",
    "brunei": "BN",
    "cape verde": "CV",
    "swaziland": "SZ",
    "burma": "MM",
    "dr congo": "CD",
    "drc": "CD",
    "democratic republic of the congo": "CD",
    "congo kinshasa": "CD",
    "congo brazzaville": "CG",
    "republic of the congo": "CG",
    "east timor": "TL",
    "czechia": "CZ",
    "uae": "AE",
    "emirates": "AE",
    "prc": "CN",
    "mainland china": "CN",
    "hong kong sar": "HK",
    "macau": "MO",
    "south korea": "KR",
    "north korea": "KP",
    "st lucia": "LC",
    "st kitts and nevis": "KN",
    "st vincent and the grenadines": "VC",
}


def fold(text: object) -> str:
    """Return ``text`` lower-cased, without accents, with punctuation runs collapsed to one space ("" for None)."""
    if text is None:
        return ""
    s = unicodedata.normalize("NFKD", str(text))
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    return _PUNCT.sub(" ", s.casefold()).strip()


@lru_cache(maxsize=1)
def _country_index() -> dict[str, str]:
    import pycountry

    index: dict[str, str] = {}
    for c in pycountry.countries:
        for attr in ("name", "official_name", "common_name", "alpha_2", "alpha_3"):
            value = getattr(c, attr, None)
            if value:
                index.setdefault(fold(value), c.alpha_2)
        # "Korea, Republic of" style names: also index the part before the comma when it is unambiguous
        name = c.name
        if ", " in name:
            index.setdefault(fold(name.split(", ")[0]) + " " + fold(name.split(", ")[1]), c.alpha_2)
    for alias, code in COUNTRY_ALIASES.items():
        index[fold(alias)] = code
    return index


def country_code(name: object) -> str | None:
    """Return the ISO alpha-2 code for a country name, code or alias, or None when unknown."""
    key = fold(name)
    if not key:
        return None
    index = _country_index()
    if key in index:
        return index[key]
    if key.startswith("the ") and key[4:] in index:
        return index[key[4:]]
    return None


def country_key(name: object) -> str:
    """Return a comparison key for a country: its alpha-2 code when known, else its folded text."""
    return country_code(name) or fold(name)


@lru_cache(maxsize=256)
def _subdivision_index(country: str) -> dict[str, str]:
    import pycountry

    index: dict[str, str] = {}
    for sub in pycountry.subdivisions.get(country_code=country) or []:
        code = sub.code  # e.g. "US-MI"
        index.setdefault(fold(sub.name), code)
        index.setdefault(fold(code.split("-", 1)[1]), code)
        index.setdefault(fold(code), code)
    return index


_ADMIN_WORDS = re.compile(r"\b(state|province|prefecture|region|county|oblast|district|governorate)\b")


def subdivision_key(name: object, country: object = None) -> str:
    """Return a comparison key for a state/province: its ISO 3166-2 code when ``country`` (name or code)
    is known and the name or code is one of its subdivisions, else the folded text without words such as
    "state", "province" or "prefecture"."""
    key = fold(name)
    if not key:
        return ""
    cc = country_code(country) if country is not None else None
    if cc:
        index = _subdivision_index(cc)
        if key in index:
            return index[key]
        stripped = " ".join(_ADMIN_WORDS.sub(" ", key).split())
        if stripped in index:
            return index[stripped]
        return stripped or key
    return " ".join(_ADMIN_WORDS.sub(" ", key).split()) or key


def city_key(name: object) -> str:
    """Return a comparison key for a city: folded text without a leading "city of" or trailing "city"."""
    key = fold(name)
    if key.startswith("city of "):
        key = key[len("city of ") :]
    if key.endswith(" city") and len(key) > len(" city"):
        key = key[: -len(" city")]
    return key.replace("saint ", "st ")
