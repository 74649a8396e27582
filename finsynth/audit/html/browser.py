"""The findings browser's data: lint findings with the samples they point at, sampled to a bound.

A reviewer wants to read the offending text, not a rule id and a line number. Each shown finding
carries its sample (paragraph, analysis, metrics) and the spans to highlight. A set of 100,000
samples can have tens of thousands of findings, so the browser shows at most `limit` of them, shared
fairly between rules and spread evenly over each rule's list; the totals say how many there are.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from finsynth.audit.lint import LintResult, Span
from finsynth.io import Record
from finsynth.schema import Sample, row_content_hash

BROWSER_LIMIT = 400


class MetricView(BaseModel):
    name: str
    metric_type: str
    score: float


class SampleView(BaseModel):
    """A sample as the browser shows it; `key` is "path:line"."""

    key: str
    sample_id: str
    type: str
    path: str
    line: int
    paragraph: str
    analysis: str
    metrics: list[MetricView]
    content_hash: str | None = None  # training rows: what a review decision is made on (test cases: None)


class FindingView(BaseModel):
    rule: str
    severity: str
    message: str
    sample_key: str | None = None
    sample_id: str | None = None
    type: str | None = None
    path: str | None = None
    line: int | None = None
    spans: list[Span] = Field(default_factory=list)
    related_key: str | None = None


class FindingsBrowser(BaseModel):
    """The sampled findings, the samples they point at (and the other rows of pair findings), and
    the true totals per rule."""

    findings: list[FindingView]
    samples: dict[str, SampleView]
    related: dict[str, SampleView] = Field(default_factory=dict)
    total: int
    total_by_rule: dict[str, int]
    shown_by_rule: dict[str, int]

    @property
    def sampled(self) -> bool:
        return len(self.findings) < self.total


def _quotas(sizes: dict[str, int], limit: int) -> dict[str, int]:
    """Share `limit` between rules: small rules are shown whole, the rest split what is left evenly."""
    quotas: dict[str, int] = {}
    pending = sorted(sizes, key=lambda rule: (sizes[rule], rule))
    remaining = limit
    while pending:
        share = remaining // len(pending)
        if sizes[pending[0]] <= share:
            rule = pending.pop(0)
            quotas[rule] = sizes[rule]
            remaining -= sizes[rule]
            continue
        extra = remaining - share * len(pending)
        for i, rule in enumerate(sorted(pending)):
            quotas[rule] = share + (1 if i < extra else 0)
        break
    return quotas


def _spread(items: list[int], k: int) -> list[int]:
    """`k` items evenly spaced over the list (all of them when k >= len)."""
    if k >= len(items):
        return items
    return [items[i * len(items) // k] for i in range(k)]


def _key(path: str | None, line: int | None) -> str:
    return f"{path}:{line}"


def _view(record: Record) -> SampleView:
    item = record.item
    return SampleView(
        key=_key(record.path, record.line),
        sample_id=item.id,
        type=item.type,
        path=record.path,
        line=record.line,
        paragraph=item.input.paragraph,
        analysis=item.output.analysis,
        metrics=[MetricView(name=m.metric_name, metric_type=m.metric_type, score=m.score) for m in item.output.metrics],
        content_hash=row_content_hash(item) if isinstance(item, Sample) else None,
    )


def browse_findings(
    records: Sequence[Record], lint: LintResult, limit: int = BROWSER_LIMIT, against: Sequence[Record] | None = None
) -> FindingsBrowser:
    """Pick at most `limit` findings (fair per rule, deterministic) and attach the samples they name;
    `against` (the test set) supplies the test cases that split-leakage findings point at."""
    by_rule: dict[str, list[int]] = {}
    for index, finding in enumerate(lint.findings):
        by_rule.setdefault(finding.rule, []).append(index)
    quotas = _quotas({rule: len(found) for rule, found in by_rule.items()}, limit)
    chosen = sorted(i for rule, found in by_rule.items() for i in _spread(found, quotas[rule]))
    shown = [lint.findings[i] for i in chosen]

    wanted = {_key(f.path, f.line) for f in shown if f.path is not None}
    wanted_related = {_key(f.related.path, f.related.line) for f in shown if f.related is not None}
    samples: dict[str, SampleView] = {}
    related: dict[str, SampleView] = {}
    for record in [*records, *(against or ())]:
        key = _key(record.path, record.line)
        if key in wanted and key not in samples:
            samples[key] = _view(record)
        if key in wanted_related and key not in related:
            related[key] = _view(record)
    views = []
    for f in shown:
        key = _key(f.path, f.line)
        sample = samples.get(key)
        related_key = _key(f.related.path, f.related.line) if f.related else None
        views.append(
            FindingView(
                rule=f.rule,
                severity=f.severity,
                message=f.message,
                sample_key=key if sample else None,
                sample_id=f.sample_id,
                type=sample.type if sample else None,
                path=f.path,
                line=f.line,
                spans=f.spans,
                related_key=related_key if related_key in related else None,
            )
        )
    return FindingsBrowser(
        findings=views,
        samples=dict(sorted(samples.items(), key=lambda kv: (kv[1].path, kv[1].line))),
        related=dict(sorted(related.items(), key=lambda kv: (kv[1].path, kv[1].line))),
        total=len(lint.findings),
        total_by_rule={rule: len(found) for rule, found in sorted(by_rule.items())},
        shown_by_rule={rule: min(len(found), quotas[rule]) for rule, found in sorted(by_rule.items())},
    )
