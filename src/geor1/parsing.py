"""Read answers out of model text: the ``<answer>`` block, a chosen option letter, a ``(lat, lon)`` pair.

Shared by the rewards, the evaluation harness and CoT filtering, so all three read a completion the same way.
Every function here is total: any string (or ``None``) gives a value or ``None``, never an exception, and every
regular expression runs in time linear in the input (no nested or adjacent unbounded quantifiers that can
backtrack over the same characters).
"""

from __future__ import annotations

import functools
import math
import operator
import re

ANSWER_OPEN = "<answer>"
ANSWER_CLOSE = "</answer>"
# The letters that name answer options, everywhere in geor1 (prompts, solutions, parsing).
OPTION_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MAX_OPTIONS = len(OPTION_LETTERS)

# The letter patterns start with a character class rather than a lookbehind: the regex engine then skips fast
# over text that cannot match, which keeps megabyte-long answers cheap.
# A whole answer that is one letter with only punctuation/markup around it: "b", "(B)", "**C**.", "[d]".
_SOLE_LETTER = re.compile(r"[\W_]*([A-Za-z])[\W_]*")
# A letter right after an answer cue: "answer is b", "Answer: (c)", "option d", "the correct choice is a".
_CUES = ("answer", "option", "choice")
_CUED_LETTER = re.compile(
    r"[AaOoCc](?i:nswer|ption|hoice)(?<![^\W_].{6})(?:\s+(?i:is))?\s*(?::\s*)?[(\[*_\"'`]*([A-Za-z])(?![^\W_])"
)
# The word after a letter, to tell the article "A satellite view ..." (or the pronoun "I think ...") from an option.
_NEXT_WORD = re.compile(r"\s+([a-z]+)")
# After "A"/"I", these words mean the letter names an option ("A is correct", "A matches the query").
_OPTION_VERBS = frozenset(
    "is was seems appears looks matches match corresponds fits shows has contains shares depicts and or".split()
)


@functools.cache
def _standalone(letters: str) -> re.Pattern[str]:
    """A capital from ``letters`` not glued to another letter or digit ("B.", "(B)", "**B**"; not "Bay", "B2")."""
    return re.compile(rf"[{letters}](?<![^\W_].)(?![^\W_])" if letters else r"(?!)")


def extract_answer(text: object, *, fallback_to_text: bool = False) -> str | None:
    """Return the stripped content of the LAST complete ``<answer>…</answer>`` block, or ``None``.

    "Last complete" means the last ``</answer>`` and the nearest ``<answer>`` before it, so
    ``"<answer>A</answer> … <answer>B</answer>"`` gives ``"B"`` and an unclosed trailing ``<answer>C`` is ignored.
    With ``fallback_to_text=True`` a text without any complete block gives the whole stripped text instead
    (useful to score base models that ignore the tag instruction). Non-strings give ``None``.
    """
    if not isinstance(text, str):
        return None
    close = text.rfind(ANSWER_CLOSE)
    if close >= 0:
        start = text.rfind(ANSWER_OPEN, 0, close)
        if start >= 0:
            return text[start + len(ANSWER_OPEN) : close].strip()
    return text.strip() if fallback_to_text else None


def option_letters(n_options: int) -> str:
    """Return the option letters ``"AB…"`` of ``n_options`` choices; ValueError outside 1..26."""
    try:
        n = operator.index(n_options)  # any integer type (numpy's too), never a float
    except TypeError:
        n = 0
    if isinstance(n_options, bool) or not 1 <= n <= MAX_OPTIONS:
        raise ValueError(f"number of options must be in [1, {MAX_OPTIONS}], got {n_options!r}")
    return OPTION_LETTERS[:n]


def _is_word_use(text: str, end: int) -> bool:
    """True when the capital letter ending at ``end`` reads as the article "A"/pronoun "I" before a word."""
    match = _NEXT_WORD.match(text, end)
    return bool(match) and match.group(1) not in _OPTION_VERBS


def extract_choice(text: object, n_options: int = 8) -> str | None:
    """Return the single option letter (upper case) an answer names, or ``None`` when none or several.

    The letter must be one of the first ``n_options`` letters (A..H by default). Rules, in order:

    1. A whole answer that is one letter with only punctuation or markup around it counts in either case:
       ``"B"``, ``"b"``, ``"(B)"``, ``"B."``, ``"**b**"``.
    2. Otherwise every *standalone capital* letter counts (not glued to a letter or digit: ``"B."``,
       ``"(C) the coast"``, ``"Answer: D"``), except a capital ``A`` (or ``I``) followed by a lower-case word
       that is not a verb such as "is"/"matches": that is the article ("A satellite view…") or the pronoun.
    3. A *lower-case* letter counts only right after an answer cue: ``"answer is b"``, ``"answer: (c)"``,
       ``"option d"``, ``"the correct choice is a."`` (again not when the "a" is an article before a word).
       A bare lower-case "a" elsewhere is always read as the article.

    If the letters found name exactly one option (repeats allowed: ``"B. B"``), that letter is returned; two
    different letters (``"B, C"``, ``"B or C"``) give ``None``, which the accuracy reward scores as wrong.
    """
    if not isinstance(text, str) or not text:
        return None
    # A count outside 1..26 reads as the nearest valid one: a parser never raises.
    letters = OPTION_LETTERS[: min(max(int(n_options), 1), MAX_OPTIONS)]
    sole = _SOLE_LETTER.fullmatch(text)
    if sole:
        letter = sole.group(1).upper()
        return letter if letter in letters else None
    found: set[str] = set()
    pattern = _standalone(letters)
    match = pattern.search(text)
    while match:
        letter = match.group()
        if not (letter in "AI" and _is_word_use(text, match.end())):
            found.add(letter)
            if len(found) > 1:
                return None
            # Look on for a different letter only: however often this one repeats, the scan stays linear.
            pattern = _standalone(letters.replace(letter, ""))
        match = pattern.search(text, match.end())
    for match in _CUED_LETTER.finditer(text):
        if match.group()[:6].lower() not in _CUES:
            continue
        raw = match.group(1)
        letter = raw.upper()
        if letter not in letters or letter in found:
            continue
        if raw in "aiAI" and _is_word_use(text, match.end(1)):
            continue
        found.add(letter)
        if len(found) > 1:
            return None
    return found.pop() if found else None


@functools.lru_cache(maxsize=1024)
def _solution_letter(solution: str) -> str | None:
    inner = extract_answer(solution)
    text = inner if inner is not None else solution
    match = _SOLE_LETTER.fullmatch(text)
    return match.group(1).upper() if match else None


def solution_letter(solution: object) -> str | None:
    """Return the upper-case letter of a multiple-choice solution (``"B"``, ``"(b)"``, ``"<answer>B</answer>"``).

    ``None`` when the solution is not a single letter (e.g. a ``"(lat, lon)"`` geolocation solution).
    """
    if not isinstance(solution, str):
        return None
    if len(solution) <= 256:  # dataset solutions repeat ("A".."D"): parse each once
        return _solution_letter(solution)
    return _solution_letter.__wrapped__(solution)


# ---------------------------------------------------------------------------------------------- coordinates

MAX_LATLON_CHARS = 100_000  # ~25k tokens: more than any completion, bounds runaway text
_NUMBER = r"[-+\u2212]?\d{1,3}(?:\.\d+)?"
_COORD = re.compile(
    r"(?<![\w.])"
    r"(?:(?P<pre>[NSEW])\s?)?"
    rf"(?P<deg>{_NUMBER})(?![\d])"
    r"(?:\s?[°º˚])?"
    r"(?:\s?(?P<min>\d{1,2}(?:\.\d+)?)\s?['′’])?"
    r"(?:\s?(?P<sec>\d{1,2}(?:\.\d+)?)\s?(?:\"|″|”|''))?"
    r"(?:\s?(?P<suf>[NSEWnsew])(?![A-Za-z]))?"
)
# What may stand between the latitude and the longitude of one pair.
# (Each optional piece owns the whitespace after it, so a failing match cannot re-split a long whitespace run.)
_PAIR_GAP = re.compile(r"\s*(?:[,;/]\s*)?(?:(?i:longitude|long|lon|lng)\s*(?:[:=]\s*)?)?")


def _coord_value(match: re.Match[str]) -> tuple[float, str | None] | None:
    """Return ``(signed degrees, hemisphere letter or None)`` for one coordinate match, or ``None``."""
    deg_text = match.group("deg").replace("\u2212", "-")
    try:
        value = float(deg_text)
        minutes = float(match.group("min")) if match.group("min") else 0.0
        seconds = float(match.group("sec")) if match.group("sec") else 0.0
    except ValueError:
        return None
    if minutes >= 60.0 or seconds >= 60.0:
        return None
    magnitude = abs(value) + minutes / 60.0 + seconds / 3600.0
    value = -magnitude if deg_text.startswith("-") else magnitude
    pre, suf = match.group("pre"), match.group("suf")
    if pre and suf:
        return None
    hemisphere = (pre or suf or "").upper() or None
    if hemisphere in ("S", "W"):
        value = -magnitude
    elif hemisphere in ("N", "E") and value < 0:
        return None  # "-48.8 N" contradicts itself
    return value, hemisphere


def _pair(first: re.Match[str], second: re.Match[str]) -> tuple[float, float] | None:
    """Return ``(lat, lon)`` from two adjacent coordinate matches (hemisphere letters decide the order)."""
    a, b = _coord_value(first), _coord_value(second)
    if a is None or b is None:
        return None
    (va, ha), (vb, hb) = a, b
    axis_a = {"N": "lat", "S": "lat", "E": "lon", "W": "lon"}.get(ha or "")
    axis_b = {"N": "lat", "S": "lat", "E": "lon", "W": "lon"}.get(hb or "")
    if axis_a == "lon" or axis_b == "lat":
        if axis_a == "lat" or axis_b == "lon":
            return None  # both on one axis
        va, vb = vb, va
    lat, lon = va, vb
    if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90.0 or abs(lon) > 180.0:
        return None
    return lat, lon


def parse_latlon(text: object) -> tuple[float, float] | None:
    """Return the LAST ``(lat, lon)`` pair written in ``text`` (decimal degrees), or ``None``.

    Accepts ``"(48.8566, 2.3522)"``, ``"48.8566, 2.3522"``, ``"[-33.87; 151.21]"``, ``"48.85° N, 2.35° E"``,
    ``"48.85N 2.35E"``, ``"S 33.9, E 151.2"``, degrees-minutes-seconds (``48°51′24″N 2°21′03″E``) and labels
    (``"lat: 48.85, lon: 2.35"``). Hemisphere letters set the sign (S/W negative) and, when present, which
    number is the latitude; without letters the order is latitude, longitude. The two numbers must be adjacent
    (only a comma, semicolon, slash, whitespace or a "lon:" label between them). The last such pair in the text
    is the answer; if it is out of range (|lat| > 90 or |lon| > 180) or self-contradictory the result is
    ``None`` rather than a guess from an earlier pair. Only the last ``MAX_LATLON_CHARS`` characters of a longer
    text are read (a coordinate answer is short; this bounds the work on runaway text).
    """
    if not isinstance(text, str):
        return None
    start = max(0, len(text) - MAX_LATLON_CHARS)  # lookbehinds still see the text before `start`
    matches = list(_COORD.finditer(text, start))
    for k in range(len(matches) - 1, 0, -1):
        first, second = matches[k - 1], matches[k]
        if _PAIR_GAP.fullmatch(text, first.end(), second.start()):
            return _pair(first, second)
    return None
