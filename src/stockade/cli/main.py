"""The ``stockade`` command: one Typer app, one module per command group.

Errors: every :class:`StockadeError` is caught here and printed as one clear line with its hint
(the traceback only with ``-v``). Exit codes: 0 success, 1 pipeline failed, 2 invalid input,
3 infrastructure failure.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console

from stockade.errors import InfrastructureError, InvalidInput, StockadeError

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__.splitlines()[0])
err_console = Console(stderr=True)
_verbose = False

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_INFRA = 0, 1, 2, 3

# (module under stockade.cli, name of its Typer group or None when it registers plain commands)
_COMMAND_MODULES = [
    "image_cmd", "sandbox_cmd", "doctor_cmd", "lint_cmd", "policy_cmd",
    "server_cmd", "agent_cmd", "client_cmd", "egress_cmd", "up_cmd", "run_cmd", "secret_cmd",
]


@app.callback()
def _root(verbose: bool = typer.Option(False, "-v", "--verbose", help="Show tracebacks.")) -> None:
    global _verbose
    _verbose = verbose


def _register() -> None:
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"stockade.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"stockade.cli.{name}":
                continue  # command group not present in this build
            raise
        module.register(app)


def exit_code_for(exc: StockadeError) -> int:
    if isinstance(exc, InvalidInput):
        return EXIT_INVALID
    if isinstance(exc, InfrastructureError):
        return EXIT_INFRA
    return EXIT_FAILED


def main() -> None:
    _register()
    try:
        # Without standalone mode, click returns a command's `typer.Exit` code instead of exiting.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except StockadeError as exc:
        if _verbose:
            err_console.print_exception()
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        if exc.hint:
            err_console.print(f"[dim]hint:[/] {exc.hint}", highlight=False)
        sys.exit(exit_code_for(exc))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(EXIT_INVALID)
        raise
