"""Human lines for denials, audit suggestions, and the job's proxy environment."""

from __future__ import annotations

from dataclasses import replace

from stockade.egress import Decision, EgressEvent, EventKind, Reason, log_line, proxy_env, suggest


def event(host: str = "evil.example", port: int = 443, **changes: object) -> EgressEvent:
    base = EgressEvent(
        job_id="j", run_id="r", kind=EventKind.CONNECT, host=host, port=port, ip=None,
        decision=Decision.DENY, would_deny=False, reason=Reason.NOT_LISTED,
        detail="is not in the allowlist", rule=None, bytes_up=0, bytes_down=0, duration_s=0.0,
        started_at=0.0, tier="untrusted", allowed=("pypi.org",),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_denial_says_what_to_do() -> None:
    assert log_line(event()) == (
        "egress denied: evil.example:443 is not in the allowlist of tier untrusted "
        "(allowed: pypi.org); add it to the tier's egress list in the policy, or run in audit "
        "mode to see what the build needs"
    )


def test_an_address_refusal_names_the_range() -> None:
    line = log_line(event("metadata.test", 80, reason=Reason.FORBIDDEN_ADDRESS,
                          detail="resolves to 169.254.169.254 is link-local (RFC 3927)"))
    assert line is not None
    assert line.startswith("egress denied: metadata.test:80 resolves to 169.254.169.254")
    assert "allow_cidrs" in line


def test_allowed_events_have_no_line_but_audit_misses_do() -> None:
    assert log_line(event(decision=Decision.ALLOW, reason=Reason.ALLOWED)) is None
    line = log_line(event(decision=Decision.ALLOW, would_deny=True))
    assert line is not None and line.startswith("egress audit, would deny: evil.example:443")


def test_suggest_lists_the_minimal_entries() -> None:
    events = [
        event("b.example", 443, decision=Decision.ALLOW, would_deny=True),
        event("b.example", 80, decision=Decision.ALLOW, would_deny=True),
        event("a.example", 8443, decision=Decision.ALLOW, would_deny=True),
        event("a.example", 443),
        event("2001:db8::1", 8080),
        event("pypi.org", 443, decision=Decision.ALLOW, reason=Reason.ALLOWED),
        event("metadata.test", 80, reason=Reason.FORBIDDEN_ADDRESS),
    ]
    assert suggest(events) == ["[2001:db8::1]:8080", "a.example", "a.example:8443", "b.example"]


def test_proxy_env_leaves_no_way_around() -> None:
    env = proxy_env(3128)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        assert env[name] == "http://127.0.0.1:3128"
    assert env["NO_PROXY"] == env["no_proxy"] == ""
