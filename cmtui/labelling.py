"""Label edits on a message's draft: the numbered keys, toggling, implied parents.

A draft holds the labels a person has given a message and not yet confirmed. A child
label implies its parents: assigning it drops them from the draft (they are shown as
implied), and an implied parent cannot be toggled on its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .metrics import closure
from .store import LabelNameError
from .taxonomy import ancestors, is_below

if TYPE_CHECKING:
    from .trainer import Trainer


class LabelImplied(LabelNameError):
    """A parent label that an assigned child implies was toggled on its own."""


class RowIndex(Mapping[int, int]):
    """mid -> row of a dataset's message arrays, by binary search in the sorted mids: a
    dict of 1M ints took 97 MB."""

    def __init__(self, mids: np.ndarray) -> None:
        self.mids = mids
        ascending = len(mids) < 2 or bool((mids[1:] > mids[:-1]).all())  # as the store reads them
        self._order = None if ascending else np.argsort(mids, kind="stable")
        self._keys = mids if self._order is None else mids[self._order]

    def rows(self, mids: Sequence[int]) -> np.ndarray:
        """The rows of ``mids``, each known to be in the dataset."""
        at = np.searchsorted(self._keys, np.asarray(mids, dtype=self._keys.dtype))
        return (at if self._order is None else self._order[at]).astype(np.int64)

    def present(self, mids: Iterable[int]) -> list[int]:
        """Those of ``mids`` that are in the dataset, ascending (the reviews of messages
        since deleted are left out)."""
        return self._found(mids)[0].tolist()

    def present_rows(self, mids: Iterable[int]) -> np.ndarray:
        """The rows of those of ``mids`` that are in the dataset, in ascending mid order:
        ``rows(present(mids))`` in one search."""
        at = self._found(mids)[1]
        return (at if self._order is None else self._order[at]).astype(np.int64)

    def _found(self, mids: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        """The mids of ``mids`` in the dataset, ascending, and their places in the sorted keys."""
        wanted = np.sort(np.fromiter(mids, dtype=np.int64))
        if not len(self._keys) or not len(wanted):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        at = np.minimum(np.searchsorted(self._keys, wanted), len(self._keys) - 1)
        hit = self._keys[at] == wanted
        return wanted[hit], at[hit]

    def _position(self, mid: object) -> int | None:
        if not isinstance(mid, int | np.integer) or not len(self._keys):
            return None
        at = int(np.searchsorted(self._keys, mid))
        if at == len(self._keys) or self._keys[at] != mid:
            return None
        return at if self._order is None else int(self._order[at])

    def __getitem__(self, mid: int) -> int:
        row = self._position(mid)
        if row is None:
            raise KeyError(mid)
        return row

    def __contains__(self, mid: object) -> bool:
        return self._position(mid) is not None

    def __iter__(self) -> Iterator[int]:
        return (int(m) for m in self.mids)

    def __len__(self) -> int:
        return len(self.mids)


class Labelling:
    """The draft edits of ``Session``: what it keeps, and what these methods use."""

    labels: list[str]
    sentiment: bool
    reviewed: dict[int, dict[str, int | None]]
    drafts: dict[int, dict[str, int | None]]
    row_of: RowIndex
    mids: np.ndarray
    # per step for undo, each message's draft before it (None: none); None: a step in the store
    _draft_history: list[list[tuple[int, dict[str, int | None] | None]] | None]
    trainer: Trainer  # whose current scores give the predictions
    _unopposed: set[str] = set()  # replaced whole, never changed in place
    _unopposed_of: object = None  # the model state they were counted for
    _key_order: list[str] = []  # the labels in the order they were created; replaced whole

    def labels_of(self, mid: int) -> dict[str, int | None]:
        """The labels assigned to a message (a copy): its draft, else its latest review."""
        if mid in self.drafts:
            return dict(self.drafts[mid])
        return dict(self.reviewed.get(mid, {}))

    def implied_of(self, mid: int) -> set[str]:
        """Parents implied by the message's assigned children (not assigned themselves)."""
        assigned = self.labels_of(mid)
        return {a for name in assigned for a in ancestors(name)} - set(assigned)

    def is_edited(self, mid: int) -> bool:
        """Whether the message has unconfirmed edits: labels that differ from its review,
        or (unreviewed) any label at all."""
        if mid not in self.drafts:
            return False
        if mid in self.reviewed:
            return self.drafts[mid] != self.reviewed[mid]
        return bool(self.drafts[mid])

    def edited_unreviewed(self) -> list[int]:
        """Unreviewed messages holding unconfirmed edits (a first page brings them back
        first); a label toggled on and off again, or an Accept that found nothing, is none."""
        return [m for m in self.drafts if m in self.row_of and m not in self.reviewed and self.is_edited(m)]

    def predictions_of(self, mid: int) -> list[tuple[str, float, bool]]:
        """(label, probability, at or above its balanced threshold), most likely first;
        none for a label on every review (``unopposed``)."""
        state = self.trainer.state
        row = self.row_of.get(mid)
        if row is None or state.probs.shape[0] != len(self.mids) or not state.labels:
            return []
        probs = state.probs[row]
        order = np.argsort(-probs, kind="stable")
        unopposed = self.unopposed()
        return [(state.labels[j], float(probs[j]), bool(probs[j] >= state.thresholds[j])) for j in order
                if state.labels[j] not in unopposed]

    def unopposed(self) -> set[str]:
        """The labels every review carries (or a child of them), as of the current model:
        with no message reviewed without them the model cannot tell messages apart for
        them. One message confirmed with ``Auto-reply`` and the app reopened read
        ``Auto-reply 100%*`` on every message, and Accept put it on a claim."""
        state = self.trainer.state
        if self._unopposed_of is not state:
            reviews = list(self.reviewed.values())
            counts = Counter(name for assigned in reviews for name in closure((), set(assigned)))
            self._unopposed = {name for name, count in counts.items() if count == len(reviews)}
            self._unopposed_of = state
        return self._unopposed

    def key_order(self) -> list[str]:
        """The labels behind keys 1-9 (and on), the same on every message, for every
        annotator and after a restart: the labels in the order they were created (an
        imported taxonomy: in name order), so a label created while labelling takes the
        next free key and a renamed one keeps its key. Keys once followed each message's
        predictions (its likeliest label on 1): pressed from memory, they gave the wrong
        label whenever that order changed. In taxonomy order, creating ``Billing`` moved
        ``Cancellation`` from key 2 to 3. A parent made only because a child was named
        (``Policy`` for ``Policy > Renewal``) has no key: four of the first nine went to
        such parents, and ``Billing > Refund`` had none."""
        known = set(self.labels)
        return [n for n in self._key_order if n in known]

    def numbered(self) -> list[tuple[int | None, str]]:
        """Every label with its number key (None for a parent without one): the keyed
        ones in key order, then the others in taxonomy order."""
        keys = self.key_order()
        keyed = set(keys)
        return [*enumerate(keys, start=1), *((None, n) for n in self.labels if n not in keyed)]

    def stored(self, confirmed: Collection[int] = ()) -> None:
        """A step was written to the store (a confirmation, a submit, a taxonomy change, a
        field review): the next undo takes it back before any edit made earlier. It closes
        the edits of the ``confirmed`` messages."""
        kept = [None if step is None else [e for e in step if e[0] not in confirmed]
                for step in self._draft_history]
        self._draft_history = [step for step in kept if step is None or step] + [None]

    def latest_is_edit(self) -> bool:
        """Whether this session's latest step is a draft edit (not one in the store)."""
        return bool(self._draft_history) and self._draft_history[-1] is not None

    def undo_edit(self) -> list[int] | None:
        """Take back the latest draft edit when it is this session's latest step; the
        messages it was on, or None when the latest step is in the store (or none is left)."""
        if not self._draft_history:
            return None
        step = self._draft_history.pop()
        if step is None:
            return None
        for mid, previous in reversed(step):
            if previous is None:
                self.drafts.pop(mid, None)
            else:
                self.drafts[mid] = previous
        return [mid for mid, _ in step]

    def redraft(self, confirmed: dict[int, dict[str, int | None]]) -> None:
        """After an undo in the store (reviews and taxonomy re-read): what each undone
        confirmation wrote becomes its message's draft again, and no draft keeps a label
        the undo took out of the taxonomy."""
        for mid, labels in confirmed.items():
            if labels != self.reviewed.get(mid, {}):
                self.drafts[mid] = dict(labels)
        known = set(self.labels)
        self.drafts = {mid: {n: v for n, v in labels.items() if n in known} for mid, labels in self.drafts.items()}

    def set_labels(self, mid: int, labels: dict[str, int | None]) -> None:
        self._draft_history.append([(mid, self.drafts.get(mid))])
        self.drafts[mid] = dict(labels)

    def give(self, mids: Sequence[int], label: str, sentiment: int | None = None) -> tuple[list[int], list[str]]:
        """Give ``label`` to every message of ``mids`` that lacks it (a Discover cluster),
        as one step for undo: (the messages it went to, why it went to none of the rest)."""
        start = len(self._draft_history)
        given, refused = [], []
        for mid in mids:
            if label in self.labels_of(mid):
                continue
            try:
                self.toggle(mid, label, sentiment)
                given.append(mid)
            except LabelImplied as exc:
                refused.append(str(exc))
        edits = [edit for step in self._draft_history[start:] if step for edit in step]
        del self._draft_history[start:]
        if edits:
            self._draft_history.append(edits)
        return given, refused

    def toggle(self, mid: int, label: str, sentiment: int | None = None) -> bool:
        """Assign or remove a label on the message's draft; returns whether it is now assigned.

        A child implies its parents: assigning it drops them from the assigned set (they
        are shown as implied), and a parent implied by an assigned child cannot be
        toggled on its own (``LabelImplied``).
        """
        if label not in self.labels:
            raise ValueError(f"no label {label!r} in the taxonomy")
        current = self.labels_of(mid)
        if self.sentiment and sentiment is None:
            sentiment = current.get(label) or 1
        if label in current and (sentiment is None or current[label] == sentiment):
            current.pop(label)
            now_assigned = False
        else:
            children = [n for n in current if is_below(n, label)]
            if children:
                raise LabelImplied(f"{label} is implied by {children[0]}: remove that first")
            for parent in ancestors(label):
                current.pop(parent, None)
            current[label] = sentiment if self.sentiment else None
            now_assigned = True
        self.set_labels(mid, current)
        return now_assigned

    def flip_sentiment(self, mid: int) -> tuple[str, int]:
        """Turn the label just given to ``mid`` (or its only label) negative, or positive
        again: a number gives its label positive, ``-`` then makes it negative (it took
        the picker, the label's name and ctrl+g). Returns the label and its sentiment."""
        if not self.sentiment:
            raise ValueError("this dataset has no sentiment: choose it when making one (d, then n)")
        current = self.labels_of(mid)
        step = self._draft_history[-1] if self._draft_history else None
        before = (step[0][1] or {}) if step and len(step) == 1 and step[0][0] == mid else None
        changed = [n for n, v in current.items() if before is not None and (n not in before or before[n] != v)]
        label = changed[0] if len(changed) == 1 else next(iter(current)) if len(current) == 1 else None
        if label is None:
            raise ValueError("press a label's number first, then - to make it negative")
        sentiment = -(current[label] or 1)
        self.toggle(mid, label, sentiment)
        return label, sentiment

    def accept_predictions(self, mid: int) -> list[str]:
        """Assign every predicted label at or above its threshold (most specific ones); with
        none, nothing changes (no draft, no step for undo). With sentiment, each takes the
        sentiment most of its reviews give it (every accepted complaint read positive)."""
        above = [name for name, _, ok in self.predictions_of(mid) if ok]
        leaves = [n for n in above if not any(is_below(o, n) for o in above)]
        if not leaves:
            return []
        current = self.labels_of(mid)
        for name in leaves:
            for parent in ancestors(name):
                current.pop(parent, None)
            current.setdefault(name, self.usual_sentiment(name) if self.sentiment else None)
        self.set_labels(mid, current)
        return leaves

    def usual_sentiment(self, label: str) -> int:
        """The sentiment most reviews carrying ``label`` give it: negative only when most do."""
        signs = [v for assigned in self.reviewed.values() if (v := assigned.get(label))]
        return -1 if sum(v < 0 for v in signs) * 2 > len(signs) else 1

