"""Scanning, not masking: where secrets and token shapes are, for artifacts and the leak check.

:func:`scan` looks at an artifact or a step output (bytes or text) for registered values in every
form and for known token shapes. :class:`LeakDetector` is the fail-closed check on text that was
already masked: any registered secret or canary still in it, in any form, is a finding, and the
caller stops the job and holds the log. Findings say what and where, never the value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from stockade.masking import view
from stockade.masking.detect import Detector, Match
from stockade.masking.interface import ALL_ENCODINGS, Encoding, Finding

_TAIL_FACTOR = 8  # raw characters kept per matchable character (escapes and breaks in between)


def _findings(text: str, detector: Detector, *, first: int = 0) -> list[Finding]:
    """Findings in ``text`` ending after ``first``, with raw character offsets."""
    seen = view.build(text, join_below=view.JOIN_BELOW, final=True)
    found = detector.detect(seen.text, final=True)
    best: list[tuple[int, int, Match]] = []
    for match in sorted(found.matches, key=lambda m: (m.kind, m.index or 0, m.start, -m.end)):
        start, end = seen.span_to_raw(match.start, match.end)
        if end <= first:
            continue
        previous = best[-1][2] if best else None
        same = previous is not None and (previous.kind, previous.index) == (match.kind, match.index)
        if same and start < best[-1][1]:  # one occurrence matched in several forms: keep one
            if end > best[-1][1]:
                best[-1] = (best[-1][0], end, best[-1][2])
            continue
        best.append((start, end, match))
    best.sort(key=lambda item: item[0])
    return [
        Finding(
            kind=match.kind,
            form=match.form,
            offset=start,
            length=end - start,
            line=text.count("\n", 0, start) + 1,
            secret_index=match.index,
        )
        for start, end, match in best
    ]


def _in_bytes(data: bytes, text: str, findings: list[Finding]) -> list[Finding]:
    """Character offsets of findings in ``text`` (decoded from ``data``) as byte offsets."""
    if len(data) == len(text):
        return findings

    def byte_offset(index: int) -> int:
        return len(text[:index].encode("utf-8", "surrogateescape"))

    return [
        Finding(
            kind=item.kind,
            form=item.form,
            offset=byte_offset(item.offset),
            length=byte_offset(item.offset + item.length) - byte_offset(item.offset),
            line=item.line,
            secret_index=item.secret_index,
        )
        for item in findings
    ]


def scan(
    data: bytes | str,
    secrets: Sequence[str] = (),
    *,
    canaries: Sequence[str] = (),
    encodings: Iterable[Encoding] = ALL_ENCODINGS,
    token_shapes: bool = True,
) -> list[Finding]:
    """Every registered secret or canary (in ``encodings``) and known token shape in ``data``.

    Offsets are in bytes for bytes, in characters for text; lines count from 1. Bytes are read
    as UTF-8 (undecodable bytes stand for themselves), so a compressed archive shows nothing.
    """
    detector = Detector(secrets, canaries, encodings_used=encodings, shapes=token_shapes)
    if isinstance(data, bytes):
        text = data.decode("utf-8", "surrogateescape")
        return _in_bytes(data, text, _findings(text, detector))
    return _findings(data, detector)


class LeakDetector:
    """The fail-closed check: do registered secrets or canaries show up in masked text?

    Give it what the masker released; any finding means the masking missed something (or a
    canary escaped), and the caller should stop the job and hold the log. It looks for every
    encoding, whatever the masker was told to mask. :meth:`check` looks at one text;
    :meth:`feed` watches a stream, so a value split between two pieces is found too.
    """

    def __init__(self, secrets: Sequence[str], canaries: Sequence[str] = ()) -> None:
        self._detector = Detector(secrets, canaries, encodings_used=ALL_ENCODINGS, shapes=False)
        self._keep = max(self._detector.longest, 1) * _TAIL_FACTOR
        self._tail = ""
        self._offset = 0  # stream offset of the tail's first character
        self._line = 1  # line number at the tail's first character

    def check(self, text: str) -> list[Finding]:
        """Findings of registered secrets and canaries in ``text`` (offsets into it)."""
        return _findings(text, self._detector)

    def feed(self, text: str) -> list[Finding]:
        """Findings in the next piece of a stream (offsets and lines in the whole stream)."""
        window = self._tail + text
        found = _findings(window, self._detector, first=len(self._tail))
        result = [
            Finding(
                kind=item.kind,
                form=item.form,
                offset=self._offset + item.offset,
                length=item.length,
                line=self._line + item.line - 1,
                secret_index=item.secret_index,
            )
            for item in found
        ]
        keep_from = max(len(window) - self._keep, 0)
        self._offset += keep_from
        self._line += window.count("\n", 0, keep_from)
        self._tail = window[keep_from:]
        return result
