"""What in a text is a secret: registered values in every form, and known token shapes.

A :class:`Detector` is built once from the registered values; :meth:`Detector.detect` reports the
matches in a (normalized) text and, for a stream, where the text must be held back because its end
could still become a match. The masker and the scanner share it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from stockade.masking import encodings
from stockade.masking.interface import (
    ALL_ENCODINGS,
    MIN_SECRET_LENGTH,
    REPLACEMENT,
    Encoding,
    FindingKind,
    SecretTooShort,
)
from stockade.masking.matcher import Literal, Matcher
from stockade.masking.patterns import PEM, PEM_FOOTER, SHAPES
from stockade.masking.view import JOIN_BELOW


@dataclass(frozen=True)
class Match:
    """A match in the detector's text: its span, what it is, whose (index in the caller's list)."""

    start: int
    end: int
    kind: FindingKind
    form: str
    index: int | None = None


@dataclass(frozen=True)
class Detection:
    """The matches, where to hold the text from (``len(text)``: nowhere), an open key block."""

    matches: tuple[Match, ...]
    hold: int
    pem_open: int | None


def check_secret(value: str) -> None:
    """Refuse a value too short to mask without masking ordinary text."""
    if len(value.strip()) < MIN_SECRET_LENGTH:
        raise SecretTooShort(
            f"a secret of {len(value.strip())} characters (not counting surrounding spaces) "
            f"is too short to mask; the minimum is {MIN_SECRET_LENGTH}",
            hint=f"use a value of at least {MIN_SECRET_LENGTH} characters (rotate a short "
            "password for a generated one); a shorter one would be masked inside ordinary words",
        )


@dataclass(frozen=True)
class _Label:
    kind: FindingKind
    form: str
    index: int


class Detector:
    """Registered secrets and canaries (each in the chosen encodings) plus the token shapes."""

    def __init__(
        self,
        secrets: Sequence[str] = (),
        canaries: Sequence[str] = (),
        *,
        encodings_used: Iterable[Encoding] = ALL_ENCODINGS,
        shapes: bool = True,
        join_below: int = JOIN_BELOW,
    ) -> None:
        wanted = frozenset(encodings_used)
        labels: dict[str, list[_Label]] = {}
        for kind, values in ((FindingKind.SECRET, secrets), (FindingKind.CANARY, canaries)):
            for index, value in enumerate(values):
                check_secret(value)
                found: dict[str, str] = {}
                if Encoding.RAW in wanted:
                    found.update(encodings.raw_forms(value, join_below))
                    for line in found.copy():  # a line of a multi-line value, as JSON prints it
                        found.setdefault(encodings.json_escaped(line), "json line")
                for form, label in encodings.forms(value, wanted).items():
                    found.setdefault(form, label)
                for form, label in found.items():
                    labels.setdefault(form, []).append(_Label(kind, label, index))
        self._labels = [tuple(entries) for entries in labels.values()]
        literals = [Literal(form, tag) for tag, form in enumerate(labels)]
        if shapes:
            for number, shape in enumerate(SHAPES):
                literals.extend(
                    Literal(word, -1 - number, shape.caseless) for word in shape.keywords
                )
        self._shapes = shapes
        self.empty = not literals
        self._matcher = Matcher(literals) if literals else None
        self.replacement_registered = any(REPLACEMENT in form for form in labels)
        self.patterns = len(labels)

    def detect(self, text: str, *, final: bool) -> Detection:
        """Matches in ``text``; unless ``final``, also where its unfinished end starts."""
        if self._matcher is None:
            return Detection((), len(text), None)
        matches: list[Match] = []
        hold = len(text)
        pem_open: int | None = None
        tried: set[tuple[int, int]] = set()
        for start, end, ident in self._matcher.scan(text):
            tag = self._matcher.tag(ident)
            if tag >= 0:
                matches.extend(
                    Match(start, end, label.kind, label.form, label.index)
                    for label in self._labels[tag]
                )
                continue
            if (tag, start) in tried or (pem_open is not None and start > pem_open):
                continue
            tried.add((tag, start))
            shape = SHAPES[-1 - tag]
            found = shape.pattern.match(text, start)
            if shape is PEM and found:
                footer = PEM_FOOTER.search(text, found.end())
                if footer or final:
                    stop = footer.end() if footer else len(text)
                    matches.append(Match(start, stop, FindingKind.TOKEN, shape.name))
                elif pem_open is None:
                    pem_open = start
            elif found and (final or found.end() < len(text)):
                if found.end(shape.group) > found.start(shape.group):
                    span = found.span(shape.group)
                    matches.append(Match(*span, FindingKind.TOKEN, shape.name))
            elif not final and (found or shape.partial.fullmatch(text, start)):
                hold = min(hold, start)
        if not final:
            # A line's closing \r may be the first half of a \r\n that the view then removes.
            body = text[:-1] if text.endswith("\r") else text
            hold = min(hold, self._matcher.hold_start(body))
        return Detection(tuple(matches), hold, pem_open)

    @property
    def longest(self) -> int:
        """The longest literal: how much text a match can span."""
        return self._matcher.longest if self._matcher else 0
