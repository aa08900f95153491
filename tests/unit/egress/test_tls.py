"""The ClientHello reader: real hellos from Python's ssl, split and damaged in every way."""

from __future__ import annotations

import random
import ssl

import pytest

from stockade.egress.tls import HelloStatus, parse_client_hello


def client_hello(server_hostname: str | None) -> bytes:
    """The bytes a real TLS client sends first."""
    context = ssl.create_default_context()
    context.check_hostname = False
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def split_into_records(hello: bytes, size: int) -> bytes:
    """The same handshake message re-framed into records of at most ``size`` bytes."""
    message = hello[5 : 5 + int.from_bytes(hello[3:5], "big")]
    out = b""
    for start in range(0, len(message), size):
        fragment = message[start : start + size]
        out += b"\x16\x03\x01" + len(fragment).to_bytes(2, "big") + fragment
    return out


def test_reads_the_server_name() -> None:
    result = parse_client_hello(client_hello("pypi.org"))
    assert result.status is HelloStatus.HELLO
    assert result.server_name == "pypi.org"


def test_a_hello_without_server_name() -> None:
    result = parse_client_hello(client_hello(None))
    assert result.status is HelloStatus.HELLO and result.server_name is None


def test_every_prefix_asks_for_more() -> None:
    hello = client_hello("files.pythonhosted.org")
    for cut in range(len(hello)):
        assert parse_client_hello(hello[:cut]).status is HelloStatus.NEED_MORE, cut


def test_a_hello_spread_over_several_records() -> None:
    hello = split_into_records(client_hello("crates.io"), 100)
    assert parse_client_hello(hello).server_name == "crates.io"
    for cut in range(len(hello)):
        assert parse_client_hello(hello[:cut]).status is HelloStatus.NEED_MORE


def test_bytes_after_the_hello_do_not_matter() -> None:
    assert parse_client_hello(client_hello("a.example") + b"\x17\x03\x03").server_name == "a.example"


@pytest.mark.parametrize("first", [b"G", b"GET / HTTP/1.1\r\n", b"SSH-2.0-OpenSSH\r\n", b"\x00"])
def test_non_tls_first_bytes_are_plain_data(first: bytes) -> None:
    assert parse_client_hello(first).status is HelloStatus.NOT_TLS


@pytest.mark.parametrize(("data", "error"), [
    (b"\x16\x02\x00\x00\x05hello", "not TLS"),
    (b"\x16\x03\x01\x00\x00", "out of range"),
    (b"\x16\x03\x01\x40\x01", "out of range"),
    (b"\x16\x03\x01\x00\x04\x02\x00\x00\x00", "not hello"),
    (b"\x16\x03\x01\x00\x04\x01\xff\xff\xff", "exceeds"),
    (b"\x16\x03\x01\x00\x04\x01\x00\x00\x00", "truncated"),
    (b"\x16\x03\x01\x00\x02\x01\x00" + b"\x17\x03\x01\x00\x02\x00\x00", "type 23"),
])
def test_malformed_records(data: bytes, error: str) -> None:
    result = parse_client_hello(data)
    assert result.status is HelloStatus.MALFORMED
    assert error in result.error


def test_a_hello_larger_than_the_cap_is_refused_early() -> None:
    record = b"\x16\x03\x01\x40\x00"  # a 16 KiB record: with its header over the 16 KiB cap
    assert parse_client_hello(record).status is HelloStatus.MALFORMED
    declared = b"\x16\x03\x01\x00\x04\x01\x00\x10\x00"  # a 4 KiB hello, not yet here
    assert parse_client_hello(declared).status is HelloStatus.NEED_MORE
    # 16000 declared bytes in one-byte records: the record headers push it over the cap.
    trickle = b"\x16\x03\x01\x00\x04\x01\x00\x3e\x80" + b"\x16\x03\x01\x00\x01A" * 3000
    result = parse_client_hello(trickle)
    assert result.status is HelloStatus.MALFORMED and "larger than" in result.error


def _with_extensions(hello: bytes, extensions: bytes) -> bytes:
    """``hello`` with its extension block replaced (lengths fixed up)."""
    body = hello[9:]
    pos = 2 + 32
    pos += 1 + body[pos]
    pos += 2 + int.from_bytes(body[pos : pos + 2], "big")
    pos += 1 + body[pos]
    new_body = body[:pos] + len(extensions).to_bytes(2, "big") + extensions
    message = b"\x01" + len(new_body).to_bytes(3, "big") + new_body
    return b"\x16\x03\x01" + len(message).to_bytes(2, "big") + message


def _sni(*names: tuple[int, bytes]) -> bytes:
    entries = b"".join(kind.to_bytes(1, "big") + len(n).to_bytes(2, "big") + n for kind, n in names)
    content = len(entries).to_bytes(2, "big") + entries
    return b"\x00\x00" + len(content).to_bytes(2, "big") + content


@pytest.mark.parametrize(("extensions", "status", "name"), [
    (_sni((0, b"ok.example")), HelloStatus.HELLO, "ok.example"),
    (_sni((0, b"a.example"), (0, b"b.example")), HelloStatus.MALFORMED, None),
    (_sni((0, b"a.example")) + _sni((0, b"b.example")), HelloStatus.MALFORMED, None),
    (_sni((0, b"")), HelloStatus.MALFORMED, None),
    (_sni((0, b"a.example\x00.evil")), HelloStatus.MALFORMED, None),
    (_sni((0, "bücher.example".encode())), HelloStatus.MALFORMED, None),
    (_sni(), HelloStatus.MALFORMED, None),
    (b"\x00\x00\x00\x05\x00\x09\x00", HelloStatus.MALFORMED, None),
    (b"", HelloStatus.HELLO, None),
])
def test_server_name_extension_edge_cases(extensions: bytes, status: HelloStatus,
                                          name: str | None) -> None:
    result = parse_client_hello(_with_extensions(client_hello("x.example"), extensions))
    assert result.status is status
    assert result.server_name == name


def test_random_damage_never_raises() -> None:
    hello = client_hello("fuzz.example")
    rng = random.Random(1234)
    for _ in range(3000):
        damaged = bytearray(hello)
        for _ in range(rng.randint(1, 6)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        cut = rng.randint(0, len(damaged))
        assert parse_client_hello(bytes(damaged[:cut])).status in HelloStatus
