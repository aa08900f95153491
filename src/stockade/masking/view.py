"""The text the matcher sees: escape sequences removed, runs of short lines joined.

``echo $S | fold -w1`` prints a secret one character per line; a secret coloured character by
character hides behind escape sequences. Matching runs on a *view* of the raw text where both are
undone: escape sequences are deleted, and so is the line break (with its ``\\r``) after every line
shorter than ``join_below`` visible characters. A :class:`View` maps positions back to the raw
text, so the masker masks the raw span a match came from.

Building the view is on the hot path (every byte of every log), so it uses C-level string
operations only; the position map is built on first use, which most chunks never need.
"""

from __future__ import annotations

from bisect import bisect_right
from functools import cached_property
from itertools import accumulate

from stockade.masking import ansi

JOIN_BELOW = 16
"""Lines with fewer visible characters than this are joined to the next line for matching."""


class View:
    """Normalized ``text`` of ``raw[:raw_end]``, with the way back to raw positions."""

    def __init__(self, raw: str, *, carry: int = 0, join_below: int = 0, final: bool = False):
        self.raw_end = len(raw) if final or "\x1b" not in raw else ansi.unfinished_at(raw)
        self._body = raw[: self.raw_end]
        self._escapes = "\x1b" in self._body
        stripped = ansi.strip(self._body) if self._escapes else self._body
        self._lines = stripped.split("\n")
        self._short = _short_lines(self._lines, carry, join_below)
        if not self._short:
            self.text = stripped
        else:
            self.text = _joined(self._lines, self._short)

    def to_raw(self, index: int) -> int:
        """The raw position of the view's character ``index`` (``raw_end`` past the end)."""
        if index >= len(self.text):
            return self.raw_end
        if not self._short and not self._escapes:
            return index
        tail = self.text.rfind("\n") + 1
        if index >= tail and len(self._lines) > 1:
            return self._tail_to_raw(index, tail)
        return self._full_to_raw(index)

    def span_to_raw(self, start: int, end: int) -> tuple[int, int]:
        """The raw span from the view's ``start`` to just after its character ``end - 1``."""
        return self.to_raw(start), self.to_raw(end - 1) + 1

    def _tail_to_raw(self, index: int, tail: int) -> int:
        # The view's last line is the run of raw lines after the last kept line break: map
        # positions there (where streaming cuts fall) without building the whole map.
        last = len(self._lines) - 1
        first = last
        pending = len(self._short) - 1
        while pending >= 0 and self._short[pending] == first - 1:
            first -= 1
            pending -= 1
        if first == 0:
            return self._full_to_raw(index)
        raw_lines = self._body.rsplit("\n", last + 1 - first)[1:]
        raw_start = self.raw_end - sum(len(line) + 1 for line in raw_lines) + 1
        position = tail
        for number in range(first, last):  # short lines: joined, their \r removed
            line = self._lines[number]
            visible = len(line) - line.endswith("\r")
            if index < position + visible:
                return raw_start + self._column(raw_lines[number - first], index - position)
            position += visible
            raw_start += len(raw_lines[number - first]) + 1
        return raw_start + self._column(raw_lines[-1], index - position)

    def _column(self, raw_line: str, column: int) -> int:
        return _raw_column(raw_line, column) if self._escapes else column

    def _full_to_raw(self, index: int) -> int:
        starts = self._norm_line_starts
        line = bisect_right(starts, index) - 1
        column = index - starts[line]  # == the line's length: its (kept) line break
        return self._raw_line_starts[line] + self._column(self._raw_lines[line], column)

    @cached_property
    def _norm_line_starts(self) -> list[int]:
        short = set(self._short)
        sizes = [
            len(line) - line.endswith("\r") if number in short else len(line) + 1
            for number, line in enumerate(self._lines)
        ]
        return [0, *accumulate(sizes)]

    @cached_property
    def _raw_lines(self) -> list[str]:
        return self._body.split("\n") if self._escapes else self._lines

    @cached_property
    def _raw_line_starts(self) -> list[int]:
        return [0, *accumulate(len(line) + 1 for line in self._raw_lines)]


def _short_lines(lines: list[str], carry: int, join_below: int) -> list[int]:
    """Numbers of the complete lines (not the last) shorter than ``join_below``, ``\\r`` apart."""
    if join_below <= 0 or len(lines) < 2:
        return []
    limit = join_below
    short = [
        number
        for number in range(1, len(lines) - 1)
        if len(lines[number]) <= limit
        and (len(lines[number]) < limit or lines[number].endswith("\r"))
    ]
    first = lines[0]
    if carry + len(first) - first.endswith("\r") < limit:
        short.insert(0, 0)
    return short


def _joined(lines: list[str], short: list[int]) -> str:
    pieces: list[str] = []
    position = 0
    for number in short:
        if number > position:
            pieces.append("\n".join(lines[position:number]))
            pieces.append("\n")
        line = lines[number]
        pieces.append(line[:-1] if line.endswith("\r") else line)
        position = number + 1
    pieces.append("\n".join(lines[position:]))
    return "".join(pieces)


def _raw_column(raw_line: str, column: int) -> int:
    """The raw column of visible ``column`` in a line that may contain escape sequences."""
    visible = 0
    position = 0
    for found in ansi.SEQUENCE.finditer(raw_line):
        gap = found.start() - position
        if visible + gap > column:
            break
        visible += gap
        position = found.end()
    return position + column - visible


def build(raw: str, *, carry: int = 0, join_below: int = 0, final: bool = False) -> View:
    """The view of ``raw``, whose first line already had ``carry`` visible characters."""
    return View(raw, carry=carry, join_below=join_below, final=final)


def visible_length(text: str) -> int:
    """Characters of ``text`` that are not part of an escape sequence."""
    return len(ansi.strip(text))
