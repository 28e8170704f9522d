"""The annotator flow at 80x24: every key does what it says, no wrong labels (issue 11).

Each test drives the app as a person would, with Pilot key presses, and checks what the
database holds afterwards, not only what the screen says.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cmtui.store import Store
from cmtui.tui.app import CmtuiApp, UnknownKeyId
from cmtui.tui.screens import (
    NEW_LABEL,
    AskScreen,
    ConfirmScreen,
    HelpScreen,
    LabelPickerScreen,
    ValidationScreen,
)
from cmtui.tui.widgets import CoverageMeter, MessageList, MessageView
from cmtui.workspace import Workspace
from tests.test_tui import app_for, make_store, notes, running, settle

SMALL = (80, 24)


def screen_text(app: CmtuiApp) -> str:
    """What the terminal shows now, as plain lines."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def all_text(app: CmtuiApp) -> str:
    """The text of every Static on the current screen, scrolled into view or not."""
    return "\n".join(str(widget.render()) for widget in app.screen.query("Static"))


def status_text(app: CmtuiApp) -> str:
    return str(app.query_one("#status").render())


def reviews(store: Store) -> dict[int, dict[str, int | None]]:
    return Store(store.path).effective_reviews("d")[0]


async def test_enter_confirms_and_moves_on(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        first = app.current_mid()
        label = app.session.key_order()[0]
        await pilot.press("1", "enter")
        await settle(app, pilot)
        assert app.current_mid() == app.page_mids[1]  # moved on
        await pilot.press("1")  # lands on the second message, not the first
        assert label in app.session.labels_of(app.page_mids[1])
    assert reviews(store)[first] == {label: None}


async def test_confirming_no_labels_says_so_and_its_row_shows_no_prediction(tmp_path: Path) -> None:
    """Space with no label assigned reviews the message as having none: a review in its
    own right, and what a missed number key gives. The app says so, and the row shows
    "no labels", not the model's prediction (which read as the message's label)."""
    store = make_store(tmp_path, n=90, labelled=30)
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        first = app.current_mid()
        assert app.session.predictions_of(first)  # the model has something to say about it
        await pilot.press("space")
        await settle(app, pilot)
        assert "Confirmed with no labels (u undoes)" in notes(app)
        row = app.query_one(MessageList).get_row_at(0)
        assert str(row[-1]) == "no labels"
        await pilot.press("1", "space")  # a label given: nothing said
        await settle(app, pilot)
        assert notes(app).count("Confirmed with no labels (u undoes)") == 1
    assert reviews(store)[first] == {}


async def test_a_number_pressed_twice_removes_what_it_added(tmp_path: Path) -> None:
    store = make_store(tmp_path, n=90, labelled=30)
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        mid = app.current_mid()
        slots = list(app.session.key_order())
        await pilot.press("3")
        await pilot.press("3")
        assert app.session.labels_of(mid) == {}
        await pilot.press("1", "2")
        assert app.session.key_order() == slots  # numbers stay put
        assert set(app.session.labels_of(mid)) == {slots[0], slots[1]}
        await pilot.press("down", "up")
        assert app.session.key_order() == slots


async def test_submit_asks_before_reviewing_untouched_and_one_undo_reverts_it(tmp_path: Path) -> None:
    store = make_store(tmp_path, n=90, labelled=30)
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        page = list(app.page_mids)
        await pilot.press("1")  # one message edited, nineteen untouched
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")  # back: nothing written
        await settle(app, pilot)
        assert not set(page) & set(reviews(store))
        await pilot.press("s", "enter")  # the default leaves the untouched ones alone
        await settle(app, pilot)
        assert set(page) & set(reviews(store)) == {page[0]}
        await pilot.press("s", "y")  # on the next page: review all twenty as "no labels"
        await settle(app, pilot)
        second = [m for m in reviews(store) if m not in page and m in app.session.row_of]
        submitted = set(reviews(store)) - {page[0]}
        assert len(submitted & set(app.session.mids.tolist())) >= 20 or len(second) >= 20
        coverage_after = app.session.history[-1]
        await pilot.press("u")  # one undo reverts the whole submit, and shows its page again
        await settle(app, pilot)
        now = reviews(store)
        assert page[0] in now and len([m for m in now if m not in page]) == 30  # the imported 30 stay
        assert status_text(app).count("0 submitted") == 1 or "1 submitted" in status_text(app)
        assert all(m not in now for m in app.page_mids)
        assert app.session.history[-1] != coverage_after or len(app.session.history) >= 3


async def test_creating_a_label_takes_a_second_key_and_labels_can_be_managed(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.add_label("d", "Complaint")
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        mid = app.current_mid()
        await pilot.press("l", *"Compliant", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "Compliant" in app.screen.question and "Complaint" in app.screen.question  # similar one named
        await pilot.press("escape")
        await settle(app, pilot)
        assert "Compliant" not in store.labels("d")
        await pilot.press("l", *"Compliant", "enter", "y")  # a typo, confirmed anyway
        await settle(app, pilot)
        assert "Compliant" in app.session.labels_of(mid)
        await pilot.press("space")
        await settle(app, pilot)
        await pilot.press("l", *"Compliant")
        await pilot.pause()
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert isinstance(app.screen, AskScreen)
        await pilot.press(*["backspace"] * 20, *"Complaint", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)  # Complaint exists: merge?
        await pilot.press("y")
        await settle(app, pilot)
        assert "Compliant" not in store.labels("d")
        assert reviews(store)[mid] == {"Complaint": None}
        await pilot.press("l", *"Complaint", "ctrl+e")
        await pilot.pause()
        await pilot.press(*"The customer is unhappy", "enter")
        await settle(app, pilot)
        assert store.label_descriptions("d") == {"Complaint": "The customer is unhappy"}
        await pilot.press("l", *"Complaint")
        await pilot.pause()
        assert "unhappy" in str(app.screen.query_one("#picker-description").render())
        await pilot.press("ctrl+d", "y")
        await settle(app, pilot)
        assert "Complaint" not in store.labels("d") and reviews(store)[mid] == {}
        await pilot.press("u")  # the delete
        await settle(app, pilot)
        assert reviews(store)[mid] == {"Complaint": None}
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen) and "unhappy" in all_text(app)


async def test_a_label_created_on_the_first_page_leaves_the_learnt_keys_alone(tmp_path: Path) -> None:
    """Labelling the first page from memory: a label created on one message must not move
    the keys learnt before it. In taxonomy order ``Auto-reply`` took key 1 from
    ``Billing`` for every later message, so the 1 learnt as Billing put Auto-reply on a
    payment failure."""
    store = make_store(tmp_path)  # Billing, Claims, Claims > Home, Claims > Motor; no model yet
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        first = app.current_mid()
        assert app.session.key_order()[0] == "Billing"
        await pilot.press("l", *"Auto-reply", "enter", "y")  # created, and given to this message
        await settle(app, pilot)
        await pilot.press("space")
        await settle(app, pilot)
        second = app.current_mid()
        assert "1[ ]Billing" in screen_text(app)
        await pilot.press("1", "space")  # 1, as learnt on the first message
        await settle(app, pilot)
    assert reviews(store)[first] == {"Auto-reply": None}
    assert reviews(store)[second] == {"Billing": None}


async def test_first_undo_after_two_toggles_undoes_the_second(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        mid = app.current_mid()
        slots = app.session.key_order()
        await pilot.press("1", "3", "u")
        await settle(app, pilot)
        assert app.session.labels_of(mid) == {slots[0]: None}


async def test_quit_keeps_unconfirmed_edits_and_the_row(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        await pilot.press("j", "j", "j", "1")
        mid = app.current_mid()
        label = app.session.key_order()[0]
        await pilot.press("q")
        await pilot.pause()
    assert app.kept_drafts == 1
    again = app_for(Store(store.path))
    async with running(again, size=SMALL) as pilot:
        await settle(again, pilot)
        assert again.current_mid() == mid and again.cursor_row() == 3
        assert again.session.labels_of(mid) == {label: None}
        await pilot.press("space")
        await settle(again, pilot)
    assert reviews(store)[mid] == {label: None}


async def test_keys_typed_while_the_next_page_comes_wait_for_it(tmp_path: Path) -> None:
    """``s`` then ``1`` typed fast gave the 1 to the submitted page's message and the
    submit wrote it; ``n 1`` gave it to a message of the page being left. Label keys are now
    refused until the next page is shown (held back here until the keys are in)."""
    import threading

    store = make_store(tmp_path)
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        session, mid = app.session, app.current_mid()
        key_2 = session.key_order()[1]
        go = threading.Event()
        retrain, page = session.quick_retrain, session.page
        session.quick_retrain = lambda *a, **k: (go.wait(30), retrain(*a, **k))[1]
        session.page = lambda *a, **k: (go.wait(30), page(*a, **k))[1]
        await pilot.press("1", "s")
        for _ in range(100):
            await pilot.pause(0.05)
            if isinstance(app.screen, ConfirmScreen):
                break
        await pilot.press("n")  # leave the untouched unreviewed
        for _ in range(100):
            await pilot.pause(0.05)
            if mid in reviews(store):
                break
        await pilot.press("2", "space", "l")  # the page is written, the next not yet shown
        assert not isinstance(app.screen, LabelPickerScreen)
        assert key_2 not in session.labels_of(mid) and key_2 not in reviews(store)[mid]
        go.set()
        await settle(app, pilot)
        assert not any(session.labels_of(m) for m in app.page_mids)
        go.clear()
        shown, row = list(app.page_mids), app.cursor_row()
        await pilot.press("n", "1", "a")  # the next page is loading
        assert not any(session.labels_of(m) for m in shown) and app.cursor_row() == row
        go.set()
        await settle(app, pilot)
        assert app.page_mids != shown and not any(session.labels_of(m) for m in app.page_mids)


async def test_a_page_that_fails_to_load_leaves_the_keys_working(tmp_path: Path) -> None:
    """Label keys wait while a page loads: a load that fails must say so and end the wait."""
    store = make_store(tmp_path)
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        mid, label = app.current_mid(), app.session.key_order()[0]

        def broken(*_args: object, **_kwargs: object) -> list[int]:
            raise RuntimeError("the disk went away")

        app.session.page = broken
        await pilot.press("n")
        for _ in range(100):
            await pilot.pause(0.05)
            if not app.page_busy:
                break
        assert any("could not show the page: the disk went away" in n for n in notes(app))
        await pilot.press("1")
        assert app.session.labels_of(mid) == {label: None}


async def test_a_submit_that_fails_keeps_the_page_and_its_edits(tmp_path: Path) -> None:
    """A submit that failed with anything but a store error (here the disk) ended the
    submit's worker, and with it the app (a confirmation's failed without a word): each
    now says NOT SAVED, and the page stays, its edits on it, the label keys working."""
    store = make_store(tmp_path)
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        shown, mid, label = list(app.page_mids), app.current_mid(), app.session.key_order()[0]

        def refused(*_args: object, **_kwargs: object) -> int:
            raise OSError("No space left on device")

        app.session.submit = refused
        await pilot.press("1", "s")
        for _ in range(100):
            await pilot.pause(0.05)
            if isinstance(app.screen, ConfirmScreen):
                break
        await pilot.press("n")
        for _ in range(100):
            await pilot.pause(0.05)
            if any("NOT SAVED" in n for n in notes(app)):
                break
        await app.workers.wait_for_complete()  # (settle() fails on an error notice)
        await pilot.pause(0.2)
        assert any("NOT SAVED: No space left on device" in n for n in notes(app))
        assert app.page_mids == shown and app.session.labels_of(mid) == {label: None}
        await pilot.press("j", "1")  # the page takes edits again
        assert app.session.labels_of(app.current_mid()) == {label: None}
        app.session.confirm = refused
        await pilot.press("space")  # a confirmation that fails is said too (it was silent)
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        assert len([n for n in notes(app) if "NOT SAVED" in n]) == 2
        app.session.undo = refused
        await pilot.press("u")
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        assert "could not undo: No space left on device" in notes(app)


async def test_typing_past_the_last_row_does_not_undo_its_label(tmp_path: Path) -> None:
    """``9 space`` once more than the page has rows took the 9 back off the last message
    and confirmed it with no label. After the last row is confirmed the next label key
    says so and does nothing; the same key again, or after moving, works as ever."""
    store = make_store(tmp_path)
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        last, label = app.page_mids[-1], app.session.key_order()[0]
        app.query_one(MessageList).move_cursor(row=len(app.page_mids) - 1)
        await pilot.press("1", "space", "1", "space")
        await settle(app, pilot)
        assert reviews(store)[last] == {label: None} and app.current_mid() == last
        await pilot.press("1")  # asked again: the second space confirmed the last row again
        assert app.session.labels_of(last) == {label: None}
        await pilot.press("1")  # the same key again: the last message, as asked
        assert app.session.labels_of(last) == {}
        await pilot.press("k", "j", "1")  # moved away and back: no question
        assert app.session.labels_of(last) == {label: None}
        await pilot.press("space", "s")  # s after the last row, as the notice says: it submits
        for _ in range(100):
            await pilot.pause(0.05)
            if isinstance(app.screen, ConfirmScreen):
                break
        assert isinstance(app.screen, ConfirmScreen)  # the untouched rows: leave them or not


async def test_edits_are_kept_without_quitting(tmp_path: Path) -> None:
    """Kept only on quit, a dropped SSH connection (the app hung up, no quit) lost every
    unconfirmed edit of the page: they are kept a moment after each edit."""
    store = make_store(tmp_path)
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        await pilot.press("j", "1")
        mid, label = app.current_mid(), app.session.key_order()[0]
        kept = None
        for _ in range(100):  # the keeping waits a moment for the next edit
            await pilot.pause(0.05)
            kept = Store(store.path).session_state("d", app.annotator)
            if kept is not None and mid in kept.drafts:
                break
        assert kept is not None and kept.drafts[mid] == {label: None} and kept.cursor == 1


async def test_pages_stay_as_they_were(tmp_path: Path) -> None:
    store = make_store(tmp_path, n=120, labelled=30)
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        await pilot.press("s", "y")
        await settle(app, pilot)
        assert app.page.mode == "low-confidence"
        first = list(app.page_mids)
        await pilot.press("1")
        await pilot.press("n")
        await settle(app, pilot)
        second = list(app.page_mids)
        assert not set(first) & set(second)
        await pilot.press("p")
        await settle(app, pilot)
        assert app.page_mids == first and app.session.is_edited(first[0])


async def test_the_body_has_room_and_scrolls_at_80x24(tmp_path: Path) -> None:
    store = make_store(tmp_path, n=90, labelled=30)
    long_body = "\n".join(f"line {i} of a long email" for i in range(60))
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        row = app.session.rows([app.current_mid()])[0]
        row.body = long_body
        app.refresh_message()
        await pilot.pause()
        scroll = app.query_one("#message-scroll")
        assert scroll.region.height >= 7
        assert app.query_one("#message-head").region.height == 1
        await pilot.press("J", "J")
        await pilot.pause()
        assert scroll.scroll_y > 0
        assert app.query_one("#message-head").region.y < scroll.region.y  # the header stays
    app60 = app_for(store)
    async with running(app60, size=(60, 20)) as pilot:
        await settle(app60, pilot)
        assert app60.query_one("#message-scroll").region.height >= 4


async def test_the_picker_puts_the_label_typed_first(tmp_path: Path) -> None:
    """In key order alone, typing "renewal" and enter toggled ``Claims > Renewal``, created
    before ``Renewal``; then a label whose level starts with what was typed."""
    store = make_store(tmp_path)
    store.add_labels("d", ["Claims > Renewal", "Renewal", "Pre-renewal"])
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        mid = app.current_mid()
        await pilot.press("l", *"renewal", "enter")
        await settle(app, pilot)
        assert app.session.labels_of(mid) == {"Renewal": None}
        app.notify("a notice that would cover the list")
        await pilot.press("l", *"ren")
        await pilot.pause()
        assert not app._notifications  # cleared as the picker opens
        options = app.screen.query_one("#picker-options")
        order = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert order == ["Claims > Renewal", "Renewal", "Pre-renewal", NEW_LABEL]  # words starting "ren", in key order
        await pilot.press(*["backspace"] * 3, *"claims ren")  # each word anywhere
        await pilot.pause()
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == ["Claims > Renewal", NEW_LABEL]


async def test_a_new_path_typed_in_the_picker_is_not_another_label(tmp_path: Path) -> None:
    """Typing ``Card > Cancel`` and enter toggled ``Card > Payment cancelled`` (each word
    matched): the enter meant to create a label gave another one. A path no label begins
    with now highlights the new-label line; a filter still toggles what it found."""
    store = make_store(tmp_path)
    store.add_labels("d", ["Card > Payment cancelled"])
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        mid = app.current_mid()
        await pilot.press("l", *"Card > Cancel", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and app.session.labels_of(mid) == {}
        await pilot.press("y")
        await settle(app, pilot)
        assert app.session.labels_of(mid) == {"Card > Cancel": None}
        await pilot.press("l", *"card > pay", "enter")  # a path that begins a label: that label
        await settle(app, pilot)
        assert set(app.session.labels_of(mid)) == {"Card > Cancel", "Card > Payment cancelled"}
        await pilot.press("l", *"payment", "enter")  # a filter: what it found, the new line last
        await settle(app, pilot)
        assert app.session.labels_of(mid) == {"Card > Cancel": None}
        await pilot.press("l", *"CARD > CANCEL")  # a label's name in another case: no new line
        await pilot.pause()
        options = app.screen.query_one("#picker-options")
        order = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert order == ["Card > Cancel", "Card > Payment cancelled"]
        await pilot.press("escape", "l", *"card>cancel", "enter")  # levels spaced as names are
        await settle(app, pilot)
        assert app.session.labels_of(mid) == {}


async def test_labels_show_an_unambiguous_path_and_implied_parents(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.add_label("d", "Quote > Home")
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        mid = app.current_mid()
        number = app.session.key_order().index("Claims > Home") + 1
        await pilot.press(str(number))
        cell = str(app.query_one(MessageList).get_row_at(0)[3])
        assert "Claims›Home" in cell
        chips = " ".join(str(c) for c, _ in app.chips(mid))
        assert "[x]Claims›Home" in chips and " [^]Claims" in chips  # implied; no key of its own
        assert "Claims" not in app.session.key_order()  # made for its children: no key
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, LabelPickerScreen)
        text = screen_text(app)
        assert "[^] Claims" in text and "[x] Claims > Home" in text


async def test_resizing_follows_the_new_size(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        main = app.query_one("#main")
        assert main.has_class("stacked")
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert not main.has_class("stacked")
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert main.has_class("stacked")
        assert app.query_one(MessageView).region.width == 80


async def test_footer_and_meter_fit_at_80_columns(tmp_path: Path) -> None:
    store = make_store(tmp_path, n=90, labelled=30)
    app = app_for(store)
    async with running(app, size=SMALL, notifications=True) as pilot:
        await settle(app, pilot)
        lines = screen_text(app).splitlines()
        assert "q Quit" in lines[-1] and "Submit" in lines[-1] and "Scroll" in lines[-1]
        meter = lines[-2]
        assert "reviewed" in meter and "inf" in meter and "%" in meter
        app.notify("a notification")
        await pilot.pause(0.3)
        toast = app.screen.query("Toast").first()
        assert toast.region.bottom <= app.query_one(CoverageMeter).region.y


async def test_validation_holds_back_figures_of_small_labels(tmp_path: Path) -> None:
    store = make_store(tmp_path, n=90, labelled=30)
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        await pilot.press("v")
        await pilot.pause()
        assert isinstance(app.screen, ValidationScreen)
        text = screen_text(app)
        assert "needs 15" in text  # 10 examples each of 25
        assert "MAP -" in text and "MAP 100%" not in text
        assert "amber: few, t" in text
        assert "inf" in text


async def test_meter_change_reviewed_count_and_page_counter(tmp_path: Path) -> None:
    store = make_store(tmp_path, n=90)
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        meter = app.query_one(CoverageMeter)
        for _ in range(3):
            await pilot.press("1", "space")
        await settle(app, pilot)
        assert meter.figures.reviewed == 3  # before any submit
        assert "1 submitted" not in status_text(app)
        await pilot.press("s", "y")
        await settle(app, pilot)
        assert "1 submitted" in status_text(app)
        figures = meter.figures
        assert figures.coverage is not None and figures.change == pytest.approx(figures.coverage)
        assert "±0.0" not in meter.line(80) or figures.coverage == 0
        assert "(-0.0)" not in meter.line(80)
        # the expected coverage beside the thresholded one, from the same validation
        expected = app.session.state.report["coverage_expected"]
        assert figures.expected == expected and 0 < expected <= 1
        assert f"expected {expected * 100:.1f}%" in meter.line(120)
        assert f"exp {expected * 100:.0f}%" in meter.line(80)


async def test_mode_change_is_said_and_random_picks_are_marked(tmp_path: Path) -> None:
    store = make_store(tmp_path, n=120, labelled=30)
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        await pilot.press("s", "y")
        await settle(app, pilot)
        assert app.page.mode == "low-confidence"
        assert any("Low confidence" in n for n in notes(app))
        marks = [str(app.query_one(MessageList).get_row_at(i)[0]) for i in range(len(app.page_mids))]
        picked = [m for m in app.page_mids if m in app.session.random_picks]
        assert picked and marks.count("r") == len(picked)


async def test_search_submit_shows_the_next_results(tmp_path: Path) -> None:
    store = make_store(tmp_path, n=150, labelled=30)
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        app.start_mode("search", "message")
        await settle(app, pilot)
        first = list(app.page_mids)
        await pilot.press("s", "y")
        await settle(app, pilot)
        assert app.page.mode == "search" and app.page_mids and not set(app.page_mids) & set(first)


async def test_palette_lists_cmtui_commands_first(tmp_path: Path) -> None:
    store = make_store(tmp_path, n=90, labelled=30)
    app = app_for(store)
    async with running(app, size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause(0.5)
        options = app.screen.query_one("CommandList")
        first = str(options.get_option_at_index(0).prompt)
        assert first.startswith("Mode:"), first
        await pilot.press("escape")
        await pilot.press("m")
        await pilot.pause()
        app.screen.query_one("#mode-options").highlighted = 2  # Teach: needs a label
        await pilot.press("enter")
        await pilot.pause()
        assert "new label" not in app.screen.query_one("#picker-filter").placeholder


async def test_help_shows_remapped_keys_and_unknown_ids_are_refused(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    with pytest.raises(UnknownKeyId, match="'sumbit'.*submit"):
        CmtuiApp(Workspace(store, "tester"), "d", keymap={"sumbit": "ctrl+s"})
    app = CmtuiApp(Workspace(store, "tester"), "d", keymap={"submit": "ctrl+s"})
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        text = screen_text(app)
        assert "ctrl+s" in text
        assert not any(line.rstrip().endswith("Pare") for line in text.splitlines())


async def test_end_key_in_the_datasets_table(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    for name in ("e", "f", "g"):
        store.create_dataset(name)
    app = app_for(store)
    async with running(app, size=SMALL) as pilot:
        await settle(app, pilot)
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("end")
        table = app.screen.query_one("#datasets-table")
        assert table.cursor_row == table.row_count - 1
        await pilot.press("home")
        assert table.cursor_row == 0


def test_chips_never_break_and_assigned_ones_always_show() -> None:
    from rich.text import Text

    from cmtui.tui.widgets import pack

    chips = [(Text(f"{i}[ ]Label number {i}"), False) for i in range(1, 10)] + [(Text("[x]Far away"), True)]
    text, hidden = pack(chips, 40, 2)
    lines = str(text).split("\n")
    assert len(lines) == 2 and all(len(line) <= 40 for line in lines)
    assert "[x]Far away" in str(text) and hidden > 0
    assert all(f"Label number {i}" in str(text) or f"{i}[ ]" not in str(text) for i in range(1, 10))


def test_short_names_are_unambiguous() -> None:
    from cmtui.taxonomy import short_names

    names = short_names(["Claims", "Claims > New claim", "Claims > New claim > Home", "Quote", "Quote > Home",
                         "Billing > Refund request"])
    assert names["Claims > New claim > Home"] == "New claim›Home"
    assert names["Quote > Home"] == "Quote›Home"
    assert names["Billing > Refund request"] == "Refund request"
    assert len(set(names.values())) == len(names)


async def test_number_keys_are_the_same_on_every_message_and_need_no_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys once went to each message's predictions first (its likeliest label on 1), and
    waited for the first model after opening: pressed from memory, 1 gave whatever the
    model liked best on each message. Now 1 is the first label of the taxonomy, on every
    message, while the model trains and after it."""
    import threading

    from cmtui.session import Session

    store = make_store(tmp_path, n=90, labelled=30)
    release = threading.Event()
    quick_retrain = Session.quick_retrain

    def held(self: Session, *args: object, **kwargs: object) -> object:
        release.wait(30)
        return quick_retrain(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Session, "quick_retrain", held)
    app = app_for(store)
    first_label = sorted(store.labels("d"))[0]
    async with running(app, size=SMALL) as pilot:
        for _ in range(400):
            await pilot.pause(0.05)
            if app.session is not None and app.page_mids:
                break
        assert app.session.state.model is None and "1[ ]" + first_label in screen_text(app)
        await pilot.press("1")  # no waiting for the model
        assert app.session.labels_of(app.current_mid()) == {first_label: None}
        await pilot.press("1")
        release.set()
        await settle(app, pilot)
        page = app.page_mids[:8]
        assert len({app.session.predictions_of(m)[0][0] for m in page}) > 1  # likeliest labels differ
        for _ in page:
            await pilot.press("1", "space")
            await settle(app, pilot)
    got = reviews(store)
    assert all(got[m] == {first_label: None} for m in page)


async def test_an_empty_page_says_why_and_where_to_go(tmp_path: Path) -> None:
    """A gold set imported as reviewed opened on "No message on this page." and nothing else."""
    store = make_store(tmp_path, n=30, labelled=30)
    app = app_for(store)
    async with running(app, size=(120, 40)) as pilot:
        for _ in range(200):
            await pilot.pause(0.05)
            if app.session is not None and not app.workers._workers and "reviewed" in all_text(app):
                break
        assert "Every message is reviewed: Check label and Missed label (m)" in all_text(app)
        await pilot.press("slash")  # the picker opens on a page without messages: the taxonomy
        await pilot.pause()
        assert isinstance(app.screen, LabelPickerScreen)
        await pilot.press(*"Renewal", "enter", "y")  # a label made, given to no message
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "Renewal" in app.session.labels and "Renewal" in app.session.key_order()
    (tmp_path / "none").mkdir()
    store = make_store(tmp_path / "none", n=30)  # nothing reviewed: Missed label has nothing to go over
    app = app_for(store)
    async with running(app, size=(120, 40)) as pilot:
        await settle(app, pilot)
        app.load_page("missed-label", "Billing", 0)
        for _ in range(100):
            await pilot.pause(0.05)
            if "Nothing reviewed yet" in all_text(app):
                break
        assert "Nothing reviewed yet: Missed label goes over the reviews" in all_text(app)


async def test_next_page_stops_at_the_empty_one(tmp_path: Path) -> None:
    """``n`` past the end went on to page 11, 12... of nothing, and each took a ``p`` back."""
    store = make_store(tmp_path, n=30)
    app = app_for(store)
    async with running(app, size=(120, 40)) as pilot:
        await settle(app, pilot)
        for _ in range(4):  # settle() waits for a page with messages: the last one has none
            await pilot.press("n")
            for _ in range(100):
                await pilot.pause(0.05)
                if not app.page_busy:
                    break
        assert app.page.number == 2 and not app.page_mids and "No more messages" in all_text(app)
        await pilot.press("p")
        await settle(app, pilot)
        assert app.page.number == 1 and len(app.page_mids) == 10


async def test_minus_makes_the_label_just_given_negative(tmp_path: Path) -> None:
    """On a dataset with sentiment a number gave its label positive; negative took the
    picker, the label's name and ctrl+g."""
    from cmtui.cli import main
    from tests.conftest import write

    lines = ["id,timestamp,subject,body"] + [f"m{i},2024-02-0{1 + i % 9}T09:00:00Z,S {i},body {i}" for i in range(30)]
    db = tmp_path / "s.duckdb"
    assert main(["import", str(write(tmp_path / "s.csv", "\n".join(lines) + "\n")), "--dataset", "d",
                 "--db", str(db), "--sentiment"]) == 0
    store = Store(db)
    store.add_labels("d", ["Service", "Price"])
    app = app_for(store)
    async with running(app, size=(120, 40)) as pilot:
        await settle(app, pilot)
        mid = app.current_mid()
        await pilot.press("1", "minus")
        assert app.session.labels_of(mid) == {"Service": -1}
        await pilot.press("2", "minus", "minus")  # the label just given; twice: positive again
        assert app.session.labels_of(mid) == {"Service": -1, "Price": 1}
        await pilot.press("minus")
        assert app.session.labels_of(mid) == {"Service": -1, "Price": -1}
        assert "[x]-Service" in " ".join(str(c) for c, _ in app.chips(mid))
        assert str(app.query_one(MessageList).get_row_at(0)[3]).startswith("-Service, -Price")  # the list too
        await pilot.press("u")  # one step back: Price positive again
        assert app.session.labels_of(mid) == {"Service": -1, "Price": 1}
        await pilot.press("down", "minus")  # nothing given here yet
        assert any("number first" in n for n in notes(app))
