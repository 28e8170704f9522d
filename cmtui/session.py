"""The annotation loop: page -> label -> confirm/submit -> retrain -> re-rank; undo.

``Session`` imports no UI. The TUI, ``cmtui simulate``, ``cmtui stats`` and the tests
all drive these same methods. Retraining may run in a background thread and is
cancellable between labels; it swaps in its results in one assignment at the end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import metrics, queues, ranking
from .analytics import Analytics, Reporting, parse_filters, period_name, sparkline
from .discover import Cluster
from .discovering import Clusters, Discoverer, Discovering
from .features import DEFAULT_BITS
from .fields.extracting import Extracting, FieldSpan
from .labelling import LabelImplied, Labelling, RowIndex
from .metrics import AMBER_EXAMPLES, expected_text
from .model import Cancelled, ModelParams
from .readiness import format_readiness, readiness
from .scoping import Scoping
from .store import Filters, ModelVersion, Review, SavedSession, Store, validate_label_name
from .taxonomy import within
from .texts import PageRow, TextCache
from .trainer import ModelState, Trainer, TrainingData, in_test_split

__all__ = ["AMBER_EXAMPLES", "Analytics", "FieldSpan", "Filters", "parse_filters", "period_name", "sparkline", "Cancelled", "Cluster", "Clusters", "LabelImplied",
           "ModelState", "ModelVersion", "PageRow", "SavedSession", "Session", "Undone", "check_label_name", "expected_text", "format_readiness", "in_test_split", "readiness"]


def check_label_name(name: str) -> str:
    """The canonical form of a label name, or ``LabelNameError`` saying what is wrong."""
    return validate_label_name(name)


@dataclass(frozen=True)
class Undone:
    """What one undo step reverted: ``edit`` (a draft), ``confirm``, ``submit`` or a
    taxonomy change, with the messages it touched."""

    kind: str
    mids: list[int]
    label: str | None = None
    page: list[int] | None = None  # an undone submit's whole page, untouched messages too, when known


class Session(Labelling, Discovering, Scoping, Reporting, Extracting):
    """One annotator working on one dataset: pages, drafts, confirm, submit and undo
    (the label edits of a draft are ``Labelling``'s; fitting is the ``Trainer``'s)."""

    def __init__(self, store: Store, dataset: str, annotator: str, *, seed: int = 0,
                 params: ModelParams | None = None, explore: float = queues.EXPLORE,
                 bits: int = DEFAULT_BITS) -> None:
        self.store, self.dataset, self.annotator = store, dataset, annotator
        self.seed = seed
        self.params = params or ModelParams(seed=seed)
        self.explore = explore
        self.bits = bits  # the hashed feature space has 2**bits columns
        self.page_size = queues.PAGE_SIZE
        self.sentiment = False
        self.labels: list[str] = []
        self.reviewed: dict[int, dict[str, int | None]] = {}
        self.review_modes: dict[int, str] = {}
        self.drafts: dict[int, dict[str, int | None]] = {}
        self._draft_history: list[list[tuple[int, dict[str, int | None] | None]] | None] = []
        self._reviews_lock = threading.Lock()  # confirms from the write worker swap the dicts under it
        self.texts = TextCache(store, dataset)
        # pages already shown, per (mode, argument): they stay as they were until a submit
        self._pages: dict[tuple[str, str | None], list[list[int]]] = {}
        self._submitted_pages: dict[frozenset[int], list[int]] = {}  # by the messages a submit wrote
        self.random_picks: set[int] = set()  # Low confidence slots filled from Shuffle
        self.descriptions: dict[str, str] = {}
        self.exception_kinds: dict[int, list[str]] = {}  # open stream exceptions, read with the Exceptions page

    # ---- opening ----------------------------------------------------------------------
    @classmethod
    def open(cls, store: Store, dataset: str, annotator: str, **kwargs: Any) -> Session:
        session = cls(store, dataset, annotator, **kwargs)
        session.load()
        return session

    def load(self) -> None:
        """Read the messages' ids and times, and the reviews; features load on first use."""
        info = self.store.dataset_info(self.dataset)
        self.sentiment = info.sentiment
        meta = self.store.messages_frame(self.dataset, "mid, id, ts, updated")
        self.mids = meta["mid"].to_numpy()
        self.ids = meta["id"].to_list()
        self.timestamps = meta["ts"].dt.epoch("s").to_numpy()
        self.row_of = RowIndex(self.mids)
        self.trainer = Trainer(self.store, self.dataset, self.mids, self.ids, meta.select("mid", "updated"),
                               self.params, self.bits, self.seed)
        self.discoverer = Discoverer(self.store, self.dataset, self.mids, self.bits, self.seed)
        rng = np.random.default_rng(self.seed)
        self.shuffle_order = rng.permutation(len(self.mids))
        self.refresh_reviews()
        runs = self.store.coverage_history(self.dataset)
        self.trainer.state.version = runs[-1][0] if runs else 0
        # the meter's history survives restarts: every model run stored its coverage
        self.trainer.history = [coverage for _, coverage in runs]

    def refresh_reviews(self) -> None:
        """Re-read the taxonomy and every annotator's reviews from the database."""
        labels, descriptions, created, reviewed, modes = self.store.reviews_and_taxonomy(self.dataset)
        with self._reviews_lock:
            self.labels, self.descriptions, self._key_order = labels, descriptions, created
            self.reviewed, self.review_modes = reviewed, modes

    def reviewed_mask(self) -> np.ndarray:
        mask = np.zeros(len(self.mids), dtype=bool)
        mask[self.row_of.present_rows(self.reviewed)] = True
        return mask

    # ---- pages ------------------------------------------------------------------------
    def ranked(self, mode: str, arg: str | None = None, count: int | None = None) -> list[int]:
        """Message ids (mids) of ``mode`` in order; ``count`` bounds the work where it can."""
        return ranking.ranked(self, mode, arg, count or self.page_size)

    def page(self, mode: str, arg: str | None = None, number: int = 0, cursor: int = 0) -> list[int]:
        """Page ``number`` (of 20) of ``mode``; its unreviewed messages are leased to us,
        so another annotator is not handed them until we submit or the lease expires.

        A page once shown stays as it was until a submit (``p`` brings back the same
        messages), and later pages of the mode leave out what earlier ones showed. A
        first page begins with the messages holding unconfirmed edits, so none is hidden.
        """
        self.refresh_reviews()  # what other annotators reviewed since is not handed out again
        shown = self._pages.setdefault((mode, arg), [])
        fresh = len(shown) <= number  # a new page is leased as it is built
        while len(shown) <= number:
            shown.append(self._new_page(mode, arg, shown))
        mids = shown[number]
        if mode == "exceptions":  # the types the message view names, as they are now
            self.exception_kinds = self.store.exception_types(self.dataset)
        if not fresh:  # a page shown before: take its leases again
            self.store.lease(self.dataset, self.annotator, [m for m in mids if m not in self.reviewed])
        self.save_state(mode, arg, mids, cursor)  # a restart, even after a crash, comes back here
        return mids

    def _new_page(self, mode: str, arg: str | None, shown: list[list[int]]) -> list[int]:
        excluded = {m for page in shown for m in page}
        pinned = [] if shown else self.edited_unreviewed()
        excluded |= set(pinned)
        want = self.page_size - len(pinned)
        extra = 0
        mids: list[int] = []
        for _attempt in range(4):
            ranked = self.ranked(mode, arg, len(excluded) + want + extra) if want > 0 else []
            candidates = [m for m in ranked if m not in excluded]
            unreviewed = [m for m in candidates if m not in self.reviewed]
            granted = self.store.lease(self.dataset, self.annotator, unreviewed)
            # someone else leased some of them between our ranking and our lease: skip those
            mids = [m for m in candidates if m in granted or m in self.reviewed][:want]
            if len(mids) >= min(want, len(candidates)) or len(ranked) < len(excluded) + want + extra:
                break
            extra += self.page_size
        return pinned[: self.page_size] + mids

    def forget_pages(self, keep: Sequence[str] = ()) -> None:
        """Drop the pages shown so far (after a submit the model ranks anew), except
        those of the modes in ``keep``."""
        self._pages = {key: pages for key, pages in self._pages.items() if key[0] in keep}

    def pin_page(self, mode: str, arg: str | None, mids: Sequence[int]) -> None:
        """Make ``mids`` the first page of ``mode`` (an undone submit comes back as it was)."""
        self._pages[(mode, arg)] = [[m for m in mids if m in self.row_of]]

    def save_state(self, mode: str, arg: str | None, mids: Sequence[int], cursor: int = 0) -> None:
        """Remember the open page, the cursor row and the unconfirmed edits (for a restart)."""
        self.store.save_session_state(self.dataset, self.annotator, mode, arg, mids, self.drafts, cursor, self.scope,
                                      [m for m in mids if m in self.random_picks])

    def resume(self) -> SavedSession | None:
        """What this annotator last had open (survives a restart), with its drafts taken back."""
        saved = self.store.session_state(self.dataset, self.annotator)
        if saved is None:
            return None
        self.set_scope(*saved.scope)  # the filter too (before the page: it forgets pages)
        known = set(self.labels)
        self.drafts |= {mid: {n: v for n, v in labels.items() if n in known} for mid, labels in saved.drafts.items()
                        if mid in self.row_of and mid not in self.drafts}
        page = [m for m in saved.page if m in self.row_of]
        if page:
            self._pages[(saved.mode, saved.arg)] = [page]
            self.random_picks |= {m for m in saved.picks if m in self.row_of}  # reviewed as Shuffle's, marked r
        return SavedSession(saved.mode, saved.arg, page, saved.drafts, saved.cursor, saved.scope, saved.picks)

    def rows(self, mids: Sequence[int], fetch: bool = True) -> list[PageRow]:
        """Full message rows for display; ``fetch=False`` reads the cache only, never the
        database (what the app's main thread does)."""
        return self.texts.rows(mids, fetch)

    def thread(self, thread_id: str, fetch: bool = True) -> list[PageRow]:
        return self.texts.thread(thread_id, fetch)

    def prefetch(self, mids: Sequence[int]) -> None:
        """Cache the texts of ``mids`` and their threads, and find their fields (in a worker)."""
        self.texts.prefetch(mids)
        self.find_page_fields(mids)

    def add_label(self, name: str) -> str:
        name = self.store.add_label(self.dataset, name, self.annotator)
        self.labels, self.descriptions, self._key_order = self.store.taxonomy(self.dataset)
        self.stored()
        return name

    def rename_label(self, old: str, new: str, merge: bool = False) -> int:
        """Rename (or merge) a label everywhere: the store, and this session's drafts."""
        moved = self.store.move_label(self.dataset, old, new, self.annotator, merge=merge)
        for mid, labels in self.drafts.items():
            self.drafts[mid] = {(new + n[len(old):] if within(n, old) else n): v
                                for n, v in labels.items()}
        self.refresh_reviews()
        self.stored()
        return moved

    def delete_label(self, name: str) -> int:
        removed = self.store.delete_label(self.dataset, name, self.annotator)
        for mid, labels in self.drafts.items():
            self.drafts[mid] = {n: v for n, v in labels.items() if not within(n, name)}
        self.refresh_reviews()
        self.stored()
        return removed

    def describe_label(self, name: str, description: str) -> None:
        self.store.describe_label(self.dataset, name, description, self.annotator)
        self.refresh_reviews()
        self.stored()

    def confirm(self, mids: Sequence[int], mode: str | None = None, kind: str = "confirm",
                labels: dict[int, dict[str, int | None]] | None = None) -> None:
        """Mark messages reviewed with their labels: written at once, in one transaction.

        ``labels`` gives the label sets as they were when the user confirmed (the app
        writes from a worker thread); by default each message's current labels.
        """
        reviews = [Review(m, dict(labels[m]) if labels and m in labels else self.labels_of(m),
                          self._review_mode(m, mode)) for m in mids]
        self.store.confirm(self.dataset, self.annotator, reviews, kind)
        confirmed = {review.mid for review in reviews}
        with self._reviews_lock:  # new dicts, swapped in: a fit iterating the old ones is unharmed
            self.reviewed = {**self.reviewed, **{r.mid: dict(r.labels) for r in reviews}}
            self.review_modes = {**self.review_modes, **{r.mid: r.mode or "" for r in reviews}}
        for review in reviews:
            if self.drafts.get(review.mid) == review.labels or labels is None:
                self.drafts.pop(review.mid, None)
        self.stored(confirmed)  # it closes the messages' edits: undo now reverts the confirmation first

    def _review_mode(self, mid: int, mode: str | None) -> str | None:
        """The mode a review is recorded in: a Low confidence slot filled from the shuffled
        stream was a random pick, and counts as Shuffle (for balance, label shares and the
        representative reviews that thresholds are fitted on)."""
        return "shuffle" if mode == "low-confidence" and mid in self.random_picks else mode

    def to_submit(self, mids: Sequence[int], labels: dict[int, dict[str, int | None]] | None = None
                  ) -> tuple[list[int], list[int]]:
        """What a submit of ``mids`` writes: (messages with unconfirmed edits, untouched
        messages: unreviewed with no label, which only an explicit choice reviews)."""
        shown = labels or {m: self.labels_of(m) for m in mids}
        edited = [m for m in mids if (m in self.reviewed and shown[m] != self.reviewed[m])
                  or (m not in self.reviewed and shown[m])]
        untouched = [m for m in mids if m not in self.reviewed and not shown[m]]
        return edited, untouched

    def submit(self, mids: Sequence[int], mode: str | None = None, *, untouched: bool,
               labels: dict[int, dict[str, int | None]] | None = None) -> int:
        """Submit a page in one transaction (one undo step): every message with unconfirmed
        edits is confirmed as shown; with ``untouched`` also every message nobody edited
        or confirmed, as reviewed with no labels. Returns how many were written."""
        shown = labels or {m: self.labels_of(m) for m in mids}
        edited, blank = self.to_submit(mids, shown)
        writing = set(edited) | (set(blank) if untouched else set())
        todo = [m for m in mids if m in writing]
        self.confirm(todo, mode, kind="submit", labels=shown)
        self._submitted_pages[frozenset(todo)] = list(mids)  # its undo brings back the page as shown
        self.discoverer.submitted(mode, mids, written=len(todo))
        # the next pages come from the retrained model; search results do not depend on it
        self.forget_pages(keep=("search",))
        return len(todo)

    def undo(self) -> Undone | None:
        """Undo the latest step made: a draft edit, or (from the store, also after a restart)
        a confirmation, submit (all its messages), field review or taxonomy change. An undone
        confirmation leaves its labels as the message's draft, as they were before it."""
        if (edited := self.undo_edit()) is not None:
            return Undone("edit", edited)
        step = self.store.undo_last(self.dataset, self.annotator)
        if step is None:
            return None
        self.refresh_reviews()
        self.redraft(step.labels)
        self.field_undone(step.kind, step.mids)
        self.discoverer.undone(step.kind, step.mids)  # a cluster whose submit is undone opens again
        page = self._submitted_pages.pop(frozenset(step.mids), None) if step.kind == "submit" else None
        return Undone(step.kind, step.mids, step.label, page)

    # ---- training: the trainer fits, on a snapshot of the reviews ------------------------
    def training_data(self, with_annotators: bool = False) -> TrainingData:
        """The reviews as they are now (re-read from the database), for a fit; with each
        annotator's own reviews too (for agreement) when ``with_annotators``."""
        self.refresh_reviews()
        reviewed, modes = self.reviewed, self.review_modes  # one snapshot: confirms swap, never mutate
        labels = list(self.labels)
        reviewed_mids = self.row_of.present(reviewed)  # ascending: the order fixes the fit
        assigned = [reviewed[m] for m in reviewed_mids]
        review_modes = [modes.get(m, "") for m in reviewed_mids]
        return TrainingData(labels, reviewed_mids, self.row_of.rows(reviewed_mids),
                            assigned, metrics.label_matrix(labels, assigned),
                            np.array([m == "shuffle" for m in review_modes], dtype=bool), review_modes,
                            self.store.annotator_reviews(self.dataset) if with_annotators else None)

    def quick_retrain(self, cancelled: Callable[[], bool] = lambda: False,
                      progress: Callable[[float], None] = lambda _f: None) -> ModelState:
        """Refit on every review and re-rank: what the next page comes from."""
        data = self.training_data()
        return self.trainer.quick_retrain(data, self.reviewed_mask(), cancelled, progress)

    def validate(self, cancelled: Callable[[], bool] = lambda: False,
                 progress: Callable[[float], None] = lambda _f: None, persist: bool = True,
                 shown: Callable[[ModelState], object] = lambda _s: None) -> ModelState:
        """Validation, then the fields; on a large dataset figures from a sample to ``shown`` first."""
        state = self.trainer.validate(self.training_data(with_annotators=True), cancelled, progress, persist)
        if self.trainer.rescore_pending:
            shown(state)
            state = self.trainer.rescore_all(cancelled)
        self.fit_fields(state.report, state.probs, self.row_of, state.version if persist else None, cancelled)
        return state

    def retrain(self, cancelled: Callable[[], bool] = lambda: False,
                progress: Callable[[float], None] = lambda _f: None, persist: bool = True) -> ModelState:
        """Both phases: the quick retrain that ranks the next page, then validation."""
        self.quick_retrain(cancelled, lambda f: progress(0.4 * f))
        return self.validate(cancelled, lambda f: progress(0.4 + 0.6 * f), persist)

    @property
    def state(self) -> ModelState:
        return self.trainer.state

    @property
    def history(self) -> list[float]:
        return self.trainer.history

    @property
    def x(self) -> Any:
        return self.trainer.x
