"""A scripted annotator for the reliability tests (run as a separate process).

usage: python tests/reliability_worker.py DB ANNOTATOR PAGES GOLD.csv
It labels pages from the gold file exactly as a person would through Session, and
prints "confirmed MID" only after the confirmation returned, so a test that kills this
process knows which confirmations must have survived.
"""

from __future__ import annotations

import sys
import zlib

from cmtui.ingest import read_file
from cmtui.session import Session
from cmtui.store import Store


def main() -> None:
    db, annotator, pages, gold_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    frame = read_file(gold_path).frame
    gold = dict(zip(frame["id"].to_list(), frame["labels"].to_list(), strict=True))
    session = Session.open(Store(db), "mail", annotator, seed=zlib.crc32(annotator.encode()))
    id_of = dict(zip(session.mids.tolist(), session.ids, strict=True))
    for number in range(pages):
        mode = "low-confidence" if session.state.model is not None else "shuffle"
        page = session.page(mode)
        print(f"page {mode} {' '.join(map(str, page))}", flush=True)
        if not page:
            break
        for mid in page[:-5]:  # most one by one, as confirmations...
            session.set_labels(mid, dict.fromkeys(gold[id_of[mid]] or []))
            session.confirm([mid], mode)
            print(f"confirmed {mid}", flush=True)
        for mid in page[-5:]:  # ...the rest by submitting the page
            session.set_labels(mid, dict.fromkeys(gold[id_of[mid]] or []))
        session.submit(page, mode, untouched=True)
        for mid in page[-5:]:
            print(f"confirmed {mid}", flush=True)
        print(f"submitted {number}", flush=True)
        session.retrain()
        print("retrained", flush=True)


if __name__ == "__main__":
    main()
