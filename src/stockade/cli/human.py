"""Figures as people read them in the CLI's tables."""

from __future__ import annotations


def human_size(size: int) -> str:
    """``149 B``, ``1.5 KiB``, ``77.5 MiB`` (binary units, one decimal past bytes)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
