"""Allowlist syntax and matching, and a job's effective list within its tier."""

from __future__ import annotations

import pytest

from stockade.egress import Allowlist, InvalidEntry, effective_allowlist, parse_entry
from stockade.egress.hosts import normalize_host


def allows(entries: list[str], host: str, port: int) -> bool:
    return Allowlist.parse(entries).match(normalize_host(host), port) is not None


def test_exact_host_on_default_ports_only() -> None:
    assert allows(["pypi.org"], "pypi.org", 443)
    assert allows(["pypi.org"], "PyPI.org.", 80)
    assert not allows(["pypi.org"], "pypi.org", 8443)
    assert not allows(["pypi.org"], "files.pypi.org", 443)
    assert not allows(["pypi.org"], "evilpypi.org", 443)


def test_port_entries_allow_that_port_only() -> None:
    assert allows(["example.com:8443"], "example.com", 8443)
    assert not allows(["example.com:8443"], "example.com", 443)


def test_wildcards_match_subdomains_but_not_the_bare_suffix() -> None:
    entries = ["*.githubusercontent.com"]
    assert allows(entries, "objects.githubusercontent.com", 443)
    assert allows(entries, "a.b.githubusercontent.com", 443)
    assert not allows(entries, "githubusercontent.com", 443)
    assert not allows(entries, "evilgithubusercontent.com", 443)


def test_addresses_match_only_their_canonical_entry() -> None:
    assert allows(["192.0.2.7"], "192.0.2.7", 443)
    assert allows(["192.0.2.7"], "3221225991", 443)  # the same address, spelt as a number
    assert not allows(["*.example.com"], "192.0.2.7", 443)


def test_internationalised_entries_compare_in_ascii() -> None:
    assert allows(["bücher.example"], "xn--bcher-kva.example", 443)
    assert str(parse_entry("Bücher.Example:8080")) == "xn--bcher-kva.example:8080"


def test_empty_allowlist_denies_everything() -> None:
    assert not allows([], "pypi.org", 443)
    assert Allowlist().describe() == "nothing"


@pytest.mark.parametrize(("bad", "hint"), [
    ("2852039166", "169.254.169.254"),
    ("0xa9fea9fe", "169.254.169.254"),
    ("127.1", "127.0.0.1"),
    ("[::ffff:127.0.0.1]", "127.0.0.1"),
    ("*.com", "registered domain"),
    ("*", "host such as"),
    ("a.*.example.com", "host such as"),
    ("*.10.0.0.1", "address itself"),
    ("stockade.internal", "proxy itself"),
    ("*.internal", "proxy itself"),
    ("pypi.org:0", "host such as"),
    ("https://pypi.org", "host such as"),
    ("", "host such as"),
])
def test_unwritable_entries_say_how_to_write_them(bad: str, hint: str) -> None:
    with pytest.raises(InvalidEntry) as caught:
        parse_entry(bad)
    assert hint in str(caught.value)


def test_the_tier_list_applies_when_the_job_declares_none() -> None:
    allowlist, problems = effective_allowlist(["pypi.org"], None, tier="untrusted")
    assert allowlist.texts() == ("pypi.org",) and problems == ()


def test_a_job_narrows_its_tier() -> None:
    allowlist, problems = effective_allowlist(
        ["pypi.org", "*.example.com", "crates.io:443"],
        ["a.example.com", "*.b.example.com", "crates.io:443", "pypi.org:443"],
    )
    assert allowlist.texts() == ("a.example.com", "*.b.example.com", "crates.io:443",
                                 "pypi.org:443")
    assert problems == ()


def test_a_job_entry_outside_its_tier_is_a_problem_naming_it() -> None:
    allowlist, problems = effective_allowlist(["pypi.org", "crates.io:443"],
                                              ["pypi.org", "evil.example", "crates.io"],
                                              tier="untrusted")
    assert allowlist.texts() == ("pypi.org",)
    assert len(problems) == 2
    assert "evil.example is not allowed by tier untrusted (allowed: pypi.org, crates.io:443)" \
        in problems[0]
    assert "add it to the tier's egress list" in problems[0]
    assert "crates.io" in problems[1]  # ports 80 and 443 are more than crates.io:443 allows


def test_a_tier_may_accept_the_hosts_jobs_declare() -> None:
    allowlist, problems = effective_allowlist(["pypi.org"], ["evil.example"], True)
    assert allowlist.texts() == ("evil.example",) and problems == ()


def test_an_empty_job_list_means_no_network() -> None:
    allowlist, problems = effective_allowlist(["pypi.org"], [])
    assert allowlist.texts() == () and problems == ()


def test_unreadable_entries_are_problems_on_either_side() -> None:
    allowlist, problems = effective_allowlist(["pypi.org", "*.com"], ["2852039166"])
    assert allowlist.texts() == ()
    assert len(problems) == 2
    assert "tier's egress" in problems[0] and "job's egress" in problems[1]
