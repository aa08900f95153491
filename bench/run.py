"""``make bench``: run each benchmark section in turn and print its figures.

Sections are modules beside this file, listed in SECTIONS; each exposes ``main() -> None`` and
prints its own table (use ``common.py``). To add one, drop ``bench/<name>.py`` here and add
``<name>`` to SECTIONS; a listed module that does not exist yet is reported and skipped.

    python bench/run.py              # every section
    python bench/run.py sandbox      # only the named sections
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

# Run as a script, this directory is first on sys.path, so sections import `common` directly.
from common import console

SECTIONS = ["sandbox", "control_plane", "masking", "egress", "identity"]


def main(argv: list[str]) -> int:
    wanted = argv or SECTIONS
    unknown = [name for name in wanted if name not in SECTIONS]
    if unknown:
        console.print(f"unknown section(s): {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
        return 2
    for name in wanted:
        if not (Path(__file__).parent / f"{name}.py").exists():
            console.print(f"[dim]section {name}: not present in this checkout, skipped[/]")
            continue
        console.rule(f"[bold]{name}")
        started = time.monotonic()
        importlib.import_module(name).main()
        console.print(f"[dim]section {name} took {time.monotonic() - started:.0f} s[/]")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
