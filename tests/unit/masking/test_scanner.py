"""scan() for artifacts and the leak detector's fail-closed check on masked text."""

from __future__ import annotations

import base64
import random

import pytest

from stockade.masking import Encoding, FindingKind, LeakDetector, Masker, SecretTooShort, scan

from .conftest import SECRET, build_log

CANARY = "canary-7f3a9c1e5b"


def test_scan_finds_registered_values_and_token_shapes_by_line() -> None:
    data = (
        "config:\n"
        f"  password: {SECRET}\n"
        f"  encoded: {SECRET.encode().hex()}\n"
        "  token: ghp_" + "a" * 36 + "\n"
    ).encode()
    findings = scan(data, [SECRET])
    assert [(f.kind, f.line) for f in findings] == [
        (FindingKind.SECRET, 2),
        (FindingKind.SECRET, 3),
        (FindingKind.TOKEN, 4),
    ]
    assert findings[1].form == "hex lower" and findings[2].form == "github token"
    first = findings[0]
    assert data[first.offset : first.offset + first.length] == SECRET.encode()


def test_findings_never_carry_the_value() -> None:
    findings = scan(f"{SECRET} and {SECRET.encode().hex()}", [SECRET])
    assert findings
    for finding in findings:
        assert SECRET not in repr(finding) and SECRET.encode().hex() not in repr(finding)


def test_scan_reports_byte_offsets_for_bytes() -> None:
    data = "héllo wörld ".encode() + SECRET.encode() + b"\xff\xfe binary"
    (finding,) = scan(data, [SECRET])
    assert data[finding.offset : finding.offset + finding.length] == SECRET.encode()


def test_one_occurrence_in_several_forms_is_one_finding() -> None:
    encoded = base64.b64encode(b"user:" + SECRET.encode()).decode()
    findings = scan(f"Authorization: Basic {encoded}\n", [SECRET], token_shapes=False)
    assert len(findings) == 1 and findings[0].form.startswith("base64")


def test_leak_detector_finds_an_encoding_the_masker_skipped() -> None:
    masker = Masker([SECRET], encodings=set(Encoding) - {Encoding.HEX})
    masked = masker.mask(f"raw {SECRET} hex {SECRET.encode().hex()}\n")
    findings = LeakDetector([SECRET]).check(masked)
    assert [(f.kind, f.form, f.secret_index) for f in findings] == [
        (FindingKind.SECRET, "hex lower", 0)
    ]


def test_leak_detector_finds_double_base64_the_masker_was_not_told_of() -> None:
    masker = Masker([SECRET], encodings={Encoding.RAW, Encoding.BASE64})
    twice = base64.b64encode(base64.b64encode(SECRET.encode())).decode()
    masked = masker.mask(f"value {twice}\n")
    assert twice in masked
    assert [f.form for f in LeakDetector([SECRET]).check(masked)] == [
        "base64 twice offset 0 padded"
    ]


def test_leak_detector_finds_canaries() -> None:
    detector = LeakDetector([SECRET], canaries=[CANARY])
    findings = detector.check("curl -d " + base64.b64encode(CANARY.encode()).decode())
    assert [(f.kind, f.secret_index) for f in findings] == [(FindingKind.CANARY, 0)]


def test_leak_detector_has_no_false_positives_on_clean_text() -> None:
    rng = random.Random(3)
    detector = LeakDetector([SECRET, "another-secret-value"], canaries=[CANARY])
    masked = Masker([SECRET]).mask(build_log(rng, 2000) + f"{SECRET}\n")
    assert detector.check(masked) == []


def test_leak_detector_stream_finds_a_value_split_between_pieces() -> None:
    detector = LeakDetector([SECRET])
    assert detector.feed("first line\nthe value " + SECRET[:10]) == []
    (finding,) = detector.feed(SECRET[10:] + " rest\n")
    assert finding.offset == len("first line\nthe value ") and finding.line == 2
    assert detector.feed("more clean text\n") == []


def test_short_canary_is_refused() -> None:
    with pytest.raises(SecretTooShort):
        LeakDetector([SECRET], canaries=["short"])
