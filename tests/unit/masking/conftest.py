"""Factories for masking tests: secrets, a masker run over chunks, build-like log text."""

from __future__ import annotations

import itertools
import random
import string
from collections.abc import Callable, Sequence

import pytest

from stockade.masking import Masker

SECRET = "s3cr3t-V@lue/with+chars"  # has characters every escaping changes
ALPHABET = string.ascii_letters + string.digits + "+/=_-.:@!%&$é"


def random_secret(rng: random.Random, low: int = 8, high: int = 40) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(low, high)))


def stream(masker: Masker, chunks: Sequence[str]) -> str:
    """Everything a masker releases for ``chunks``, flush included."""
    return "".join(masker.feed(chunk) for chunk in chunks) + masker.flush()


def chunked(rng: random.Random, text: str, pieces: int) -> list[str]:
    cuts = sorted(rng.sample(range(len(text) + 1), min(pieces, len(text) + 1)))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


_WORDS = (
    "Compiling src/lib.rs warning: unused variable ok PASSED [3/12] gcc -O2 -Wall Downloading "
    "https://example.com/pkg-1.2.3.tar.gz 100% npm info --> done } { error: line 42 "
    "tests/test_a.py::test_x \x1b[32mOK\x1b[0m Authorization basic ASIA eyJ -----BEGIN gh xox"
)
LOG_WORDS = _WORDS.split(" ")


def build_log(rng: random.Random, lines: int) -> str:
    out = []
    for _ in range(lines):
        out.append(" ".join(rng.choice(LOG_WORDS) for _ in range(rng.randint(0, 12))))
    return "\n".join(out) + "\n"


@pytest.fixture
def run() -> Callable[..., str]:
    """Mask ``text`` through a fresh masker, fed in ``chunks`` (a list) or whole."""

    def masked(secrets: Sequence[str], text: str, **options: object) -> str:
        return stream(Masker(secrets, **options), [text])  # type: ignore[arg-type]

    return masked
