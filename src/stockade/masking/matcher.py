"""One pass over the text for every literal at once (Hyperscan), and the prefix test for holding.

The masker registers thousands of literals (every secret in every form, plus the token shapes'
keywords). Hyperscan compiles them into one automaton that scans bytes once, at GB/s; positions are
turned back into character offsets here. :meth:`Matcher.hold_start` answers the streaming question:
from where could the end of the text still be the beginning of a literal?
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

import hyperscan

_HEAD = 4  # characters in the first-characters index used to rule out most positions quickly


@dataclass(frozen=True)
class Literal:
    """One literal to find; ``tag`` is the caller's (an index into its own table)."""

    text: str
    tag: int
    caseless: bool = False


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


class Matcher:
    """Finds every occurrence of every literal in a text. Not thread-safe (one scratch space)."""

    def __init__(self, literals: Sequence[Literal]) -> None:
        if not literals:
            raise ValueError("a matcher needs at least one literal")
        self._literals = tuple(literals)
        self._sizes = tuple(len(_utf8(literal.text)) for literal in literals)
        self._database = hyperscan.Database()
        self._database.compile(
            expressions=[_utf8(literal.text) for literal in literals],
            ids=list(range(len(literals))),
            elements=len(literals),
            flags=[hyperscan.HS_FLAG_CASELESS if lit.caseless else 0 for lit in literals],
            literal=True,
        )
        exact = sorted({lit.text for lit in literals if not lit.caseless})
        self._exact = exact
        self._caseless = sorted({lit.text.lower() for lit in literals if lit.caseless})
        self._heads = {text[:_HEAD] for text in exact}
        self.longest = max(len(literal.text) for literal in literals)

    def tag(self, ident: int) -> int:
        return self._literals[ident].tag

    def scan(self, text: str) -> list[tuple[int, int, int]]:
        """(start, end, literal id) of every occurrence, overlapping ones included, in order."""
        data = _utf8(text)
        found: list[tuple[int, int]] = []

        def collect(ident: int, start: int, end: int, flags: int, context: object) -> None:
            found.append((ident, end))

        self._database.scan(data, match_event_handler=collect)
        if not found:
            return []
        found.sort(key=lambda hit: (hit[1] - self._sizes[hit[0]], hit[1]))
        hits = [(end - self._sizes[ident], end, ident) for ident, end in found]
        if len(data) == len(text):
            return hits
        return _to_characters(data, hits)

    def hold_start(self, text: str) -> int:
        """The first position whose rest of ``text`` is an unfinished literal, or ``len(text)``.

        No literal spans a line break, so only the text after the last one is considered.
        """
        end = len(text)
        for index in range(max(text.rfind("\n") + 1, end - self.longest + 1), end):
            if self._could_start(text, index):
                return index
        return end

    def _could_start(self, text: str, index: int) -> bool:
        rest_length = len(text) - index
        if self._caseless and rest_length < len(self._caseless[-1]) + 32:
            low = text[index:].lower()
            if any(word.startswith(low) for word in self._caseless):
                return True
        if rest_length >= _HEAD and text[index : index + _HEAD] not in self._heads:
            return False
        rest = text[index:]
        position = bisect_left(self._exact, rest)
        return position < len(self._exact) and self._exact[position].startswith(rest)


def _to_characters(data: bytes, hits: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Byte offsets of hits in UTF-8 ``data`` as character offsets (hits sorted by start)."""
    offsets = sorted({offset for start, end, _ in hits for offset in (start, end)})
    characters: dict[int, int] = {}
    previous_byte = previous_char = 0
    for offset in offsets:
        previous_char += len(data[previous_byte:offset].decode("utf-8", "surrogatepass"))
        previous_byte = offset
        characters[offset] = previous_char
    return [(characters[start], characters[end], ident) for start, end, ident in hits]
