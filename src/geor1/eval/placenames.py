"""Normalised place names for fair matching of countries, states/provinces, cities and languages.

``fold`` removes case, accents and punctuation; ``country_code`` maps any common spelling of a country
("USA", "United States", "Russia", "Côte d'Ivoire", "UK", native forms such as "Россия" or "Nederland")
to its ISO 3166-1 alpha-2 code with ``pycountry`` (names, official names, and its translations of them
into 70-odd languages) plus a short alias table for names pycountry does not carry.

Subdivisions (``subdivision_codes``) are matched against every name a state/province goes by: its ISO
3166-2 code, pycountry's ISO name (the official, usually native romanised form: "Moskva",
"Noord-Holland", "Hovedstaden") and pycountry's translations of it, and the ``iso3166-2`` package's
local and English other names ("Moscow City", "North Holland", "Capital Region", the names GeoNames and
so GeoChain use) with its subdivision types and centre points. A name is reduced to its core by dropping
designator words ("oblast", "province", "city", …); a name that keeps a designator only matches the
subdivisions that carry it ("Moscow Oblast" is Moskovskaya oblast', never the city of Moscow); when a
core still names several subdivisions, the one whose centre is nearest the place asked about wins.
Unknown names fall back to their folded text, so two unknown spellings still match when they fold equally.
"""

from __future__ import annotations

import gettext
import json
import os
import re
import unicodedata
from dataclasses import dataclass
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
    # native and other-language forms last: an English name or alias always keeps its country
    for translation in _translations("iso3166-1"):
        for c in pycountry.countries:
            for attr in ("name", "official_name", "common_name"):
                value = getattr(c, attr, None)
                if value:
                    index.setdefault(fold(translation.gettext(value)), c.alpha_2)
    return index


@lru_cache(maxsize=8)
def _translations(domain: str) -> tuple[gettext.NullTranslations, ...]:
    """Return pycountry's gettext catalogues of ``domain`` (``iso3166-1``, ``iso3166-2``, ``iso639-3``),
    one per language it ships."""
    import pycountry

    out = []
    for language in sorted(os.listdir(pycountry.LOCALES_DIR)):
        try:
            out.append(gettext.translation(domain, pycountry.LOCALES_DIR, languages=[language]))
        except OSError:
            continue  # this language has no catalogue for the domain
    return tuple(out)


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


# Words that say what kind of subdivision a name is, not which one.
DESIGNATORS = frozenset(
    """state province prefecture region county oblast district governorate city municipality area
    department canton voivodeship krai kray okrug autonomous metropolitan capital territory republic
    parish emirate division""".split()
)
_ISO3166_2_FILE = ("iso3166-2", "iso3166_2/iso3166-2.json")


def _core(key: str) -> tuple[str, frozenset[str]]:
    """Return a folded name without its designator words, and those words ("" core: the name itself)."""
    words = key.split()
    core = " ".join(w for w in words if w not in DESIGNATORS and w not in ("of", "the"))
    return (core or key), frozenset(w for w in words if w in DESIGNATORS)


@dataclass(frozen=True)
class Subdivision:
    """Every name an ISO 3166-2 subdivision goes by (folded), their cores, its designators and centre."""

    code: str
    names: frozenset[str]
    cores: frozenset[str]
    designators: frozenset[str]
    center: tuple[float, float] | None


@lru_cache(maxsize=1)
def _iso3166_2() -> dict[str, dict[str, dict]]:
    """Return the ``iso3166-2`` package's data (``{country: {code: record}}``), read as a file."""
    from geor1.sources.earth_data import DataFile, locate

    path = locate(DataFile(*_ISO3166_2_FILE, "ISO 3166-2 subdivisions: local/other names, type, centre"))
    return json.loads(path.read_text(encoding="utf-8"))


def _other_names(text: str | None) -> list[str]:
    """Return the names in an ``iso3166-2`` ``localOtherName`` ("Москва (rus), Moscow City (eng)")."""
    names = []
    for part in re.split(r",\s*(?![^()]*\))", text or ""):
        name = re.sub(r"\s*\([a-z]{2,3}\)\s*$", "", part.strip())
        if name:
            names.append(name)
    return names


@lru_cache(maxsize=256)
def subdivisions(country: str) -> tuple[Subdivision, ...]:
    """Return the subdivisions of an ISO alpha-2 ``country`` with all their names (see the module docstring)."""
    import pycountry

    records = _iso3166_2().get(country, {})
    out = []
    for sub in pycountry.subdivisions.get(country_code=country) or []:
        record = records.get(sub.code) or {}
        names = {sub.name, sub.code, sub.code.split("-", 1)[1]}
        names |= {t.gettext(sub.name) for t in _translations("iso3166-2")}
        if record.get("name"):
            names.add(record["name"])
        names.update(_other_names(record.get("localOtherName")))
        folded = {fold(n) for n in names} - {""}
        cores = {_core(n)[0] for n in folded}
        designators = {w for n in folded for w in _core(n)[1]}
        designators |= {w for w in fold(f"{sub.type} {record.get('type') or ''}").split() if w in DESIGNATORS}
        lat_lng = record.get("latLng")
        center = (float(lat_lng[0]), float(lat_lng[1])) if lat_lng and len(lat_lng) == 2 else None
        out.append(Subdivision(sub.code, frozenset(folded), frozenset(cores), frozenset(designators), center))
    return tuple(out)


def _distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    from geor1.geo import haversine_km

    return float(haversine_km(a[0], a[1], b[0], b[1]))


def subdivision_codes(
    name: object, country: object, near: tuple[float, float] | None = None
) -> frozenset[str]:
    """Return the ISO 3166-2 code(s) a state/province name denotes within ``country`` (name or code).

    Exact names first; otherwise names with the same core (designators dropped), restricted to the
    subdivisions that carry every designator the name has. Several left: the one whose centre is
    nearest ``near`` (lat, lon) when given, else the exact-name ones. Empty when nothing matches.
    """
    key = fold(name)
    cc = country_code(country) if country is not None else None
    if not key or not cc:
        return frozenset()
    subs = subdivisions(cc)
    core, designators = _core(key)
    exact = [s for s in subs if key in s.names]
    candidates = [s for s in subs if core in s.cores or key in s.names]
    if designators:
        candidates = [s for s in candidates if designators <= s.designators] or exact
    if len(candidates) > 1 and near is not None:
        located = [s for s in candidates if s.center is not None]
        if located:
            candidates = [min(located, key=lambda s: _distance_km(near, s.center))]  # type: ignore[arg-type]
    elif len(candidates) > 1 and exact:
        candidates = exact
    return frozenset(s.code for s in candidates)


def same_subdivision(
    answer: object, truth: object, country: object, near: tuple[float, float] | None = None
) -> bool:
    """Return True when ``answer`` names the state/province ``truth`` names (see ``subdivision_codes``)."""
    if not fold(answer):
        return False
    if fold(answer) == fold(truth):
        return True
    got, want = subdivision_codes(answer, country, near), subdivision_codes(truth, country, near)
    if got and want:
        return len(got) == 1 and got <= want
    return subdivision_key(answer, country) == subdivision_key(truth, country)


_ADMIN_WORDS = re.compile(r"\b(state|province|prefecture|region|county|oblast|district|governorate)\b")


def subdivision_key(name: object, country: object = None) -> str:
    """Return a comparison key for a state/province: its ISO 3166-2 code when ``country`` (name or code)
    is known and the name or code names exactly one of its subdivisions, else the folded text without
    words such as "state", "province" or "prefecture"."""
    key = fold(name)
    if not key:
        return ""
    cc = country_code(country) if country is not None else None
    if cc:
        codes = subdivision_codes(key, cc)
        if len(codes) == 1:
            return next(iter(codes))
    return " ".join(_ADMIN_WORDS.sub(" ", key).split()) or key


def city_key(name: object) -> str:
    """Return a comparison key for a city: folded text without a leading "city of" or trailing "city"."""
    key = fold(name)
    if key.startswith("city of "):
        key = key[len("city of ") :]
    if key.endswith(" city") and len(key) > len(" city"):
        key = key[: -len(" city")]
    return key.replace("saint ", "st ")


def same_city(
    answer: object, truth: object, country: object = None, near: tuple[float, float] | None = None
) -> bool:
    """Return True when ``answer`` names the city ``truth`` names: equal ``city_key``s, or both naming the
    same city-level subdivision ("Moskva" for Moscow, "Krung Thep Maha Nakhon" for Bangkok)."""
    if not fold(answer):
        return False
    if city_key(answer) == city_key(truth):
        return True
    cc = country_code(country) if country is not None else None
    if not cc:
        return False
    got, want = subdivision_codes(answer, cc, near), subdivision_codes(truth, cc, near)
    if len(got) != 1 or got != want:
        return False
    code = next(iter(got))
    sub = next(s for s in subdivisions(cc) if s.code == code)
    return bool(sub.designators & {"city", "capital", "metropolitan"})


@lru_cache(maxsize=1)
def _language_index() -> dict[str, str]:
    import pycountry

    index: dict[str, str] = {}
    for lang in pycountry.languages:
        names = [lang.name, getattr(lang, "alpha_2", None), lang.alpha_3, getattr(lang, "common_name", None)]
        for value in names:
            if value:
                index.setdefault(fold(value), lang.alpha_3)
                # "Swahili (macrolanguage)", "Konkani (individual language)": the bare name too
                index.setdefault(fold(re.sub(r"\s*\(.*\)\s*$", "", value)), lang.alpha_3)
    # other-language forms ("Русский", "Deutsch") of the languages with a two-letter code: the major ones
    # a place is answered with; all 8,000 ISO 639-3 names in every catalogue would take seconds to index
    major = [lang for lang in pycountry.languages if getattr(lang, "alpha_2", None)]
    for translation in _translations("iso639-3"):
        for lang in major:
            index.setdefault(fold(translation.gettext(lang.name)), lang.alpha_3)
    return index


def language_codes(text: object) -> frozenset[str]:
    """Return the ISO 639-3 codes of the languages a free-text answer names ("Swahili, English" ->
    {swa, eng}); a name pycountry does not know stands for itself, folded."""
    index = _language_index()
    out = set()
    raw = "" if text is None else str(text)
    for part in re.split(r"[,;/&]|\band\b|\bor\b", raw):
        key = fold(part)
        if key:
            out.add(index.get(key, key))
    return frozenset(out)
