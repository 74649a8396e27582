"""Markdown rendering shared by the reports (build report, eval, diagnose, lint's rule table)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def markdown_table(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table; cells are `str()`-ed and a `|` inside one is escaped."""

    def line(cells: Sequence[Any]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), "|" + "|".join("---" for _ in header) + "|", *(line(r) for r in rows)])


def pct(value: float | None) -> str:
    """A share as a percentage with one decimal (`0.1234` -> `12.3%`), `n/a` for None."""
    return "n/a" if value is None else f"{100 * value:.1f}%"
