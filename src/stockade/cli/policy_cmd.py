"""``stockade policy check|explain|default``: see what a policy says before the server uses it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TypeVar

import typer

from stockade.cli.lint_cmd import print_problems
from stockade.errors import InvalidInput
from stockade.pipeline import FileProblems
from stockade.pipeline.loader import read_text_file
from stockade.policy import (
    TIER_ORDER,
    Policy,
    PolicyError,
    default_policy_path,
    describe_match,
    explain,
    load_event_file,
    load_policy_file,
)
from stockade.policy.lint import PolicyReport, lint_policy

T = TypeVar("T")
policy_app = typer.Typer(no_args_is_help=True,
                         help="Check a policy file and explain its decisions.")


def register(app: typer.Typer) -> None:
    """Add the ``policy`` command group to the root app."""
    app.add_typer(policy_app, name="policy")


def _load(loader: Callable[[Path], T], path: Path) -> T:
    """Run ``loader(path)``; on invalid input print every problem and exit 2."""
    try:
        return loader(path)
    except FileProblems as exc:
        print_problems(exc.problems)
        count = len(exc.problems)
        raise InvalidInput(f"{path}: {count} problem{'s' if count > 1 else ''}",
                           hint="fix each problem listed above, then check again") from None


def _print_policy(policy: Policy) -> None:
    typer.echo(f"hash: {policy.hash}")
    typer.echo("tiers:")
    for name in TIER_ORDER:
        tier = policy.tiers[name]
        approval = "approval required" if tier.requires_approval else "no approval"
        typer.echo(f"  {name:<9}  pool {tier.pool}, {approval}")
        typer.echo(f"             limits: {tier.limits.describe()}")
        typer.echo(f"             egress: {', '.join(tier.egress) or '(none)'}; secret classes: "
                   f"{', '.join(tier.secret_classes) or '(none)'}; token audiences: "
                   f"{', '.join(tier.token_audiences) or '(none)'}")
    typer.echo("rules (first match wins):")
    for index, rule in enumerate(policy.rules, 1):
        typer.echo(f"  {index}. {rule.name} → {rule.tier}: {describe_match(rule)}")
    typer.echo("  otherwise → untrusted (fail closed)")


@policy_app.command("check")
def check(path: Path = typer.Argument(..., help="The policy file.")) -> None:
    """Validate a policy file; print its hash, tiers and rules, or every problem (exit 2)."""

    def read(file: Path) -> PolicyReport:
        return lint_policy(read_text_file(file, PolicyError), str(file))

    report = _load(read, path)
    print_problems(report.warnings, label="warning: ")
    typer.echo(f"{path}: ok")
    _print_policy(report.policy)


@policy_app.command("explain")
def explain_cmd(
    path: Path = typer.Argument(..., help="The policy file."),
    event_path: Path = typer.Argument(
        ..., metavar="EVENT.json",
        help='The event: {"event", "repository", "ref", "sha", "fork", "author_association", '
             '"actor"}.'),
    tier: str | None = typer.Option(None, "--tier", help="The tier a pipeline asks for."),
    as_json: bool = typer.Option(False, "--json", help="Print the decision as JSON."),
) -> None:
    """Print the decision for an event, which rule matched, and why earlier rules did not."""
    policy = _load(load_policy_file, path)
    event = _load(load_event_file, event_path)
    result = explain(policy, event, tier)
    decision = result.decision
    if as_json:
        body = {"decision": asdict(decision), "checks": [asdict(c) for c in result.checks]}
        typer.echo(json.dumps(body, indent=2))
        return
    for index, item in enumerate(result.checks, 1):
        verdict = {True: "MATCH", False: "no", None: "skipped"}[item.matched]
        typer.echo(f"  {index}. {item.rule} → {item.tier}: {verdict}: {item.reason}")
    approval = "approval required" if decision.requires_approval else "no approval needed"
    typer.echo(f"decision: tier {decision.tier}, pool {decision.pool}, {approval}")
    typer.echo(f"rule: {decision.rule or '(none: fail closed)'}")
    typer.echo(f"reason: {decision.reason}")
    typer.echo(f"limits: {decision.limits.describe()}")
    typer.echo(f"policy: {decision.policy_hash}")


@policy_app.command("default")
def default() -> None:
    """Print the packaged default policy (a starting point for $STOCKADE_HOME/policy.yml)."""
    typer.echo(default_policy_path().read_text(encoding="utf-8"), nl=False)
