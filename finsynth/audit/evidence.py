"""What a real model said about a rule, an autofix or a quarantine: the evidence that decides defaults.

The lessons in the GUIDE were learnt on Qwen3-14B; whether a rule's remedy helps the model trained on *this*
data is measured by the outcome harness (`benchmarks/outcome.py --recipe`, `finsynth.eval.ablation`): the same
split trained with and without the change, several seeds, the 50 test cases, a paired interval of the change in
total. Those measurements live in one file the repository keeps (`finsynth/audit/evidence.json`, written by the
harness with `--write-evidence`), and this module reads it for `lint --list`, `lint --explain`, the report's
verdict and the build's defaults:

- a **fix** (`count-anchor:cut`) or a **quarantine** whose measured effect is negative (the whole interval below
  zero) is not applied by default;
- a rule whose only measured remedy hurts is reported as a warning, not an error (`effective_severity`): it can
  no longer stop a build on the strength of a lesson's citation alone;
- a **violation** measurement (the variant *injects* the fault, like lesson 6's enumerated analyses) that hurts
  supports the rule as declared.

Anything without a measurement says "not measured".
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

EVIDENCE_FILE = Path(__file__).with_name("evidence.json")
EVIDENCE_VERSION = 1

ChangeKind = Literal["fix", "quarantine", "violation", "recipe"]
Effect = Literal["harmful", "helpful", "no clear effect"]


class Measurement(BaseModel):
    """One measured change against a baseline on a real model. `delta_total` is variant minus baseline in mean
    total (strict + loose, of `cases`) over `seeds`; `interval` its confidence interval (`interval_method` says
    how it was drawn: a paired bootstrap over seeds x cases when per-case verdicts were kept)."""

    rule: str | None = Field(None, description="the lint rule the change belongs to (None: a whole recipe)")
    change: str = Field(description="what the variant does, e.g. 'fix count-anchor:cut'")
    kind: ChangeKind
    variant: str
    baseline: str
    model: str
    device: str
    versions: str = ""
    data: str
    matcher: str = "reference"
    cases: int
    seeds: list[int]
    baseline_total: list[float] = Field(description="per seed, in `seeds` order")
    variant_total: list[float]
    delta_total: float
    interval: tuple[float, float]
    interval_method: str
    confidence: float = 0.95
    delta_strict: float | None = None
    count_ratio: tuple[float | None, float | None] | None = Field(None, description="(baseline, variant)")
    recipe: str = Field(description="the recipe file that produced it, relative to the repository")
    date: str
    note: str = ""

    @property
    def effect(self) -> Effect:
        low, high = self.interval
        if high < 0:
            return "harmful"
        if low > 0:
            return "helpful"
        return "no clear effect"

    @property
    def delta_text(self) -> str:
        """Δ total and its interval as every report writes them: "-9.7 [-14.8, -4.5]"."""
        low, high = self.interval
        return f"{self.delta_total:+.1f} [{low:+.1f}, {high:+.1f}]"

    def short(self) -> str:
        """Δ total with its interval, the model and the seeds, in one short phrase."""
        low, high = self.interval
        return (
            f"Δ total {self.delta_total:+.1f} of {self.cases} [{low:+.1f}, {high:+.1f}] on "
            f"{self.model.split(' ')[0]}, {len(self.seeds)} seeds"
        )

    def describe(self) -> str:
        """One line: the change, Δ with its interval, the model, the seeds and the recipe."""
        low, high = self.interval
        seeds = ", ".join(str(s) for s in self.seeds)
        ratio = ""
        if self.count_ratio and None not in self.count_ratio:
            ratio = f"; count ratio {self.count_ratio[0]:.2f} -> {self.count_ratio[1]:.2f}"
        strict = f", strict {self.delta_strict:+.1f}" if self.delta_strict is not None else ""
        return (
            f"{self.change}: Δ total {self.delta_total:+.1f} of {self.cases} "
            f"[{low:+.1f}, {high:+.1f}] ({self.effect}){strict}{ratio}; {self.model} on {self.device}, "
            f"seeds {seeds}, vs {self.baseline}; {self.interval_method}; recipe {self.recipe} ({self.date})"
        )


class EvidenceFile(BaseModel):
    version: int = EVIDENCE_VERSION
    measurements: list[Measurement] = Field(default_factory=list)


def load_evidence(path: Path | None = None) -> EvidenceFile:
    """The evidence file (the shipped one by default). A missing file is no evidence, not an error."""
    path = path or EVIDENCE_FILE
    if not path.is_file():
        return EvidenceFile()
    return EvidenceFile.model_validate(json.loads(path.read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def shipped_evidence() -> EvidenceFile:
    return load_evidence(EVIDENCE_FILE)


def for_rule(rule_id: str, evidence: EvidenceFile | None = None) -> list[Measurement]:
    evidence = evidence or shipped_evidence()
    return [m for m in evidence.measurements if m.rule == rule_id]


def fix_effect(rule_id: str, strategy: str, evidence: EvidenceFile | None = None) -> Measurement | None:
    """The latest measurement of applying `rule_id`'s autofix `strategy` (None: not measured)."""
    change = f"fix {rule_id}:{strategy}"
    found = [m for m in for_rule(rule_id, evidence) if m.kind == "fix" and m.change == change]
    return found[-1] if found else None


def harmful_remedy(rule_id: str, evidence: EvidenceFile | None = None) -> Measurement | None:
    """A measured fix or quarantine of this rule's rows that made the model worse, unless a violation
    measurement shows the rule's fault itself hurts (then the rule stands and only that remedy goes)."""
    measurements = for_rule(rule_id, evidence)
    if any(m.kind == "violation" and m.effect == "harmful" for m in measurements):
        return None
    harmful = [m for m in measurements if m.kind in ("fix", "quarantine") and m.effect == "harmful"]
    return harmful[-1] if harmful else None


def effective_severity(rule_id: str, declared: str, evidence: EvidenceFile | None = None) -> str:
    """Severity follows the evidence: an error whose measured remedies all hurt is a warning."""
    if declared == "error" and harmful_remedy(rule_id, evidence) is not None:
        return "warning"
    return declared


def evidence_summary(rule_id: str, evidence: EvidenceFile | None = None) -> str:
    """A short cell for the rule table: the measured effects, or 'not measured'."""
    measurements = for_rule(rule_id, evidence)
    if not measurements:
        return "not measured"
    return "; ".join(f"{m.change}: {m.delta_text}" for m in measurements)
