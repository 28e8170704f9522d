from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cmtui import metrics, queues
from cmtui.cli import main
from cmtui.session import LabelImplied, ModelState, Session
from cmtui.store import Store
from cmtui.trainer import Likeness
from tests.conftest import write

TOPICS = {
    "Claims > Motor": ["car crash on the motorway", "my car was hit while parked", "windscreen cracked by a stone"],
    "Claims > Home": ["water leak in the kitchen", "burglary at the house", "storm damaged the roof tiles"],
    "Billing": ["payment failed this month", "refund my premium please", "charged twice on my card"],
}


def make_dataset(tmp_path: Path, n: int = 240, reviewed: int = 120) -> Store:
    rng = np.random.default_rng(3)
    rows = ["id,timestamp,subject,body,labels,reviewed"]
    names = list(TOPICS)
    for i in range(n):
        label = names[i % 3]
        phrase = TOPICS[label][rng.integers(3)]
        filler = " ".join(rng.choice(["please", "help", "thanks", "today", "policy", "urgent", "hello"], 4))
        rows.append(f"m{i:04d},2024-01-{1 + i % 28:02d}T10:{i % 60:02d}:00Z,msg {i},{phrase} {filler},{label},"
                    f"{'true' if i < reviewed else 'false'}")
    path = write(tmp_path / "data.csv", "\n".join(rows) + "\n")
    db = tmp_path / "s.duckdb"
    assert main(["import", str(path), "--dataset", "d", "--db", str(db), "--annotator", "seed"]) == 0
    return Store(db)


@pytest.fixture
def session(tmp_path: Path) -> Session:
    return Session.open(make_dataset(tmp_path), "d", "ann", seed=1)


def test_retrain_learns_and_reports(session: Session) -> None:
    state = session.retrain()
    report = state.report
    assert report["reviewed"] == 120 and report["messages"] == 240
    by_name = {r["name"]: r for r in report["labels"]}
    assert by_name["Billing"]["ap"] > 0.9
    assert report["coverage"] > 0.5
    assert set(state.informative) == {"Billing", "Claims > Motor", "Claims > Home"}
    assert "Claims" not in state.informative  # never used on its own
    assert report["rating_band"] in {"Poor", "Average", "Good", "Excellent"}


def test_retrain_is_deterministic(tmp_path: Path) -> None:
    store = make_dataset(tmp_path)
    first = Session.open(store, "d", "a", seed=1).retrain(persist=False).probs
    second = Session.open(store, "d", "a", seed=1).retrain(persist=False).probs
    assert np.array_equal(first, second)


def test_rebalance_is_shuffle_until_a_validation_fits_its_order(tmp_path: Path) -> None:
    """After a quick retrain alone (a first page submitted) Rebalance has no order yet: it
    gives Shuffle's page, not an error; after a validation, the least reviewed-like first."""
    session = Session.open(make_dataset(tmp_path), "d", "a", seed=1)
    session.quick_retrain()
    assert session.state.model is not None and session.ranked("rebalance") == session.ranked("shuffle")
    session.retrain(persist=False)
    likeness = session.state.reviewed_likeness
    page = [likeness[session.row_of[m]] for m in session.ranked("rebalance")]
    assert page == sorted(page) and page != [likeness[session.row_of[m]] for m in session.ranked("shuffle")]


def test_modes_order(session: Session) -> None:
    session.retrain()
    reviewed = set(session.reviewed)
    for mode in ("shuffle", "low-confidence", "rebalance"):
        page = session.ranked(mode)
        assert len(page) == 20 and not reviewed & set(page), mode
    assert session.ranked("shuffle") == session.ranked("shuffle")  # fixed per session
    # low confidence: the page comes from the worst-covered pool, except explore slots
    scores = session.state.covered_score
    page = session.ranked("low-confidence")
    unreviewed_scores = np.sort([scores[session.row_of[m]] for m in session.mids if m not in reviewed])
    every = round(1 / queues.EXPLORE)
    low_slots = [scores[session.row_of[m]] for i, m in enumerate(page) if (i + 1) % every != 0]
    assert max(low_slots) <= unreviewed_scores[min(queues.POOL_PAGES * 20, len(unreviewed_scores)) - 1]
    assert np.mean(low_slots) < np.mean(unreviewed_scores)
    col = session.state.labels.index("Billing")
    teach = session.ranked("teach", "Billing")
    distances = [abs(session.state.probs[session.row_of[m], col] - 0.5) for m in teach]
    assert distances == sorted(distances)
    label = session.ranked("label", "Billing")
    probs = [session.state.probs[session.row_of[m], col] for m in label]
    assert probs == sorted(probs, reverse=True)
    check = session.ranked("check-label", "Billing")
    assert all("Billing" in session.reviewed[m] for m in check)
    missed = session.ranked("missed-label", "Billing")
    assert all(m in reviewed and "Billing" not in session.reviewed[m] for m in missed)
    recent = session.ranked("recent")
    assert [m not in reviewed for m in recent] == [True] * 20
    assert session.ranked("search", "windscreen")
    with pytest.raises(ValueError):
        session.ranked("teach", "No such label")


def test_low_confidence_page_has_no_near_duplicates(session: Session) -> None:
    session.retrain()
    page = session.ranked("low-confidence")
    rows = [session.row_of[m] for m in page]
    sims = (session.x[rows] @ session.x[rows].T).toarray()
    np.fill_diagonal(sims, 0)
    assert sims.max() <= queues.NEAR_DUPLICATE + 1e-6


def test_label_submit_retrain_and_undo(session: Session) -> None:
    session.retrain()
    page = session.page("low-confidence")
    session.toggle(page[0], "Billing")
    session.toggle(page[1], "Claims > Motor")
    assert session.undo().mids == [page[1]]  # a draft edit is undone first
    assert session.labels_of(page[1]) == {}
    session.confirm([page[0]], "low-confidence")
    assert session.submit(page, "low-confidence", untouched=True) == 19
    assert all(m in session.reviewed for m in page)
    before = session.state.version
    session.retrain()
    assert session.state.version == before + 1
    next_page = session.page("low-confidence")
    assert not set(next_page) & set(page)
    # undo after a restart, from the event log: one step reverts the whole submit
    again = Session.open(session.store, "d", "ann", seed=1)
    undone = again.undo()
    assert undone is not None and undone.kind == "submit"
    assert sorted(undone.mids) == sorted(page[1:])
    assert not set(page[1:]) & set(again.reviewed) and page[0] in again.reviewed
    assert again.drafts == {}  # the submit wrote no labels: none come back
    assert again.undo().mids == [page[0]]  # then the confirmation before it
    assert again.labels_of(page[0]) == {"Billing": None} and page[0] not in again.reviewed


def test_undo_takes_steps_back_in_the_order_they_were_made(session: Session) -> None:
    """A confirmation after an edit of another message is undone first: undo never
    reaches past the step just made to an older edit elsewhere."""
    page = session.page("low-confidence")
    session.toggle(page[0], "Billing")  # an edit left as it is
    session.toggle(page[1], "Claims > Motor")
    session.confirm([page[1]], "low-confidence")
    undone = session.undo()
    assert undone is not None and (undone.kind, undone.mids) == ("confirm", [page[1]])
    assert session.labels_of(page[0]) == {"Billing": None}  # the older edit is still there
    assert session.labels_of(page[1]) == {"Claims > Motor": None} and page[1] not in session.reviewed
    session.add_label("Urgent")
    assert session.undo().kind == "add-label" and "Urgent" not in session.labels
    assert session.undo().mids == [page[0]] and session.labels_of(page[0]) == {}  # then the edit


def test_an_undone_submit_brings_back_its_whole_page(session: Session) -> None:
    """A search page submitted with 2 of 20 labelled (the rest left unreviewed), then
    undone, came back as a page of the 2: the 18 it was shown with were gone from it."""
    page = session.page("low-confidence")
    session.toggle(page[0], "Billing")
    session.toggle(page[1], "Claims > Motor")
    assert session.submit(page, "low-confidence", untouched=False) == 2
    undone = session.undo()
    assert undone is not None and undone.kind == "submit" and sorted(undone.mids) == sorted(page[:2])
    assert undone.page == page


def test_undoing_the_only_submit_leaves_no_model(tmp_path: Path) -> None:
    session = Session.open(make_dataset(tmp_path, reviewed=0), "d", "ann", seed=1)
    session.add_label("Billing")
    page = session.page("shuffle")
    for mid in page[:6]:
        session.toggle(mid, "Billing")
    session.submit(page, "shuffle", untouched=True)
    assert session.retrain().model is not None and session.predictions_of(page[0])
    session.undo()
    state = session.retrain()  # nothing reviewed: no predictions at 50% on every label
    assert state.model is None and "coverage" not in state.report and session.predictions_of(page[0]) == []


def test_an_undone_confirmation_or_submit_leaves_its_labels_as_drafts(session: Session) -> None:
    page = session.page("low-confidence")
    session.toggle(page[0], "Billing")
    session.confirm([page[0]], "low-confidence")
    session.toggle(page[0], "Billing")
    session.toggle(page[0], "Claims > Motor")
    session.confirm([page[0]], "low-confidence")  # a second thought, confirmed
    session.toggle(page[1], "Billing")
    session.toggle(page[2], "Claims > Motor")
    session.submit(page, "low-confidence", untouched=True)
    assert session.undo().kind == "submit"
    assert session.drafts == {page[1]: {"Billing": None}, page[2]: {"Claims > Motor": None}}
    assert not {page[1], page[2]} & set(session.reviewed)
    assert session.undo().mids == [page[0]]  # the second confirmation: the first one's labels are
    assert session.reviewed[page[0]] == {"Billing": None}  # reviewed again, the second's a draft
    assert session.labels_of(page[0]) == {"Claims > Motor": None}
    assert session.submit(page[:3], "low-confidence", untouched=False) == 3  # and a submit writes them
    assert session.reviewed[page[2]] == {"Claims > Motor": None} and not session.drafts
    session.add_label("Urgent")
    session.toggle(page[3], "Urgent")
    session.confirm([page[3]], "low-confidence")
    session.undo()  # the confirmation: Urgent is a draft again
    assert session.undo().kind == "add-label"  # then the label: it leaves the draft with it
    assert session.labels_of(page[3]) == {} and "Urgent" not in session.labels


def test_a_label_given_to_a_group_is_one_step_for_undo(session: Session) -> None:
    """Discover's l on a cluster of twelve: one u takes it off all twelve (it took twelve,
    each notice calling it "the confirmation" of a message not on the page)."""
    page = session.page("shuffle")
    session.toggle(page[0], "Billing")
    session.toggle(page[1], "Claims > Motor")
    given, refused = session.give(page[:4], "Billing")
    assert given == page[1:4] and refused == []  # the first had it already
    assert session.give(page[1:2], "Claims") == ([], ["Claims is implied by Claims > Motor: remove that first"])
    undone = session.undo()
    assert undone is not None and (undone.kind, undone.mids) == ("edit", page[1:4])
    assert [session.labels_of(m) for m in page[:4]] == [{"Billing": None}, {"Claims > Motor": None}, {}, {}]
    session.give(page[2:5], "Billing")
    assert session.latest_is_edit()
    session.confirm([page[3]], "shuffle")  # one of the group confirmed: undo takes the confirmation,
    assert not session.latest_is_edit()  # (Discover's u leaves it to the page's)
    session.undo()
    assert session.undo().mids == [page[2], page[4]]  # then the rest of the group, the confirmed one kept
    assert session.labels_of(page[3]) == {"Billing": None} and not session.labels_of(page[2])


def test_two_toggles_then_one_undo_steps_back_one(session: Session) -> None:
    mid = session.page("shuffle")[0]
    session.toggle(mid, "Billing")
    session.toggle(mid, "Claims > Motor")
    session.undo()
    assert session.labels_of(mid) == {"Billing": None}
    session.undo()
    assert session.labels_of(mid) == {}
    session.set_labels(mid, {"Billing": None})
    assert session.accept_predictions(mid) == []  # no model: nothing to accept, no step made
    session.undo()
    assert session.labels_of(mid) == {}
    session.retrain()
    accepted = next(m for m in session.page("low-confidence", number=1) if session.accept_predictions(m))
    session.undo()  # an Accept is one step
    assert session.labels_of(accepted) == {}


def test_an_accept_of_nothing_or_a_label_taken_back_pins_nothing(session: Session) -> None:
    """A new page begins with the messages holding unconfirmed edits; a message where Accept
    found nothing, or a label toggled on and off again, holds none."""
    session.retrain()
    first, second = session.page("shuffle")[:2]
    assert session.accept_predictions(first) == [] or session.undo() is not None
    session.toggle(second, "Billing")
    session.toggle(second, "Billing")
    assert session.page("teach", "Billing") == session.ranked("teach", "Billing")[:20]  # nothing pinned
    session.toggle(second, "Billing")
    session.forget_pages()
    assert session.page("teach", "Billing")[0] == second  # a real edit is still brought back first


def test_keys_are_the_taxonomy_on_every_message_whatever_the_model_predicts(session: Session) -> None:
    """Keys once followed each message's predictions: pressed from memory, ``1`` gave a
    different label on the next message whenever its likeliest label differed."""
    session.retrain()
    page = session.page("low-confidence")
    tops = {session.predictions_of(m)[0][0] for m in page}
    assert len(tops) > 1  # the messages' likeliest labels differ
    keys = [n for n in session.labels if n != "Claims"]  # a parent made for its children has no key
    mid = page[3]
    assert session.toggle(mid, keys[2]) is True
    assert session.key_order() == keys
    assert session.toggle(mid, session.key_order()[2]) is False  # the same key removes the same label
    assert keys[2] not in session.labels_of(mid)


def test_a_label_created_while_labelling_takes_the_next_key(tmp_path: Path) -> None:
    """The keys follow the labels in the order the session met them: one created on the
    first page takes the next free key, so the keys learnt on earlier messages stay put
    (in taxonomy order, creating ``Auto-reply`` moved every label one key on). A renamed
    label keeps its key; a restart, or another annotator, has the same keys."""
    store = make_dataset(tmp_path, reviewed=0)
    for name in ("Billing", "Claims > Home", "Complaint"):
        store.add_label("d", name)
    session = Session.open(store, "d", "a", seed=1)
    taxonomy = [n for n in session.labels if n != "Claims"]  # made for Claims > Home: no key
    assert session.key_order() == taxonomy and "Claims" in session.labels
    session.add_label("Auto-reply")  # sorts before every label of the taxonomy
    assert session.key_order() == [*taxonomy, "Auto-reply"]
    session.rename_label("Auto-reply", "Automatic reply")
    session.rename_label("Claims > Home", "Claims > House")
    moved = [n.replace("Claims > Home", "Claims > House") for n in taxonomy]
    assert session.key_order() == [*moved, "Automatic reply"]
    session.rename_label("Automatic reply", taxonomy[0], merge=True)  # merged: the label it joined keeps its key
    assert session.key_order() == moved
    session.add_label("Auto-reply")
    session.rename_label("Billing", "Payments")
    assert session.key_order() == ["Payments", *moved[1:], "Auto-reply"]
    session.undo()  # the rename: Billing back in its place
    assert session.key_order() == [*moved, "Auto-reply"]
    again = Session.open(store, "d", "other", seed=2)  # after a restart, and for another annotator
    assert again.key_order() == [*moved, "Auto-reply"] != list(again.labels)


def test_no_expected_coverage_until_the_reviews_sample_the_mailbox(tmp_path: Path) -> None:
    """Reviews of Discover's clusters alone do not say how the rest of the mailbox looks:
    the expected coverage waits for a page of messages no mode chose by their content."""
    store = make_dataset(tmp_path, reviewed=0)
    for name in TOPICS:
        store.add_label("d", name)
    session = Session.open(store, "d", "a", seed=1)
    names = list(TOPICS)
    gold = {int(m): {names[i % 3]: None} for i, m in enumerate(session.mids)}
    clustered = [m for name in names for m in [m for m in gold if name in gold[m]][:12]]  # three clusters
    session.confirm(clustered, "discover", labels=gold)
    assert session.retrain(persist=False).report["coverage_expected"] is None
    assert "expected" not in metrics.format_report(session.state.report)
    page = session.page("shuffle")
    session.confirm(page, "shuffle", labels=gold)
    assert 0 < session.retrain(persist=False).report["coverage_expected"] <= 1


def test_child_implies_parent(session: Session) -> None:
    mid = session.page("shuffle")[0]
    session.toggle(mid, "Claims")
    session.toggle(mid, "Claims > Motor")
    assert session.labels_of(mid) == {"Claims > Motor": None}  # the parent is now implied
    assert session.implied_of(mid) == {"Claims"}
    with pytest.raises(LabelImplied):
        session.toggle(mid, "Claims")


def test_submit_leaves_untouched_messages_unless_asked(session: Session) -> None:
    page = session.page("shuffle")
    session.toggle(page[2], "Billing")
    session.confirm([page[0]], "shuffle")
    edited, untouched = session.to_submit(page)
    assert edited == [page[2]] and page[0] not in untouched and len(untouched) == 18
    assert session.submit(page, "shuffle", untouched=False) == 1
    assert page[2] in session.reviewed and page[5] not in session.reviewed
    assert session.undo().mids == [page[2]]


def test_pages_stay_as_shown_until_submit(session: Session) -> None:
    session.retrain()
    first = session.page("low-confidence", number=0)
    second = session.page("low-confidence", number=1)
    assert not set(first) & set(second)
    session.toggle(first[4], "Billing")
    assert session.page("low-confidence", number=0) == first
    session.submit(second, "low-confidence", untouched=True)
    session.retrain()
    again = session.page("low-confidence")
    assert again[0] == first[4]  # an unfinished edit comes first, never hidden


def test_a_restart_keeps_which_low_confidence_picks_were_random(tmp_path: Path) -> None:
    """Low confidence's Shuffle slots are marked and reviewed as Shuffle's after a restart
    too: they are what thresholds are fitted on."""
    store = make_dataset(tmp_path)
    first = Session.open(store, "d", "ann", seed=1)
    first.retrain()
    page = first.page("low-confidence")
    picked = [m for m in page if m in first.random_picks]
    assert picked and len(picked) < len(page)
    again = Session.open(store, "d", "ann", seed=1)
    resumed = again.resume()
    assert resumed is not None and resumed.page == page and set(resumed.picks) == set(picked)
    assert {m for m in page if m in again.random_picks} == set(picked)
    again.submit([picked[0], next(m for m in page if m not in picked)], "low-confidence", untouched=True)
    modes = dict(store.query_frame("SELECT mid, mode FROM reviews WHERE annotator='ann'").iter_rows())
    assert modes[picked[0]] == "shuffle" and list(modes.values()).count("low-confidence") == 1


def test_other_annotators_work_is_seen_and_leases_are_respected(tmp_path: Path) -> None:
    store = make_dataset(tmp_path)
    alice = Session.open(store, "d", "alice", seed=5)
    bob = Session.open(store, "d", "bob", seed=5)
    alice_page = alice.page("shuffle")
    bob_page = bob.page("shuffle")  # same seed, but alice holds the lease on her page
    assert not set(alice_page) & set(bob_page)
    alice.toggle(alice_page[0], "Billing")
    alice.submit(alice_page, "shuffle", untouched=True)
    bob.retrain()
    assert alice_page[0] in bob.reviewed and bob.reviewed[alice_page[0]] == {"Billing": None}


def test_stats_json_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = make_dataset(tmp_path)
    capsys.readouterr()
    assert main(["stats", "--json", "--db", str(store.path)]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("reviewed", "messages", "coverage", "map", "rating", "rating_band", "balance", "labels"):
        assert key in report
    for key in ("name", "examples", "precision", "recall", "ap", "informative", "warning"):
        assert key in report["labels"][0]
    assert report["annotators"]["counts"] == {"seed": 120}


def test_simulate_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cmtui.sample import generate, write_csv

    gold = tmp_path / "gold.csv"
    write_csv(gold, generate(400, seed=3))
    capsys.readouterr()
    assert main(["simulate", str(gold), "--pages", "2", "--seed-size", "40", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["labelled"] for r in rows] == [40, 60, 80]
    assert set(rows[0]) == {"labelled", "coverage", "coverage_ideal", "coverage_expected", "coverage_expected_ideal",
                            "map", "map_all", "macro_f1", "micro_f1", "seconds"}
    assert 0 < rows[-1]["coverage_ideal"] <= 1
    assert 0 < rows[-1]["coverage_expected"] <= 1 and 0 < rows[-1]["coverage_expected_ideal"] <= 1
    assert rows[-1]["coverage"] > rows[0]["coverage"]
    assert main(["simulate", str(gold), "--pages", "1", "--start", "discover", "--json"]) == 0
    assert [r["labelled"] for r in json.loads(capsys.readouterr().out)] == [40, 60]


def test_ideal_coverage_fits_thresholds_on_gold() -> None:
    """Coverage at ideal thresholds counts a well-predicted informative label's messages,
    not a label the model gets wrong (no threshold reaches 50% precision), nor a label
    that is not informative."""
    from cmtui.model import TrainedModel
    from cmtui.simulate import ideal_coverage

    n = 1000
    gold_rows: list[dict[str, None]] = []
    probs = np.zeros((n, 3), np.float32)
    for i in range(n):
        labels = {}
        if i % 4 == 0:  # A on a quarter, scored perfectly
            labels["A"] = None
        if i % 3 == 0:  # B on a third, scored lowest where it is: no threshold reaches 50% precision
            labels["B"] = None
        if i % 5 == 0:  # C, perfectly scored but not informative
            labels["C"] = None
        gold_rows.append(labels)
        probs[i] = [0.9 if "A" in labels else 0.1, 0.2 if "B" in labels else 0.6, 0.9 if "C" in labels else 0.1]
    model = TrainedModel(["A", "B", "C"], np.zeros((1, 3), np.float32), np.zeros(3), {})
    state = ModelState(model=model, probs=probs, labels=["A", "B", "C"], informative=["A", "B"])
    assert ideal_coverage(state, gold_rows) == pytest.approx(0.25)
    assert ideal_coverage(ModelState(), gold_rows) == 0.0


def test_features_are_cached_and_invalidated(tmp_path: Path) -> None:
    store = make_dataset(tmp_path)
    first = Session.open(store, "d", "a")
    assert not list(store.path.parent.glob("*.cache/*/features-*.npz"))  # opening does not hash
    assert first.x.shape[0] == 240  # first use builds the cache
    cache_files = list(store.path.parent.glob("*.cache/*/features-*.npz"))
    assert len(cache_files) == 1
    stamp = cache_files[0].stat().st_mtime_ns
    second = Session.open(store, "d", "a")
    assert (first.x != second.x).nnz == 0
    assert cache_files[0].stat().st_mtime_ns == stamp  # reused, not rebuilt
    update = write(tmp_path / "u.csv", "id,timestamp,body\nm0000,2024-01-01,completely different words now\n")
    assert main(["import", str(update), "--dataset", "d", "--db", str(store.path)]) == 0
    third = Session.open(store, "d", "a")
    row = third.row_of[int(third.mids[0])]
    assert (third.x[row] != first.x[row]).nnz > 0


def test_disagreement_shows_in_check_label_and_stats(tmp_path: Path) -> None:
    from cmtui.store import Review

    store = make_dataset(tmp_path)
    session = Session.open(store, "d", "alice", seed=1)
    session.retrain()
    # a reviewed Billing message that bob sees differently
    disputed = next(m for m, labels in session.reviewed.items() if "Billing" in labels)
    agreed = next(m for m, labels in session.reviewed.items() if "Billing" in labels and m != disputed)
    store.confirm("d", "bob", [Review(disputed, {"Claims > Home": None}), Review(agreed, {"Billing": None})])
    store.confirm("d", "alice", [Review(disputed, {"Billing": None})])  # alice's is the latest review
    session.retrain()
    assert session.ranked("check-label", "Billing")[0] == disputed
    annotators = session.state.report["annotators"]
    # seed reviewed all 120; bob agreed with seed on one and disagreed with alice on the other
    assert annotators["counts"] == {"alice": 1, "bob": 2, "seed": 120}
    assert annotators["shared"] == 2 and annotators["agreement"] == 0.5


def test_label_shares_come_from_random_picks_when_there_are_enough() -> None:
    from cmtui.trainer import RANDOM_SHARE_MIN
    from cmtui.trainer import label_shares as _shares

    # label 0 is on half of the random picks but on none of the later, targeted ones
    random_picks = RANDOM_SHARE_MIN
    y = np.zeros((random_picks + 90, 2), dtype=np.float32)
    y[: random_picks // 2, 0] = 1
    y[random_picks:, 1] = 1
    random = np.zeros(len(y), dtype=bool)
    random[:random_picks] = True
    shares = _shares(y, random)
    assert shares[0] == pytest.approx(0.5)  # its share among the random picks, not 15/120
    assert shares[1] == pytest.approx(90 / 120)  # never lowered below the share of all reviews
    few = random.copy()
    few[1:] = False  # one random pick says nothing
    assert _shares(y, few)[0] == pytest.approx((random_picks // 2) / len(y))
    assert _shares(y[:0], random[:0]).tolist() == [1.0, 1.0]  # nothing reviewed: no cap


def channel_dataset(tmp_path: Path, reviewed: int = 500) -> Path:
    """500 messages, the first ``reviewed`` of them reviewed: ``Phone call`` on those from
    the phone channel (their words say nothing of it), ``Billing`` on half the others
    (their words say so)."""
    rng = np.random.default_rng(0)
    words = ["please", "help", "policy", "today", "thanks", "account", "hello", "update"]
    rows = ["id,timestamp,body,channel,labels,reviewed"]
    for i in range(500):
        channel = ["email", "web", "phone"][rng.integers(3)]
        label = "Phone call" if channel == "phone" else ("Billing" if rng.random() < 0.5 else "")
        body = " ".join(rng.choice(words, 6)) + (" refund my premium" if label == "Billing" else "")
        rows.append(f"m{i:04d},2024-01-01T10:00:00Z,{body},{channel},{label},{str(i < reviewed).lower()}")
    db = tmp_path / "p.duckdb"
    assert main(["import", str(write(tmp_path / "p.csv", "\n".join(rows) + "\n")), "--dataset", "d",
                 "--db", str(db), "--annotator", "seed"]) == 0
    return db


def test_trees_learn_a_label_from_a_user_property(tmp_path: Path) -> None:
    """A label that only the ``channel`` property shows: the prior cannot see it, the
    trees (fed the stored properties) can, and validation keeps them for it."""
    session = Session.open(Store(channel_dataset(tmp_path)), "d", "ann", seed=1)
    state = session.retrain(persist=False)
    assert "Phone call" in state.tree_labels
    phone = next(r for r in state.report["labels"] if r["name"] == "Phone call")
    assert phone["ap"] > 0.95
    column = state.labels.index("Phone call")
    assert state.model is not None and column in state.model.boosters  # production has them too


def test_fold_models_never_see_their_fold_and_are_refitted_when_stale(tmp_path: Path) -> None:
    """Each held-out fold is scored by a model fitted on the other reviews only; a
    validation refits the stalest fold model and those fallen 10% behind."""
    from cmtui import trainer as trainer_module

    session = Session.open(make_dataset(tmp_path, n=400, reviewed=200), "d", "ann", seed=1)
    trainer = session.trainer
    session.retrain(persist=False)
    data = session.training_data()
    folds = trainer.folds[data.rows]
    first = dict(trainer._fold_models)
    assert sorted(first) == [0, 1, 2, 3, 4]  # 0: the validation model, fitted beside the test split
    for fold, fitted in first.items():
        assert fitted.fitted_on == int((folds != fold).sum())  # every review but its fold's
    fits: list[int] = []
    real_train = trainer_module.train
    trainer_module.train = lambda x, *a, **k: fits.append(x.shape[0]) or real_train(x, *a, **k)  # type: ignore[assignment]
    try:
        page = session.page("shuffle")[:4]  # a few more reviews: growth well under 10%
        session.confirm(page, "shuffle", labels={m: {"Billing": None} for m in page})
        session.validate(persist=False)
        refitted = [f for f in trainer._fold_models if trainer._fold_models[f] is not first[f]]
        assert 0 in refitted and len(refitted) == 2  # the validation model and the stalest fold
        more = [int(m) for m in session.mids if int(m) not in session.reviewed][:40]
        session.confirm(more, "shuffle", labels={m: {"Billing": None} for m in more})
        session.validate(persist=False)  # 40 more on ~160 beside each fold: all are due
        assert all(trainer._fold_models[f] is not first[f] for f in first)
    finally:
        trainer_module.train = real_train  # type: ignore[assignment]
    assert len(fits) == 2 + 2 + 4 + 1  # validation + production each time, and the folds refitted


@pytest.mark.parametrize("sampled", [False, True])
def test_validation_scores_with_the_production_model_one_fit_would_give(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sampled: bool) -> None:
    """The model validation leaves to rank the queue, and the scores it shows, are those of
    one ``train`` on every review (warm-started from the last production model, boosters
    for the labels the gate kept) and one ``predict`` (``sampled``: a large dataset's
    figures, from a sample scored in blocks)."""
    from dataclasses import replace

    from cmtui import trainer as trainer_module
    from cmtui.model import predict, train

    session = Session.open(Store(channel_dataset(tmp_path)), "d", "ann", seed=1)
    session.retrain(persist=False)
    if sampled:
        for name, value in (("RESCORE_ALL_UP_TO", 100), ("FIGURES_SAMPLE", 150), ("SCORE_ROWS", 64)):
            monkeypatch.setattr(trainer_module, name, value)
    trainer, data = session.trainer, session.training_data()
    previous = trainer.state.model
    state = trainer.validate(data, persist=False)
    kept = [state.labels.index(n) for n in state.tree_labels]
    assert kept and state.model is not None
    params = replace(trainer.params, max_iter=trainer_module.PRODUCTION_ITERATIONS)
    expected = train(trainer.x[data.rows], data.y, data.labels, params, previous, tree_labels=kept,
                     extra=trainer.tree_inputs.rows(data.rows))
    assert np.array_equal(state.model.weights, expected.weights) and sorted(state.model.boosters) == kept
    rows = trainer._sample if sampled else np.arange(len(session.mids))
    assert rows is not None and len(rows) == (150 if sampled else 500)
    assert np.array_equal(state.probs[rows], predict(expected, trainer.x, extra=trainer.tree_inputs)[rows])


@pytest.mark.parametrize("candidates", [False, True])
def test_a_quick_retrain_rescores_only_the_labels_without_trees(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, candidates: bool) -> None:
    """After a page, the labels that keep trees keep their scores (prior and boosters were
    fitted together); the others get the refitted prior's, as ``predict`` gives them
    (``candidates``: a large dataset, where only the worst covered are rescored)."""
    from dataclasses import replace

    from cmtui import trainer as trainer_module
    from cmtui.model import predict

    session = Session.open(Store(channel_dataset(tmp_path, reviewed=400)), "d", "ann", seed=1)
    validated = session.retrain(persist=False)
    assert validated.model is not None and validated.tree_labels == ["Billing", "Phone call"]
    kept, free = [validated.labels.index("Phone call")], [validated.labels.index("Billing")]
    # as a validation whose gate took Billing's trees away
    model = replace(validated.model, boosters={kept[0]: validated.model.boosters[kept[0]]})
    before = replace(validated, model=model, tree_labels=["Phone call"],
                     probs=predict(model, session.trainer.x, extra=session.trainer.tree_inputs))
    session.trainer.state = before
    if candidates:
        monkeypatch.setattr(trainer_module, "RESCORE_ALL_UP_TO", 100)
        monkeypatch.setattr(trainer_module, "RESCORE_CANDIDATES", 50)
    page = session.page("shuffle")
    session.confirm(page, "shuffle", labels={m: {"Billing": None} for m in page})
    state = session.quick_retrain()
    assert state.model is not None and not np.array_equal(state.model.weights, before.model.weights)  # type: ignore[union-attr]
    rescored = np.flatnonzero(state.probs[:, free[0]] != before.probs[:, free[0]])
    assert len(rescored) == (50 if candidates else len(session.mids))
    expected = predict(state.model, session.trainer.x, extra=session.trainer.tree_inputs)
    assert np.array_equal(state.probs[np.ix_(rescored, free)], expected[np.ix_(rescored, free)])
    assert np.array_equal(state.probs[:, kept], before.probs[:, kept])


def test_the_coverage_figure_is_the_validated_one_until_the_next_validation(tmp_path: Path) -> None:
    """The quick retrain after a page showed its own coverage, with the last thresholds:
    up to 15.5 points off the validated figure that replaced it seconds later (the sample, 10
    pages), so the meter jumped twice a page. It now shows the last validated figure."""
    session = Session.open(make_dataset(tmp_path, reviewed=0), "d", "ann", seed=1)
    for name in ("Billing", "Claims > Motor"):
        session.add_label(name)
    page = session.page("shuffle")
    session.confirm(page, "shuffle", labels={m: {"Billing": None} for m in page[:10]})
    assert "coverage" not in session.quick_retrain().report  # the first model: none before it
    first = session.validate().report["coverage"]
    page = session.page("shuffle", None, 1)
    session.confirm(page, "shuffle", labels={m: {"Claims > Motor": None} for m in page})
    quick = session.quick_retrain()
    assert quick.report["coverage"] == first and quick.report["reviewed"] == 40
    assert session.validate().report["coverage"] == session.trainer.history[-1]


def test_row_index_answers_as_a_dict_of_rows() -> None:
    """The session's mid -> row lookup (binary search, not a dict of every message)."""
    from cmtui.labelling import RowIndex

    for mids in (np.array([3, 5, 9, 20]), np.array([9, 3, 20, 5]), np.array([], dtype=np.int64)):
        index, expected = RowIndex(mids), {int(m): i for i, m in enumerate(mids)}
        for mid in (3, 4, 5, 9, 20, 21, -1, np.int64(9)):
            assert (mid in index) == (mid in expected) and index.get(mid) == expected.get(mid)
        assert "9" not in index and list(index) == list(expected) and len(index) == len(expected)
        asked = [21, 9, -1, 3, 4, 20]  # those in the dataset, ascending, as sorted(m in index)
        assert index.present(asked) == sorted(m for m in asked if m in expected)
        assert index.present_rows(asked).tolist() == [expected[m] for m in sorted(asked) if m in expected]
        assert index.present({20: "a", 2: "b"}) == ([20] if len(mids) else []) and index.present([]) == []
        if len(mids):
            assert index.rows([20, 3]).tolist() == [expected[20], expected[3]]
            with pytest.raises(KeyError):
                index[4]


def test_a_large_dataset_shows_figures_from_a_sample_then_rescores_every_message(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above RESCORE_ALL_UP_TO messages validation's figures come from a fixed sample
    (shown at once), then every message is scored: the state ends exactly as the
    one-phase validation would have it, and one model version is recorded."""
    from cmtui import trainer as trainer_module

    def reviewed_a_page_more(session: Session) -> None:
        session.retrain(persist=False)
        page = [int(m) for m in session.mids if int(m) not in session.reviewed][:20]
        session.confirm(page, "shuffle", labels={m: {"Billing": None} for m in page})
        session.quick_retrain()

    (tmp_path / "one").mkdir()
    one_phase = Session.open(make_dataset(tmp_path / "one", n=400, reviewed=200), "d", "a", seed=1)
    reviewed_a_page_more(one_phase)
    expected = one_phase.validate(persist=False)
    store = make_dataset(tmp_path, n=400, reviewed=200)
    monkeypatch.setattr(trainer_module, "RESCORE_ALL_UP_TO", 100)
    monkeypatch.setattr(trainer_module, "FIGURES_SAMPLE", 120)
    session = Session.open(store, "d", "a", seed=1)
    reviewed_a_page_more(session)
    before = session.state
    shown: list[ModelState] = []
    folds_at_figures: list[dict[int, object]] = []

    def figures(state: ModelState) -> None:
        shown.append(state)
        folds_at_figures.append(dict(session.trainer._fold_models))

    final = session.validate(shown=figures)
    assert len(shown) == 1 and shown[0] is not final
    after = session.trainer._fold_models  # the stalest fold is refitted after the figures, not before
    assert sum(after[f] is not folds_at_figures[0][f] for f in after) == 1
    sample = session.trainer._sample
    assert sample is not None and len(sample) == 120
    rest = np.setdiff1d(np.arange(400), sample)
    assert np.array_equal(shown[0].probs[rest], before.probs[rest])  # the last scores until every row is scored
    assert not np.array_equal(shown[0].probs[sample], before.probs[sample])
    assert np.allclose(final.probs, expected.probs, atol=1e-6)
    assert final.report["coverage"] == round(float((final.covered_score >= 1).mean()), 4)
    assert session.history[-1] == final.report["coverage"] and len(session.history) == len(one_phase.history)
    assert final.version == 1 and [v.version for v in store.model_versions("d")] == [1]
    assert final.report["drift"] is not None
    # Rebalance keeps its last order until every message is scored (off the figures' path)
    assert np.array_equal(shown[0].reviewed_likeness, before.reviewed_likeness)
    assert np.array_equal(final.reviewed_likeness, expected.reviewed_likeness)
    assert not np.array_equal(final.reviewed_likeness, before.reviewed_likeness)
    session.trainer._pending = (shown[0], session.training_data(), False, Likeness())  # a newer model came in between
    assert session.trainer.rescore_all() is final and session.state is final


def test_a_label_on_every_review_is_not_predicted(tmp_path: Path) -> None:
    """One message confirmed with a label, then a retrain (as when the app reopens): the
    model never saw a message without it and read it at 100%* on every message, so
    Accept put it anywhere. It is predicted once a review goes without it."""
    store = make_dataset(tmp_path, reviewed=0)
    for name in TOPICS:
        store.add_label("d", name)
    session = Session.open(store, "d", "ann", seed=1)
    first, second, third = session.page("shuffle")[:3]
    session.confirm([first], "shuffle", labels={first: {"Billing": None}})
    session.retrain(persist=False)
    assert session.unopposed() == {"Billing"}
    assert "Billing" not in [name for name, _, _ in session.predictions_of(second)]
    assert session.accept_predictions(second) == [] and session.labels_of(second) == {}
    session.confirm([third], "shuffle", labels={third: {"Claims > Motor": None}})
    session.retrain(persist=False)
    assert session.unopposed() == set()
    assert "Billing" in [name for name, _, _ in session.predictions_of(second)]


def test_accept_gives_each_label_the_sentiment_its_reviews_give_it(tmp_path: Path) -> None:
    """With sentiment, Accept gave every label positive: each accepted Billing (negative on
    every review) had to be turned by hand."""
    from cmtui.store import Store
    from tests.test_analytics import labelled_db

    session = Session.open(Store(labelled_db(tmp_path, sentiment=True)), "d", "ann", seed=1)
    assert session.usual_sentiment("Billing") == -1 and session.usual_sentiment("Claims > Motor") == 1
    session.retrain()
    accepted = {}
    for mid in session.page("shuffle") + session.page("shuffle", number=1):
        for name in session.accept_predictions(mid):
            accepted[name] = session.labels_of(mid)[name]
    assert accepted.get("Billing") == -1 and accepted.get("Claims > Motor") == 1
