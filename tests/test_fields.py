"""General fields: each built-in kind on many written forms and languages, with its false
friends; user-defined fields; finding them over a dataset."""

from __future__ import annotations

import re

import pytest

from cmtui.fields.kinds import (
    find_all,
    find_dates,
    find_emails,
    find_money,
    find_pattern,
    find_percentages,
    find_phones,
    find_references,
    find_urls,
    shape_pattern,
)


def values(found: object) -> list[str]:
    return [c.value for c in found]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("text", "iso"), [
    ("on 2024-03-18 we", "2024-03-18"), ("on 18/03/2024 we", "2024-03-18"), ("on 18.03.24 we", "2024-03-18"),
    ("on 18-3-2024", "2024-03-18"), ("on 18 March 2024", "2024-03-18"), ("on 18th March", "2024-03-18"),
    ("on the 3rd of May 2024", "2024-05-03"), ("on March 18, 2024", "2024-03-18"), ("by Mar. 18th", "2024-03-18"),
    ("le 3 mars 2024", "2024-03-03"), ("am 3. März 2024", "2024-03-03"), ("el 3 de marzo de 2024", "2024-03-03"),
    ("il 3 marzo 2024", "2024-03-03"), ("op 3 maart 2024", "2024-03-03"), ("em 3 de março de 2024", "2024-03-03"),
])
def test_dates_in_many_forms_and_languages(text: str, iso: str) -> None:
    assert values(find_dates(text)) == [iso]


@pytest.mark.parametrize("text", [
    "update to v1.2.10 today", "version 2.3.10 is out", "ping 10.0.0.1 now", "you may 3 times",
    "call 2024 now", "March 2024 was wet", "room 12 of 30", "pi is 3.14159",
])
def test_no_date_in_false_friends(text: str) -> None:
    assert values(find_dates(text)) == []


def test_a_date_without_a_year_takes_the_messages_year() -> None:
    assert values(find_dates("since 5 May", base_year=2023)) == ["2023-05-05"]


@pytest.mark.parametrize(("text", "value"), [
    ("costs £1,234.50 now", "1234.50 GBP"), ("costs $5", "5 USD"), ("costs 120€", "120 EUR"),
    ("EUR 99", "99 EUR"), ("1.250,00 EUR", "1250.00 EUR"), ("CHF 12.50", "12.50 CHF"), ("99 USD", "99 USD"),
])
def test_money_with_currency(text: str, value: str) -> None:
    assert values(find_money(text)) == [value]


@pytest.mark.parametrize("text", ["5 apples", "page 12.50", "in 2024", "EURO 5 cup"])
def test_no_money_without_a_currency(text: str) -> None:
    assert values(find_money(text)) == []


def test_percentages() -> None:
    assert values(find_percentages("up 12.5% or 3 per cent, 7 percent, 4,5 %")) == ["12.5", "3", "7", "4.5"]
    assert values(find_percentages("version 1.5 and 5 people")) == []


def test_emails_and_urls() -> None:
    text = "Mail Kiran.Patel+x@post.co.uk, see https://harbour.example/claims?id=3. Or www.example.org."
    assert values(find_emails(text)) == ["kiran.patel+x@post.co.uk"]
    assert values(find_urls(text)) == ["https://harbour.example/claims?id=3", "www.example.org"]
    assert values(find_emails("not an @address nor a@b")) == []


def test_phones_as_e164() -> None:
    text = "Call +44 20 7946 0958 or 020 7946 0018, or (415) 555-2671 in the US"
    assert values(find_phones(text)) == ["+442079460958", "+442079460018"]
    assert values(find_phones("(415) 555-2671", region="US")) == ["+14155552671"]
    # false friends: versions, addresses, references, dates
    assert values(find_phones("v1.2.10, 10.0.0.1, HM-1234567, 2024-03-18 12:30")) == []


def test_references_of_a_shape() -> None:
    assert values(find_references("policy HM-1234567 and INV/20240012")) == ["HM-1234567", "INV/20240012"]
    assert values(find_references("claim CL-123456 or cl-123456x", "AA-999999")) == ["CL-123456"]
    assert values(find_references("hm-1234567", "AA-9999999")) == ["HM-1234567"]
    with pytest.raises(ValueError, match="shape"):
        shape_pattern("---")


def test_a_users_pattern_and_its_group() -> None:
    found = list(find_pattern("order no. 55-A1 and 56-B2", re.compile(r"order no\. (\d+-\w+)"), "order"))
    assert [(c.text, c.value) for c in found] == [("order no. 55-A1", "55-A1")]


def test_find_all_keeps_the_longer_of_overlapping_candidates() -> None:
    text = "See https://x.example/020-7946-0018 and policy HM-1234567 on 18 March, £5."
    assert [(c.kind, c.value) for c in find_all(text)] == [
        ("url", "https://x.example/020-7946-0018"), ("reference", "HM-1234567"),
        ("date", "2024-03-18"), ("money", "5 GBP")]
