"""General fields: each built-in kind on many written forms and languages, with its false
friends; user-defined fields; finding them over a dataset."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from cmtui.fields.fields import message_text
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


def test_dates_and_amounts_are_looked_for_only_where_they_can_begin() -> None:
    """The finders try ``DATE`` and ``MONEY`` only near runs of digits: on random texts
    of the pieces dates and amounts are made of, every place either pattern matches is
    among the places tried."""
    import random

    from cmtui.fields import kinds

    pieces = ["18", "3", "2024", "03", "31", "1st", " ", "  ", "\n", "\u00a0", ".", ",", "/", "-", "March", "Mar",
              "mars", "März", "May", "of", "de", "£", "$", "US$", "Fr.", "kr", "CHF", "GBP", "EUR", "1,234.50",
              "1 234", "_", "\u0663", "R$", "zł", "th", "º", "10.0.0.1", "ab12"]
    rng = random.Random(0)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 20)))
        dates, digits = set(kinds._date_starts(text)), kinds._digit_runs(text)
        amounts = {d - back for d in digits for back in range(kinds.BEFORE_AMOUNT + 1)}
        for at in range(len(text)):
            assert kinds.DATE.match(text, at) is None or at in dates, (text, at)
            assert kinds.MONEY.match(text, at) is None or at in amounts, (text, at)


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


def fields_db(tmp_path: Path) -> Path:
    from cmtui.cli import main
    from tests.conftest import write

    lines = ["id,timestamp,subject,body,labels,reviewed",
             'a,2023-05-01T09:00:00Z,Renewal,"Policy HM-1234567 renews on 18 March for £1,234.50.",,false',
             'b,2024-02-01T09:00:00Z,Claim,"Crash on 3 May, call +44 20 7946 0958.",,false',
             "c,2024-02-02T09:00:00Z,Hello,nothing here,Policy;Claims,true"]
    db = tmp_path / "f.duckdb"
    assert main(["import", str(write(tmp_path / "f.csv", "\n".join(lines) + "\n")), "--dataset", "d",
                 "--db", str(db)]) == 0
    return db


def test_fields_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cmtui.cli import main

    db = ["--db", str(fields_db(tmp_path))]
    assert main(["fields", "add", "policy number", "--like", "reference:AA-9999999", "--labels", "Policy", *db]) == 0
    assert main(["fields", "add", "renewal date", "--like", "date", *db]) == 0
    assert main(["fields", "attach", "renewal date", "--labels", "Policy", *db]) == 0
    assert main(["fields", "rename", "renewal date", "renewal", *db]) == 0
    capsys.readouterr()
    assert main(["fields", "list", "--json", *db]) == 0
    listed = {f["name"]: f for f in json.loads(capsys.readouterr().out)}
    assert set(listed) == {"date", "money", "percentage", "email", "phone", "url", "reference",
                           "policy number", "renewal"}
    assert listed["policy number"]["shape"] == "AA-9999999" and listed["renewal"]["labels"] == ["Policy"]
    # bad input: one line each, exit 2, nothing written
    for bad in (["add", "x", "--like", "regex:("], ["add", "x", "--like", "nope"], ["add", "x", "--like", "date:1"],
                ["add", "x", "--like", "reference:---"], ["add", "x", "--like", "date", "--labels", "Nope"],
                ["add", "Policy Number", "--like", "date"], ["rename", "nope", "y"], ["attach", "nope", "--labels", ""]):
        assert main(["fields", *bad, *db]) == 2, bad
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 8 and all(e.startswith("cmtui: ") for e in errors), errors
    assert main(["fields", "list", "--json", *db]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 9
    assert main(["fields", "delete", "renewal", "--yes", *db]) == 0


def test_find_in_a_dataset_is_cached(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cmtui.cli import main
    from cmtui.fields.fields import dataset_fields, find_in_dataset
    from cmtui.store import Store

    db = fields_db(tmp_path)
    assert main(["fields", "add", "policy number", "--like", "reference:AA-9999999", "--db", str(db)]) == 0
    store = Store(db)
    found = find_in_dataset(store, "d", dataset_fields(store, "d"))
    by_field = {(r["field"], r["value"]) for r in found.iter_rows(named=True)}
    assert by_field == {("reference", "HM-1234567"), ("policy number", "HM-1234567"), ("date", "2023-03-18"),
                        ("money", "1234.50 GBP"), ("date", "2024-05-03"), ("phone", "+442079460958")}
    text = store.messages_frame("d", "subject, body").row(0)
    row = found.filter(pl.col("field") == "money").row(0, named=True)
    assert message_text(*text)[row["start"]:row["end"]] == "£1,234.50"  # positions in subject + newline + body
    cached = list((tmp_path / "f.duckdb.cache").rglob("block-*.parquet"))
    assert len(cached) == 1
    assert find_in_dataset(store, "d", dataset_fields(store, "d")).equals(found)
    capsys.readouterr()
    assert main(["fields", "find", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "policy number" in out and "1 messages" in out


def test_finding_in_windows_on_the_pool_finds_what_one_pass_finds(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Texts are read a window at a time and handed to the pool in order: the same values."""
    from cmtui.cli import main
    from cmtui.fields import fields as fields_module
    from cmtui.store import Store

    rows = ["id,timestamp,subject,body"] + [
        f"m{i:03d},2024-01-{1 + i % 28:02d}T10:00:00Z,note {i},paid \u00a3{i}.50 on {1 + i % 28} March 2023"
        for i in range(40)]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    db = tmp_path / "w.duckdb"
    assert main(["import", str(tmp_path / "m.csv"), "--dataset", "d", "--db", str(db)]) == 0
    store = Store(db)
    one_pass = fields_module.find_in_dataset(store, "d", fields_module.dataset_fields(store, "d"))
    assert one_pass.height == 80
    for cached in (tmp_path / "w.duckdb.cache").rglob("block-*.parquet"):
        cached.unlink()
    monkeypatch.setattr(fields_module, "BLOCK", 7)
    monkeypatch.setattr(fields_module, "READ_CHARS", 150)  # windows of 3-4 messages
    monkeypatch.setattr(fields_module, "CHUNK", 3)
    monkeypatch.setattr(fields_module, "PARALLEL_FROM", 10)
    assert fields_module.find_in_dataset(store, "d", fields_module.dataset_fields(store, "d")).equals(one_pass)
    assert len(list((tmp_path / "w.duckdb.cache").rglob("block-*.parquet"))) == 6  # 40 mids, 7 a block


def test_fields_found_before_a_stop_are_kept_and_a_change_is_found_in_its_block(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A newer retrain stops the finding between chunks: the blocks done by then stay
    cached and the next call goes on from them; a changed message is found again in its
    block alone."""
    from cmtui.cli import main
    from cmtui.fields import fields as fields_module
    from cmtui.model import Cancelled
    from cmtui.store import Store

    def write(pounds: int, only: int | None = None) -> Path:
        rows = ["id,timestamp,subject,body"] + [
            f"m{i:03d},2024-01-{1 + i % 28:02d}T10:00:00Z,note {i},paid \u00a3{pounds if i == 33 else i}.50"
            for i in range(40) if only in (None, i)]
        (tmp_path / "m.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        return tmp_path / "m.csv"

    db = tmp_path / "c.duckdb"
    assert main(["import", str(write(33)), "--dataset", "d", "--db", str(db)]) == 0
    store = Store(db)
    fields = fields_module.dataset_fields(store, "d")
    one_pass = fields_module.find_in_dataset(store, "d", fields)
    for cached in (tmp_path / "c.duckdb.cache").rglob("block-*.parquet"):
        cached.unlink()
    monkeypatch.setattr(fields_module, "BLOCK", 10)
    monkeypatch.setattr(fields_module, "CHUNK", 5)
    chunks: list[int] = []
    find_chunk = fields_module._find_chunk
    monkeypatch.setattr(fields_module, "_find_chunk", lambda job: chunks.append(job[0].number) or find_chunk(job))
    with pytest.raises(Cancelled):  # stopped after the third chunk: the first block (two chunks) is whole
        fields_module.find_in_dataset(store, "d", fields, cancelled=lambda: len(chunks) >= 3)
    assert len(list((tmp_path / "c.duckdb.cache").rglob("block-*.parquet"))) == 1
    first = chunks[0]
    chunks.clear()
    assert fields_module.find_in_dataset(store, "d", fields).equals(one_pass)
    assert first not in chunks and len(set(chunks)) == 4  # the other four blocks only
    chunks.clear()
    assert main(["import", str(write(999, only=33)), "--dataset", "d", "--db", str(db)]) == 0  # one message changed
    changed = fields_module.find_in_dataset(store, "d", fields)
    assert len(set(chunks)) == 1 and len(chunks) == 2  # its block's two chunks
    assert "999.50 GBP" in changed["value"].to_list() and "33.50 GBP" not in changed["value"].to_list()
    assert changed.height == one_pass.height
    assert len(list((tmp_path / "c.duckdb.cache").rglob("block-*.parquet"))) == 5  # the old block's file is gone


def test_highlighted_fields_keep_message_text_inert() -> None:
    from cmtui.fields.extracting import FieldSpan
    from cmtui.textsafe import inert
    from cmtui.tui.widgets import FIELD_STYLE, with_fields
    from tests.test_tui import HOSTILE

    body = f"{HOSTILE}\r\n\ton 18 March [b]x[/b] \x1b[31m"
    start = body.index("18 March")
    text = with_fields(body, [FieldSpan(("date",), start, start + 8, "18 March", "2024-03-18", False)])
    assert text.plain == inert(body[:start]) + "⟦18 March⟧" + inert(body[start + 8:])
    assert "\x1b" not in text.plain and "[bold red]not bold[/bold red]" in text.plain  # shown, not applied
    styled = [text.plain[s.start:s.end] for s in text.spans if s.style == FIELD_STYLE]
    assert styled == ["18 March"]


async def test_the_message_view_shows_a_messages_fields(tmp_path: Path) -> None:
    from textual.widgets import Static

    from cmtui.store import Store
    from cmtui.tui.app import CmtuiApp
    from cmtui.workspace import Workspace
    from tests.test_tui import settle

    app = CmtuiApp(Workspace(Store(fields_db(tmp_path)), "tester"), "d")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        shown = {}
        for _ in range(3):
            mid = app.current_mid()
            shown[mid] = (str(app.query_one("#message-fields", Static).render()),
                          str(app.query_one("#message-body", Static).render()))
            await pilot.press("j")
            await pilot.pause()
        lines = sorted(line for line, _ in shown.values())
        assert any("reference | " not in line and "date 2023-03-18" in line and "money 1234.50 GBP" in line
                   for line in lines), lines
        assert any("phone +442079460958" in line for line in lines), lines
        assert any("⟦HM-1234567⟧" in body for _, body in shown.values())


async def test_reviewing_fields_on_a_page(tmp_path: Path) -> None:
    from textual.widgets import Static

    from cmtui.store import Store
    from cmtui.tui.app import CmtuiApp
    from cmtui.tui.screens import AskScreen, ChoiceScreen
    from cmtui.workspace import Workspace
    from tests.test_tui import settle

    db = fields_db(tmp_path)
    from cmtui.cli import main

    assert main(["fields", "add", "renewal date", "--like", "date", "--db", str(db)]) == 0
    store = Store(db)
    app = CmtuiApp(Workspace(store, "tester"), "d")
    ids = dict(store.messages_frame("d", "mid, id").iter_rows())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        while ids[app.current_mid()] != "a":  # type: ignore[index]
            await pilot.press("j")
        line = lambda: str(app.query_one("#message-fields", Static).render())  # noqa: E731
        assert line().startswith("· reference HM-1234567")
        await pilot.press("]", "x")  # the reference is not a 'reference' (say)
        await app.workers.wait_for_complete()
        await pilot.press("]", "]", "y")  # after x the cursor moved on to the date; ] ] reaches the amount
        await app.workers.wait_for_complete()
        verdicts = {(f, v, d) for _, f, _, _, v, d in store.field_reviews("d")}
        assert verdicts == {("reference", "HM-1234567", "no"), ("money", "1234.50 GBP", "yes")}
        await pilot.press("u")  # the last review is taken back
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(store.field_reviews("d")) == 1
        await pilot.press("w")
        assert isinstance(app.screen, AskScreen)
        await pilot.press(*"renews", "enter")
        assert isinstance(app.screen, ChoiceScreen)
        names = [app.screen.choices[i][0] for i in range(len(app.screen.choices))]
        await pilot.press(*["down"] * names.index("renewal date"), "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert ("renewal date", "renews", "yes") in {(f, v, d) for _, f, _, _, v, d in store.field_reviews("d")}
        assert "✓ renewal date renews" in line()
        await pilot.press("w", *"no such words", "enter")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(store.field_reviews("d")) == 2  # refused: the words are not in the message


def test_snapshot_field_review(tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    from textual.pilot import Pilot

    from cmtui.store import Store
    from cmtui.tui.app import CmtuiApp
    from cmtui.workspace import Workspace
    from tests.test_tui import settle

    store = Store(fields_db(tmp_path))
    app = CmtuiApp(Workspace(store, "tester"), "d")
    ids = dict(store.messages_frame("d", "mid, id").iter_rows())

    async def before(pilot: Pilot) -> None:  # type: ignore[type-arg]
        await settle(app, pilot)
        app.clear_notifications()
        while ids[app.current_mid()] != "a":  # type: ignore[index]
            await pilot.press("j")
        await pilot.press("]", "x")
        await app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=before)


def test_the_oracle_trains_fields_from_the_generators_gold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cmtui.cli import main
    from cmtui.sample import main as sample_main

    gold_csv, gold_fields = tmp_path / "g.csv", tmp_path / "g.jsonl"
    sample_main(["-n", "600", "--out", str(gold_csv), "--fields-gold", str(gold_fields)])
    capsys.readouterr()
    assert main(["simulate", str(gold_csv), "--fields", str(gold_fields), "--pages", "5", "--learner", "linear",
                 "--page-size", "40", "--json"]) == 0
    rows = {r["field"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"policy number", "claim number", "amount", "phone number", "move date"} <= set(rows)
    assert rows["policy number"]["precision"] >= 0.95 and rows["policy number"]["recall"] >= 0.95
    dates = [r for name, r in rows.items() if "date" in name and r["trained"]]
    assert dates and all(r["precision"] >= 0.9 for r in dates), dates  # context tells the dates apart
    untrained = [r for name, r in rows.items() if "date" in name and not r["trained"] and r["gold"]]
    assert all(r["precision"] < 0.5 for r in untrained)  # every date, until the field is taught


def test_export_and_stats_carry_the_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cmtui.cli import main
    from cmtui.session import Session
    from cmtui.store import Store

    db = fields_db(tmp_path)
    assert main(["fields", "add", "policy number", "--like", "reference:AA-9999999", "--labels", "Policy",
                 "--db", str(db)]) == 0
    store = Store(db)
    session = Session.open(store, "d", "tester")
    ids = dict(store.messages_frame("d", "mid, id").iter_rows())
    b = next(m for m, i in ids.items() if i == "b")
    session.set_labels(b, {"Policy": None})
    session.submit([b], "shuffle", untouched=True)
    state = session.retrain()
    fields = {f["name"]: f for f in state.report["fields"]}
    # b and c are reviewed as Policy and hold no policy number
    assert "missing in 2 of 2 reviewed 'Policy' messages" in fields["policy number"]["warning"]
    out = tmp_path / "e.jsonl"
    assert main(["export", "--out", str(out), "--db", str(db)]) == 0
    exported = {json.loads(line)["id"]: json.loads(line)["fields"] for line in out.read_text().splitlines()}
    assert "policy number=HM-1234567" in exported["a"] and "money=1234.50 GBP" in exported["a"]
    assert exported["c"] == []
    capsys.readouterr()
    assert main(["stats", "--db", str(db)]) == 0
    assert "policy number" in capsys.readouterr().out


def test_predict_finds_the_fields_of_a_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cmtui.cli import main
    from cmtui.fields.fields import message_text
    from cmtui.fields.kinds import find_dates
    from cmtui.sample import main as sample_main
    from cmtui.session import Session
    from cmtui.store import Store

    gold_csv, db = tmp_path / "g.csv", tmp_path / "p.duckdb"
    sample_main(["-n", "400", "--out", str(gold_csv)])
    assert main(["import", str(gold_csv), "--dataset", "d", "--db", str(db)]) == 0
    assert main(["fields", "add", "policy number", "--like", "reference:AA-9999999", "--labels",
                 "Policy > Renewal", "--db", str(db)]) == 0
    assert main(["fields", "add", "move date", "--like", "date", "--db", str(db)]) == 0
    store = Store(db)
    for mid, subject, body in store.messages_frame("d", "mid, subject, body").iter_rows():
        text = message_text(subject, body)  # teach 'move date': the date after "moved house on"
        for c in find_dates(text):
            store.review_field("d", "tester", mid, "move date", c.start, c.end, c.value,
                               "yes" if text[:c.start].endswith("moved house on ") else "no")
    session = Session.open(store, "d", "tester")
    state = session.retrain()
    assert "move date" in session.fields_state.models
    new = tmp_path / "new.csv"
    new.write_text("\n".join(["id,timestamp,subject,body",
                              'n1,2024-06-01T09:00:00Z,Moving,"I moved house on 3 May, policy HM-7654321."',
                              'n2,2024-06-01T09:00:00Z,Cancel,"Please cancel policy HM-1234567 with effect from 9 June."',
                              ""]))
    capsys.readouterr()
    assert main(["predict", str(new), "--model", str(state.version), "--db", str(db)]) == 0
    out = {json.loads(line)["id"]: json.loads(line) for line in capsys.readouterr().out.splitlines()}
    values = {i: {(f["field"], f["value"]) for f in r["fields"]} for i, r in out.items()}
    assert {("move date", "2024-05-03"), ("date", "2024-05-03"), ("policy number", "HM-7654321")} <= values["n1"]
    assert ("date", "2024-06-09") in values["n2"]
    assert not any(f == "move date" for f, _ in values["n2"])  # a cancellation date is no move date
    csv_out = tmp_path / "p.csv"
    assert main(["predict", str(new), "--model", str(state.version), "--out", str(csv_out), "--db", str(db)]) == 0
    assert "move date=2024-05-03" in csv_out.read_text()


async def test_without_the_fields_extra_the_app_says_how_to_get_it(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from cmtui.fields import fields as fields_module
    from cmtui.fields.kinds import FieldsUnavailable
    from cmtui.store import Store
    from cmtui.tui.app import CmtuiApp
    from cmtui.workspace import Workspace
    from tests.test_tui import notes, running, settle

    def missing(*_args: object, **_kwargs: object) -> None:
        raise FieldsUnavailable("finding fields needs dateparser: pip install 'cmtui[fields]'")

    monkeypatch.setattr(fields_module, "find_fields", missing)
    app = CmtuiApp(Workspace(Store(fields_db(tmp_path)), "tester"), "d")
    async with running(app, size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("]")
        await pilot.pause()
        assert any("pip install 'cmtui[fields]'" in n for n in notes(app)), notes(app)


def test_finding_fields_stops_when_a_newer_retrain_asks(tmp_path: Path) -> None:
    from cmtui.fields.fields import dataset_fields, find_in_dataset
    from cmtui.model import Cancelled
    from cmtui.store import Store

    store = Store(fields_db(tmp_path))
    with pytest.raises(Cancelled):
        find_in_dataset(store, "d", dataset_fields(store, "d"), cancelled=lambda: True)
    assert not list((tmp_path / "f.duckdb.cache").rglob("block-*.parquet"))  # nothing half-found is kept
