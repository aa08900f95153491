"""Property-style checks over seeded random secrets and random chunkings."""

from __future__ import annotations

import base64
import random

from stockade.masking import LeakDetector, Masker

from .conftest import build_log, chunked, random_secret, stream

ROUNDS = 150


def test_no_chunking_reveals_a_secret() -> None:
    rng = random.Random(20240601)
    for _ in range(ROUNDS):
        secrets = [random_secret(rng) for _ in range(rng.randint(1, 4))]
        pieces = []
        for _ in range(rng.randint(1, 6)):
            secret = rng.choice(secrets)
            shape = rng.randrange(6)
            if shape == 0:
                pieces.append(secret)
            elif shape == 1:  # fold -w1: the first character starts a line, as fold prints it
                pieces.append("\n" + "\n".join(secret))
            elif shape == 2:
                pieces.append("\n" + "\r\n".join(secret))
            elif shape == 3:
                pieces.append("\x1b[1m".join(secret))
            elif shape == 4:
                pieces.append("+ echo " + secret)
            else:
                prefix = "x" * rng.randrange(3)
                pieces.append(base64.b64encode((prefix + secret).encode()).decode())
            pieces.append(rng.choice([" ", "\n", " words between ", "\n\nnext line\n", "\x1b[0m"]))
        text = "".join(pieces)
        out = stream(Masker(secrets), chunked(rng, text, rng.randint(1, 40)))
        for secret in secrets:
            assert secret not in out, (secret, text, out)
        assert LeakDetector(secrets).check(out) == [], (text, out)
        assert out.count("\n") == text.count("\n")


def test_text_without_secrets_passes_through_unchanged() -> None:
    rng = random.Random(99)
    for _ in range(40):
        secrets = [random_secret(rng) for _ in range(rng.randint(1, 20))]
        log = build_log(rng, rng.randint(1, 200))
        chunks = chunked(rng, log, rng.randint(1, 60))
        assert stream(Masker(secrets), chunks) == log
