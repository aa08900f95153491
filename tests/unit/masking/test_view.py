"""The normalized view: what it removes, and that every position maps back to its raw character."""

from __future__ import annotations

import random

from stockade.masking.view import build


def test_escape_sequences_and_short_line_breaks_are_removed() -> None:
    raw = "a\x1b[31mb\x1b[0m\nc\r\nd\x1b]0;title\x07\nthis line is long enough\nend"
    assert build(raw, join_below=16).text == "abcd" + "this line is long enough\nend"


def test_an_unfinished_escape_sequence_is_left_out_until_it_ends() -> None:
    seen = build("text \x1b[3", join_below=16)
    assert seen.text == "text " and seen.raw_end == 5
    assert build("text \x1b[3", join_below=16, final=True).raw_end == 8


def test_carry_counts_the_part_of_the_line_already_released() -> None:
    assert build("abc\nnext", carry=0, join_below=16).text == "abcnext"
    assert build("abc\nnext", carry=20, join_below=16).text == "abc\nnext"


def test_every_position_maps_to_its_raw_character() -> None:
    rng = random.Random(5)
    pieces = ["a", "bc", "\n", "\r\n", "\x1b[31m", "\x1b[0m", "\x1b]8;;u\x1b\\", "long line text "]
    for _ in range(300):
        raw = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        seen = build(raw, carry=rng.choice([0, 3, 30]), join_below=rng.choice([0, 4, 16]))
        positions = [seen.to_raw(index) for index in range(len(seen.text))]
        assert [raw[p] for p in positions] == list(seen.text), repr(raw)
        assert positions == sorted(set(positions))
        assert seen.to_raw(len(seen.text)) == seen.raw_end
