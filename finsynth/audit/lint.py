"""Lint: the GUIDE's lessons as small pure rules over samples and datasets; the public entry of the rules.

Every rule lives in one registry, `RULES` (a `kit.Registry`), put there by the `@rule(...)` decorator with a
stable id, a severity and a one-line rationale citing the lesson it encodes. The rules are in `audit/rules/`,
one module per family (style, exclusions, metrics, length, load, dataset); the kit they are declared with
(`Rule`, `Example`, `Hit`, `Finding`, selection, lifecycle, fix safety) is `audit/kit`, shared with the QA rules.
Sample rules take one `Sample` or `TestCase` and yield messages; dataset rules take a `DatasetView` and yield
`Finding`s.

    lint_sample(sample)              sample rules only (the LLM engine validates replies with it)
    lint_records(records, against)   everything; `against` is the test set for split leakage

Severities: an `error` stops `finsynth build` (unless --allow-errors, which quarantines the rows that
carry one); a `warning` is reported; `info` is context. `fixed-count` reports an error for the whole
dataset and a warning per type (see its docstring).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from finsynth.audit.evidence import evidence_summary, fix_effect
from finsynth.audit.kit import (
    FIXED_COUNT_ERROR,
    FIXED_COUNT_MIN_SAMPLES,
    FIXED_COUNT_WARNING,
    NEAR_DUP_THRESHOLD,
    SEVERITIES,
    Autofix,
    Finding,
    Hit,
    Related,
    Rule,
    Scope,
    Severity,
    Span,
    dominant_count,
    hits,
    rule_markdown,
)
from finsynth.audit.rules import RULES, Example, Item, example, rule
from finsynth.audit.rules.dataset import DatasetView, metric_sets_agree
from finsynth.audit.rules.exclusions import uncovered_mentions
from finsynth.audit.rules.length import DEFAULT_MAX_CHARS, DEFAULT_MAX_TOKENS, MAX_CHARS_PER_TOKEN, LintOptions
from finsynth.audit.rules.metrics import GROUNDING_MIN, INVENTED_RUN, grounding, invented_run
from finsynth.audit.rules.style import EXPECTED_STYLES
from finsynth.errors import ConfigError
from finsynth.io import LoadResult, QuarantineRow, Record
from finsynth.markdown import markdown_table

__all__ = [  # what callers import from here: the kit's names, the rules' and the runner's
    "DEFAULT_MAX_CHARS",
    "DEFAULT_MAX_TOKENS",
    "EXPECTED_STYLES",
    "FIXED_COUNT_ERROR",
    "FIXED_COUNT_MIN_SAMPLES",
    "FIXED_COUNT_WARNING",
    "GROUNDING_MIN",
    "INVENTED_RUN",
    "MAX_CHARS_PER_TOKEN",
    "NEAR_DUP_THRESHOLD",
    "RULES",
    "SEVERITIES",
    "Autofix",
    "DatasetView",
    "Example",
    "Finding",
    "Fix",
    "FixPlan",
    "Hit",
    "Item",
    "LintOptions",
    "LintResult",
    "Related",
    "Rule",
    "Scope",
    "Severity",
    "Span",
    "dominant_count",
    "example",
    "fix_records",
    "grounding",
    "invented_run",
    "lint_loaded",
    "lint_records",
    "lint_sample",
    "metric_sets_agree",
    "plan_fixes",
    "rule",
    "rule_markdown",
    "rules_markdown",
    "rules_table",
    "run_example",
    "select_rules",
    "uncovered_mentions",
]


class LintResult(BaseModel):
    """All findings, and a count per rule id (every registered rule, zeros included)."""

    findings: list[Finding] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def severity_counts(self) -> dict[str, int]:
        counts: Counter[str] = Counter(f.severity for f in self.findings)
        return {s: counts.get(s, 0) for s in SEVERITIES}

    def to_json(self) -> dict[str, Any]:
        """`{"findings": [{rule, severity, path, line, sample_id, message, spans, related}], "counts": {rule: n}}`."""
        return {"findings": [f.model_dump() for f in self.findings], "counts": dict(self.counts)}


# --- running ------------------------------------------------------------------------------------


def select_rules(
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
    scope: Scope | None = None,
    *,
    preview: bool = False,
) -> list[Rule[Item]]:
    """The registry's rules, narrowed to `select` (every stable rule when None, and the preview ones with
    `preview`) less `ignore`, in registry order; an unknown id is a ConfigError naming the known ones
    (`kit.Registry.select`)."""
    return RULES.select(select, ignore, scope, preview=preview)


def _check_item(
    item: Item, rules: Sequence[Rule[Item]], path: str | None, line: int | None, options: LintOptions
) -> list[Finding]:
    out: list[Finding] = []
    for r in rules:
        for hit in hits(r.check(item, options) if r.takes_options else r.check(item)):
            out.append(
                Finding(
                    rule=r.id,
                    severity=hit.severity or r.severity,
                    path=path,
                    line=line,
                    sample_id=item.id,
                    message=hit.message,
                    spans=list(hit.spans),
                )
            )
    return out


def lint_sample(
    sample: Item, rules: Iterable[str] | None = None, options: LintOptions | None = None, *, preview: bool = False
) -> list[Finding]:
    """Sample-scope rules on one sample or test case (dataset rules in `rules` are ignored).
    Findings carry the provenance's source and line when it has them."""
    chosen = select_rules(rules, scope="sample", preview=preview)
    prov = sample.provenance
    return _check_item(sample, chosen, prov.source or None, prov.line or None, options or LintOptions())


def _order(finding: Finding) -> tuple:
    return (finding.path is None, finding.path or "", finding.line or 0, finding.rule, finding.message)


def lint_records(
    records: Sequence[Record],
    against: Sequence[Record] | None = None,
    rules: Iterable[str] | None = None,
    threshold: float = NEAR_DUP_THRESHOLD,
    on_progress: Callable[[int], None] | None = None,
    *,
    ignore: Iterable[str] | None = None,
    options: LintOptions | None = None,
    unreadable: Sequence[QuarantineRow] = (),
    preview: bool = False,
) -> LintResult:
    """Run the chosen rules (`rules`, every stable one by default and the preview ones with `preview`, less
    `ignore`) over `records`; `against` is the
    test set that split-leakage compares with (test cases among `records` count as test set too);
    `unreadable` are rows that failed to load, reported by the `unreadable-row` rule. Findings come
    sorted by path, line and rule, dataset-wide ones last. `on_progress(n)` is told of every 500
    samples checked and once more when the dataset rules are done (len(records) + 1 steps in all)."""
    chosen = select_rules(rules, ignore, preview=preview)
    options = options or LintOptions()
    sample_rules = [r for r in chosen if r.scope == "sample"]
    findings: list[Finding] = []
    for r in (r for r in chosen if r.scope == "load"):
        for row in unreadable:
            findings.extend(r.check(row))
    tick = on_progress or (lambda _n: None)
    for i, record in enumerate(records, start=1):
        findings.extend(_check_item(record.item, sample_rules, record.path, record.line, options))
        if i % 500 == 0:
            tick(500)
    tick(len(records) % 500)
    dataset_rules = [r for r in chosen if r.scope == "dataset"]
    if dataset_rules:
        view = DatasetView(records, against, threshold=threshold)
        for r in dataset_rules:
            findings.extend(r.check(view))
    tick(1)
    findings.sort(key=_order)
    return LintResult(findings=findings, counts=RULES.count(findings))


def lint_loaded(loaded: LoadResult, against: LoadResult | None = None, **kwargs: Any) -> LintResult:
    """`lint_records` over what `io.load_paths` read: accepted rows are linted, and every row that
    failed to load (training side or test set) is an `unreadable-row` error with its file and line."""
    unreadable = list(loaded.quarantined) + (list(against.quarantined) if against else [])
    return lint_records(loaded.records, against=against.records if against else None, unreadable=unreadable, **kwargs)


class Fix(BaseModel):
    """One applied autofix: which row, which rule and strategy, the text before and after."""

    path: str
    line: int
    sample_id: str
    rule: str
    strategy: str = ""
    before: str
    after: str


class FixPlan(BaseModel):
    """Which autofixes a build applies (`rule:strategy`) and which it leaves out, with the reason (a measured
    harm, `--no-fix`), so the summary and the manifest can say both."""

    apply: list[str] = Field(default_factory=list)
    skipped: dict[str, str] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)


def _fixable_rule(rule_id: str) -> Rule[Item]:
    r = RULES.get(rule_id)
    if r is None:
        raise ConfigError(
            f"unknown lint rule {rule_id!r} in the fix selection (known: "
            + ", ".join(sorted(x.id for x in RULES.values() if x.fixes))
            + ")"
        )
    if not r.fixes:
        raise ConfigError(
            f"lint rule {rule_id!r} has no autofix (fixable: "
            + ", ".join(sorted(x.id for x in RULES.values() if x.fixes))
            + ")"
        )
    return r


def plan_fixes(select: Sequence[str] | None = None, exclude: Sequence[str] = ()) -> FixPlan:
    """Resolve a fix selection. `select` None: every fixable rule's default strategy, except one whose measured
    effect on a real model is harmful (the evidence file), which is skipped with its measurement. A named
    `rule` means its default strategy and `rule:strategy` that strategy: both are applied as asked, a measured
    harm then being a warning. `exclude` (`--no-fix`) names rules (or `rule:strategy`) never to apply.
    Raises ConfigError for an unknown rule or strategy."""
    plan = FixPlan()
    excluded = set(exclude)
    for item in excluded:
        _fixable_rule(item.split(":", 1)[0])
    chosen: list[tuple[Rule[Item], str, bool]] = []  # (rule, strategy, named by the user)
    if select is None:
        chosen = [(r, r.fix_names[0], False) for r in RULES.values() if r.fixes]
    else:
        for item in select:
            rule_id, _, strategy = item.partition(":")
            r = _fixable_rule(rule_id)
            if strategy and strategy not in r.fix_names:
                raise ConfigError(
                    f"lint rule {rule_id!r} has no fix strategy {strategy!r} (strategies: {', '.join(r.fix_names)})"
                )
            chosen.append((r, strategy or r.fix_names[0], True))
    for r, strategy, named in chosen:
        key = f"{r.id}:{strategy}"
        if r.id in excluded or key in excluded:
            plan.skipped[key] = "excluded (--no-fix)"
            continue
        if any(k.startswith(f"{r.id}:") for k in plan.apply):
            raise ConfigError(f"lint rule {r.id!r}: choose one fix strategy, not several")
        measured = fix_effect(r.id, strategy)
        if measured is not None and measured.effect == "harmful":
            if not named:
                others = [f"{r.id}:{s}" for s in r.fix_names if s != strategy]
                plan.skipped[key] = (
                    f"measured harmful ({measured.short()}; `finsynth lint --explain {r.id}`); not applied by "
                    "default: name it to "
                    f"apply it anyway" + (f", or try {' / '.join(others)}" if others else "")
                )
                continue
            plan.warnings.append(f"{key} is applied as asked, but was measured harmful: {measured.short()}")
        plan.apply.append(key)
    return plan


def fix_records(
    records: Sequence[Record], fixes: Sequence[str] | None = None, options: LintOptions | None = None
) -> tuple[list[Record], list[Fix]]:
    """Apply autofixes (`rule:strategy` as `plan_fixes` resolves them; None: every rule's default strategy) to
    every record whose rule fires; a fix is kept only when the rule no longer fires on the result. Records come
    back in order, fixed or as they were, with the list of fixes applied."""
    options = options or LintOptions()
    if fixes is None:
        fixes = [f"{r.id}:{r.fix_names[0]}" for r in RULES.values() if r.fixes]
    chosen: list[tuple[Rule[Item], str, Autofix[Item]]] = []
    for key in fixes:
        rule_id, _, strategy = key.partition(":")
        r = _fixable_rule(rule_id)
        strategy = strategy or r.fix_names[0]
        chosen.append((r, strategy, dict(r.fixes)[strategy]))
    out: list[Record] = []
    applied: list[Fix] = []
    for record in records:
        item = record.item
        for r, strategy, fn in chosen:
            if not _check_item(item, [r], None, None, options):
                continue
            fixed = fn(item)
            if fixed is not None and not _check_item(fixed, [r], None, None, options):
                applied.append(
                    Fix(
                        path=record.path,
                        line=record.line,
                        sample_id=item.id,
                        rule=r.id,
                        strategy=strategy,
                        before=item.output.analysis,
                        after=fixed.output.analysis,
                    )
                )
                item = fixed
        out.append(record if item is record.item else record.model_copy(update={"item": item}))
    return out, applied


def _severity_cell(r: Rule[Item]) -> str:
    if r.id == "fixed-count":  # an error for the whole set, a warning per type (its docstring)
        return f"{r.severity} (dataset), warning (per type)"
    if r.declared_severity and r.declared_severity != r.severity:
        return f"{r.severity} (written as {r.declared_severity}; measured)"
    return r.severity


def rules_table() -> list[dict[str, Any]]:
    """The registry as rows: id, scope, severity (and as written), rationale, fixes, the measured evidence, the
    lifecycle status and each fix's safety (docs and `lint --list`)."""
    return [
        {
            "id": r.id,
            "scope": r.scope,
            "severity": r.severity,
            "declared_severity": r.declared_severity,
            "rationale": r.rationale,
            "fixes": list(r.fix_names),
            "evidence": [m.model_dump(mode="json") | {"effect": m.effect} for m in r.evidence] or "not measured",
            "status": r.status,
            "fix_safety": r.fix_notes(),
        }
        for r in RULES.values()
    ]


def rules_markdown() -> str:
    """The README's rule table, generated from the registry (a test keeps the README in sync)."""
    rows = [
        [
            f"`{r.id}`" + ("" if r.status == "stable" else f" ({r.status})"),
            r.scope,
            _severity_cell(r),
            re.split(r"[:.](?:\s|$)", r.summary.split("\n\n")[0], maxsplit=1)[0],
            r.rationale,
            evidence_summary(r.id),
        ]
        for r in RULES.values()
    ]
    return (
        markdown_table(["rule", "scope", "severity", "what it catches", "rationale", "measured Δ total [95% CI]"], rows)
        + "\n"
    )


def run_example(r: Rule[Item], which: Literal["fires", "passes"]) -> list[Finding]:
    """Run rule `r` on its own documented example, loaded through `io` as a user's file would be
    (the test suite checks both examples of every rule, preview ones included)."""
    import tempfile
    from pathlib import Path

    from finsynth.io import load_file

    ex = r.fires if which == "fires" else r.passes
    with tempfile.TemporaryDirectory() as tmp:

        def load(name: str, lines: Sequence[str], kind: str = "auto") -> LoadResult:
            path = Path(tmp) / name
            path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            return load_file(path, kind)  # type: ignore[arg-type]

        if r.scope == "load":
            loaded = load("example.jsonl", [ex.raw or ""])
            return lint_loaded(loaded, rules=[r.id], preview=True).findings
        loaded = load("example.jsonl", [json.dumps(row, ensure_ascii=False) for row in ex.rows])
        tests = [
            json.dumps({**row, "type": "test", "scenario": "single_metric"}, ensure_ascii=False) for row in ex.against
        ]
        against = load("example_test.jsonl", tests, "test") if tests else None
    bad = loaded.quarantined + (against.quarantined if against else [])
    if bad:
        raise ValueError(f"rule {r.id}: its {which} example does not load: {bad[0].field}: {bad[0].reason}")
    return lint_loaded(loaded, against, rules=[r.id], preview=True).findings
