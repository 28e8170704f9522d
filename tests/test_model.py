from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

import cmtui.features as features_module
from cmtui.features import TreeInputs, fit_tree_inputs, hash_texts, tfidf
from cmtui.metrics import average_precision
from cmtui.model import ModelParams, fit_linear, gate_trees, lbfgs, predict, train


def test_lbfgs_finds_the_minimum_of_an_ill_conditioned_quadratic() -> None:
    rng = np.random.default_rng(0)
    scale = np.logspace(0, 3, 200)  # condition number 1000
    centre = rng.normal(size=200)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        diff = theta - centre
        return 0.5 * float(scale @ (diff * diff)), scale * diff

    found = lbfgs(objective, np.zeros(200), max_iter=500)
    assert np.abs(found - centre).max() < 1e-4
    few = lbfgs(objective, np.zeros(200), max_iter=3)  # the budget bounds the work
    assert np.abs(few - centre).max() > 1e-3


def test_fit_linear_separates_and_warm_start_keeps_the_solution() -> None:
    x = sp.csr_matrix(np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1]], dtype=np.float32))
    y = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=np.float32)
    w, b = fit_linear(x, y, c=32.0, max_iter=100)
    scores = x @ w + b
    assert (scores[:2, 0] > 0).all() and (scores[2:, 0] < 0).all()
    assert (scores[2:, 1] > 0).all() and (scores[:2, 1] < 0).all()
    again_w, again_b = fit_linear(x, y, c=32.0, max_iter=5, init=(w, b))
    assert np.allclose(again_w, w, atol=1e-3) and np.allclose(again_b, b, atol=1e-3)


def test_a_fit_split_over_two_threads_is_the_fit_on_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large products run as two halves of rows on two threads; every output row is the
    one product's, so the weights are the same to the last bit."""
    from cmtui import model

    rng = np.random.default_rng(3)
    x = sp.random(300, 2000, density=0.05, format="csr", dtype=np.float32, random_state=4)
    y = (rng.random((300, 4)) < 0.3).astype(np.float32)
    monkeypatch.setattr(model, "SPLIT_PRODUCT_NNZ", 10**12)
    whole = fit_linear(x, y, c=32.0, max_iter=20)
    monkeypatch.setattr(model, "SPLIT_PRODUCT_NNZ", 0)
    halves = fit_linear(x, y, c=32.0, max_iter=20)
    assert all(np.array_equal(a, b) for a, b in zip(whole, halves, strict=True))
    with model.ThreadPoolExecutor(1) as pool:
        product = model._SplitProduct(x, pool)
    assert len(product.halves) == 2 and product.halves[0].shape[0] + product.halves[1].shape[0] == 300


def test_the_package_keeps_threads_from_spinning_and_memory_returned() -> None:
    import os
    import subprocess
    import sys

    names = ("OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY", "_RJEM_MALLOC_CONF")
    env = {k: v for k, v in os.environ.items() if k not in names}
    code = f"import cmtui, os; print(*(os.environ[name] for name in {names!r}))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "PASSIVE", "dirty_decay_ms:0,muzzy_decay_ms:0"]
    env["OMP_WAIT_POLICY"] = "ACTIVE"  # a user's own choice stands
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[:2] == ["1", "ACTIVE"]


def test_row_blocks_and_stacks_keep_every_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The memory-saving forms give what the plain ones give: a row range shares the
    matrix's arrays, stacking frees the parts as it goes, TF-IDF in blocks and in place,
    document frequencies by blocks, and the prior scored a block at a time."""
    from cmtui import features
    from cmtui import model as model_module
    from cmtui.features import document_frequency, row_range, stack_rows

    x = sp.random(1000, 64, density=0.1, format="csr", dtype=np.float32, random_state=0)
    x.data = np.ceil(x.data * 4)  # counts
    for start, end in [(0, 10), (5, 999), (990, 1200), (1000, 1000)]:
        view = row_range(x, start, end)
        assert view.shape == x[start:end].shape and (view != x[start:end]).nnz == 0
        assert not view.nnz or np.shares_memory(view.data, x.data)
    parts = [x[:7], x[7:7], x[7:500], x[500:]]
    assert (stack_rows(parts, 64) != x).nnz == 0 and parts == []
    assert stack_rows([], 64).shape == (0, 64)
    assert np.array_equal(document_frequency(x, block=33), np.bincount(x.indices, minlength=64))
    expected, idf = tfidf(x)
    monkeypatch.setattr(features, "TFIDF_ROWS", 97)
    blocks, _ = tfidf(x)
    assert np.array_equal(blocks.data, expected.data)
    counts = x.copy()
    in_place, _ = tfidf(counts, idf, in_place=True)
    assert np.array_equal(in_place.data, expected.data) and np.shares_memory(in_place.data, counts.data)
    model = train(expected, np.column_stack([x[:, 0].toarray().ravel() > 0]), ["A"], ModelParams(rounds=0))
    whole = predict(model, expected)
    monkeypatch.setattr(model_module, "PREDICT_BLOCK", 100)
    assert np.allclose(predict(model, expected), whole, atol=1e-6)


def property_data(n: int = 600, seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray, TreeInputs, np.ndarray]:
    """Texts that say nothing about label 0, which is exactly "came by phone"; label 1 is
    said in the text. Returns TF-IDF, labels, tree inputs and a 20% test mask."""
    rng = np.random.default_rng(seed)
    words = ["please", "help", "policy", "today", "thanks", "account", "hello", "update", "claim", "form"]
    channel = rng.integers(0, 3, n)  # 0 email, 1 web, 2 phone
    billing = rng.random(n) < 0.3
    texts = [" ".join(rng.choice(words, 6)) + (" refund my premium" if b else "") for b in billing]
    x, _ = tfidf(hash_texts(pl.Series(texts), bits=12))
    y = np.column_stack([channel == 2, billing])
    extra = TreeInputs(np.column_stack([channel, rng.integers(0, 5, n)]).astype(np.float32),
                       ["channel", "attachments"], [0])
    return x, y, extra, rng.random(n) < 0.2


def test_trees_find_a_label_only_a_property_shows_and_the_gate_keeps_them() -> None:
    x, y, extra, test = property_data()
    model = train(x[~test], y[~test], ["Phone call", "Billing"], ModelParams(), extra=extra.rows(~test))
    prior_only = predict(replace(model, boosters={}), x[test])
    with_trees = predict(model, x[test], extra=extra.rows(test))
    assert average_precision(y[test, 0], prior_only[:, 0]) < 0.6  # the text cannot see the channel
    assert average_precision(y[test, 0], with_trees[:, 0]) > 0.95
    kept, gated = gate_trees(model, x[test], y[test], extra.rows(test))
    assert 0 in kept  # the trees earned their place for the phone label
    assert average_precision(y[test, 0], gated[:, 0]) > 0.95


def test_properties_parsed_a_chunk_at_a_time_read_as_parsed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Properties are parsed in chunks: a property first seen in a later chunk, one that
    holds a number and then a word, and more names than the trees take read the same."""
    rows = [None, "not json", json.dumps({"channel": "web", "n": 1})]
    rows += [json.dumps({"channel": ["web", "phone"][i % 2], "n": i, **({"a_late": i} if i > 6 else {}),
                         **{f"z{k:02d}": k for k in range(30)}}) for i in range(12)]
    rows += [json.dumps({"n": "many", "language": "en"})]
    frame = pl.DataFrame({"sender": [f"x@d{i % 3}.com" for i in range(len(rows))],
                          "thread_id": [None] * len(rows), "properties": rows})
    spec, whole = fit_tree_inputs(frame)
    monkeypatch.setattr(features_module, "PROPERTY_CHUNK", 2)
    chunked_spec, chunked = fit_tree_inputs(frame)
    assert chunked_spec == spec and np.array_equal(chunked.values, whole.values, equal_nan=True)
    names = [c.name for c in spec]
    assert names[:4] == ["sender domain", "thread length", "a_late", "channel"]
    assert len(names) == 2 + features_module.MAX_PROPERTIES and "language" not in names
    assert spec[names.index("a_late")].kind == "number" and spec[names.index("n")].kind == "category"
    late = whole.values[:, names.index("a_late")]
    assert np.isnan(late[:10]).all() and late[10:-1].tolist() == [7, 8, 9, 10, 11]


def test_the_gate_drops_trees_that_do_not_help() -> None:
    x, y, extra, test = property_data()
    noise = TreeInputs(np.random.default_rng(5).random((x.shape[0], 2)).astype(np.float32), ["a", "b"])
    model = train(x[~test], y[~test], ["Phone call", "Billing"], ModelParams(), extra=noise.rows(~test))
    kept, gated = gate_trees(model, x[test], y[test], noise.rows(test))
    prior_only = predict(replace(model, boosters={}), x[test])
    for j in range(2):  # whatever it keeps scores at least as well as the prior alone
        assert average_precision(y[test, j], gated[:, j]) >= average_precision(y[test, j], prior_only[:, j])
    assert train(x, y, ["a", "b"], ModelParams(), tree_labels=[]).boosters == {}


def test_boosters_score_the_same_from_the_inputs_they_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scoring hands each booster only the inputs its trees split on, a block of rows at
    a time: the scores must be those of its whole input, missing properties (NaN) and
    zeros included."""
    from cmtui import model as model_module
    from cmtui.model import _sigmoid_in_place, _tree_matrix, prior_scores, tree_scores

    monkeypatch.setattr(model_module, "TREE_ROWS", 128)  # five blocks, on two threads

    x, y, extra, test = property_data()
    values = extra.values.copy()
    values[::7, 1] = np.nan  # some rows miss a property
    extra = TreeInputs(values, extra.names, extra.categorical)
    model = train(x, y, ["Phone call", "Billing"], ModelParams(), extra=extra)
    assert model.boosters
    scores = tree_scores(model, x, extra)
    for j, booster in model.boosters.items():
        whole = _tree_matrix(x[:, model.tree_columns[j]], extra.values)
        expected = booster.predict(whole, raw_score=True)  # type: ignore[attr-defined]
        assert np.allclose(scores[:, j], expected, atol=1e-6)
    for n in (1, 3):  # fewer rows than threads: one block, its boosters shared by the threads
        assert np.array_equal(tree_scores(model, x[:n], extra.rows(np.arange(n))), scores[:n])
    # predict adds them to the prior's scores in place: as kept apart and added, bit for bit
    raw = prior_scores(model, x) + tree_scores(model, x, extra)
    assert np.array_equal(predict(model, x, extra=extra), _sigmoid_in_place(raw))
    monkeypatch.setattr(model_module, "PREDICT_BLOCK", 100)  # the prior in six blocks, on two threads
    columns = np.array([1])  # one label's prior alone: its column of the whole, bit for bit
    assert np.array_equal(prior_scores(model, x, columns), prior_scores(model, x)[:, columns])
    missing = tree_scores(model, x)  # no inputs given: every property missing
    for j, booster in model.boosters.items():
        whole = _tree_matrix(x[:, model.tree_columns[j]], np.full(extra.values.shape, np.nan, np.float32))
        assert np.allclose(missing[:, j], booster.predict(whole, raw_score=True), atol=1e-6)  # type: ignore[attr-defined]
