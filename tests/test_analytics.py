"""Analytics: the aggregates against hand-counted fixtures, ``cmtui report`` and the screen."""

from __future__ import annotations

import json
import struct
import xml.etree.ElementTree as ET
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cmtui.analytics import (
    Names,
    format_tables,
    parse_filters,
    predicted_hits,
    reviewed_hits,
    shape,
    sparkline,
)
from cmtui.cli import main
from cmtui.store import Filters, Store, StoreError
from tests.conftest import write

# six messages over three weeks (Mondays 1, 8 and 15 January 2024), two sources
MESSAGES = [  # id, timestamp, channel
    ("a", "2024-01-01T09:00:00Z", "email"), ("b", "2024-01-02T09:00:00Z", "chat"),
    ("c", "2024-01-09T09:00:00Z", "email"), ("d", "2024-01-10T09:00:00Z", "email"),
    ("e", "2024-01-16T09:00:00Z", "chat"), ("f", "2024-01-17T09:00:00Z", "email"),
]


def fixture_store(tmp_path: Path) -> tuple[Store, dict[str, int]]:
    lines = ["id,timestamp,subject,body,channel"]
    lines += [f"{i},{ts},s {i},body {i},{channel}" for i, ts, channel in MESSAGES[:4]]
    first = write(tmp_path / "one.csv", "\n".join(lines) + "\n")
    second = write(tmp_path / "two.csv", "id,timestamp,subject,body,channel\n"
                   + "".join(f"{i},{ts},s {i},body {i},{channel}\n" for i, ts, channel in MESSAGES[4:]))
    db = tmp_path / "a.duckdb"
    assert main(["import", str(first), "--dataset", "d", "--source", "one", "--db", str(db)]) == 0
    assert main(["import", str(second), "--dataset", "d", "--source", "two", "--db", str(db)]) == 0
    store = Store(db)
    mids = dict(zip(*store.messages_frame("d", "id, mid").to_dict(as_series=False).values(), strict=True))
    return store, mids


PREDICTED = {"a": {"Claims > Motor": None, "Claims > Home": None, "Urgent": None}, "b": {"Claims > Motor": None},
             "c": {"Claims": None, "Claims > Motor": None, "Urgent": None}, "e": {"Billing": None},
             "f": {"Urgent": None}}
REVIEWED = {"a": {"Claims > Motor": 1, "Urgent": -1}, "d": {}, "e": {"Billing": -1}}
NAMES = Names.of(["Billing", "Claims > Motor", "Claims > Home", "Quote", "Urgent"])


def hits(mids: dict[str, int]) -> pl.DataFrame:
    """The model's labels and the reviews above, as the Session passes them."""
    predicted = reviewed_hits({mids[k]: v for k, v in PREDICTED.items()}, NAMES).with_columns(reviewed=False)
    return pl.concat([predicted, reviewed_hits({mids[k]: v for k, v in REVIEWED.items()}, NAMES)])


def test_volumes_pairs_and_sentiment_hand_counted(tmp_path: Path) -> None:
    store, mids = fixture_store(tmp_path)
    counted = store.label_volumes("d", [hits(mids)], Filters(), "week")
    a = shape(counted, "d", Filters(), NAMES, None, True)
    assert [p.date().isoformat() for p in a.periods] == ["2024-01-01", "2024-01-08", "2024-01-15"]
    assert a.messages == [2, 2, 2]
    assert a.reviewed == [1, 1, 1]  # d was reviewed with no label: still reviewed
    # a parent counts each message once, however many of its children it has (a: Motor + Home)
    assert a.series("predicted", "Claims") == [2, 1, 0]
    assert a.series("predicted", "Claims > Motor") == [2, 1, 0]
    assert a.series("predicted", "Urgent") == [1, 1, 1]
    assert a.series("reviewed", "Claims") == [1, 0, 0]
    assert a.series("predicted", "Quote") == [0, 0, 0]  # in the taxonomy, never given
    assert a.labels == ["Billing", "Claims", "Claims > Home", "Claims > Motor", "Quote", "Urgent"]
    assert a.sentiment["reviewed"]["Urgent"] == (0, 1)
    assert a.sentiment["reviewed"]["Billing"] == (0, 1)
    assert a.sentiment["reviewed"]["Claims"] == (1, 0)
    # pairs of the most specific labels: c's Claims is said by its Claims > Motor
    assert a.pairs["predicted"][:2] == [("Claims > Motor", "Urgent", 2), ("Claims > Home", "Claims > Motor", 1)]
    assert ("Claims", "Claims > Motor", 1) not in a.pairs["predicted"]
    assert a.pairs["reviewed"] == [("Claims > Motor", "Urgent", 1)]


def test_filters_by_source_time_and_property(tmp_path: Path) -> None:
    store, mids = fixture_store(tmp_path)
    by_source = store.label_volumes("d", [hits(mids)], Filters(source="two"), "week")
    assert by_source.periods["messages"].to_list() == [2]  # e and f, one week
    emails = store.label_volumes("d", [hits(mids)], Filters(prop=("channel", "email")), "week")
    assert emails.periods["messages"].to_list() == [1, 2, 1]
    window = Filters(since=datetime(2024, 1, 8), until=datetime(2024, 1, 16))
    weeks = shape(store.label_volumes("d", [hits(mids)], window, None), "d", window, NAMES, None, False)
    assert weeks.bucket == "day" and sum(weeks.messages) == 2  # c and d
    assert weeks.total("predicted", "Urgent") == 1
    nothing = store.label_volumes("d", [hits(mids)], Filters(source="none"), None)
    assert nothing.periods.height == 0 and nothing.volumes.height == 0
    with pytest.raises(StoreError, match="bucket"):
        store.label_volumes("d", [hits(mids)], Filters(), "year")
    assert ("channel", "email", 4) in store.property_values("d")


def test_hits_from_scores_and_reviews() -> None:
    labels = ["A", "A > B", "C"]
    names = Names.of(labels)
    probs = np.array([[0.9, 0.8, 0.1], [0.6, 0.1, 0.7], [0.2, 0.9, 0.2]], dtype=np.float32)
    found = predicted_hits(np.array([10, 11, 12]), probs, [0.5, 0.5, 0.65], labels, names,
                           np.array([0.9, 0.2, 0.5]))
    named = sorted((m, names.names[r], sign, leaf) for m, r, sign, leaf in
                   zip(found["mid"], found["label"], found["sentiment"], found["leaf"], strict=True))
    # 10: A and A > B (A is said by A > B); 11: A and C; 12: A > B alone still counts in A
    assert named == [(10, "A", 1, False), (10, "A > B", 1, True), (11, "A", -1, True), (11, "C", -1, True),
                     (12, "A", 1, False), (12, "A > B", 1, True)]
    reviewed = reviewed_hits({5: {"A > B": 1, "C": -1}, 6: {}}, names)
    assert sorted(reviewed.rows()) == [(True, 5, 0, 1, False), (True, 5, 1, 1, True), (True, 5, 2, -1, True),
                                       (True, 6, -1, 0, False)]
    assert sparkline([0, 1, 2, 4]) == " ▃▅█" and sparkline([0, 0]) == "  "


def test_parse_filters_says_what_is_wrong() -> None:
    assert parse_filters("s", "2024-01-01", "2024-02-01", "channel=web form") == Filters(
        "s", datetime(2024, 1, 1), datetime(2024, 2, 1), ("channel", "web form"))
    for kwargs, field in (({"since": "2024-13-01"}, "--since"), ({"where": "channel"}, "--where"),
                          ({"since": "2024-02-01", "until": "2024-01-01"}, "--until")):
        with pytest.raises(StoreError, match=field):
            parse_filters(**kwargs)


def labelled_db(tmp_path: Path, sentiment: bool = False) -> Path:
    """90 messages of February 2024, 45 of them reviewed, in two channels (with
    ``sentiment``: Billing negative, the rest positive)."""
    topics = [("Billing", "payment failed refund premium card charged"),
              ("Claims > Motor", "car crash windscreen collision garage repair"),
              ("Claims > Home", "water leak roof storm burglary kitchen")]
    lines = ["id,timestamp,subject,body,channel,labels,sentiments,reviewed"]
    for i in range(90):
        label, words = topics[i % 3]
        both = [label, "Billing"] if i % 9 == 1 else [label]
        signs = ";".join("negative" if n == "Billing" else "positive" for n in both)
        lines.append(f"m{i:03d},2024-02-{1 + i % 28:02d}T09:00:00Z,Subject {i},{words} {i},"
                     f"{'email' if i % 2 else 'chat'},{';'.join(both)},{signs if sentiment else ''},"
                     f"{'true' if i < 45 else 'false'}")
    db = tmp_path / "r.duckdb"
    assert main(["import", str(write(tmp_path / "r.csv", "\n".join(lines) + "\n")), "--dataset", "d",
                 "--db", str(db), *(["--sentiment"] if sentiment else [])]) == 0
    return db


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def test_report_tables_json_html_and_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = labelled_db(tmp_path)
    capsys.readouterr()
    assert main(["report", "--db", str(db), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    by_name = {row["name"]: row for row in figures["labels"]}
    assert figures["bucket"] == "day" and sum(p["messages"] for p in figures["periods"]) == 90
    assert by_name["Claims"]["reviewed"]["total"] == 30  # Motor + Home of the 45 reviewed
    assert figures["model_version"] is not None and by_name["Claims"]["predicted"]["total"] > 0
    assert main(["report", "--db", str(db), "--where", "channel=email", "--by", "week"]) == 0
    tables = capsys.readouterr().out
    assert "channel=email): 45 messages" in tables and "Labels given together" in tables

    html_path = tmp_path / "report.html"
    assert main(["report", "--db", str(db), "--out", str(html_path)]) == 0
    page = html_path.read_text()
    parser = Tags()
    parser.feed(page)
    assert {"html", "svg", "table"} <= set(parser.tags) and "<script" not in page
    svg = page[page.index("<svg"):page.index("</svg>") + 6]
    assert ET.fromstring(svg).tag.endswith("svg")  # the chart is well-formed SVG, inline
    png = tmp_path / "report.png"
    assert main(["report", "--db", str(db), "--out", str(png)]) == 0
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 500 and height > 300
    import matplotlib.image

    assert matplotlib.image.imread(str(png)).shape[:2] == (height, width)


def test_report_with_sentiment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = labelled_db(tmp_path, sentiment=True)
    capsys.readouterr()
    assert main(["report", "--db", str(db), "--json"]) == 0
    by_name = {row["name"]: row for row in json.loads(capsys.readouterr().out)["labels"]}
    # 45 reviewed: 15 Billing (negative), 15 + 5 Motor of which 5 also Billing, 15 Home (positive)
    assert by_name["Billing"]["reviewed"]["negative"] == 20 and by_name["Billing"]["reviewed"]["positive"] == 0
    assert by_name["Claims > Home"]["reviewed"]["positive"] == 15
    assert by_name["Claims > Motor"]["reviewed"]["positive"] == 15
    predicted = by_name["Claims"]["predicted"]
    assert predicted["positive"] + predicted["negative"] == predicted["total"]  # a sentiment model ran
    assert main(["report", "--db", str(db)]) == 0
    assert "+pos  -neg" in capsys.readouterr().out
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "s.png")]) == 0


def test_report_refuses_bad_input_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = labelled_db(tmp_path)
    capsys.readouterr()
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "r.txt")]) == 2
    assert main(["report", "--db", str(db), "--since", "yesterday"]) == 2
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "nowhere" / "r.html")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and "r.txt" in errors[0] and "--since" in errors[1] and "nowhere" in errors[2]
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".txt", ".html", ".png")) == []


def test_tables_say_when_there_is_no_model(tmp_path: Path) -> None:
    store, mids = fixture_store(tmp_path)
    reviews = hits(mids).filter(pl.col("reviewed"))
    a = shape(store.label_volumes("d", [reviews], Filters(), None), "d", Filters(), NAMES, None, False)
    text = format_tables(a)
    assert "no model yet" in text and "2024-01-01 to 2024-01-17 by day" in text


async def wait_counted(app: object, pilot: object) -> None:
    await app.workers.wait_for_complete()  # type: ignore[attr-defined]
    await pilot.pause()  # type: ignore[attr-defined]


async def test_analytics_screen_draws_and_filters(tmp_path: Path) -> None:
    from textual.widgets import DataTable, Static

    from cmtui.tui.analytics import AnalyticsScreen, ChoiceScreen
    from cmtui.tui.app import CmtuiApp
    from cmtui.workspace import Workspace
    from tests.test_tui import settle

    app = CmtuiApp(Workspace(Store(labelled_db(tmp_path)), "tester"), "d")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("A")
        await wait_counted(app, pilot)
        screen = app.screen
        assert isinstance(screen, AnalyticsScreen)
        title = str(screen.query_one("#analytics-title", Static).render())
        assert title.startswith("90 messages · 2024-02-01..2024-02-28 by day · model v")
        table = screen.query_one(DataTable)
        assert table.row_count == 4  # Billing, Claims, Claims > Home, Claims > Motor
        await pilot.press("j", "j")
        assert str(screen.query_one("#analytics-legend", Static).render()).startswith("Claims > Home")
        await pilot.press("b", "b")  # auto -> day -> week
        await wait_counted(app, pilot)
        assert "by week" in str(screen.query_one("#analytics-title", Static).render())
        await pilot.press("w")
        await wait_counted(app, pilot)
        assert isinstance(app.screen, ChoiceScreen)
        options = [str(app.screen.query_one("#choice-options").get_option_at_index(i).id)  # type: ignore[attr-defined]
                   for i in range(app.screen.query_one("#choice-options").option_count)]  # type: ignore[attr-defined]
        await pilot.press(*["down"] * options.index("channel=email"), "enter")
        await wait_counted(app, pilot)
        assert str(screen.query_one("#analytics-title", Static).render()).startswith("45 messages")
        await pilot.press("t")
        await pilot.press(*"2024-02-10..2024-02-20", "enter")
        await wait_counted(app, pilot)
        title = str(screen.query_one("#analytics-title", Static).render())
        assert "channel=email" in title and "2024-02-10 to 2024-02-20" in title
        await pilot.press("t", "ctrl+u", *"soon..", "enter")  # refused in one line; the filter stays
        await wait_counted(app, pilot)
        assert "2024-02-10 to 2024-02-20" in str(screen.query_one("#analytics-title", Static).render())
        await pilot.press("x")
        await wait_counted(app, pilot)
        assert str(screen.query_one("#analytics-title", Static).render()).startswith("90 messages")
        await pilot.press("escape")
        assert not isinstance(app.screen, AnalyticsScreen)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot_analytics_screen(size: tuple[int, int], tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    from textual.pilot import Pilot

    from cmtui.tui.app import CmtuiApp
    from cmtui.workspace import Workspace
    from tests.test_tui import settle

    app = CmtuiApp(Workspace(Store(labelled_db(tmp_path)), "tester"), "d")

    async def before(pilot: Pilot) -> None:  # type: ignore[type-arg]
        await settle(app, pilot)
        app.clear_notifications()
        await pilot.press("A")
        await wait_counted(app, pilot)
        await pilot.press("j")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=before)
