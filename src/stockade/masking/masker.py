"""The streaming masker: log text in, in any chunks; the same text out, secrets replaced.

It holds back only what could still become a match (the end of a line that is the start of some
registered form or token), and releases the rest at once. Matching runs on the normalized view
(:mod:`stockade.masking.view`), so escape sequences between a secret's characters and a secret
printed one character per line are masked too; every line a match covers is replaced by ``***``,
line breaks kept. A private key block is masked line by line from its BEGIN line until its END
line, however long it is and however it is split.
"""

from __future__ import annotations

from collections.abc import Iterable

from stockade.masking import view
from stockade.masking.detect import Detector
from stockade.masking.interface import ALL_ENCODINGS, REPLACEMENT, Encoding
from stockade.masking.patterns import PEM_FOOTER, PEM_FOOTER_MAX

_SETTLE_ROUNDS = 4
_KEY_LINE_MAX = 4096  # inside a key block, a line is held whole up to this length


def mask_all(text: str) -> str:
    """Every non-empty line of ``text`` replaced by ``***``; line breaks kept."""
    return "\n".join(REPLACEMENT if line else "" for line in text.split("\n"))


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _replace(text: str, spans: list[tuple[int, int]]) -> str:
    pieces = []
    position = 0
    for start, end in spans:
        pieces.append(text[position:start])
        pieces.append(mask_all(text[start:end]))
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


class Masker:
    """Masks one stream (a job's log). Feed it chunks; flush it when the stream ends.

    ``secrets`` are the values to mask (each at least ``MIN_SECRET_LENGTH`` characters);
    ``encodings`` the forms of them to mask (default: all); known token shapes are masked unless
    ``token_shapes`` is false. Not thread-safe: one masker per stream.
    """

    def __init__(
        self,
        secrets: Iterable[str] = (),
        *,
        encodings: Iterable[Encoding] = ALL_ENCODINGS,
        token_shapes: bool = True,
        join_below: int = view.JOIN_BELOW,
    ) -> None:
        self._secrets = list(secrets)
        self._encodings = frozenset(encodings)
        self._token_shapes = token_shapes
        self._join_below = join_below
        self._detector = self._build(self._secrets)
        self._held = ""  # raw text not yet released
        self._carry = 0  # visible characters of the current line already released
        self._in_key = False  # inside a private key block whose END line has not come yet
        self._partial_line = ""  # for mask_lines: released text after the last line break

    def _build(self, secrets: list[str]) -> Detector:
        return Detector(
            secrets,
            encodings_used=self._encodings,
            shapes=self._token_shapes,
            join_below=self._join_below,
        )

    def add(self, *secrets: str) -> None:
        """Register more values (a secret leased mid-job); text held so far is masked for them."""
        detector = self._build([*self._secrets, *secrets])  # raises before changing anything
        self._secrets.extend(secrets)
        self._detector = detector

    @property
    def patterns(self) -> int:
        """How many distinct forms of the registered values are matched."""
        return self._detector.patterns

    @property
    def held(self) -> int:
        """Characters held back, waiting to see whether they start a secret."""
        return len(self._held)

    def feed(self, text: str) -> str:
        """Take the next chunk of the stream; return what can be released now, masked."""
        self._held += text
        return self._release(final=False)

    def flush(self) -> str:
        """End of the stream: release everything held, masked."""
        return self._release(final=True)

    def mask_lines(self, lines: Iterable[str]) -> list[str]:
        """Line-structured feeding: each line without its break in; the masked lines released.

        As many lines come out, in the end, as went in; some may come out with a later call (or
        :meth:`flush_lines`) when a short line could start a secret printed across lines.
        """
        chunk = "".join(line + "\n" for line in lines)
        return self._lines(self.feed(chunk) if chunk else "", final=False)

    def flush_lines(self) -> list[str]:
        """End of a line-structured stream: the remaining masked lines."""
        return self._lines(self.flush(), final=True)

    def _lines(self, released: str, *, final: bool) -> list[str]:
        parts = (self._partial_line + released).split("\n")
        self._partial_line = "" if final else parts.pop()
        if final and parts and parts[-1] == "":
            parts.pop()
        return parts

    def mask(self, text: str) -> str:
        """Mask a whole text at once (not part of the stream; its state is untouched)."""
        saved = self._held, self._carry, self._in_key
        self._held, self._carry, self._in_key = "", 0, False
        try:
            return self.feed(text) + self.flush()
        finally:
            self._held, self._carry, self._in_key = saved

    def _release(self, *, final: bool) -> str:
        out = []
        while True:
            if self._in_key:
                out.append(self._release_key(final=final))
                if self._in_key:
                    break
            released, entered_key = self._release_text(final=final)
            out.append(released)
            if not entered_key:
                break
        text = "".join(out)
        if self._detector.replacement_registered and text:
            text = self._settle(text)
        return text

    def _release_text(self, *, final: bool) -> tuple[str, bool]:
        """Release held text outside a key block; true when a key block was entered."""
        held = self._held
        seen = view.build(held, carry=self._carry, join_below=self._join_below, final=final)
        found = self._detector.detect(seen.text, final=final)
        cut = found.hold
        enter_key = found.pem_open is not None and found.pem_open <= cut
        if enter_key:
            cut = found.pem_open if found.pem_open is not None else cut
        spans = _merged((match.start, match.end) for match in found.matches)
        for start, end in spans:
            if start < cut < end:  # a match the hold point cuts through waits with it
                cut, enter_key = start, False
                break
        raw_cut = seen.to_raw(cut)
        if final and not enter_key:
            raw_cut = len(held)
        raw_spans = [seen.span_to_raw(start, end) for start, end in spans if end <= cut]
        released = held[:raw_cut]
        self._held = held[raw_cut:]
        self._advance(released)
        self._in_key = enter_key
        return _replace(released, raw_spans), enter_key

    def _release_key(self, *, final: bool) -> str:
        """Inside a key block: mask whole lines up to the END line, holding what could be it."""
        held = self._held
        seen = view.build(held, final=final)
        footer = PEM_FOOTER.search(seen.text)
        if footer:
            cut = seen.to_raw(footer.end() - 1) + 1
            self._in_key = False
        elif final:
            cut = len(held)
        else:
            limit = len(held) - PEM_FOOTER_MAX  # an END line starting before this would be whole
            cut = held.rfind("\n", 0, max(limit, 0)) + 1
            if not cut and limit > _KEY_LINE_MAX:  # a key line this long: release it in parts
                cut = limit
            if not cut:
                return ""
        released = held[:cut]
        self._held = held[cut:]
        self._advance(released)
        return mask_all(released)

    def _advance(self, released: str) -> None:
        line_start = released.rfind("\n") + 1
        tail = view.visible_length(released[line_start:])
        self._carry = tail if line_start else self._carry + tail

    def _settle(self, text: str) -> str:
        # A registered value containing "***" could be formed anew by a replacement: mask again
        # until nothing matches, and past a few rounds mask every line (fail closed).
        for _ in range(_SETTLE_ROUNDS):
            seen = view.build(text, join_below=self._join_below, final=True)
            found = self._detector.detect(seen.text, final=True)
            if not found.matches:
                return text
            spans = _merged((match.start, match.end) for match in found.matches)
            text = _replace(text, [seen.span_to_raw(start, end) for start, end in spans])
        return mask_all(text)
