"""Discover for one dataset: the cached corpus representation and clustering, and which
clusters were handled (``discover`` computes; this keeps it beside the feature cache).

The clustering is kept in ``clusters.json`` (messages by mid) with the counts it was
made at, so opening Discover again reads a file; it is due again after
``REFRESH_PAGES`` submitted pages or once ``REFRESH_GROWTH`` more messages arrived.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from . import discover
from .discover import Cluster, Corpus
from .features import cache_dir, clean_text, features_version, release_freed_memory
from .private import write_cache_file
from .store import Store

REFRESH_PAGES = 5
REFRESH_GROWTH = 0.1
CACHE_VERSION = 1


@dataclass
class Clusters:
    """A clustering as the app shows it: clusters by mid, and the counts it was made at."""

    clusters: list[Cluster]  # rows are mids here
    candidates: int  # messages clustered
    messages: int  # messages in the dataset then
    pages: int = 0  # pages submitted since it was made
    uncovered: bool = False  # made of the messages no informative label covered

    def open(self) -> list[Cluster]:
        return [c for c in self.clusters if not c.handled]

    def shown_mids(self) -> list[int]:
        """The messages the open clusters show, cluster after cluster."""
        return [m for cluster in self.open() for m in cluster.rows]


class Discoverer:
    def __init__(self, store: Store, dataset: str, mids: np.ndarray, bits: int, seed: int) -> None:
        self.store = store
        self.dataset = dataset
        self.mids = mids
        self.bits = bits
        self.seed = seed
        self.directory = cache_dir(store.path, dataset)
        self._lock = threading.RLock()  # one clustering at a time, and its representation read once
        self.current: Clusters | None = self._read()
        # the clusters of clusterings replaced in this process, by id: the Discover screen
        # may still show one, and o / s must open that cluster, not its successor
        self.earlier: dict[int, Cluster] = {}

    # ---- the corpus representation ------------------------------------------------------
    def corpus(self, x: Any) -> Corpus:
        """Every message's dense vector (``x``: the TF-IDF rows in ``mids`` order): read
        from the cache, new messages projected, refitted once the dataset grew by half.
        Not kept between clusterings: 400 MB at 1M messages, read again in ~0.3 s."""
        with self._lock:
            return self._load_corpus(x)

    def _corpus_file(self) -> Path:
        return self.directory / f"corpus-{features_version(self.bits)}-{discover.DIMS}-v{CACHE_VERSION}.npz"

    def _load_corpus(self, x: Any) -> Corpus:
        try:
            with np.load(self._corpus_file()) as data:
                stored_mids = data["mids"]
                stored = Corpus(data["columns"], data["components"], data["vectors"], int(data["fitted_on"]))
        except (OSError, ValueError, KeyError):
            stored = None  # missing or damaged: fitted again
        if stored is None or discover.needs_refit(stored, len(self.mids)):
            corpus = discover.fit_corpus(x, seed=self.seed)
            self._write_corpus(corpus)
            return corpus
        if np.array_equal(stored_mids, self.mids):  # the usual case: no gather, one float32 copy
            return Corpus(stored.columns, stored.components, stored.vectors.astype(np.float32), stored.fitted_on)
        known = np.isin(self.mids, stored_mids)
        vectors = np.zeros((len(self.mids), stored.components.shape[1]), np.float32)
        vectors[known] = stored.vectors[np.searchsorted(stored_mids, self.mids[known])]
        corpus = Corpus(stored.columns, stored.components, vectors, stored.fitted_on)
        if not known.all():  # messages imported since: projected with the stored components
            vectors[~known] = discover.project(x[np.flatnonzero(~known)], stored.columns, stored.components)
            self._write_corpus(corpus)
        return corpus

    def _write_corpus(self, corpus: Corpus) -> None:
        """Stored by mid, as float16. The mids come sorted from the store, so the vectors
        are written without a reordered float32 copy (400 MB at 1M messages)."""
        order = np.argsort(self.mids, kind="stable")
        ordered = bool((order == np.arange(len(order))).all())
        write_cache_file(self._corpus_file(), lambda tmp: np.savez(
            tmp, mids=self.mids if ordered else self.mids[order],
            vectors=(corpus.vectors if ordered else corpus.vectors[order]).astype(np.float16),
            columns=corpus.columns, components=corpus.components, fitted_on=corpus.fitted_on))

    def forget(self) -> None:
        """Drop the representation and the clustering, cached and in memory: the next
        Discover starts from nothing, as on a new mailbox."""
        with self._lock:
            self.current = None
            self.earlier.clear()
            for path in [self._corpus_file(), self._clusters_file()]:
                path.unlink(missing_ok=True)

    # ---- clusters -----------------------------------------------------------------------
    def due(self) -> bool:
        """Whether the clustering should be made again: none yet, 5 pages submitted since,
        or 10% more messages."""
        current = self.current
        if current is None:
            return True
        grown = len(self.mids) > current.messages * (1 + REFRESH_GROWTH)
        return current.pages >= REFRESH_PAGES or grown

    def refresh(self, x: Any, reviewed: np.ndarray, covered: np.ndarray | None,
                text_of: Callable[[Sequence[int]], list[str]], clusters: int = discover.CLUSTERS,
                progress: discover.Progress = lambda _f: None) -> Clusters:
        """Cluster the unreviewed messages (``reviewed``: a row mask), or, once a model
        covers some (``covered``: a row mask), the unreviewed ones it does not cover."""
        with self._lock:
            return self._refresh(x, reviewed, covered, text_of, clusters, progress)

    def _refresh(self, x: Any, reviewed: np.ndarray, covered: np.ndarray | None,
                 text_of: Callable[[Sequence[int]], list[str]], clusters: int,
                 progress: discover.Progress) -> Clusters:
        corpus = self.corpus(x)
        progress(0.3)
        candidates = ~reviewed
        uncovered = covered is not None and bool(covered.any()) and bool((candidates & ~covered).any())
        if uncovered and covered is not None:
            candidates &= ~covered
        rows = np.flatnonzero(candidates)

        def texts_by_row(found: Sequence[int]) -> list[str]:
            return text_of([int(self.mids[r]) for r in found])

        found = discover.build(corpus.vectors, rows, texts_by_row, clusters, self.seed,
                               lambda f: progress(0.3 + 0.7 * f))
        before = self.current.clusters if self.current is not None else []
        first = 1 + max([c.id for c in before] + list(self.earlier), default=-1)
        for cluster in found:  # ids never reused: a page or screen of the last clustering keeps its own
            cluster.id += first
            cluster.rows = [int(self.mids[r]) for r in cluster.rows]
        result = Clusters(found, len(rows), len(self.mids), 0, uncovered)
        self.earlier.update({c.id: c for c in before})
        self.current = result
        self._write()
        release_freed_memory()
        return result

    def submitted(self, mode: str | None, mids: Sequence[int], written: int) -> None:
        """A page was submitted: count it, and mark its cluster handled if it was one."""
        current = self.current
        if current is None or not written:
            return
        current.pages += 1
        for cluster in self.clusters_of(mids) if mode == "discover" else []:
            cluster.handled = True
        self._write()

    def clusters_of(self, mids: Sequence[int]) -> list[Cluster]:
        """The cluster whose shown messages ``mids`` are (a Discover page): the one sharing
        the most, of this clustering or an earlier one still on screen (a page may also
        lead with drafts of other messages); both when a new clustering repeats it."""
        shown = set(mids)
        every = self._every()
        shared = [len(shown & set(c.rows)) for c in every]
        most = max(shared, default=0)
        return [c for c, n in zip(every, shared, strict=True) if n == most] if most else []

    def undone(self, kind: str, mids: Sequence[int]) -> None:
        """A step was undone: a cluster handled by an undone submit is open again."""
        current = self.current
        if current is None or kind != "submit":
            return
        undone = set(mids)
        reopened = [c for c in self._every() if c.handled and undone & set(c.rows)]
        for cluster in reopened:
            cluster.handled = False
        if reopened:
            current.pages = max(0, current.pages - 1)
        self._write()

    def _every(self) -> list[Cluster]:
        """The current clustering's clusters, then those of the ones it replaced."""
        return (self.current.clusters if self.current else []) + list(self.earlier.values())

    def cluster(self, cluster_id: int) -> Cluster | None:
        """The cluster of that id: of the current clustering, or of one it replaced in
        this process (a Discover screen may still show it)."""
        current = self.current
        found = next((c for c in current.clusters if c.id == cluster_id), None) if current else None
        return found if found is not None else self.earlier.get(cluster_id)

    def _clusters_file(self) -> Path:
        return self.directory / "clusters.json"

    def _write(self) -> None:
        current = self.current
        if current is None:
            return
        body = {"version": CACHE_VERSION, "candidates": current.candidates, "messages": current.messages,
                "pages": current.pages, "uncovered": current.uncovered,
                "clusters": [c.to_dict() for c in current.clusters]}
        write_cache_file(self._clusters_file(), lambda tmp: tmp.write_text(json.dumps(body)))

    def _read(self) -> Clusters | None:
        try:
            body = json.loads(self._clusters_file().read_text())
            if body.get("version") != CACHE_VERSION:
                return None
            known = set(self.mids.tolist())
            clusters = [Cluster(**c) for c in body["clusters"]]
            for cluster in clusters:  # messages deleted since are not shown
                keep = [i for i, m in enumerate(cluster.rows) if m in known]
                cluster.rows = [cluster.rows[i] for i in keep]
                cluster.copies = [cluster.copies[i] for i in keep]
            return Clusters(clusters, body["candidates"], body["messages"], body["pages"], body["uncovered"])
        except (OSError, ValueError, KeyError, TypeError):
            return None


class Discovering:
    """The Session's Discover part: clusters of what is not reviewed (or not covered) yet."""

    discoverer: Discoverer
    dataset: str
    mids: np.ndarray
    store: Store

    def clusters(self) -> Clusters | None:
        """The last clustering (read from its cache), or None before the first."""
        return self.discoverer.current

    def discover_due(self) -> bool:
        return self.discoverer.due()

    def discover(self, clusters: int = discover.CLUSTERS,
                 progress: Callable[[float], None] = lambda _f: None) -> Clusters:
        """Cluster the unreviewed messages; once a model covers some, those it does not."""
        state = self.state  # type: ignore[attr-defined]
        covered = None
        if state.informative and state.covered_score.shape[0] == len(self.mids):
            covered = state.covered_score >= 1
        return self.discoverer.refresh(self.x, self.reviewed_mask(),  # type: ignore[attr-defined]
                                       covered, self._texts_of, clusters, progress)

    def _texts_of(self, mids: Sequence[int]) -> list[str]:
        """The texts the features were built from (quoted replies and signatures out), so
        a cluster's terms are words that drove it."""
        frame = self.store.messages_frame(self.dataset, "mid, subject, body", mids=mids)
        cleaned = frame.select("mid", clean_text(pl.col("subject"), pl.col("body")).alias("text"))
        text = dict(zip(cleaned["mid"].to_list(), cleaned["text"].to_list(), strict=True))
        return [text.get(int(m), "") for m in mids]
