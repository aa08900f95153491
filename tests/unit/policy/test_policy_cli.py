"""``stockade policy check|explain|default`` as an operator runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from stockade.policy import default_policy_path, load_policy_file

SHA = "0123456789abcdef0123456789abcdef01234567"


def stockade(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stockade", *args], check=False, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def write_event(tmp_path: Path, **fields: object) -> Path:
    body = {"event": "push", "repository": "acme/app", "ref": "refs/heads/main", "sha": SHA}
    path = tmp_path / "event.json"
    path.write_text(json.dumps(body | fields))
    return path


def test_check_prints_hash_tiers_and_rules(tmp_path: Path) -> None:
    result = stockade("policy", "check", str(default_policy_path()), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"hash: {load_policy_file(default_policy_path()).hash}" in result.stdout
    assert "release    pool release, approval required" in result.stdout
    assert "1. fork-pull-requests → untrusted: event pull_request, fork true" in result.stdout
    assert "otherwise → untrusted (fail closed)" in result.stdout


def test_check_of_a_broken_policy_exits_2_with_positions(tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_text(default_policy_path().read_text().replace("tier: release", "tier: relase"))
    result = stockade("policy", "check", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert f"{path}:" in result.stdout and "rules[1].tier: a string ('relase')" in result.stdout


def test_explain_shows_the_decision_and_why_earlier_rules_failed(tmp_path: Path) -> None:
    event = write_event(tmp_path, ref="refs/tags/v2.0")
    result = stockade("policy", "explain", str(default_policy_path()), str(event), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "1. fork-pull-requests → untrusted: no: event is push, rule wants pull_request" in out
    assert "2. release-tags → release: MATCH: event push, ref refs/tags/v2.0 matches" in out
    assert "3. project-branches → trusted: skipped: not evaluated: first match wins" in out
    assert "decision: tier release, pool release, approval required" in out
    assert f"policy: {load_policy_file(default_policy_path()).hash}" in out


def test_explain_json(tmp_path: Path) -> None:
    event = write_event(tmp_path, event="pull_request", ref="refs/pull/1/merge", fork=True)
    result = stockade("policy", "explain", str(default_policy_path()), str(event), "--json",
                      cwd=tmp_path)
    body = json.loads(result.stdout)
    assert body["decision"]["tier"] == "untrusted"
    assert body["decision"]["rule"] == "fork-pull-requests"
    assert body["decision"]["limits"]["memory"] == 2 * 1024**3


def test_explain_refuses_a_higher_requested_tier(tmp_path: Path) -> None:
    event = write_event(tmp_path, event="pull_request", ref="refs/pull/1/merge", fork=True)
    result = stockade("policy", "explain", str(default_policy_path()), str(event),
                      "--tier", "release", cwd=tmp_path)
    assert result.returncode == 1
    assert "classified 'untrusted'" in result.stderr


def test_explain_of_a_bad_event_exits_2(tmp_path: Path) -> None:
    event = write_event(tmp_path, ref="main")
    result = stockade("policy", "explain", str(default_policy_path()), str(event), cwd=tmp_path)
    assert result.returncode == 2
    assert f"{event}:1:" in result.stdout and "ref: a string ('main')" in result.stdout


def test_default_prints_the_packaged_policy(tmp_path: Path) -> None:
    result = stockade("policy", "default", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == default_policy_path().read_text()


def test_check_prints_warnings_but_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_text(default_policy_path().read_text().replace(
        "match: {event: [manual]}", "match: {}"))
    result = stockade("policy", "check", str(path), cwd=tmp_path)
    assert result.returncode == 0
    assert "warning: rules[4].match: rule 'manual-runs' can classify pull requests from forks" \
        in result.stdout
