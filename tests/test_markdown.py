"""The one Markdown table builder the reports share."""

from __future__ import annotations

from finsynth.markdown import markdown_table, pct


def test_markdown_table_str_cells_and_escaped_pipes():
    table = markdown_table(("rule", "n"), [["a|b", 3], ["c", None]])
    assert table.splitlines() == ["| rule | n |", "|---|---|", "| a\\|b | 3 |", "| c | None |"]
    assert markdown_table(["x"], []) == "| x |\n|---|"


def test_pct():
    assert pct(0.1234) == "12.3%" and pct(1) == "100.0%" and pct(None) == "n/a"
