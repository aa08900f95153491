"""The agent's masking of a job's output: secrets masked before a line leaves, lines kept in
order with their step and stream, and fail closed when a secret survives masking."""

from __future__ import annotations

from stockade.agent.masking import LEAK_LINE, JobMasker
from stockade.masking import ALL_ENCODINGS, Encoding
from stockade.sandbox.interface import OutputLine

SECRET = "correct-horse-battery-staple"


def _line(text: str, step: int = 0, stream: str = "stdout") -> OutputLine:
    return OutputLine(step, stream, text, 1.0)


def test_lines_keep_their_order_step_and_stream_and_lose_the_secret() -> None:
    out: list[OutputLine] = []
    masker = JobMasker(out.append, fail_closed=False, on_leak=lambda: None)
    masker.put(_line("before any secret", 0))
    masker.add_secrets([SECRET])
    masker.put(_line(f"token={SECRET}", 1, "stderr"))
    for char in SECRET:  # one character per line
        masker.put(_line(char, 1))
    masker.put(_line("after", 2))
    masker.flush()
    texts = [line.text for line in out]
    assert texts[0] == "before any secret" and texts[1] == "token=***" and texts[-1] == "after"
    assert SECRET not in "".join(texts)
    assert [(line.step, line.stream) for line in out[:2]] == [(0, "stdout"), (1, "stderr")]
    assert len(out) == len(SECRET) + 3  # one line out per line in


def test_a_secret_surviving_masking_is_withheld_and_fails_closed() -> None:
    out: list[OutputLine] = []
    leaks: list[int] = []
    # A masker blind to hex stands in for an encoding masking does not cover.
    blind = tuple(e for e in ALL_ENCODINGS if e is not Encoding.HEX)
    masker = JobMasker(out.append, fail_closed=True, on_leak=lambda: leaks.append(1),
                       encodings=blind)
    masker.add_secrets([SECRET])
    masker.put(_line("hex: " + SECRET.encode().hex()))
    masker.put(_line("hex again: " + SECRET.encode().hex()))
    masker.flush()
    texts = [line.text for line in out]
    assert SECRET.encode().hex() not in "\n".join(texts)
    assert texts[0].startswith("[line withheld")
    assert LEAK_LINE in texts and leaks == [1]  # stopped once, the log held
    assert masker.leaked


def test_without_fail_closed_the_line_is_still_withheld_but_the_job_goes_on() -> None:
    out: list[OutputLine] = []
    leaks: list[int] = []
    masker = JobMasker(out.append, fail_closed=False, on_leak=lambda: leaks.append(1),
                       encodings=(Encoding.RAW,))
    masker.add_secrets([SECRET])
    masker.put(_line("hex: " + SECRET.encode().hex()))
    masker.flush()
    assert out[0].text.startswith("[line withheld") and leaks == []
    assert LEAK_LINE not in [line.text for line in out]


def test_an_egress_host_carrying_a_secret_is_masked() -> None:
    masker = JobMasker(lambda _line: None, fail_closed=False, on_leak=lambda: None)
    masker.add_secrets([SECRET])
    assert SECRET not in masker.mask_text(f"{SECRET}.evil.example")
