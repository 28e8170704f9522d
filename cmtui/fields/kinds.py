"""Built-in general field kinds: where each is in a text, and its value normalised.

Each finder returns ``Candidate``s (character span, text as written, normalised value).
The field-specific libraries decide what a span means where they are the standard:
dateparser reads dates (with its month names in several languages for finding them),
phonenumbers finds and formats phone numbers (E.164), price-parser reads amounts and
currencies. Regular expressions find what has no such library (email addresses, URLs,
percentages, references of a shape), each tested in ``tests/test_fields.py``.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache

KINDS = ("date", "money", "percentage", "email", "phone", "url", "reference")
LANGUAGES = ("en", "fr", "de", "es", "it", "nl", "pt")  # month names dates are found by
DEFAULT_REGION = "GB"  # phone numbers written without a country code are read as this country's
# a reference with no shape given: 1-4 letters, maybe a dash or slash, 4-12 digits (HM-1234567, INV/20240012)
REFERENCE = re.compile(r"(?<![\w/-])[A-Z]{1,4}[-/]?\d{4,12}(?![\w/-])")
CURRENCY_CODES = {"£": "GBP", "$": "USD", "€": "EUR", "¥": "JPY", "₹": "INR", "CHF": "CHF", "Fr.": "CHF",
                  "zł": "PLN", "kr": "SEK", "R$": "BRL", "US$": "USD", "A$": "AUD", "C$": "CAD"}
ISO_CURRENCIES = ("GBP", "USD", "EUR", "JPY", "CHF", "AUD", "CAD", "INR", "SEK", "NOK", "DKK", "PLN",
                  "BRL", "CNY", "HKD", "SGD", "NZD", "ZAR", "MXN")


@dataclass(frozen=True)
class Candidate:
    """A span of text that may be a field: ``value`` is its normalised form."""

    kind: str
    start: int
    end: int
    text: str
    value: str


class FieldsUnavailable(Exception):
    """The field libraries are not installed (the ``fields`` extra)."""


def _need(module: str) -> None:
    raise FieldsUnavailable(f"finding fields needs {module}: pip install 'cmtui[fields]'")


# ---- dates --------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _month_names() -> frozenset[str]:
    """Month names and their abbreviations in every language of ``LANGUAGES`` (dateparser's)."""
    try:
        from dateparser.languages.loader import default_loader
    except ImportError:
        _need("dateparser")
    names: set[str] = set()
    for language in LANGUAGES:
        info = default_loader.get_locale(language).info
        for key in ("january", "february", "march", "april", "may", "june", "july", "august",
                    "september", "october", "november", "december"):
            names |= {name.lower() for name in info.get(key, []) if len(name) >= 3}
    return frozenset(names)


_DAY = r"(?:[12]\d|3[01]|0?[1-9])"
_ORDINAL = r"(?:st|nd|rd|th|er|e|º|\.)?"
_YEAR = r"(?:19|20)\d\d"
_WORD = r"[^\W\d_]{3,12}"  # a month name is checked against the known ones: quicker than a long alternation
# numeric dates (2024-03-18, 18/03/2024, 18.03.24), not inside a longer run of digits and
# dots (versions 1.2.10, addresses 10.0.0.1); dates with a month name (18 March 2024,
# March 18th, le 3 mars, 3. März 2024, 3 de marzo de 2024)
DATE = re.compile(
    rf"(?<![\w.])(?:{_YEAR}-(?:1[0-2]|0?[1-9])-{_DAY}|{_DAY}([./-])(?:1[0-2]|0?[1-9])\1(?:{_YEAR}|\d\d))(?![\w]|\.\d)"
    rf"|(?<!\w){_DAY}{_ORDINAL}(?:\s+(?:of|de))?\s+(?P<after>{_WORD})\.?(?:,?\s+(?:de\s+)?{_YEAR})?(?!\w)"
    rf"|(?<!\w)(?P<before>{_WORD})\.?\s+{_DAY}{_ORDINAL}(?:,?\s+{_YEAR})?(?!\w)")


@lru_cache(maxsize=20_000)
def _read_date(text: str, base_year: int) -> str | None:
    import dateparser

    settings = {"DATE_ORDER": "DMY", "PREFER_DAY_OF_MONTH": "first", "REQUIRE_PARTS": ["day", "month"],
                "RELATIVE_BASE": datetime(base_year, 7, 1), "PREFER_DATES_FROM": "current_period"}
    found = dateparser.parse(text, languages=list(LANGUAGES), settings=settings)
    return None if found is None else found.date().isoformat()


# ---- where a match can begin -----------------------------------------------------------
DIGITS = re.compile(r"\d+")


def _digit_runs(text: str) -> list[int]:
    """Where each run of digits begins."""
    return [match.start() for match in DIGITS.finditer(text)]


def _search(pattern: re.Pattern[str], text: str, starts: Sequence[int], position: int) -> re.Match[str] | None:
    """``pattern.search(text, position)`` when every match of ``pattern`` begins at one of
    ``starts`` (sorted): only those are tried. A date or an amount holds a digit, and
    where it can begin is a few characters from a run of digits: trying those instead
    of every character made finding them in long emails four times quicker."""
    for at in range(bisect_left(starts, position), len(starts)):
        if (match := pattern.match(text, starts[at])) is not None:
            return match
    return None


def _date_starts(text: str) -> list[int]:
    """Where ``DATE`` can match: at a run of digits (18/03/2024, 18 March), or at the word
    before one, past a dot and the spaces (March 18th, Mar. 18)."""
    starts = set()
    for digit in _digit_runs(text):
        starts.add(digit)
        at = digit
        while at and text[at - 1].isspace():
            at -= 1
        if at == digit:
            continue
        if at and text[at - 1] == ".":
            at -= 1
        word = at
        while at and (text[at - 1].isalnum() or text[at - 1] == "_"):
            at -= 1
        if at < word:
            starts.add(at)
    return sorted(starts)


def find_dates(text: str, base_year: int = 2024) -> Iterator[Candidate]:
    """Dates, as ISO dates; a date written without a year takes ``base_year`` (the
    message's year)."""
    months = _month_names()
    starts = _date_starts(text)
    position = 0
    while (match := _search(DATE, text, starts, position)) is not None:
        month = match.group("after") or match.group("before")
        if month is not None and month.lower() not in months:
            position = match.start() + 1  # "the 3rd of May": look again from the next character
            continue
        position = match.end()
        written = match.group(0).rstrip(".") if not match.group(0)[-1:].isdigit() else match.group(0)
        if _version_like(text, match.start()) or _modal_may(written):
            continue
        value = _read_date(re.sub(r"\s+", " ", written), base_year)
        if value is not None:
            yield Candidate("date", match.start(), match.start() + len(written), written, value)


def _modal_may(written: str) -> bool:
    """"you may 3 times": the verb, not the month (the month is written May, or has a year)."""
    return re.search(r"\bmay\b", written) is not None and not re.search(r"\d{4}", written)


def _version_like(text: str, start: int) -> bool:
    """``v1.2.10`` or ``version 1.2.10``: a version number, not a date."""
    before = text[max(0, start - 9):start].lower()
    return before.endswith("v") or before.rstrip().endswith(("version", "release", "build"))


# ---- money and percentages -------------------------------------------------------------
_SYMBOLS = "|".join(re.escape(s) for s in sorted(CURRENCY_CODES, key=len, reverse=True))
_CODES = "|".join(ISO_CURRENCIES)
_AMOUNT = r"\d{1,3}(?:[,.\s]\d{3})*(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
MONEY = re.compile(rf"(?:(?<!\w)(?:{_SYMBOLS})|\b(?:{_CODES})\b)\s?(?:{_AMOUNT})(?!\d)"
                   rf"|(?<![\w.,])(?:{_AMOUNT})\s?(?:(?:{_SYMBOLS})(?!\w)|\b(?:{_CODES})\b)")
BEFORE_AMOUNT = max(len(s) for s in (*CURRENCY_CODES, *ISO_CURRENCIES)) + 1  # a symbol or code, and a space
PERCENT = re.compile(r"(?<![\w.,])(\d+(?:[.,]\d+)?)\s?(?:%|per\s?cent\b|percent\b)", re.IGNORECASE)


def find_money(text: str) -> Iterator[Candidate]:
    """Amounts with a currency (symbol or ISO code), as ``1234.50 GBP``."""
    try:
        from price_parser import Price
    except ImportError:
        _need("price-parser")
    # a symbol or code, maybe a space, then the amount; or the amount first: every match
    # begins at a run of digits or at most BEFORE_AMOUNT characters before one
    starts = sorted({digit - back for digit in _digit_runs(text) for back in range(BEFORE_AMOUNT + 1) if digit >= back})
    position = 0
    while (match := _search(MONEY, text, starts, position)) is not None:
        position = match.end()
        price = Price.fromstring(match.group(0))
        if price.amount is None or price.currency is None:
            continue
        currency = price.currency.strip()
        code = CURRENCY_CODES.get(currency, currency.upper())
        yield Candidate("money", match.start(), match.end(), match.group(0), f"{price.amount} {code}")


def find_percentages(text: str) -> Iterator[Candidate]:
    """Percentages, as a decimal number of percent (``12.5``)."""
    if "%" not in text and "cent" not in text.lower():  # quicker than the pattern on every text
        return
    for match in PERCENT.finditer(text):
        try:
            value = Decimal(match.group(1).replace(",", "."))
        except InvalidOperation:
            continue
        yield Candidate("percentage", match.start(), match.end(), match.group(0), str(value))


# ---- addresses --------------------------------------------------------------------------
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])")
URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"')\]]+", re.IGNORECASE)


def find_emails(text: str) -> Iterator[Candidate]:
    if "@" not in text:
        return
    for match in EMAIL.finditer(text):
        yield Candidate("email", match.start(), match.end(), match.group(0), match.group(0).lower())


def find_urls(text: str) -> Iterator[Candidate]:
    """Web addresses (trailing sentence punctuation is not part of them)."""
    lowered = text.lower()
    if "http" not in lowered and "www." not in lowered:
        return
    for match in URL.finditer(text):
        url = match.group(0).rstrip(".,;:!?")
        yield Candidate("url", match.start(), match.start() + len(url), url, url)


PHONE_HINT = re.compile(r"\+?\(?\d[\d\s().-]{5,20}\d")  # 7+ digits with a phone's separators


def find_phones(text: str, region: str = DEFAULT_REGION) -> Iterator[Candidate]:
    """Phone numbers, as E.164 (``+447700900123``)."""
    try:
        import phonenumbers
    except ImportError:
        _need("phonenumbers")
    # the matcher is pure Python and its time grows with the text: it reads only the runs of
    # digits that could be a number, a few characters around each
    for hint in PHONE_HINT.finditer(text):
        start = max(0, hint.start() - 2)
        window = text[start:hint.end() + 1]
        # VALID: numbers of a real numbering plan (libphonenumber's data), not any run of digits
        for match in phonenumbers.PhoneNumberMatcher(window, region, leniency=phonenumbers.Leniency.VALID):
            at = start + match.start
            if at and (text[at - 1].isalpha() or text[at - 1] in "-/"):
                continue  # the digits of a reference (HM-1234567)
            value = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            yield Candidate("phone", at, at + len(match.raw_string), match.raw_string, value)


# ---- references -------------------------------------------------------------------------
def shape_pattern(shape: str | None) -> re.Pattern[str]:
    """A reference's shape as a pattern: ``A`` a letter, ``9`` a digit, anything else as
    written (``HM-9999999``: HM, a dash, seven digits); None: ``REFERENCE``."""
    if shape is None:
        return REFERENCE
    if not shape or not any(c in "A9" for c in shape):
        raise ValueError(f"reference shape {shape!r}: use A for a letter and 9 for a digit (e.g. AA-999999)")
    parts = ["[A-Za-z]" if c == "A" else r"\d" if c == "9" else re.escape(c) for c in shape]
    return re.compile(r"(?<![\w-])" + "".join(parts) + r"(?![\w-])")


def find_references(text: str, shape: str | None = None) -> Iterator[Candidate]:
    for match in shape_pattern(shape).finditer(text):
        yield Candidate("reference", match.start(), match.end(), match.group(0), match.group(0).upper())


def find_pattern(text: str, pattern: re.Pattern[str], kind: str) -> Iterator[Candidate]:
    """A user's own regular expression (its first group, if it has one, is the value)."""
    for match in pattern.finditer(text):
        if match.end() > match.start():
            value = match.group(1) if pattern.groups and match.group(1) is not None else match.group(0)
            yield Candidate(kind, match.start(), match.end(), match.group(0), value)


FINDERS: dict[str, Callable[..., Iterator[Candidate]]] = {
    "date": find_dates, "money": find_money, "percentage": find_percentages, "email": find_emails,
    "phone": find_phones, "url": find_urls, "reference": find_references,
}


def find_all(text: str, base_year: int = 2024, region: str = DEFAULT_REGION) -> list[Candidate]:
    """Every built-in kind's candidates in ``text``, by position; where two overlap, the
    longer one (a phone number inside a URL is the URL's)."""
    found = [*find_dates(text, base_year), *find_money(text), *find_percentages(text), *find_emails(text),
             *find_phones(text, region), *find_urls(text), *find_references(text)]
    found.sort(key=lambda c: (c.start, -(c.end - c.start)))
    kept: list[Candidate] = []
    for candidate in found:
        if kept and candidate.start < kept[-1].end:
            continue
        kept.append(candidate)
    return kept
