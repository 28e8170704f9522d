"""The app's messages: what workers report back to the main thread."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from ..session import ModelState, SavedSession, Session, Undone


class SessionLoaded(Message):
    def __init__(self, session: Session, resumed: SavedSession | None) -> None:
        super().__init__()
        self.session = session
        self.resumed = resumed


class PageLoaded(Message):
    def __init__(self, mode: str, arg: str | None, number: int, mids: list[int], cursor: int = 0) -> None:
        super().__init__()
        self.mode, self.arg, self.number, self.mids, self.cursor = mode, arg, number, mids, cursor


class Retrained(Message):
    def __init__(self, state: ModelState, then_page: bool, final: bool) -> None:
        super().__init__()
        self.state = state
        self.then_page = then_page
        self.final = final


class TrainProgress(Message):
    """How far a retrain has got; a newer one replaces one not yet handled."""

    def __init__(self, fraction: float) -> None:
        super().__init__()
        self.fraction = fraction

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TrainProgress)


class Written(Message):
    def __init__(self, mids: list[int], submitted: bool = False) -> None:
        super().__init__()
        self.mids = mids
        self.submitted = submitted


class UndoDone(Message):
    def __init__(self, step: Undone | None) -> None:
        super().__init__()
        self.step = step


class TaxonomyChanged(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class Failed(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


@dataclass
class PageState:
    mode: str = "shuffle"
    arg: str | None = None
    number: int = 0


