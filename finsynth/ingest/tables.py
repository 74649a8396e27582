"""Tables stay whole: cells cleaned, a table continued on the next page joined to its start, Markdown
pipe rendering (header row first) for the chunk text, the rows themselves for `source.table`."""

from __future__ import annotations

import re

from finsynth.ingest.normalize import join_lines, normalize


def clean_rows(rows: list[list[str | None]]) -> list[list[str]]:
    """Cells as one normalised line each; empty rows dropped; every row as wide as the widest."""
    cleaned = [[normalize(join_lines((cell or "").splitlines()), squeeze=True) for cell in row] for row in rows]
    cleaned = [row for row in cleaned if any(cell for cell in row)]
    width = max((len(row) for row in cleaned), default=0)
    return [row + [""] * (width - len(row)) for row in cleaned]


_NUMBER = re.compile(r"^[-+(]?\d[\d,.]*%?\)?$")


def is_number(cell: str) -> bool:
    """A cell (or a word) that is one number: "1,234", "-3.5%", "(12.0)"."""
    return _NUMBER.match(cell.strip()) is not None


def _has_number(row: list[str]) -> bool:
    return any(is_number(cell) for cell in row)


def continues(previous: list[list[str]], rows: list[list[str]]) -> bool:
    """A table at the top of a page continues the table that ended the previous page when it has as
    many columns, and starts with the same header row or with a row like the previous table's body: a
    first row without numbers (a header) after a body of numeric rows starts a new table."""
    if not (previous and rows) or len(previous[0]) != len(rows[0]):
        return False
    if rows[0] == previous[0]:
        return True
    numeric_body = any(_has_number(row) for row in previous[1:])
    return not (numeric_body and not _has_number(rows[0]))


def merge(previous: list[list[str]], rows: list[list[str]]) -> list[list[str]]:
    """Join a continuation; a header row repeated at its top is dropped."""
    if rows and rows[0] == previous[0]:
        rows = rows[1:]
    return previous + rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(rows: list[list[str]]) -> str:
    """A pipe table: the first row is the header."""
    if not rows:
        return ""
    header, *body = rows
    lines = ["| " + " | ".join(_cell(c) for c in header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in body]
    return "\n".join(lines)
