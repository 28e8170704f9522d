"""TF-IDF + logistic regression one-vs-rest baseline (scikit-learn), for the benchmark only.

Usage: python scripts/baseline.py TRAIN.csv TEST.csv --sizes 100,200,500,1000 --seeds 0-19 [--cmtui]
Picks the labelled messages by Shuffle (a seeded random sample, as `cmtui simulate` does
for its seed set) and prints the mean AP over labels with a positive both in the test file
and among the labelled messages (the `map_all` of `cmtui simulate`). With ``--cmtui`` it
also trains cmtui's model (``cmtui.model.train_gated``, the prior with trees where they
earned them on the app's test split of those messages, on the app's hashed TF-IDF features) on
the same messages and prints its figure beside the baseline's, with the mean paired
difference, its standard error and how many seeds cmtui won: at 100-200 labelled the two
differ by less than the seed-to-seed noise, so a few seeds can show either ahead.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy and OpenMP load: see cmtui/__init__.py
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import warnings

import numpy as np
import polars as pl
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer

from cmtui import metrics
from cmtui.features import clean_text, hash_texts, tfidf
from cmtui.ingest import read_file
from cmtui.model import predict as cmtui_predict
from cmtui.model import train_gated
from cmtui.trainer import in_test_split


def texts_and_labels(path: str) -> tuple[list[str], list[list[str]]]:
    frame = read_file(path).frame
    texts = [(s or "") + "\n" + b for s, b in zip(frame["subject"], frame["body"], strict=True)]
    return texts, [labels or [] for labels in frame["labels"].to_list()]


def cmtui_features(train_path: str, test_path: str) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """The app's features: cleaned text hashed and TF-IDF weighted, idf from the train file."""
    counts = [hash_texts(read_file(p).frame.select(clean_text(pl.col("subject"), pl.col("body")))
                         .to_series()) for p in (train_path, test_path)]
    x_train, idf = tfidf(counts[0])
    x_test, _ = tfidf(counts[1], idf)
    return x_train, x_test


def mean_ap(y_test: np.ndarray, probs: np.ndarray) -> float:
    return float(np.mean([average_precision_score(y_test[:, j], probs[:, j])
                          for j in range(y_test.shape[1]) if y_test[:, j].sum() > 0]))


def seed_list(text: str) -> list[int]:
    """``0,1,2`` or ``0-19`` (or a mix) as a list of seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        seeds += list(range(int(first), int(last or first) + 1))
    return seeds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("train")
    parser.add_argument("test")
    parser.add_argument("--sizes", default="100,200,500,1000")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds or ranges, e.g. 0-19")
    parser.add_argument("--cmtui", action="store_true", help="also cmtui's model on the same messages")
    args = parser.parse_args()
    # test labels absent from a small labelled sample are expected; the AP skips them
    warnings.filterwarnings("ignore", message="unknown class")
    train_texts, train_labels = texts_and_labels(args.train)
    test_texts, test_labels = texts_and_labels(args.test)
    if args.cmtui:
        x_train, x_test = cmtui_features(args.train, args.test)
        held_out = in_test_split(read_file(args.train).frame["id"].to_list())
    out = {}
    for size in [int(s) for s in args.sizes.split(",")]:
        scores, ours = [], []
        for seed in seed_list(args.seeds):
            pick = np.random.default_rng(seed).permutation(len(train_texts))[:size]
            labels = [train_labels[i] for i in pick]
            binarizer = MultiLabelBinarizer().fit(labels)
            y = binarizer.transform(labels)
            keep = y.sum(axis=0) > 0
            vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
            x = vectorizer.fit_transform([train_texts[i] for i in pick])
            model = OneVsRestClassifier(LogisticRegression(max_iter=1000)).fit(x, y[:, keep])
            probs = model.predict_proba(vectorizer.transform(test_texts))
            y_test = MultiLabelBinarizer(classes=binarizer.classes_).fit_transform(test_labels)[:, keep]
            scores.append(mean_ap(y_test, probs))
            if args.cmtui:
                names = [str(n) for n in binarizer.classes_[keep]]
                y_ours = metrics.label_matrix(names, [dict.fromkeys(n) for n in labels])
                trained, _ = train_gated(x_train[pick], y_ours, names, held_out[pick])
                ours.append(mean_ap(y_test, cmtui_predict(trained, x_test)))
        out[size] = round(float(np.mean(scores)), 4)
        row: dict[str, object] = {"labelled": size, "map_all": out[size]}
        if ours:
            difference = np.array(ours) - np.array(scores)
            row["cmtui_map_all"] = round(float(np.mean(ours)), 4)
            row["difference"] = round(float(difference.mean()), 4)
            row["standard_error"] = round(float(difference.std(ddof=1) / np.sqrt(len(difference))), 4) \
                if len(difference) > 1 else None
            row["cmtui_wins"] = f"{int((difference > 0).sum())}/{len(difference)}"
        print(json.dumps(row), flush=True)

if __name__ == "__main__":
    main()
