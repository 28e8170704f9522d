"""A faceted multi-label gold set built from three of the dev sets, for `label_efficiency.py`.

usage: python scripts/faceted_set.py [--data ../shared/data] --out DIR [--seed 0]

The engine issue's held-out set is long business email labelled in independent groups (a
genre, a topic, a tone...), 3.4 labels per email, with no dev set of that shape in
``--data``. This writes one, ``faceted_train.csv`` and ``faceted_test.csv`` in ``DIR``
(never in the repository: the texts are the gold sets'): each message joins

* a home-assistant command (HWU64), labelled ``Genre > <its scenario>`` (18 values),
* a newswire story (Reuters; its headline is the subject), ``Topic > <each topic>``
  (90 values, 1-15 per story), and
* a Reddit comment (GoEmotions), ``Tone > <each emotion>`` (28 values, 1-5 per comment),

so every message carries one label of each group or more, 3.5 on average, and the groups
say independent things. Train pairs each Reuters training story with a HWU64 and a
GoEmotions training row drawn without replacement; test does the same from the test
files, as many rows as the smallest of them (HWU64's 1,076).
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIELDS = ["id", "timestamp", "subject", "body", "labels"]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _labels(row: dict[str, str], group: str, scenario_only: bool = False) -> list[str]:
    names = [name.strip() for name in row["labels"].split(";") if name.strip()]
    if scenario_only:
        names = sorted({name.split(" > ")[0] for name in names})
    return [f"{group} > {name}" for name in names]


def compose(data: Path, split: str, rng: random.Random) -> list[dict[str, str]]:
    """One split's messages: every Reuters story of ``split`` (or as many as the smallest
    source holds), each with a HWU64 command and a GoEmotions comment drawn at random."""
    stories, commands, comments = (_rows(data / f"{name}_{split}.csv") for name in ("reuters", "hwu64", "goemotions"))
    size = min(len(stories), len(commands), len(comments))
    stories, commands, comments = (rng.sample(rows, size) for rows in (stories, commands, comments))
    out = []
    for i, (story, command, comment) in enumerate(zip(stories, commands, comments, strict=True)):
        labels = (_labels(command, "Genre", scenario_only=True) + _labels(story, "Topic")
                  + _labels(comment, "Tone"))
        out.append({"id": f"faceted-{split}-{i:05d}", "timestamp": f"2024-01-{1 + i // 1440 % 28:02d}T"
                    f"{i // 60 % 24:02d}:{i % 60:02d}:00Z", "subject": story["subject"],
                    "body": "\n\n".join([command["body"], story["body"], comment["body"]]),
                    "labels": ";".join(labels)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, required=True, help="a directory outside the repository")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.out.resolve().is_relative_to(ROOT):
        raise SystemExit(f"{args.out}: inside the repository; the gold texts must not be copied there")
    for path, rows in write(args.data, args.out, args.seed):
        per = sum(len(row["labels"].split(";")) for row in rows) / len(rows)
        print(f"{path}: {len(rows)} messages, {per:.2f} labels each")


def write(data: Path, out: Path, seed: int = 0) -> list[tuple[Path, list[dict[str, str]]]]:
    """``faceted_train.csv`` and ``faceted_test.csv`` in ``out``, and their rows."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    written = []
    for split in ("train", "test"):
        rows = compose(data, split, rng)
        path = out / f"faceted_{split}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, FIELDS, quoting=csv.QUOTE_ALL)
            writer.writeheader()
            writer.writerows(rows)
        written.append((path, rows))
    return written


if __name__ == "__main__":
    main()
