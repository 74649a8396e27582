"""`finsynth report` as a function: load a dataset (and a test set), lint it, and aggregate the report.

The CLI parses, calls `audit_dataset` and renders (`render_audit`); nothing else decides what a report is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from finsynth.audit.lint import LintResult, lint_records
from finsynth.audit.report import Report, build_report, render_markdown
from finsynth.io import InputError, LoadResult, Record, UserError, load_paths


@dataclass
class DatasetAudit:
    """What `audit_dataset` found: the inputs as loaded, their lint and the report."""

    loaded: LoadResult
    tests: LoadResult | None
    report: Report
    lint: LintResult | None
    train_records: list[Record]
    test_records: list[Record] | None
    against_label: str | None


def load_dataset(paths: Sequence[str], against: str | None = None) -> tuple[LoadResult, LoadResult | None]:
    """The training paths and the test set as loaded (with their quarantine and warnings). No rows under
    `paths`, or a test set without one valid test case, is an `InputError`: a report or lint of nothing, or a
    leak check against nothing, would pass silently."""
    loaded = load_paths(paths)
    loaded.require_rows(" ".join(str(p) for p in paths), hint="give sample JSONL/JSON files or a directory of them")
    if not against:
        return loaded, None
    tests = load_paths([against], kind="test")
    tests.require_rows(
        f"against {against}",
        "test",
        hint="give the test cases JSONL (e.g. data/raw/test_cases.jsonl)",
        setting="against",
    )
    if not tests.test_cases:
        first = tests.quarantined[0]
        raise InputError(
            f"against {against}: none of its {tests.read} row(s) is a valid test case (line "
            f"{first.line}: {first.field}: {first.reason}); give the test cases JSONL",
            setting="against",
        )
    return loaded, tests


def lint_units(loaded: LoadResult) -> int:
    """How many progress steps `audit_dataset`'s lint reports (for a progress bar sized before it starts)."""
    return sum(1 for r in loaded.records if r.item.type != "test") + 1


def audit_dataset(
    loaded: LoadResult,
    tests: LoadResult | None = None,
    *,
    against: str | None = None,
    lint: bool = True,
    tokenizer: str | None = None,
    paths: Sequence[str] = (),
    on_progress: Callable[[int], None] | None = None,
) -> DatasetAudit:
    """Lint the loaded training rows against the test cases (a build directory's own test split serves as the
    test set when none is given) and build the report."""
    from finsynth.audit.tokens import load_tokenizer, token_lengths

    against_label = against
    if tests is None and loaded.test_cases:  # `report data/built`: its test split is the test set
        tests, against_label = loaded, "the test cases among the given paths"
    samples = loaded.samples
    if not samples:
        where = " ".join(paths) or "the given paths"
        held = [f"{len(loaded.quarantined)} row(s) quarantined"] if loaded.quarantined else []
        held += [f"{len(loaded.test_cases)} test case(s)"] if loaded.test_cases else []
        first = (
            f"; the first quarantined: {q.path}:{q.line}: {q.field}: {q.reason}"
            if (q := next(iter(loaded.quarantined), None))
            else ""
        )
        raise UserError(f"no valid training samples in {where}: {', '.join(held) or 'no rows'}{first}")
    lengths = token_lengths(samples, load_tokenizer(tokenizer)) if tokenizer else None
    unreadable = list(loaded.quarantined) + (list(tests.quarantined) if tests and tests is not loaded else [])
    train_records = [r for r in loaded.records if r.item.type != "test"]
    test_records = [r for r in tests.records if r.item.type == "test"] if tests else None
    found = (
        lint_records(train_records, against=test_records, on_progress=on_progress, unreadable=unreadable)
        if lint
        else None
    )
    report = build_report(
        samples,
        lint=found,
        against=tests.test_cases if tests else None,
        token_lengths=lengths,
        unreadable_rows=len(unreadable),
    )
    return DatasetAudit(
        loaded=loaded,
        tests=tests,
        report=report,
        lint=found,
        train_records=train_records,
        test_records=test_records,
        against_label=against_label,
    )


def render_audit(audit: DatasetAudit, fmt: str, *, paths: Sequence[str], max_findings: int | None = None) -> str:
    """The report as html, json or md text."""
    if fmt == "html":
        from finsynth.audit.html.browser import BROWSER_LIMIT, browse_findings
        from finsynth.audit.html.page import render_html

        limit = BROWSER_LIMIT if max_findings is None else max_findings
        browser = (
            browse_findings(audit.train_records, audit.lint, limit=limit, against=audit.test_records)
            if audit.lint is not None
            else None
        )
        source = " ".join(paths) + (f" against {audit.against_label}" if audit.against_label else "")
        return render_html(audit.report, browser, source=source)
    if fmt == "json":
        import json

        return json.dumps(audit.report.to_json(), ensure_ascii=False, indent=2)
    return render_markdown(audit.report)
