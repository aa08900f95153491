"""Glob patterns for refs and repositories: ``*`` stays within one ``/`` segment, ``**`` crosses.

So ``refs/heads/*`` matches ``refs/heads/main`` but not ``refs/heads/feature/x``; write
``refs/heads/**`` for every branch. ``?`` is one character other than ``/``. Nothing else is
special.
"""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=1024)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """The anchored regular expression for ``pattern``."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def glob_match(pattern: str, value: str) -> bool:
    """Whether all of ``value`` matches ``pattern``."""
    return compile_glob(pattern).fullmatch(value) is not None
