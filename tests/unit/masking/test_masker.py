"""The masked log shows no registered secret, in any form or shape a build prints it."""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Callable

import pytest

from stockade.masking import ALL_ENCODINGS, REPLACEMENT, LeakDetector, Masker, SecretTooShort
from stockade.masking.encodings import forms

from .conftest import SECRET, stream

Run = Callable[..., str]
UNICODE_SECRET = "pässwörd-ünïcode-42"


def assert_clean(out: str, secret: str = SECRET) -> None:
    assert secret not in out
    for form in forms(secret, ALL_ENCODINGS):
        assert form not in out, form
    assert LeakDetector([secret]).check(out) == []


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


PRINTED = {
    "raw": f"token is {SECRET} ok",
    "set -x trace": f"+ echo {SECRET}\n{SECRET}",
    "export trace": f"+ export API_TOKEN={SECRET}",
    "hex lower": SECRET.encode().hex(),
    "hex upper": f"dump: {SECRET.encode().hex().upper()}!",
    "url": "https://x/?t=" + urllib.parse.quote(SECRET, safe=""),
    "url lower": re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), urllib.parse.quote(SECRET)),
    "url plus": "q=" + urllib.parse.quote_plus(SECRET + " and more", safe="") + "&x=1",
    "json": json.dumps({"token": SECRET, "n": 1}),
    "json slash": json.dumps({"token": SECRET}).replace("/", "\\/"),
    "basic auth": "> Authorization: Basic " + b64(b"deploy:" + SECRET.encode()),
    "basic auth lower": "authorization: basic " + b64(b"u:" + SECRET.encode()),
    "base64 twice": b64(b64(SECRET.encode()).encode() + b"\n"),
    "ansi": "\x1b[31m".join(SECRET) + "\x1b[0m",
    "osc": "\x1b]0;title\x07" + SECRET[:5] + "\x1b]8;;http://x\x1b\\" + SECRET[5:],
}
for offset in range(3):
    for suffix in (b"", b"!", b"!?", b" trailing bytes"):
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            encoded = encode(b"p" * offset + SECRET.encode() + suffix).decode()
            PRINTED[f"{name} offset {offset} suffix {len(suffix)}"] = "b64: " + encoded
            PRINTED[f"{name} offset {offset} suffix {len(suffix)} unpadded"] = encoded.rstrip("=")


@pytest.mark.parametrize("name", sorted(PRINTED))
def test_printed_form_is_masked(run: Run, name: str) -> None:
    out = run([SECRET], PRINTED[name] + "\n")
    assert_clean(out)
    assert REPLACEMENT in out


@pytest.mark.parametrize(
    "printed",
    [
        UNICODE_SECRET,
        json.dumps({"p": UNICODE_SECRET}),
        json.dumps({"p": UNICODE_SECRET}, ensure_ascii=False),
        UNICODE_SECRET.encode().hex(),
        urllib.parse.quote(UNICODE_SECRET),
        b64(b"x" + UNICODE_SECRET.encode()),
    ],
)
def test_non_ascii_secret_is_masked_in_every_form(run: Run, printed: str) -> None:
    out = run([UNICODE_SECRET], f"ünïcode log → {printed} ←\n")
    assert_clean(out, UNICODE_SECRET)
    assert out.startswith("ünïcode log → ") and out.endswith(" ←\n")


def test_text_around_a_secret_is_kept(run: Run) -> None:
    assert run([SECRET], f"before {SECRET} after\nnext line\n") == "before *** after\nnext line\n"


def test_split_across_two_writes_at_every_point() -> None:
    text = f"line one\nthe value {SECRET} and " + b64(b"u:" + SECRET.encode()) + " end\n"
    expected = Masker([SECRET]).mask(text)
    for cut in range(len(text) + 1):
        out = stream(Masker([SECRET]), [text[:cut], text[cut:]])
        assert out == expected, cut
        assert_clean(out)


def test_one_character_per_line_is_masked() -> None:
    text = "before\n" + "\n".join(SECRET) + "\nafter the secret, a long line\n"
    out = stream(Masker([SECRET]), list(text))  # written one character at a time
    assert_clean(out)
    assert out.count("\n") == text.count("\n")  # lines are masked, not removed
    assert out.startswith("before\n***\n***\n")
    assert out.endswith("after the secret, a long line\n")


@pytest.mark.parametrize("width", [2, 3, 5, 7, 15])
def test_folded_secret_is_masked(run: Run, width: int) -> None:
    folded = "\n".join(SECRET[i : i + width] for i in range(0, len(SECRET), width))
    assert_clean(run([SECRET], folded + "\n"))


def test_carriage_returns_between_characters_lines(run: Run) -> None:
    assert_clean(run([SECRET], "\r\n".join(SECRET) + "\r\n"))


def test_a_chunk_ending_between_cr_and_lf_holds_the_line() -> None:
    text = "\r\n".join(SECRET) + "\r\n"
    for cut in range(len(text) + 1):
        assert_clean(stream(Masker([SECRET]), [text[:cut], text[cut:]]))


def test_multi_line_secret_is_masked_line_by_line(run: Run) -> None:
    secret = "first line of a certificate-like value\nsecond line, also long enough"
    out = run([secret], "prefix\n" + secret.replace("\n", "\n   ") + "\n")
    assert "first line of a" not in out and "second line" not in out
    assert out.startswith("prefix\n")


def test_private_key_block_is_masked_across_chunks() -> None:
    body = [b64(bytes([i]) * 48) for i in range(20)]
    block = "\n".join(
        ["-----BEGIN OPENSSH PRIVATE KEY-----", *body, "-----END OPENSSH PRIVATE KEY-----"]
    )
    text = "cat key:\n" + block + "\ndone, long line after the key\n"
    for size in (1, 7, 64, 1000, len(text)):
        out = stream(Masker(), [text[i : i + size] for i in range(0, len(text), size)])
        assert all(line not in out for line in body), size
        assert "PRIVATE KEY" not in out
        assert out.startswith("cat key:\n***\n") and out.endswith(
            "\ndone, long line after the key\n"
        )
        assert out.count("\n") == text.count("\n")


def test_unterminated_key_block_stays_masked_to_the_end() -> None:
    masker = Masker()
    out = masker.feed("-----BEGIN RSA PRIVATE KEY-----\n" + "MIIEow\n" * 100) + masker.flush()
    assert "MIIE" not in out


def test_private_key_inside_json_on_one_line(run: Run) -> None:
    key = "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\n-----END PRIVATE KEY-----\\n"
    out = run([], json.dumps({"private_key": key, "id": 7}) + "\n")
    assert "MIIEvQ" not in out and '"id": 7' in out


def test_short_secret_is_refused_with_a_hint() -> None:
    with pytest.raises(SecretTooShort) as raised:
        Masker(["hunter2"])
    assert "hunter2" not in str(raised.value)
    assert raised.value.hint and raised.value.status == 400
    with pytest.raises(SecretTooShort):
        Masker().add("   abc    ")


def test_masking_is_idempotent() -> None:
    masker = Masker([SECRET])
    text = PRINTED["basic auth"] + "\n" + "\n".join(SECRET) + "\nghp_" + "A" * 36 + "\n"
    once = masker.mask(text)
    assert masker.mask(once) == once


def test_secret_made_of_the_replacement_does_not_loop(run: Run) -> None:
    out = run(["***x***y***"], "a ***x***y*** b\n" + "\n".join("***x***y***") + "\n")
    assert "***x***y***" not in out


def test_a_secret_formed_by_replacements_is_masked_again(run: Run) -> None:
    out = run(["12345678", "ab***cd-secret"], "ab12345678cd-secret\n")
    assert "ab***cd-secret" not in out


def test_hold_back_is_only_what_could_start_a_secret() -> None:
    masker = Masker([SECRET])
    assert masker.feed("a line with nothing to hide, released at once\n") != ""
    assert masker.held == 0
    released = masker.feed("partial " + SECRET[:6])
    assert released == "partial " and masker.held == 6
    assert masker.feed(SECRET[6:] + " rest\n") == "*** rest\n"


def test_mask_lines_keeps_one_line_out_per_line_in() -> None:
    masker = Masker([SECRET])
    lines = ["start", *SECRET, "a normal line that is long enough", f"+ echo {SECRET}", "x"]
    out = []
    for index in range(0, len(lines), 4):
        out.extend(masker.mask_lines(lines[index : index + 4]))
    out.extend(masker.flush_lines())
    assert len(out) == len(lines)
    assert out[0] == "start" and out[-1] == "x" and out[-2] == "+ echo ***"
    assert_clean("\n".join(out))


def test_secret_added_mid_stream_is_masked_in_held_text() -> None:
    masker = Masker([SECRET[:7] + "another value"])  # holds text starting like it
    first = masker.feed("token: " + SECRET[:7])
    assert first == "token: "
    masker.add(SECRET)
    out = first + masker.feed(SECRET[4:] + "\n") + masker.flush()
    assert_clean(out)


def test_skipped_encoding_is_not_masked(run: Run) -> None:
    from stockade.masking import Encoding

    hexed = SECRET.encode().hex()
    out = run([SECRET], hexed + "\n", encodings=set(Encoding) - {Encoding.HEX})
    assert hexed in out


@pytest.mark.parametrize("user", ["u", "ci", "deploy", "a-longer-user"])
def test_basic_auth_is_covered_by_the_base64_alignments_alone(run: Run, user: str) -> None:
    header = "> Authorization: Basic " + b64(f"{user}:{SECRET}".encode())
    out = run([SECRET], header + "\n", token_shapes=False)
    assert_clean(out)
    assert out.startswith("> Authorization: Basic ")
