"""What a runner image is built from, and a cheap way to tell whether a rebuild could change it.

A :class:`Recipe` is everything we ask ``mmdebstrap`` for. Its :meth:`Recipe.key` names the
request; :func:`apt_fingerprint` names the state of the archive it would be served from (the
``Packages`` index hashes in each suite's ``InRelease``). Same key and same fingerprint means the
same package versions, so a build can be skipped.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

# Bump when the way an image is put together changes (layer writer, config fields), so that an
# unchanged recipe still rebuilds with the new builder.
BUILDER_VERSION = "2"  # 2: the image has /workspace


@dataclass(frozen=True)
class Recipe:
    """A Debian root filesystem as ``mmdebstrap`` makes it."""

    suite: str
    variant: str
    packages: tuple[str, ...]
    sources: tuple[str, ...]  # one-line sources.list entries: "deb URI SUITE COMPONENT"
    dpkg_options: tuple[str, ...] = ()

    def key(self) -> str:
        """``sha256:<hex>`` of the recipe and the builder version."""
        document = {"builder": BUILDER_VERSION, **asdict(self)}
        data = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        return "sha256:" + hashlib.sha256(data).hexdigest()

    def mmdebstrap_command(self, target: Path) -> list[str]:
        """The mmdebstrap invocation that writes this recipe's tree into ``target``."""
        command = [
            "mmdebstrap",
            f"--variant={self.variant}",
            f"--include={','.join(sorted(self.packages))}",
            "--format=directory",
        ]
        command += [f"--dpkgopt={option}" for option in self.dpkg_options]
        return [*command, self.suite, str(target), *self.sources]


# Documentation and translations are dead weight in a CI sandbox; copyright files stay (licences).
_SLIM = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
)

DEFAULT_RECIPE = Recipe(
    suite="bookworm",
    variant="minbase",
    packages=("bash", "ca-certificates", "coreutils", "curl", "git", "make", "procps", "python3"),
    # Security and point-release updates too: a runner image must be the patched one.
    sources=(
        "deb http://deb.debian.org/debian bookworm main",
        "deb http://deb.debian.org/debian bookworm-updates main",
        "deb http://deb.debian.org/debian-security bookworm-security main",
    ),
    dpkg_options=_SLIM,
)

_PACKAGES_LINE = re.compile(r"^\s+([0-9a-f]{64})\s+\d+\s+(\S+/binary-amd64/Packages\S*)$")


def apt_fingerprint(recipe: Recipe, *, timeout: float = 5.0) -> str | None:
    """Hash of the archive's package indices for the recipe's sources; None when unreachable.

    Only the ``Packages`` index hashes are used (not the whole ``InRelease``), because the archive
    re-signs its Release files without changing any package.
    """
    lines: list[str] = []
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True) as client:
            for source in recipe.sources:
                _, uri, suite, *components = source.split()
                response = client.get(f"{uri.rstrip('/')}/dists/{suite}/InRelease")
                response.raise_for_status()
                in_sha256 = False
                for line in response.text.splitlines():
                    if not line.startswith(" "):
                        in_sha256 = line.startswith("SHA256:")
                        continue
                    match = _PACKAGES_LINE.match(line)
                    if in_sha256 and match and match.group(2).split("/")[0] in components:
                        lines.append(f"{suite} {match.group(2)} {match.group(1)}")
    except httpx.HTTPError:
        return None
    if not lines:
        return None
    return "sha256:" + hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()
