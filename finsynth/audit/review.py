"""Review decisions: a reviewer's accept / reject / edit of built rows, applied by `build --apply-review PATCH`.

The HTML pages (the build report's findings browser and the relabel page) let a reviewer mark rows and
download the decisions as a JSONL patch, with no server: one `ReviewDecision` a line. The build applies a
patch right after relabelling and autofixes, where the pages' rows were taken, so a decision's
`content_hash` (`schema.row_content_hash` of the row the reviewer saw) can be checked against the row now:

* accept: the row stays, `provenance.review` records who and when;
* reject: the row goes to quarantine (stage `review`) with the reviewer's note;
* edit: the row's analysis becomes the reviewer's text (then linted like any row), recorded in provenance;
* a decision whose row is gone or changed since (another hash) is refused for that row, with the reason,
  and the row is left as it is: nothing else is lost.

Several decisions for one row: the latest (by time, then by line) counts and the others are logged as
superseded. Applying is deterministic: the outcome depends on the patch and the rows only, and every
decision has one line in `review.jsonl` (applied or refused, why).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from finsynth.io import InputError, QuarantineRow, Record, field_path, require_file
from finsynth.schema import Extraction, Sample, row_content_hash

REVIEW_LOG = "review.jsonl"


class ReviewDecision(BaseModel):
    """One decision on one row, as the pages download it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    content_hash: str = Field(min_length=64, max_length=64)
    decision: Literal["accept", "reject", "edit"]
    reviewer: str = Field(min_length=1)
    time: datetime
    analysis: str | None = None  # the edited analysis (edit only)
    note: str = ""

    @model_validator(mode="after")
    def _edit_has_text(self) -> ReviewDecision:
        if self.decision == "edit" and not (self.analysis or "").strip():
            raise ValueError("an edit decision needs the edited 'analysis'")
        return self


class ReviewOutcome(BaseModel):
    """What became of one decision (a line of `review.jsonl`)."""

    line: int
    id: str
    decision: str
    reviewer: str
    time: str
    status: Literal["applied", "refused", "superseded"]
    reason: str = ""


class ReviewResult(BaseModel):
    records: list[Record]
    quarantined: list[QuarantineRow] = Field(default_factory=list)
    outcomes: list[ReviewOutcome] = Field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {"decisions": len(self.outcomes)}
        for o in self.outcomes:
            key = o.decision if o.status == "applied" else o.status
            out[key] = out.get(key, 0) + 1
        return dict(sorted(out.items()))


def load_review(path: str | Path) -> list[tuple[int, ReviewDecision]]:
    """(line, decision) pairs of a patch file; a malformed line is a one-line `InputError` naming it."""
    path = require_file(path, "review", "pass the JSONL patch the report page downloaded")
    decisions = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        try:
            decisions.append((number, ReviewDecision.model_validate(json.loads(line))))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: not JSON ({exc.msg}); each line is one decision object") from exc
        except ValidationError as exc:
            first = exc.errors()[0]
            where = field_path(first["loc"], "decision")
            raise InputError(f"{path}:{number}: field {where}: {first['msg']}; fix the line or drop it") from exc
    return decisions


def row_hashes(records: list[Record]) -> list[dict[str, str | int]]:
    """What a hand-written patch line needs for each training row: its `id` and `content_hash`
    (`schema.row_content_hash`), with where the row was read (`finsynth review hash`)."""
    return [
        {"id": r.item.id, "content_hash": row_content_hash(r.item), "type": r.item.type, "path": r.path, "line": r.line}
        for r in records
        if isinstance(r.item, Sample)
    ]


def apply_review(records: list[Record], decisions: list[tuple[int, ReviewDecision]]) -> ReviewResult:
    """Apply the decisions to the training rows (see the module docstring); test cases are not reviewed."""
    latest: dict[str, tuple[int, ReviewDecision]] = {}
    outcomes: list[ReviewOutcome] = []

    def outcome(
        line: int, d: ReviewDecision, status: Literal["applied", "refused", "superseded"], reason: str = ""
    ) -> None:
        outcomes.append(
            ReviewOutcome(
                line=line,
                id=d.id,
                decision=d.decision,
                reviewer=d.reviewer,
                time=d.time.isoformat(),
                status=status,
                reason=reason,
            )
        )

    for line, d in sorted(decisions, key=lambda x: (x[1].id, x[1].time, x[0])):
        if d.id in latest:
            old_line, old = latest[d.id]
            outcome(old_line, old, "superseded", f"a later decision (line {line}) on the same row")
        latest[d.id] = (line, d)
    index = {r.item.id: i for i, r in enumerate(records) if isinstance(r.item, Sample)}
    out = list(records)
    rejected: set[int] = set()
    quarantined: list[QuarantineRow] = []
    for row_id in sorted(latest):
        line, d = latest[row_id]
        where = index.get(row_id)
        if where is None:
            outcome(line, d, "refused", "no training row has this id (dropped or renamed since)")
            continue
        record = out[where]
        sample = record.item
        now = row_content_hash(cast(Sample, sample))  # the index holds training rows only
        if now != d.content_hash:
            outcome(
                line,
                d,
                "refused",
                f"the row changed since the decision (decided on {d.content_hash[:12]}, "
                f"now {now[:12]}): review it again",
            )
            continue
        stamp = {"decision": d.decision, "reviewer": d.reviewer, "time": d.time.isoformat(), "note": d.note}
        if d.decision == "reject":
            rejected.add(where)
            reason = f"rejected by {d.reviewer} at {d.time.isoformat()}" + (f": {d.note}" if d.note else "")
            quarantined.append(QuarantineRow.of(record, reason, "review", id=sample.id))
        else:
            update: dict = {"provenance": sample.provenance.model_copy(update={"review": stamp})}
            if d.decision == "edit":
                update["output"] = Extraction(analysis=d.analysis or "", metrics=sample.output.metrics)
            out[where] = Record(path=record.path, line=record.line, item=sample.model_copy(update=update))
        outcome(line, d, "applied")
    kept = [r for i, r in enumerate(out) if i not in rejected]
    return ReviewResult(records=kept, quarantined=quarantined, outcomes=sorted(outcomes, key=lambda o: o.line))
