"""The rule kit both lint families stand on: the extraction rules (`audit/rules/`) and the QA rules (`qa/lint`).

A family is one `Registry`. Its `rule(...)` decorator registers a check under a stable id with a severity, a
one-line rationale citing its lesson, how to fix it and two runnable examples (`fires`, `passes`; the test suite
runs both for every rule): adding a rule is one function plus its examples. A sample check yields messages or
`Hit`s; a dataset check yields `Finding`s. From ruff, two more declarations:

- **status** (the lifecycle): `stable` rules run by default; a `preview` rule runs only with preview on
  (`finsynth lint --preview`); a `deprecated` rule runs only when named, so old selections keep working.
- **fix safety**, per autofix strategy (`safe(...)` / `unsafe(...)`, each with a one-line why): an unsafe fix
  changes what the row teaches the model. It is a note for the reader (`lint --explain`, `lint --list --format
  json`); which fixes a build applies is decided by the selection and the evidence (`audit.lint.plan_fixes`).

The evidence hooks (`audit.evidence`, issue 18) are the registry's when it is `measured`: a rule's severity is
`effective_severity` of the one it was written with (`declared_severity`), and `explain` shows what a real model
said of the rule and of each fix.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, cast

from pydantic import BaseModel, Field

from finsynth.audit.evidence import Measurement, effective_severity, fix_effect, for_rule, harmful_remedy
from finsynth.errors import ConfigError
from finsynth.text.similarity import DEFAULT_THRESHOLD

T = TypeVar("T")

Severity = Literal["error", "warning", "info"]
Scope = Literal["sample", "dataset", "load"]
Status = Literal["stable", "preview", "deprecated"]
Safety = Literal["safe", "unsafe"]
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")
STATUSES: tuple[str, ...] = ("stable", "preview", "deprecated")

# The fixed-count lesson's thresholds (metrics per sample, questions per chunk), named so tests and docs cite them.
FIXED_COUNT_ERROR = 0.90  # one count in >= 90% of the dataset: error
FIXED_COUNT_WARNING = 0.80  # ... in >= 80% of one type's samples (or of the chunks): warning
FIXED_COUNT_MIN_SAMPLES = 20  # smaller sets (or types) are too small to judge
NEAR_DUP_THRESHOLD = DEFAULT_THRESHOLD  # character-trigram Jaccard


class Span(BaseModel):
    """Where a finding points: characters [start, end) of one text field of the row ("analysis", "paragraph")."""

    field: str
    start: int
    end: int


class Related(BaseModel):
    """The other row of a pair finding (the earlier copy, the conflicting label, the leaked test case)."""

    path: str
    line: int
    sample_id: str


class Finding(BaseModel):
    """One lint result. `path`/`line` locate the row (None for dataset-wide findings); `spans` mark the
    offending text (a list marker, a count anchor, an uncovered number) where the rule can point."""

    rule: str
    severity: Severity
    path: str | None = None
    line: int | None = None
    sample_id: str | None = None
    message: str
    spans: list[Span] = Field(default_factory=list)
    related: Related | None = None


@dataclass(frozen=True)
class Hit:
    """What a sample rule may yield instead of a bare message: the message, the spans it points at,
    and a severity when it differs from the rule's."""

    message: str
    spans: tuple[Span, ...] = ()
    severity: Severity | None = None


def hits(results: Iterable[Any]) -> Iterator[Hit]:
    """A sample check's results as `Hit`s: a bare message is a hit at the rule's severity."""
    for result in results:
        yield result if isinstance(result, Hit) else Hit(str(result))


@dataclass(frozen=True)
class Example:
    """A rule's documented example, runnable: `rows` are rows of the family's data as JSON objects (one for a
    sample rule, several for a dataset rule), `against` a test set, `raw` an input line (load rules). A family
    subclasses it to say how a reader sees it (`shown`)."""

    rows: tuple[dict[str, Any], ...] = ()
    against: tuple[dict[str, Any], ...] = ()
    raw: str | None = None
    note: str = ""

    def shown(self) -> str:
        """The example's data as a reader sees it."""
        return self.raw if self.raw is not None else f"{len(self.rows)} row(s)"

    def describe(self) -> str:
        """The example with its note."""
        return self.shown() + (f"  ({self.note})" if self.note else "")


@dataclass(frozen=True)
class Autofix(Generic[T]):
    """One autofix strategy: the rewrite (an offending item -> the fixed item, or None when it cannot fix this
    one) and ruff's applicability: `safe` keeps what the row teaches, `unsafe` changes it (`why` says how)."""

    apply: Callable[[T], T | None]
    safety: Safety
    why: str

    def __call__(self, item: T) -> T | None:
        return self.apply(item)


def safe(apply: Callable[[T], T | None], why: str) -> Autofix[T]:
    """A fix that keeps the row's meaning for training (`why`: what makes it so)."""
    return Autofix(apply, "safe", why)


def unsafe(apply: Callable[[T], T | None], why: str) -> Autofix[T]:
    """A fix that changes the training text's meaning (`why`: what it changes); review what it did."""
    return Autofix(apply, "unsafe", why)


@dataclass(frozen=True)
class Rule(Generic[T]):
    """A registered rule over items of type T with its documentation, ruff-style: what it catches (`summary`,
    the check's docstring), why (`rationale`, citing the lesson), how to fix it, an example that fires and one
    that does not, its lifecycle `status` and its autofix strategies (`fixes`, the default first)."""

    id: str
    severity: Severity
    rationale: str
    scope: Scope
    check: Callable[..., Iterable[Any]]
    fix: str
    fires: Example
    passes: Example
    takes_options: bool = False
    fixes: tuple[tuple[str, Autofix[T]], ...] = ()
    declared_severity: Severity | None = None  # the severity the rule was written with, before the evidence
    status: Status = "stable"
    measured: bool = False  # the evidence file speaks for the rule's family (`audit.evidence`)
    fix_command: str = ""  # how a user applies the fixes ("finsynth build --fix")

    @property
    def autofix(self) -> Autofix[T] | None:
        """The default autofix strategy (None: the rule has none)."""
        return self.fixes[0][1] if self.fixes else None

    @property
    def fix_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.fixes)

    @property
    def evidence(self) -> list[Measurement]:
        """What a real model said about this rule's remedies and faults (`audit.evidence`)."""
        return for_rule(self.id) if self.measured else []

    @property
    def summary(self) -> str:
        """What the rule catches: the check's docstring, re-flowed to one paragraph per blank line."""
        text = inspect.cleandoc(self.check.__doc__ or "")
        return "\n\n".join(" ".join(p.split()) for p in text.split("\n\n") if p.strip())

    def explain(self) -> str:
        """`lint --explain ID`: the rule's whole documentation as Markdown."""
        fixable = ""
        if self.fixes:
            command = f"{self.fix_command} " if self.fix_command else ""
            fixable = f" (fixable: `{command}{self.id}[:{'|'.join(self.fix_names)}]`)"
        shown: str = self.severity
        if self.declared_severity and self.declared_severity != self.severity:
            shown = f"{self.severity}; written as {self.declared_severity}, the evidence decides"
        status = "" if self.status == "stable" else f", {self.status}"
        return rule_markdown(
            f"{self.id} ({shown}, {self.scope} rule{status}){fixable}",
            self.summary,
            self.rationale,
            self.fires.describe(),
            self.passes.describe(),
            self.fix,
            evidence=self.evidence_markdown() if self.measured else None,
            autofix=self.autofix_markdown() if self.fixes else None,
        )

    def autofix_markdown(self) -> str:
        """One bullet per fix strategy: its safety and why."""
        lines = [f"- `{self.id}:{name}` ({fix.safety}): {fix.why}" for name, fix in self.fixes]
        if any(fix.safety == "unsafe" for _, fix in self.fixes):
            lines.append("- Unsafe: the fix changes the text the model trains on; check `fixes.jsonl` after a build.")
        return "\n".join(lines)

    def evidence_markdown(self) -> str:
        """The rule's measured effects on a real model, one bullet each, or 'Not measured.'"""
        lines = [f"- {m.describe()}" + (f" {m.note}" if m.note else "") for m in self.evidence]
        if self.declared_severity and self.declared_severity != self.severity:
            harmful = harmful_remedy(self.id)
            lines.append(
                f"- Severity: {self.severity}, not {self.declared_severity}, because its measured remedy "
                f"({harmful.change if harmful else '?'}) made the model worse; a build does not stop on it "
                "and `--fix` does not apply a harmful fix unless it is named."
            )
        for name in self.fix_names:
            m = fix_effect(self.id, name)
            lines.append(f"- Fix `{self.id}:{name}`: " + (f"measured, {m.effect}." if m else "not measured."))
        return "\n".join(lines) if lines else "Not measured."

    def fix_notes(self) -> list[dict[str, str]]:
        """The fix strategies as rows: name, safety and why (`--format json`)."""
        return [{"name": name, "safety": fix.safety, "why": fix.why} for name, fix in self.fixes]

    def doc(self) -> dict[str, Any]:
        """`lint --explain ID --format json`: the documentation as fields."""
        return {
            "id": self.id,
            "severity": self.severity,
            "scope": self.scope,
            "summary": self.summary,
            "rationale": self.rationale,
            "fix": self.fix,
            "fires": self.fires.describe(),
            "passes": self.passes.describe(),
            "status": self.status,
            "fix_safety": self.fix_notes(),
        }


def rule_markdown(
    title: str,
    summary: str,
    rationale: str,
    fires: str,
    passes: str,
    fix: str,
    evidence: str | None = None,
    autofix: str | None = None,
) -> str:
    """A rule's documentation page (`lint --explain`, `qa lint --explain`): what, why, the two examples, the fix,
    its autofix strategies (when it has some) and (measured families) the evidence."""
    page = (
        f"# {title}\n\n## What it catches\n\n{summary}\n\n## Why\n\n{rationale}\n\n"
        f"## Example that fires\n\n{fires}\n\n## Example that does not fire\n\n{passes}\n\n"
        f"## How to fix\n\n{fix}\n"
    )
    if autofix is not None:
        page += f"\n## Autofix\n\n{autofix}\n"
    if evidence is not None:
        page += f"\n## Measured on a real model\n\n{evidence}\n"
    return page


def dominant_count(counts: Sequence[int]) -> tuple[int, int, float] | None:
    """The most common count, how many have it and their share; None below `FIXED_COUNT_MIN_SAMPLES` (too few
    to judge). The fixed-count lesson's measure, for metrics per sample and questions per chunk alike."""
    if len(counts) < FIXED_COUNT_MIN_SAMPLES:
        return None
    count, n = Counter(counts).most_common(1)[0]
    return count, n, n / len(counts)


class Registry(dict[str, Rule[T]]):
    """One family's rules by id, in registration order (the order of the rule table, of findings and counts).
    `noun` names a rule in messages ("lint rule"); a `measured` family reads `audit.evidence`; `fix_command`
    is how a user applies a rule's fixes."""

    def __init__(
        self, noun: str, *, severities: Sequence[str] = SEVERITIES, measured: bool = False, fix_command: str = ""
    ) -> None:
        super().__init__()
        self.noun = noun
        self.severities = tuple(severities)
        self.measured = measured
        self.fix_command = fix_command

    def rule(
        self,
        *,
        id: str,
        severity: Severity,
        rationale: str,
        fix: str,
        fires: Example,
        passes: Example,
        scope: Scope = "sample",
        fixes: dict[str, Autofix[T]] | None = None,
        status: Status = "stable",
    ) -> Callable[[Callable[..., Iterable[Any]]], Callable[..., Iterable[Any]]]:
        """Register the decorated function as rule `id`, with its documentation and examples. A sample check
        may take a second parameter, `options`; `fixes` (sample rules) are named autofix strategies, the default
        first, each rewriting an offending item so that the rule no longer fires. In a measured family the rule's
        severity is `severity` unless the evidence says its remedy hurts a real model."""
        if severity not in self.severities:
            raise ValueError(f"rule {id}: unknown severity {severity!r}")
        if status not in STATUSES:
            raise ValueError(f"rule {id}: unknown status {status!r} (one of {', '.join(STATUSES)})")

        def register(fn: Callable[..., Iterable[Any]]) -> Callable[..., Iterable[Any]]:
            if id in self:
                raise ValueError(f"{self.noun} {id!r} registered twice")
            if not (fn.__doc__ or "").strip():
                raise ValueError(f"{self.noun} {id!r} needs a docstring saying what it catches")
            effective = cast(Severity, effective_severity(id, severity)) if self.measured else severity
            self[id] = Rule(
                id=id,
                severity=effective,
                rationale=rationale,
                scope=scope,
                check=fn,
                fix=fix,
                fires=fires,
                passes=passes,
                takes_options="options" in inspect.signature(fn).parameters,
                fixes=tuple((fixes or {}).items()),
                declared_severity=severity,
                status=status,
                measured=self.measured,
                fix_command=self.fix_command,
            )
            return fn

        return register

    def select(
        self,
        select: Iterable[str] | None = None,
        ignore: Iterable[str] | None = None,
        scope: Scope | None = None,
        *,
        preview: bool = False,
    ) -> list[Rule[T]]:
        """The rules narrowed to `select` (by default every stable rule, and the preview ones with `preview`)
        less `ignore`, in registry order. A deprecated rule runs only when named. An unknown id, or a preview
        rule named while preview is off, is a ConfigError (a user error) naming the known ones."""
        if select is None:
            wanted = {r.id for r in self.values() if r.status == "stable" or (preview and r.status == "preview")}
        else:
            wanted = set(select)
        dropped = set(ignore or ())
        unknown = sorted((wanted | dropped) - self.keys())
        if unknown:
            raise ConfigError(f"unknown {self.noun}(s): {', '.join(unknown)}; known: {', '.join(self)}")
        held = sorted(rule_id for rule_id in wanted if self[rule_id].status == "preview" and not preview)
        if held:
            raise ConfigError(
                f"{self.noun}(s) in preview: {', '.join(held)}; they run only with `preview` on", setting="preview"
            )
        return [r for r in self.values() if r.id in wanted - dropped and (scope is None or r.scope == scope)]

    def count(self, findings: Iterable[Finding]) -> dict[str, int]:
        """Findings per rule id, every registered rule included (zeros too), in registry order."""
        counts = dict.fromkeys(self, 0)
        for f in findings:
            counts[f.rule] += 1
        return counts
