"""TF-IDF + logistic regression one-vs-rest baseline (scikit-learn), for the benchmark only.

Usage: python scripts/baseline.py TRAIN.csv TEST.csv --sizes 100,200,500,1000 --seeds 0,1,2
Picks the labelled messages by Shuffle (a seeded random sample, as `cmtui simulate` does
for its seed set) and prints the mean AP over labels with a positive both in the test file
and among the labelled messages (the `map_all` of `cmtui simulate`).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer

from cmtui.ingest import read_file


def texts_and_labels(path: str) -> tuple[list[str], list[list[str]]]:
    frame = read_file(path).frame
    texts = [(s or "") + "\n" + b for s, b in zip(frame["subject"], frame["body"], strict=True)]
    return texts, [labels or [] for labels in frame["labels"].to_list()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("train")
    parser.add_argument("test")
    parser.add_argument("--sizes", default="100,200,500,1000")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    train_texts, train_labels = texts_and_labels(args.train)
    test_texts, test_labels = texts_and_labels(args.test)
    out = {}
    for size in [int(s) for s in args.sizes.split(",")]:
        scores = []
        for seed in [int(s) for s in args.seeds.split(",")]:
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
            aps = [average_precision_score(y_test[:, j], probs[:, j])
                   for j in range(y_test.shape[1]) if y_test[:, j].sum() > 0]
            scores.append(float(np.mean(aps)))
        out[size] = round(float(np.mean(scores)), 4)
        print(json.dumps({"labelled": size, "map_all": out[size]}), flush=True)


if __name__ == "__main__":
    main()
