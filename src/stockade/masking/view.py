"""The text the matcher sees: escape sequences removed, runs of short lines joined.

``echo $S | fold -w1`` prints a secret one character per line; a secret coloured character by
character hides behind escape sequences. Matching runs on a *view* of the raw text where both are
undone: escape sequences are deleted, and so is the line break (with its ``\\r``) after every line
shorter than ``join_below`` visible characters. A :class:`View` maps positions back to the raw
text, so the masker masks the raw span a match came from.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

from stockade.masking import ansi

JOIN_BELOW = 16
"""Lines with fewer visible characters than this are joined to the next line for matching."""


@dataclass(frozen=True)
class View:
    """Normalized ``text`` of ``raw[:raw_end]``; ``raw_starts[i]`` is where kept piece i began."""

    text: str
    raw_end: int  # raw text from here on (an unfinished escape sequence) is not in the view
    norm_starts: tuple[int, ...]
    raw_starts: tuple[int, ...]

    def to_raw(self, index: int) -> int:
        """The raw position of the view's character ``index`` (``raw_end`` past the end)."""
        if index >= len(self.text):
            return self.raw_end
        piece = bisect_right(self.norm_starts, index) - 1
        return self.raw_starts[piece] + index - self.norm_starts[piece]

    def span_to_raw(self, start: int, end: int) -> tuple[int, int]:
        """The raw span from the view's ``start`` to just after its character ``end - 1``."""
        return self.to_raw(start), self.to_raw(end - 1) + 1


@lru_cache(maxsize=8)
def _short_line(join_below: int) -> re.Pattern[str]:
    # A line break, a line of fewer than join_below characters (its \r apart), the next break.
    return re.compile(rf"\n([^\n]{{0,{max(join_below - 1, 0)}}}?)(\r?)(?=\n)")


def _short_breaks(text: str, carry: int, join_below: int) -> list[tuple[int, int]]:
    """Spans of ``text`` to delete: ``\\r?\\n`` after each line shorter than ``join_below``."""
    if join_below <= 0:
        return []
    spans = []
    first = text.find("\n")
    if first >= 0:
        cr = first > 0 and text[first - 1] == "\r"
        if carry + first - cr < join_below:
            spans.append((first - cr, first + 1))
    spans.extend(
        (found.start(2), found.end() + 1) for found in _short_line(join_below).finditer(text)
    )
    return spans


def _pieces(text: str, deleted: list[tuple[int, int]]) -> tuple[list[int], list[int], list[str]]:
    raw_starts, norm_starts, pieces = [], [], []
    position = 0
    length = 0
    for start, end in deleted:
        if start > position:
            raw_starts.append(position)
            norm_starts.append(length)
            pieces.append(text[position:start])
            length += start - position
        position = max(position, end)
    if position < len(text) or not pieces:
        raw_starts.append(position)
        norm_starts.append(length)
        pieces.append(text[position:])
    return raw_starts, norm_starts, pieces


def build(raw: str, *, carry: int = 0, join_below: int = 0, final: bool = False) -> View:
    """The view of ``raw``, whose first line already had ``carry`` visible characters."""
    raw_end = len(raw) if final or "\x1b" not in raw else ansi.unfinished_at(raw)
    body = raw[:raw_end]
    if "\x1b" not in body:
        deleted = _short_breaks(body, carry, join_below)
        if not deleted:
            return View(body, raw_end, (0,), (0,))
        starts, norms, pieces = _pieces(body, deleted)
        return View("".join(pieces), raw_end, tuple(norms), tuple(starts))
    # Escape sequences first; line lengths are then counted without them.
    escapes = [found.span() for found in ansi.SEQUENCE.finditer(body)]
    stripped = View(*_joined(body, escapes, raw_end))
    breaks = _short_breaks(stripped.text, carry, join_below)
    for start, end in breaks:
        escapes.extend((stripped.to_raw(i), stripped.to_raw(i) + 1) for i in range(start, end))
    escapes.sort()
    return View(*_joined(body, escapes, raw_end))


def _joined(
    body: str, deleted: list[tuple[int, int]], raw_end: int
) -> tuple[str, int, tuple[int, ...], tuple[int, ...]]:
    starts, norms, pieces = _pieces(body, deleted)
    return "".join(pieces), raw_end, tuple(norms), tuple(starts)


def visible_length(text: str) -> int:
    """Characters of ``text`` that are not part of an escape sequence."""
    return len(ansi.strip(text))
