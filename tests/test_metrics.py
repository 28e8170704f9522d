from __future__ import annotations

import numpy as np
import pytest

from cmtui import metrics


def test_precision_recall_by_hand() -> None:
    y = np.array([1, 1, 0, 0, 1], bool)
    p = np.array([1, 0, 1, 0, 1], bool)
    # TP=2 (rows 0, 4), FP=1 (row 2), FN=1 (row 1)
    assert metrics.precision_recall(y, p) == (2 / 3, 2 / 3)


def test_average_precision_by_hand() -> None:
    y = np.array([1, 0, 1, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.1])
    # ranks: hit (P=1, R=.5), miss, hit (P=2/3, R=1): AP = .5*1 + .5*2/3
    assert metrics.average_precision(y, scores) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert metrics.average_precision(np.array([1, 1]), np.array([0.2, 0.1])) == 1.0
    assert np.isnan(metrics.average_precision(np.array([0, 0]), np.array([0.2, 0.1])))


def test_average_precision_matches_ties_rule() -> None:
    y = np.array([1, 0, 1])
    scores = np.array([0.5, 0.5, 0.1])  # a tie counts as one step: P=1/2 at R=.5
    assert metrics.average_precision(y, scores) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)


def test_balanced_threshold_maximises_f1() -> None:
    y = np.array([1] * 6 + [0] * 6, bool)
    scores = np.array([.9, .85, .8, .75, .7, .3, .65, .2, .15, .1, .05, .01])
    th = metrics.thresholds(y, scores)
    # at 0.7: TP=5 FP=0 FN=1, F1=10/11; at 0.3: TP=6 FP=1 FN=0, F1=12/13 (the best)
    assert th.balanced == pytest.approx(0.3)
    assert th.high_precision >= th.balanced >= th.high_recall
    assert metrics.thresholds(y[:2], scores[:2]).balanced == 0.5  # too few examples
    assert metrics.thresholds(y[:3], scores[:3]).balanced != 0.5  # three are enough
    # a label the model cannot separate: no threshold reaches 50% precision, so it covers nothing
    weak = np.array([1, 0, 0, 0] * 10, bool)
    assert metrics.thresholds(weak, np.linspace(1, 0, 40)[::-1].copy()).balanced > 1


def test_auc() -> None:
    assert metrics.auc(np.array([1, 1, 0, 0], bool), np.array([.9, .8, .2, .1])) == 1.0
    assert metrics.auc(np.array([1, 0], bool), np.array([.5, .5])) == 0.5


LABELS = ["Claims", "Claims > Motor", "Claims > Home", "Billing", "Urgent"]


def test_informative_parent_only_and_rider() -> None:
    rows: list[dict[str, None]] = []
    rows += [{"Claims > Motor": None}] * 5
    rows += [{"Claims > Home": None}] * 5
    rows += [{"Billing": None}] * 6
    rows += [{"Claims > Motor": None, "Urgent": None}] * 2
    rows += [{"Billing": None, "Urgent": None}] * 2
    weights = metrics.informative_weights(LABELS, rows)
    assert weights["Claims"] == 0.0  # a parent never used alone
    assert weights["Urgent"] == 0.0  # always rides with another label
    assert weights["Billing"] == 1.0 and weights["Claims > Motor"] == 1.0
    assert set(informative(LABELS, rows)) == {"Claims > Motor", "Claims > Home", "Billing"}


def test_label_matrix_marks_each_review_with_its_labels_and_their_parents() -> None:
    labels = ["Billing", "Claims", "Claims > Home", "Claims > Motor", "Urgent"]
    rows: list[dict[str, None]] = [{"Claims > Motor": None}, {}, {"Billing": None, "Urgent": None},
                                   {"Claims > Motor": None}, {"Gone": None, "Billing": None}, {"Claims": None}]
    assert metrics.label_matrix(labels, rows).astype(int).tolist() == [
        [0, 1, 0, 1, 0], [0, 0, 0, 0, 0], [1, 0, 0, 0, 1], [0, 1, 0, 1, 0], [1, 0, 0, 0, 0], [0, 1, 0, 0, 0]]
    assert metrics.label_matrix(labels, []).shape == (0, 5)


def informative(labels: list[str], rows: list[dict[str, None]]) -> list[str]:
    """The informative labels of ``rows`` by the rule the trainer applies."""
    return metrics.informative_from(labels, metrics.informative_weights(labels, rows),
                                    metrics.label_matrix(labels, rows))


def test_multi_intent_labels_stay_informative() -> None:
    labels = ["A", "B", "C"]
    # most messages carry two intents at once: that is normal here, not riding
    rows = [{"A": None, "B": None}] * 8 + [{"B": None, "C": None}] * 8 + [{"A": None, "C": None}] * 8
    rows += [{"A": None}, {"B": None}, {"C": None}]
    assert informative(labels, rows) == ["A", "B", "C"]


def test_a_label_on_every_review_is_not_informative() -> None:
    rows = [{"Policy": None, "Policy > Renewal": None}] * 12  # one Discover cluster, all kept
    assert informative(["Policy", "Policy > Renewal"], rows) == []
    rows += [{"Billing": None}] * 3  # three reviewed messages without it: it tells them apart
    assert informative(["Billing", "Policy", "Policy > Renewal"], rows) == ["Billing", "Policy > Renewal"]


def faceted_rows(hierarchical: bool, topic_share: float = 1.0, tone_share: float = 1.0,
                 seed: int = 0) -> tuple[list[str], list[dict[str, None]]]:
    """A taxonomy of independent groups: a genre on every message, a topic and a tone on
    a share of them, and an ``Urgent`` flag on a fifth, each drawn independently."""
    groups = {"Genre": ["Request", "Report", "Announcement", "Chat"],
              "Topic": ["Billing", "Travel", "Legal", "Hiring", "Systems", "Energy"],
              "Tone": ["Positive", "Negative"]}
    share = {"Genre": 1.0, "Topic": topic_share, "Tone": tone_share}
    weights = {"Genre": [0.5, 0.25, 0.15, 0.1]}  # the first genre is the most frequent label
    rng = np.random.default_rng(seed)

    def name(group: str, value: str) -> str:
        return f"{group} > {value}" if hierarchical else value

    rows: list[dict[str, None]] = []
    for _ in range(300):
        row: dict[str, None] = {}
        for group, values in groups.items():
            if rng.random() < share[group]:
                row[name(group, str(rng.choice(values, p=weights.get(group))))] = None
        if rng.random() < 0.2:
            row["Urgent"] = None
        rows.append(row)
    labels = [name(g, v) for g, values in groups.items() for v in values] + ["Urgent"]
    if hierarchical:
        labels = list(groups) + labels
    return labels, rows


@pytest.mark.parametrize("hierarchical", [False, True])
def test_facets_are_informative_and_a_flag_riding_on_them_is_not(hierarchical: bool) -> None:
    labels, rows = faceted_rows(hierarchical)
    found = set(informative(labels, rows))
    leaves = [name for name in labels if name != "Urgent" and name not in ("Genre", "Topic", "Tone")]
    assert found == set(leaves)  # genre, topic and tone: every value of every facet
    assert "Urgent" not in found  # never used instead of anything, only on top of it


def test_sparse_topics_beside_a_genre_stay_informative() -> None:
    # like long business email: a genre on every message, a topic on half, a tone on a few
    labels, rows = faceted_rows(True, topic_share=0.5, tone_share=0.15)
    found = set(informative(labels, rows))
    assert "Genre > Request" in found  # the most frequent concept label
    assert {f"Topic > {t}" for t in ("Billing", "Travel", "Legal", "Hiring", "Systems", "Energy")} <= found
    assert "Urgent" not in found and "Topic" not in found


@pytest.mark.parametrize("seed", range(10))
def test_intents_that_happen_never_to_meet_do_not_make_facets(seed: int) -> None:
    # multi-intent requests (MixATIS): two or three of 17 intents, drawn independently, on
    # each of 140 messages. Chance keeps some pairs apart; no intent is a rider.
    rng = np.random.default_rng(seed)
    labels = [f"intent {i}" for i in range(17)]
    rows = [dict.fromkeys(str(name) for name in rng.choice(labels, size=rng.integers(2, 4), replace=False))
            for _ in range(140)]
    assert informative(labels, rows) == labels


def test_parent_used_alone_is_informative_and_few_examples_are_not() -> None:
    rows = [{"Claims": None}] * 4 + [{"Claims > Motor": None}] * 2 + [{"Billing": None}] * 3
    assert "Claims" in informative(LABELS, rows)
    assert "Claims > Motor" not in informative(LABELS, rows)  # 2 < 3 examples


def test_coverage() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.6], [0.3, 0.3], [0.1, 0.1]], np.float32)
    assert metrics.coverage(probs, ["A", "B"], {"A", "B"}, [0.5, 0.5])[1] == 0.5
    assert metrics.coverage(probs, ["A", "B"], {"A"}, [0.5, 0.5])[1] == 0.25  # B is not informative
    assert metrics.coverage(probs, ["A", "B"], {"A", "B"}, [0.25, 0.7])[1] == 0.5
    assert metrics.coverage(probs, ["A", "B"], set(), [0.5, 0.5])[1] == 0.0
    scores = metrics.coverage_scores(probs, [0, 1], [0.5, 0.5])
    assert list(np.argsort(scores)) == [3, 2, 1, 0]


def test_rating_bands() -> None:
    r = metrics.rating(0.95, 0.9, 0.95, 0.95)
    assert r["band"] == "Excellent"
    assert metrics.rating(0.3, 0.1, 0.2, 0.5)["band"] == "Poor"
    assert set(r["factors"]) == {"all_labels", "worst_labels", "coverage", "balance"}


def test_label_quality_gives_little_credit_for_few_examples() -> None:
    th = metrics.Thresholds(0.8, 0.5, 0.2)
    few = [metrics.LabelReport("A", 4, 3, 1, 1.0, 1.0, 1.0, th, True, 1.0, "red")]
    many = [metrics.LabelReport("A", 50, 40, 10, 0.9, 0.9, 0.9, th, True, 1.0, "")]
    assert metrics.label_quality(few)[0] == pytest.approx(4 / 25)
    assert metrics.label_quality(many)[0] == pytest.approx(0.9)
    assert metrics.rating(*metrics.label_quality(few), 0.9, 0.9)["band"] != "Good"


def test_map_counts_only_the_labels_whose_ap_is_shown() -> None:
    """A label of 24 examples (20 in training) has its AP held back ("needs 1"): it gave
    "MAP 100%" beside a Poor rating after a few Discover clusters."""
    th = metrics.Thresholds(0.8, 0.5, 0.2)
    held_back = metrics.LabelReport("A", 24, 20, 4, 1.0, 1.0, 1.0, th, True, 1.0, "amber")
    shown = metrics.LabelReport("B", 25, 20, 5, 0.6, 0.6, 0.6, th, True, 1.0, "")
    assert np.isnan(metrics.mean_ap([held_back]))
    assert metrics.mean_ap([held_back, shown]) == pytest.approx(0.6)


def test_thresholds_are_capped_by_the_labels_share() -> None:
    # a threshold chosen on a few test messages sits in the base rate and would flag everything
    probs = np.full((1000, 3), 0.013, dtype=np.float32)
    probs[:10, 0] = 0.5
    probs[:, 1] = np.linspace(0, 1, 1000)
    shares = np.array([0.01, 0.6, 0.01])
    capped = metrics.cap_by_share(probs, [0.012, 0.3, metrics.NEVER], shares)
    assert (probs[:, 0] >= capped[0]).sum() == 10  # ties at the base rate are left out
    assert capped[1] == 0.3  # twice 60% is everything: no cap
    assert capped[2] == metrics.NEVER
    assert metrics.cap_by_share(probs, [0.7, 0.3, 0.3], shares)[0] == 0.7  # never lowered
    spread = np.linspace(0, 1, 1000, dtype=np.float32)[:, None]
    high = metrics.cap_by_share(spread, [0.1], np.array([0.05]))[0]
    assert (spread[:, 0] >= high).sum() == 100
    sampled = metrics.cap_by_share(spread, [0.1], np.array([0.05]), sample=100)[0]
    assert abs(sampled - high) < 0.02


def test_expected_coverage_reads_calibrated_probabilities() -> None:
    rng = np.random.default_rng(0)
    truth = rng.random((4000, 2)) < [0.3, 0.2]
    # over-confident scores: the truth pushed far out, with noise that often beats it
    logits = np.where(truth, 2.0, -2.0) + rng.normal(0, 3.0, truth.shape)
    probs = (1 / (1 + np.exp(-logits))).astype(np.float32)
    reviews, rest = slice(0, 1000), slice(1000, None)
    a, b = metrics.calibration(truth[reviews], probs[reviews])
    assert 0.3 < a < 0.9  # over-confident: the calibration flattens the scores
    value = metrics.expected_coverage(probs[rest], ["A", "B"], {"A", "B"}, truth[reviews], probs[reviews])
    # what it estimates: the share of messages whose likeliest label is there
    likeliest = probs[rest].argmax(axis=1)
    right = truth[rest][np.arange(len(likeliest)), likeliest].mean()
    assert abs(value - right) < 0.03
    assert metrics.expected_coverage(probs[rest], ["A", "B"], set(), truth[reviews], probs[reviews]) == 0.0
    only_first = metrics.expected_coverage(probs[rest], ["A", "B"], {"A"}, truth[reviews], probs[reviews])
    assert abs(only_first - truth[rest][:, 0].mean()) < 0.03  # calibrated: the mean is the label's share


def test_expected_coverage_calibrated_on_the_random_picks() -> None:
    """Low confidence's picks are where the scores are most wrong: calibrated on them
    too, the figure reads low; calibrated on the reviews picked at random, it is right."""
    rng = np.random.default_rng(1)
    truth = rng.random((6000, 2)) < [0.3, 0.2]
    logits = np.where(truth, 2.0, -2.0) + rng.normal(0, 3.0, truth.shape)
    probs = (1 / (1 + np.exp(-logits))).astype(np.float32)
    likeliest = probs.argmax(axis=1)
    wrong = ~truth[np.arange(len(probs)), likeliest]
    picked = np.concatenate([np.arange(500), 1000 + np.flatnonzero(wrong[1000:3000])[:500]])  # random, then hard
    random = np.arange(len(picked)) < 500
    rest = slice(3000, None)
    right = truth[rest][np.arange(3000), likeliest[rest]].mean()
    args = (probs[rest], ["A", "B"], {"A", "B"}, truth[picked], probs[picked])
    assert metrics.expected_coverage(*args) < right - 0.05  # the hard picks drag it down
    assert abs(metrics.expected_coverage(*args, random) - right) < 0.03  # type: ignore[operator]
    few = np.arange(len(picked)) < metrics.RANDOM_CALIBRATION_MIN - 1
    assert metrics.expected_coverage(*args, few) is None  # too few reviews sample the mailbox: no figure


def test_the_calibration_sample_is_the_random_picks_else_what_no_mode_chose() -> None:
    """Random picks once there is a page of them; before, every review no mode picked by
    what the message says (imported, newest first, random). Reviews of Discover's
    clusters alone are no sample of the mailbox: no calibration, so no figure."""
    enough = ["shuffle"] * metrics.RANDOM_CALIBRATION_MIN
    assert metrics.calibration_sample([*enough, "import", "low-confidence"]).tolist() == [True] * len(enough) + [False, False]
    mixed = ["shuffle", "import", "recent", "discover", "low-confidence", "teach", "search", ""]
    assert metrics.calibration_sample(mixed).tolist() == [True, True, True, False, False, False, False, True]
    assert not metrics.calibration_sample(["discover"] * 36).any()
