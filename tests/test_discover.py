"""Discover: clusters recover known groups, in any script; the screen labels a cluster at a time."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cmtui import discover
from cmtui.cli import main
from cmtui.features import hash_texts, tfidf, words
from cmtui.session import Session
from cmtui.store import Store
from tests.conftest import write

GROUPS = {
    "motor": "car crash motorway bumper windscreen garage repair vehicle",
    "home": "water leak kitchen roof storm burglary flood house",
    "billing": "invoice payment refund charged card premium direct debit",
    "travel": "flight cancelled luggage lost airport holiday abroad",
    "zh": "我的汽车坏了需要理赔保险公司",
    "ja": "車が壊れました保険の請求をお願いします",
    "ru": "Привет мне нужна помощь с моим счётом оплата",
    "el": "Γειά σας θέλω επιστροφή χρημάτων για την κράτηση",
    "ar": "مرحبا أريد استرداد المبلغ من الحجز",
}
AUTO_REPLY = "I am out of the office until Monday. This is an automatic reply."


def fixture_texts(per_group: int = 40, auto_replies: int = 200) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(0)
    filler = ["please", "help", "thanks", "today", "hello", "regards"]
    texts, truth = [], []
    for group, vocab in GROUPS.items():
        for _ in range(per_group):
            if " " in vocab:
                text = " ".join(rng.choice(vocab.split(), 6)) + " " + " ".join(rng.choice(filler, 3))
            else:  # written without spaces
                text = "".join(rng.choice(list(vocab), 12))
            texts.append(text)
            truth.append(group)
    texts += [AUTO_REPLY] * auto_replies
    truth += ["auto"] * auto_replies
    return texts, truth


def test_every_script_gets_features_and_accents_meet() -> None:
    for group, text in GROUPS.items():
        assert words(pl.Series([text])).to_list()[0], group
        assert hash_texts(pl.Series([text])).nnz > 0, group
    assert words(pl.Series(["Café CRÈME déjà"])).to_list() == [["cafe", "creme", "deja"]]
    japanese = words(pl.Series(["保険が"])).to_list()[0]
    assert japanese == ["保", "険", "が"]  # character tokens; the voiced kana keeps its mark
    plain, accented = hash_texts(pl.Series(["resume", "résumé"]))
    assert (plain != accented).nnz == 0


def test_clusters_recover_known_groups_and_a_repeated_reply_is_one_cluster() -> None:
    texts, truth = fixture_texts()
    x, _ = tfidf(hash_texts(pl.Series(texts)))
    corpus = discover.fit_corpus(x)
    clusters = discover.build(corpus.vectors, np.arange(len(texts)), lambda rows: [texts[r] for r in rows],
                              k=len(GROUPS) + 1)
    found = {}
    for cluster in clusters:
        groups = {truth[r] for r in cluster.rows}
        assert len(groups) == 1, groups  # every shown message of a cluster is of one group
        found[groups.pop()] = cluster
    assert set(found) == {*GROUPS, "auto"}  # each group recovered, in every script
    auto = found["auto"]
    assert auto.rows and len(auto.rows) == 1 and auto.copies == [200]  # shown once, with its count
    assert auto.size == 200
    assert {"office", "automatic"} <= set(auto.terms)
    assert {"windscreen", "motorway"} & set(found["motor"].terms)
    assert all(discover.MIN_TERMS <= len(c.terms) <= discover.MAX_TERMS for c in clusters)
    assert all(len(c.rows) <= discover.SHOWN for c in clusters)


def test_new_messages_are_projected_and_a_large_growth_refits() -> None:
    texts, _ = fixture_texts(per_group=20, auto_replies=0)
    x, _ = tfidf(hash_texts(pl.Series(texts)))
    corpus = discover.fit_corpus(x[::2])
    added = discover.project(x[1::2], corpus.columns, corpus.components)  # the same groups: known words
    assert added.shape == (len(texts) // 2, corpus.vectors.shape[1])
    assert np.allclose(np.linalg.norm(added, axis=1), 1, atol=1e-4)
    unknown = discover.project(tfidf(hash_texts(pl.Series(["zzz qqq"])))[0], corpus.columns, corpus.components)
    assert not unknown.any()  # no known word: no direction, not a division by zero
    assert discover.needs_refit(corpus, len(texts))  # 180 on 90: grown by more than half
    assert not discover.needs_refit(corpus, 120)


def discover_store(tmp_path: Path) -> Store:
    texts, _ = fixture_texts(per_group=30, auto_replies=50)
    rows = ["id,timestamp,subject,body"]
    for i, text in enumerate(texts):
        rows.append(f"m{i:04d},2024-01-{1 + i % 28:02d}T10:00:00Z,msg {i},\"{text}\"")
    db = tmp_path / "d.duckdb"
    assert main(["import", str(write(tmp_path / "d.csv", "\n".join(rows) + "\n")), "--dataset", "d",
                 "--db", str(db)]) == 0
    return Store(db)


def test_session_caches_clusters_and_a_submitted_cluster_is_handled(tmp_path: Path) -> None:
    store = discover_store(tmp_path)
    session = Session.open(store, "d", "ann")
    assert session.clusters() is None and session.discover_due()
    made = session.discover(clusters=10)
    assert made.candidates == len(session.mids) and not made.uncovered
    again = Session.open(store, "d", "ann")  # read back from the cache, not clustered again
    cached = again.clusters()
    assert cached is not None and [c.rows for c in cached.clusters] == [c.rows for c in made.clusters]
    first = next(c for c in cached.open() if len(c.rows) >= 3)
    page = again.page("discover", str(first.id))
    assert page == first.rows
    name = again.add_label("Group")
    for mid in page[:-1]:  # the last one does not fit: left unreviewed
        again.toggle(mid, name)
    again.submit(page, "discover", untouched=False)
    assert first.id not in {c.id for c in again.clusters().open()}  # type: ignore[union-attr]
    assert set(page[:-1]) <= set(again.reviewed) and page[-1] not in again.reviewed
    again.undo()
    assert first.id in {c.id for c in again.clusters().open()}  # type: ignore[union-attr]


def test_discover_command_prints_clusters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = discover_store(tmp_path)
    capsys.readouterr()  # the import's line
    assert main(["discover", "--db", str(store.path), "--dataset", "d", "--clusters", "10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["clusters"]) == 10
    assert all(c["messages"] and c["terms"] for c in out["clusters"])
    assert sum(m["copies"] for c in out["clusters"] for m in c["messages"]) <= out["candidates"]
    assert main(["discover", "--db", str(store.path), "--dataset", "d", "--clusters", "0"]) == 2


async def test_discover_screen_selects_labels_and_submits_a_cluster(tmp_path: Path) -> None:
    from cmtui.tui.app import CmtuiApp
    from cmtui.tui.discover import DiscoverScreen
    from cmtui.tui.screens import ConfirmScreen, LabelPickerScreen
    from cmtui.workspace import Workspace
    from tests.test_tui import running, settle

    store = discover_store(tmp_path)
    app = CmtuiApp(Workspace(store, "tester"), "d")
    async with running(app, size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("c")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DiscoverScreen) and screen.cluster is not None
        while len(screen.cluster.rows) < 3:  # a cluster with a few messages
            await pilot.press("down")
            await pilot.pause()
        cluster = screen.cluster
        await pilot.press("tab")  # to its messages
        await pilot.press("x")  # the first does not fit
        assert screen.chosen() == cluster.rows[1:]
        await pilot.press("A")  # some off: all on
        assert screen.chosen() == cluster.rows
        await pilot.press("A")  # all on: all off
        assert screen.chosen() == []
        await pilot.press("A")
        assert screen.chosen() == cluster.rows
        await pilot.press("up", "x")
        await pilot.resize_terminal(120, 40)  # a resize keeps the cluster and what is selected
        await pilot.pause(0.2)
        assert screen.cluster is cluster and screen.chosen() == cluster.rows[1:]
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, LabelPickerScreen)
        await pilot.press(*"Found", "ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert all(app.session.labels_of(m) == {"Found": None} for m in cluster.rows[1:])
        assert not app.session.labels_of(cluster.rows[0])  # deselected: left alone
        await pilot.press("u")  # one step: the label comes off every message it went to
        await pilot.pause()
        assert not any(app.session.labels_of(m) for m in cluster.rows)
        await pilot.press("l", *"Found", "enter")  # given again, from the picker
        await pilot.pause()
        assert [m for m in cluster.rows if app.session.labels_of(m)] == cluster.rows[1:]
        await pilot.press("s")  # open the cluster's page and submit it
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)  # the untouched one: reviewed or not?
        await pilot.press("n")
        await settle(app, pilot)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, DiscoverScreen)  # back to the clusters
        assert cluster.id not in {c.id for c in app.screen.session.clusters().open()}  # type: ignore[union-attr]
    saved = Store(store.path).effective_reviews("d")[0]
    assert {m for m in cluster.rows if m in saved} == set(cluster.rows[1:])
    assert all(saved[m] == {"Found": None} for m in cluster.rows[1:])


def test_snapshot_discover_screen(tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    from textual.pilot import Pilot

    from cmtui.tui.app import CmtuiApp
    from cmtui.workspace import Workspace
    from tests.test_tui import settle

    store = discover_store(tmp_path)
    app = CmtuiApp(Workspace(store, "tester"), "d")

    async def before(pilot: Pilot) -> None:  # type: ignore[type-arg]
        await settle(app, pilot)
        app.clear_notifications()
        await pilot.press("c")
        await app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=before)


def test_the_representation_is_fitted_again_once_the_dataset_grew_by_half(tmp_path: Path) -> None:
    from cmtui.discovering import Discoverer

    session = Session.open(discover_store(tmp_path), "d", "ann")
    first = Discoverer(session.store, "d", session.mids, session.bits, 0).corpus(session.x)
    assert first.fitted_on == len(session.mids)
    reopened = Discoverer(session.store, "d", session.mids, session.bits, 0)
    assert np.allclose(reopened.corpus(session.x).vectors, first.vectors, atol=1e-2)  # from the cache
    # a cache fitted when the dataset had a third of its messages, the rest projected since
    stale = Discoverer(session.store, "d", session.mids, session.bits, 0)
    stale._write_corpus(discover.Corpus(first.columns, first.components, first.vectors, len(session.mids) // 3))
    assert Discoverer(session.store, "d", session.mids, session.bits, 0).corpus(session.x).fitted_on == len(
        session.mids)


def test_a_representation_of_other_features_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cmtui import features
    from cmtui.discovering import Discoverer

    session = Session.open(discover_store(tmp_path), "d", "ann")
    fitted = Discoverer(session.store, "d", session.mids, session.bits, 0).corpus(session.x)
    # a cache from features of fewer messages, as if another tokenizer had made it
    Discoverer(session.store, "d", session.mids, session.bits, 0)._write_corpus(
        discover.Corpus(fitted.columns[:1], fitted.components[:1], fitted.vectors, len(session.mids)))
    monkeypatch.setattr(features, "_ACCENTED", features._ACCENTED + "|x")  # the tokenizer changed
    again = Discoverer(session.store, "d", session.mids, session.bits, 0).corpus(session.x)
    assert len(again.columns) == len(fitted.columns)  # fitted anew, the other cache left unread


def test_terms_are_read_from_the_text_the_features_see(tmp_path: Path) -> None:
    body = "My windscreen cracked.\n> quotedword from the earlier mail\n-- \nsignatureword"
    path = write(tmp_path / "q.csv", f'id,timestamp,subject,body\nq1,2024-01-01T10:00:00Z,Car,"{body}"\n')
    db = tmp_path / "q.duckdb"
    assert main(["import", str(path), "--dataset", "d", "--db", str(db)]) == 0
    session = Session.open(Store(db), "d", "ann")
    (text,) = session._texts_of([int(session.mids[0])])
    assert "windscreen" in text and "quotedword" not in text and "signatureword" not in text


def test_a_discover_start_seeds_every_group_in_proportion(tmp_path: Path) -> None:
    from cmtui.simulate import discover_seed

    store = discover_store(tmp_path)
    _texts, truth = fixture_texts(per_group=30, auto_replies=50)
    session = Session.open(store, "d", "ann")
    group_of = {int(mid): truth[int(rid[1:])] for mid, rid in zip(session.mids, session.ids, strict=True)}
    seed = discover_seed(session, 40)
    assert len(seed) == len(set(seed)) == 40
    clusters = session.clusters().open()  # type: ignore[union-attr]
    taken = [sum(m in c.rows for m in seed) for c in clusters]
    for cluster, count in zip(clusters, taken, strict=True):
        assert count, cluster  # every cluster is in it (40 picks, fewer clusters)
        assert [m for m in seed if m in cluster.rows] == cluster.rows[:count]  # its most central first
    # shared by size: a cluster twice the size of another has at least as many picks
    assert all(a >= b for (ca, a) in zip(clusters, taken, strict=True) for (cb, b) in zip(clusters, taken, strict=True)
               if ca.size >= 2 * cb.size and len(ca.rows) > a)
    assert {group_of[m] for m in seed} == set(truth)
    rng = np.random.default_rng(0)
    random_hits = [len({group_of[int(m)] for m in rng.permutation(session.mids)[:len(clusters)]}) for _ in range(20)]
    assert min(random_hits) < len(set(truth))  # as many picked at random miss a group


async def test_clusters_are_made_again_in_the_background_after_enough_pages(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from cmtui import discovering
    from cmtui.tui.app import CmtuiApp
    from cmtui.workspace import Workspace
    from tests.test_tui import make_store, notes, running, settle

    monkeypatch.setattr(discovering, "REFRESH_PAGES", 1)
    store = make_store(tmp_path, n=90, labelled=30)
    Session.open(store, "d", "tester").discover()  # clustered once, before these pages
    app = CmtuiApp(Workspace(store, "tester"), "d")
    async with running(app, size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert app.session is not None
        before = app.session.clusters()
        assert before is not None and not app.session.discover_due()
        await pilot.press("s", "y")  # one page: due again once the model is validated
        await settle(app, pilot)
        await pilot.pause(0.2)
        await settle(app, pilot)
        after = app.session.clusters()
        assert after is not before and after is not None and after.pages == 0
        assert any(n.startswith("Discover: ") and "new clusters" in n for n in notes(app))


async def test_the_clusters_messages_are_read_before_discover_opens(tmp_path: Path) -> None:
    from cmtui.tui.app import CmtuiApp
    from cmtui.workspace import Workspace
    from tests.test_tui import running, settle

    store = discover_store(tmp_path)
    made = Session.open(store, "d", "tester").discover(clusters=10)
    shown = [m for cluster in made.open() for m in cluster.rows]
    app = CmtuiApp(Workspace(store, "tester"), "d")
    async with running(app, size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert app.session is not None
        assert [r.mid for r in app.session.rows(shown, fetch=False)] == shown  # in memory, no query


def test_one_labelled_cluster_does_not_cover_the_whole_mailbox(tmp_path: Path) -> None:
    session = Session.open(discover_store(tmp_path), "d", "ann")
    first = next(c for c in session.discover(clusters=10).open() if len(c.rows) >= 3)
    name = session.add_label("Group")
    for mid in first.rows:
        session.toggle(mid, name)
    session.submit(first.rows, "discover", untouched=False)
    state = session.retrain(persist=False)
    assert state.informative == [] and state.report["coverage"] == 0  # nothing told apart yet


def test_a_stratified_start_draws_from_every_group_by_size(tmp_path: Path) -> None:
    from cmtui.simulate import stratified_seed

    store = discover_store(tmp_path)
    _texts, truth = fixture_texts(per_group=30, auto_replies=50)
    session = Session.open(store, "d", "ann")
    group_of = {int(mid): truth[int(rid[1:])] for mid, rid in zip(session.mids, session.ids, strict=True)}
    seeds = [stratified_seed(session, 40, seed) for seed in (0, 1)]
    assert all(len(s) == len(set(s)) == 40 for s in seeds) and seeds[0] != seeds[1]  # random within clusters
    for seed in seeds:
        groups = [group_of[m] for m in seed]
        assert set(groups) == set(truth)  # every group
        assert groups.count("auto") >= 4  # the repeated reply is 50 of 320: its share, not one pick


async def test_an_open_discover_screen_follows_a_background_clustering(tmp_path: Path) -> None:
    from cmtui.tui.app import CmtuiApp
    from cmtui.tui.discover import DiscoverScreen
    from cmtui.workspace import Workspace
    from tests.test_tui import running, settle

    store = discover_store(tmp_path)
    Session.open(store, "d", "tester").discover(clusters=10)
    app = CmtuiApp(Workspace(store, "tester"), "d")
    async with running(app, size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("c")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DiscoverScreen) and app.session is not None
        before = app.session.clusters()
        app.refresh_clusters()  # what a validation starts once clusters are due
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        after = app.session.clusters()
        assert after is not before and after is not None
        assert any(screen.cluster is c for c in after.clusters)  # the new clustering is shown


def test_a_cluster_keeps_its_id_and_messages_after_a_new_clustering(tmp_path: Path) -> None:
    """Ids are never reused: a page opened (or a screen still showing) a cluster of the
    clustering before gets that cluster, not the one now at its place."""
    session = Session.open(discover_store(tmp_path), "d", "ann")
    old = session.discover(clusters=10)
    name = session.add_label("Group")
    other, kept = old.open()[0], next(c for c in old.open()[1:] if len(c.rows) >= 3)
    for mid in other.rows:
        session.toggle(mid, name)
    session.submit(other.rows, "discover", untouched=False)
    new = session.discover(clusters=10)  # what a validation starts in the background
    assert not {c.id for c in old.clusters} & {c.id for c in new.clusters}
    assert session.discoverer.cluster(kept.id) is kept
    assert session.page("discover", str(kept.id)) == kept.rows
    for mid in kept.rows:
        session.toggle(mid, name)
    session.submit(kept.rows, "discover", untouched=False)
    assert kept.handled  # the page's own cluster (and a new one showing the same messages)
    assert all(c.rows == kept.rows for c in new.clusters if c.handled)
    session.undo()
    assert not kept.handled


async def test_a_background_clustering_leaves_the_cluster_being_labelled(tmp_path: Path) -> None:
    """Found using the app: new clusters arrived while the picker was open; the label
    went to the cluster shown, then s opened the new clustering's cluster of the same
    number, whose untouched messages the submit offered to review as having no label."""
    from cmtui.tui.app import CmtuiApp
    from cmtui.tui.discover import DiscoverScreen
    from cmtui.tui.screens import ConfirmScreen, LabelPickerScreen
    from cmtui.workspace import Workspace
    from tests.test_tui import running, settle

    store = discover_store(tmp_path)
    made = Session.open(store, "d", "tester").discover(clusters=10)
    app = CmtuiApp(Workspace(store, "tester"), "d")
    async with running(app, size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert app.session is not None
        first = made.open()[0]  # reviewed before the next clustering, so it differs
        app.session.submit(first.rows, "discover", untouched=True)
        await pilot.press("c")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DiscoverScreen) and screen.cluster is not None
        while len(screen.cluster.rows) < 3:
            await pilot.press("down")
            await pilot.pause()
        cluster = screen.cluster
        await pilot.press("tab", "x", "l")  # the first does not fit; the rest get a label
        await pilot.pause()
        assert isinstance(app.screen, LabelPickerScreen)
        app.refresh_clusters()  # a validation's re-clustering ends while the picker is open
        await app.workers.wait_for_complete()
        await pilot.pause()
        after = app.session.clusters()
        assert after is not made and after is not None and cluster not in after.clusters
        await pilot.press(*"Found", "ctrl+n", "y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is screen and screen.cluster is cluster
        assert "new clusters ready" in str(screen.query_one("#discover-title").render())
        assert [m for m in cluster.rows if app.session.labels_of(m)] == cluster.rows[1:]
        await pilot.press("s")  # the cluster shown, with the one left out
        for _ in range(100):
            await pilot.pause(0.05)
            if isinstance(app.screen, ConfirmScreen):
                break
        assert isinstance(app.screen, ConfirmScreen) and set(app.page_mids) == set(cluster.rows)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, DiscoverScreen) and app.screen.shown is after  # reopened: the new ones
