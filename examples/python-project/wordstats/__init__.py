"""wordstats: small, dependency-free text statistics (the Stockade example project)."""

from __future__ import annotations

import re
from collections import Counter

__version__ = "1.0.0"

_WORD = re.compile(r"[A-Za-z']+")


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased, apostrophes kept (``don't`` is one word)."""
    return [w.strip("'").lower() for w in _WORD.findall(text) if w.strip("'")]


def top_words(text: str, n: int = 3) -> list[tuple[str, int]]:
    """The ``n`` most frequent words, ties broken alphabetically so the answer is stable."""
    counts = Counter(words(text))
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]


def reading_time_s(text: str, words_per_minute: int = 200) -> float:
    """Seconds an average reader needs for ``text``."""
    if words_per_minute <= 0:
        raise ValueError("words_per_minute must be positive")
    return round(len(words(text)) * 60 / words_per_minute, 1)
