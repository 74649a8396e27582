"""The load rule: every row of an input file that does not load is reported with its file, line and reason."""

from __future__ import annotations

import json
from collections.abc import Iterator

from finsynth.audit.kit import Finding
from finsynth.audit.rules.base import PROSE, Example, example, rule
from finsynth.io import QuarantineRow


@rule(
    id="unreadable-row",
    severity="error",
    rationale="Every input row ends up trained on or in quarantine with its reason; a set whose rows do not "
    "load is not the set the reviewer thinks it is",
    fix="Fix the row named by file, line and field (the reason says what the data contract expected), or "
    "delete it; `finsynth build` quarantines it otherwise.",
    fires=Example(
        raw='{"type": "A", "input": {"chapter_title": "盈利能力", "paragraph": "毛利率35.8%"}, "output": ',
        note="a row cut off mid-object",
    ),
    passes=Example(raw=json.dumps(example(PROSE).rows[0], ensure_ascii=False)),
    scope="load",
)
def unreadable_row(row: QuarantineRow) -> Iterator[Finding]:
    """A row of an input file that does not load: bad UTF-8, bad JSON, not an object, or a field that
    breaks the data contract (a missing analysis, a score given as a string). Reported with its file,
    line, field and reason, as an error."""
    field = f"{row.field}: " if row.field else ""
    yield Finding(
        rule="unreadable-row",
        severity="error",
        path=row.path,
        line=row.line,
        message=f"row does not load: {field}{row.reason}",
    )
