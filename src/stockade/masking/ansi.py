"""Terminal escape sequences: found so that matching can ignore them.

A build colours its output; ``\\x1b[31m`` between two characters of a secret must not hide it.
The masker matches on text with these sequences removed and masks the span they sat in.
"""

from __future__ import annotations

import re

OSC_MAX = 2048  # an operating-system command longer than this is not treated as one

# CSI (ESC [ params intermediates final), OSC (ESC ] ... BEL or ST), and the short ESC forms.
SEQUENCE = re.compile(
    rf"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b\n]{{0,{OSC_MAX}}}(?:\x07|\x1b\\)|[ -/]*[0-Z\\^-~])"
)
# A sequence that has started but not ended at the end of the text (the rest is still to come).
_UNFINISHED = re.compile(rf"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b\n]{{0,{OSC_MAX}}}\x1b?|[ -/]*)\Z")


def unfinished_at(text: str) -> int:
    """Where an escape sequence cut off by the end of ``text`` starts, or ``len(text)``."""
    start = max(0, len(text) - OSC_MAX - 8)
    found = _UNFINISHED.search(text, start)
    return found.start() if found else len(text)


def strip(text: str) -> str:
    """``text`` without its escape sequences."""
    return SEQUENCE.sub("", text) if "\x1b" in text else text
