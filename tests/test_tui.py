from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from textual.app import Notify
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import DataTable
from textual.worker import WorkerCancelled

from cmtui.cli import main
from cmtui.store import Store
from cmtui.tui.app import CmtuiApp, PageLoaded
from cmtui.tui.screens import ConfirmScreen, HelpScreen, LabelPickerScreen, ValidationScreen
from cmtui.tui.widgets import CoverageMeter
from cmtui.workspace import Workspace
from tests.conftest import write

HOSTILE = "[bold red]not bold[/bold red] \x1b]52;c;ZXZpbA==\x07 \x1b[31mred\x1b[0m \x1b]0;pwned\x07 \u202eevil \x07bell"


def make_store(tmp_path: Path, n: int = 60, labelled: int = 0, hostile: bool = False) -> Store:
    topics = [("Billing", "payment failed refund premium card charged"),
              ("Claims > Motor", "car crash windscreen collision garage repair"),
              ("Claims > Home", "water leak roof storm burglary kitchen")]
    lines = ["id,timestamp,subject,from,body,labels,reviewed"]
    for i in range(n):
        label, words = topics[i % 3]
        body = f"{words.split()[i % 5]} {words.split()[(i + 2) % 5]} message number {i}"
        if hostile and i == 0:
            body = HOSTILE
        quoted = '"' + body.replace('"', '""') + '"'
        lines.append(f"m{i:03d},2024-02-{1 + i % 28:02d}T09:00:00Z,Subject {i},c{i}@x.org,{quoted},{label},"
                     f"{'true' if i >= n - labelled else 'false'}")
    path = write(tmp_path / "d.csv", "\n".join(lines) + "\n")
    db = tmp_path / "tui.duckdb"
    assert main(["import", str(path), "--dataset", "d", "--db", str(db), "--annotator", "seed"]) == 0
    store = Store(db)
    for label, _ in topics:
        store.add_label("d", label)
    return store


SEEN: dict[int, list[Message]] = {}


def running(app: CmtuiApp, **kwargs: Any) -> Any:
    """``app.run_test`` with every message the app handles recorded (``notes`` reads them)."""
    return app.run_test(message_hook=SEEN.setdefault(id(app), []).append, **kwargs)


def notes(app: CmtuiApp, severity: str | None = None) -> list[str]:
    """The notifications the app showed, as messages it posted to itself."""
    return [m.notification.message for m in SEEN.get(id(app), [])
            if isinstance(m, Notify) and (severity is None or m.notification.severity == severity)]


async def settle(app: CmtuiApp, pilot: Pilot, timeout: float = 120.0) -> None:
    """Wait until the page is shown and every worker (load, page, retrain, writes) is done."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause()
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:  # an exclusive worker replaced by a newer one: wait again
            continue
        await pilot.pause(0.02)
        meter = app.query_one(CoverageMeter)
        if (app.session is not None and app.page_mids and not meter.training
                and not any(w.is_running for w in app.workers)):
            errors = notes(app, "error")
            assert not errors, errors
            return
    raise AssertionError(f"the app did not settle in time: {notes(app)}")


def app_for(store: Store) -> CmtuiApp:
    return CmtuiApp(Workspace(store, "tester"), "d")


async def test_label_by_number_and_picker_then_confirm(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    app = app_for(store)
    async with running(app, size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert app.session is not None and len(app.page_mids) == 20
        first = app.current_mid()
        assert first is not None
        number_of = {name: i + 1 for i, name in enumerate(app.session.key_order()[:9])}
        await pilot.press(str(number_of["Billing"]))
        assert "Billing" in app.session.labels_of(first)
        await pilot.press("l")
        assert isinstance(app.screen, LabelPickerScreen)
        await pilot.press(*"home", "enter")
        await pilot.pause()
        assert set(app.session.labels_of(first)) == {"Billing", "Claims > Home"}
        await pilot.press("space")
        await settle(app, pilot)
        assert app.current_mid() != first  # moved on
    effective, _ = Store(store.path).effective_reviews("d")
    assert effective[first] == {"Billing": None, "Claims > Home": None}


async def test_create_label_and_child(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    app = app_for(store)
    async with running(app, size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("l", *"Complaint", "ctrl+n", "y")
        await settle(app, pilot)
        assert "Complaint" in store.labels("d")
        assert "Complaint" in app.session.labels_of(app.current_mid())
        await pilot.press("l", *"Complaint", "ctrl+t")
        await pilot.pause()
        assert app.screen.query_one("#picker-filter").value == "Complaint > "
        await pilot.press(*"Delay", "ctrl+n", "y")
        await settle(app, pilot)
        assert "Complaint > Delay" in store.labels("d")


async def test_submit_retrains_and_shows_low_confidence_page(tmp_path: Path) -> None:
    store = make_store(tmp_path, n=90, labelled=30)
    app = app_for(store)
    async with running(app, size=(120, 40)) as pilot:
        await settle(app, pilot)
        meter = app.query_one(CoverageMeter)
        assert meter.figures.reviewed == 30
        first_page = list(app.page_mids)
        await pilot.press("a")  # accept the model's labels on the first message
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)  # 19 untouched: asks
        await pilot.press("y")
        await settle(app, pilot)
        assert app.page.mode == "low-confidence"
        assert not set(app.page_mids) & set(first_page)
        assert meter.figures.reviewed == 50
        assert len(app.session.history) >= 2
        assert "Coverage" in str(meter.render())
        assert app.session.state.report["reviewed"] == 50
    assert len(Store(store.path).effective_reviews("d")[0]) == 50


async def test_undo_after_confirm(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    app = app_for(store)
    async with running(app, size=(120, 40)) as pilot:
        await settle(app, pilot)
        first = app.current_mid()
        await pilot.press("1", "space")
        await settle(app, pilot)
        assert first in Store(store.path).effective_reviews("d")[0]
        await pilot.press("u")
        await settle(app, pilot)
        assert first not in Store(store.path).effective_reviews("d")[0]
        assert app.current_mid() == first
        assert app.session is not None and app.session.labels_of(first)  # its label stays, unconfirmed


async def test_mode_switch_search_validation_help(tmp_path: Path) -> None:
    store = make_store(tmp_path, n=90, labelled=30)
    app = app_for(store)
    async with running(app, size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("m")
        await pilot.pause()
        modes = list(app.screen.query_one("#mode-options").options)  # type: ignore[attr-defined]
        index = [o.id for o in modes].index("recent")
        app.screen.query_one("#mode-options").highlighted = index
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.page.mode == "recent"
        await pilot.press("m")
        await pilot.pause()
        assert app.screen.query_one("#mode-options").highlighted == index  # on the current mode
        await pilot.press("enter")  # keeps it (the cursor on the first mode made it Low confidence)
        await settle(app, pilot)
        assert app.page.mode == "recent"
        await pilot.press("m")
        await pilot.pause()
        app.screen.query_one("#mode-options").highlighted = [o.id for o in modes].index("search")
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press(*"windscreen", "enter")
        await settle(app, pilot)
        assert app.page.mode == "search" and app.page_mids
        rows = app.session.rows(app.page_mids)
        assert all("windscreen" in r.body for r in rows)
        body = app.query_one("#message-body").render()
        assert any(body.plain[sp.start:sp.end].casefold() == "windscreen" and "reverse" in repr(sp.style)
                   for sp in body.spans)  # type: ignore[attr-defined]  # the word searched for stands out
        start = body.plain.index(rows[0].body[:10])  # type: ignore[attr-defined]
        assert not any(sp.start <= start < sp.end and "dim" in repr(sp.style)
                       for sp in body.spans)  # type: ignore[attr-defined]  # the message itself is not dimmed
        await pilot.press("v")
        await pilot.pause()
        assert isinstance(app.screen, ValidationScreen)
        table = app.screen.query_one(DataTable)
        assert table.row_count == len(app.session.labels)
        await pilot.press("t")  # jump into Teach for the highlighted label
        await settle(app, pilot)
        assert app.page.mode == "teach" and app.page.arg in app.session.labels
        app.notify("a notice over the help's last lines")
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen) and not app._notifications  # cleared as it opens
        help_text = "\n".join(str(widget.render()) for widget in app.screen.query("Static"))
        assert "the same on every message, after a restart and for every annotator" in help_text  # a paragraph wraps to the panel
        await pilot.press("escape")


async def test_hostile_message_is_inert(tmp_path: Path) -> None:
    store = make_store(tmp_path, hostile=True)
    app = app_for(store)
    async with running(app, size=(120, 40)) as pilot:
        await settle(app, pilot)
        target = int(app.session.mids[app.session.ids.index("m000")])
        app.session.prefetch([target])  # as the page worker does
        app.on_page_loaded(PageLoaded("recent", None, 0, [target]))
        await pilot.pause()
        body = app.query_one("#message-body").render()
        text = str(body)
        assert "[bold red]not bold[/bold red]" in text  # markup shown, not applied
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
        assert "␛]52;c;ZXZpbA==" in text
        for span in getattr(body, "spans", []):
            assert "bold" not in str(span.style)
        screen = app.export_screenshot()  # what the terminal is sent, as the user sees it
        assert "\x1b" not in screen and "\u202e" not in screen and "\x07" not in screen
        assert "␛]52;c;ZXZpbA==" in screen.replace("&#160;", " ")
        assert "[bold&#160;red]not&#160;bold[/bold&#160;red]" in screen or "[bold red]not bold" in screen


async def test_layout_at_80x24(tmp_path: Path) -> None:
    store = make_store(tmp_path, n=90, labelled=30)
    app = app_for(store)
    async with running(app, size=(80, 24)) as pilot:
        await settle(app, pilot)
        for selector in ("#status", "#message-list", "#message-view", "#meter"):
            region = app.query_one(selector).region
            assert region.width > 0 and region.height > 0, selector
            assert region.right <= 80 and region.bottom <= 24, selector
        assert app.query_one("#main").has_class("stacked")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot_main_screen(size: tuple[int, int], tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path, n=90, labelled=30)
    app = app_for(store)

    async def before(pilot: Pilot) -> None:
        await settle(app, pilot)
        app.query_one(CoverageMeter).training = False

    assert snap_compare(app, terminal_size=size, run_before=before)


def test_snapshot_validation_screen(tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path, n=90, labelled=30)
    app = app_for(store)

    async def before(pilot: Pilot) -> None:
        await settle(app, pilot)
        await pilot.press("v")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=before)


async def test_datasets_screen_creates_imports_and_switches(tmp_path: Path) -> None:
    from cmtui.tui.screens import DatasetsScreen

    store = make_store(tmp_path)
    extra = write(tmp_path / "more.csv", "id,timestamp,body\nn1,2024-03-01,new message one\nn2,2024-03-02,two\n")
    app = app_for(store)
    async with running(app, size=(120, 40)) as pilot:
        await settle(app, pilot)
        app.pages_submitted = 3  # as after three pages of this dataset
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, DatasetsScreen)
        await pilot.press("n", *"second", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)  # sentiment, fixed once made: chosen now
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "second" in store.dataset_names() and store.dataset_info("second").sentiment
        table = app.screen.query_one(DataTable)
        table.move_cursor(row=[r.value for r in table.rows].index("second"))
        await pilot.press("i", *str(extra), "enter")
        for _ in range(100):
            await pilot.pause(0.05)
            if store.dataset_info("second").messages == 2:
                break
        assert store.dataset_info("second").messages == 2
        await pilot.pause(0.1)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.dataset == "second" and len(app.page_mids) == 2
        assert app.pages_submitted == 0  # the header counted the other dataset's pages


async def test_switching_datasets_keeps_the_edits_and_an_import_shows_at_once(tmp_path: Path) -> None:
    """Opening another dataset dropped the unconfirmed edits of this one (quitting kept
    them), and messages imported into the open dataset did not show until a restart."""
    store = make_store(tmp_path)
    store.create_dataset("another")  # listed before "d"
    extra = write(tmp_path / "more.csv", "id,timestamp,body\nn1,2030-03-01,new message one\n")
    app = app_for(store)
    async with running(app, size=(120, 40)) as pilot:
        await settle(app, pilot)
        mid = app.current_mid()
        await pilot.press("1")  # an unconfirmed edit
        label = app.session.key_order()[0]
        for target in ("another", "d"):
            await pilot.press("d")
            await pilot.pause(0.3)
            table = app.screen.query_one(DataTable)
            table.move_cursor(row=[r.value for r in table.rows].index(target))
            await pilot.press("enter")
            for _ in range(400):  # "another" is empty: no page to wait for
                await pilot.pause(0.05)
                if app.session is not None and app.session.dataset == target:
                    break
        await settle(app, pilot)
        assert app.session.labels_of(mid) == {label: None}  # back, as after a restart
        await pilot.press("d")
        await pilot.pause(0.3)
        table = app.screen.query_one(DataTable)
        assert [r.value for r in table.rows][table.cursor_row] == "d"  # on the open dataset, not the first
        await pilot.press("i", *str(extra), "enter")
        for _ in range(100):
            await pilot.pause(0.05)
            if store.dataset_info("d").messages == 61:
                break
        await pilot.pause(0.2)
        await pilot.press("escape")
        await settle(app, pilot)
        assert "n1" in app.session.ids and app.session.labels_of(mid) == {label: None}


async def test_command_palette_offers_modes_and_labels(tmp_path: Path) -> None:
    store = make_store(tmp_path, n=90, labelled=30)
    app = app_for(store)
    async with running(app, size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"teach billing")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.page.mode == "teach" and app.page.arg == "Billing"


async def test_keys_can_be_remapped(tmp_path: Path) -> None:
    from cmtui.config import load_settings

    config = tmp_path / "config.toml"
    config.write_text('[keys]\nsubmit = "ctrl+s"\n')
    store = make_store(tmp_path, n=90, labelled=30)
    app = CmtuiApp(Workspace(store, "tester"), "d", keymap=load_settings(config).keymap)
    async with running(app, size=(120, 40)) as pilot:
        await settle(app, pilot)
        first_page = list(app.page_mids)
        await pilot.press("s")  # no longer bound
        await settle(app, pilot)
        assert app.page_mids == first_page
        await pilot.press("ctrl+s", "y")
        await settle(app, pilot)
        assert not set(app.page_mids) & set(first_page)


async def test_filter_by_source_and_a_chat_shown_as_turns(tmp_path: Path) -> None:
    """f narrows every mode to one source (the status line says so); the message view names
    the source, and a chat shows who said what, speaker names styled and inert."""
    store = make_store(tmp_path, n=30)
    chats = tmp_path / "chats.jsonl"
    turns = [{"speaker": "[b]Customer[/b]", "text": "my car was hit"}, {"speaker": "Agent", "text": "sorry to hear that"}]
    chats.write_text("".join(json.dumps({"id": f"chat{n}", "timestamp": f"2024-03-0{n + 1}T10:00:00Z", "turns": turns})
                             + "\n" for n in range(3)))
    assert main(["import", str(chats), "--dataset", "d", "--source", "chats", "--db", str(store.path)]) == 0
    app = app_for(store)
    async with running(app, size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("f")
        await pilot.pause(0.5)
        options = app.screen.query_one("#filter-options")
        ids = [o.id for o in options.options]  # type: ignore[attr-defined]
        assert "source:chats" in ids and "source:d" in ids
        options.highlighted = ids.index("source:chats")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.session.scope == ("chats", None, None)
        assert sorted(app.session.ids[app.session.row_of[m]] for m in app.page_mids) == ["chat0", "chat1", "chat2"]
        assert "only chats" in str(app.query_one("#status").render())
        body = str(app.query_one("#message-body").render())
        assert "source chats" in body and "[b]Customer[/b]\n" in body and "Agent\nsorry to hear that" in body
        await pilot.press("f")
        await pilot.pause(0.5)
        app.screen.query_one("#filter-options").highlighted = 0  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.session.scope == (None, None, None) and len(app.page_mids) == 20


async def test_validation_says_whether_the_model_is_ready_and_a_digit_goes_to_the_next_step(tmp_path: Path) -> None:
    store = make_store(tmp_path, n=90, labelled=30)
    app = app_for(store)
    async with running(app, size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("v")
        await pilot.pause()
        assert isinstance(app.screen, ValidationScreen)
        shown = str(app.screen.query_one("#validation-readiness").render())
        assert shown.startswith("Not ready yet: next steps (press the digit)\n1  Shuffle: 0% of the reviews")
        await pilot.press("1")  # the first step: Shuffle
        await settle(app, pilot)
        assert app.page.mode == "shuffle"
