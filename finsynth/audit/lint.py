"""Lint: the GUIDE's lessons as small pure rules over samples and datasets.

Every rule lives in one registry, `RULES`, put there by the `@rule(...)` decorator with a stable id,
a severity and a one-line rationale citing the lesson it encodes. Sample rules take one `Sample` or
`TestCase` and yield messages; dataset rules take a `DatasetView` and yield `Finding`s.

    lint_sample(sample)              sample rules only (the LLM engine validates replies with it)
    lint_records(records, against)   everything; `against` is the test set for split leakage

Severities: an `error` stops `finsynth build` (unless --allow-errors, which quarantines the rows that
carry one); a `warning` is reported; `info` is context. `fixed-count` reports an error for the whole
dataset and a warning per type (see its docstring).
"""

from __future__ import annotations

import inspect
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise
from typing import Any, Literal, cast

from pydantic import BaseModel, Field
from rapidfuzz import fuzz

from finsynth.audit.evidence import (
    Measurement,
    effective_severity,
    evidence_summary,
    fix_effect,
    for_rule,
    harmful_remedy,
)
from finsynth.errors import ConfigError
from finsynth.io import LoadResult, QuarantineRow, Record
from finsynth.markdown import markdown_table
from finsynth.schema import Sample, TestCase
from finsynth.text.enumeration import list_markers, parallel_items
from finsynth.text.items import quantity_candidates
from finsynth.text.lexicon import default_lexicon
from finsynth.text.mentions import QUANTITY_KINDS, Mention, extract_mentions, numbers_in
from finsynth.text.names import FuzzyMatcher, canonical, name_variants, surface_variants
from finsynth.text.similarity import DEFAULT_THRESHOLD, NearDupSearch
from finsynth.text.style import classify_analysis, exclusion_items
from finsynth.text.values import name_problems, value_mismatches

Severity = Literal["error", "warning", "info"]
Scope = Literal["sample", "dataset", "load"]
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")

# Thresholds, named so tests and docs can cite them.
FIXED_COUNT_ERROR = 0.90       # one metric count in >= 90% of the dataset: error
FIXED_COUNT_WARNING = 0.80     # ... in >= 80% of one type's samples: warning
FIXED_COUNT_MIN_SAMPLES = 20   # smaller sets (or types) are too small to judge
GROUNDING_MIN = 0.5            # name-to-text similarity below this is "far from anything"
INVENTED_RUN = 4               # ... and a name with this many unsupported characters in a row is renamed
NEAR_DUP_THRESHOLD = DEFAULT_THRESHOLD  # character-trigram Jaccard
MAX_LISTED = 5                 # items named in one message


class Span(BaseModel):
    """Where a finding points: characters [start, end) of the sample's analysis or paragraph."""

    field: Literal["analysis", "paragraph"]
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


def _spans(field: Literal["analysis", "paragraph"], bounds: Iterable[tuple[int, int]]) -> tuple[Span, ...]:
    return tuple(Span(field=field, start=a, end=b) for a, b in bounds if b > a)


@dataclass(frozen=True)
class Example:
    """A rule's documented example, runnable: `rows` are sample rows as JSON objects (one for a
    sample rule, several for a dataset rule), `against` a test set, `raw` a JSONL line (load rules)."""

    rows: tuple[dict[str, Any], ...] = ()
    against: tuple[dict[str, Any], ...] = ()
    raw: str | None = None
    note: str = ""

    def describe(self) -> str:
        """The example as a reader sees it: the analysis (or the raw line), with a note."""
        if self.raw is not None:
            shown = self.raw if len(self.raw) <= 160 else self.raw[:160] + "…"
        elif len(self.rows) == 1:
            analysis = self.rows[0]["output"]["analysis"]
            shown = analysis if len(analysis) <= 160 else analysis[:160] + f"… ({len(analysis):,} characters)"
            paragraph = self.rows[0]["input"]["paragraph"]
            if len(paragraph) > 2000:
                shown += f" [paragraph of {len(paragraph):,} characters]"
        else:
            shown = " / ".join(r["input"]["paragraph"][:40] + "…" for r in self.rows)
            if self.against:
                shown += " | test set: " + " / ".join(r["input"]["paragraph"][:40] + "…" for r in self.against)
        return shown + (f"  ({self.note})" if self.note else "")


def example(analysis: str, *, type: str = "A", paragraph: str | None = None,
            metrics: Sequence[tuple[str, str, float]] = (("毛利率", "financial", 0.95),),
            title: str = "盈利能力分析", note: str = "") -> Example:
    """A one-row example for a sample rule: the analysis under test in an otherwise plain sample."""
    if paragraph is None:
        paragraph = "公司2025H1毛利率为35.8%，同比提升2.3个百分点，主要受益于产品结构升级。"
    row = {"type": type, "input": {"chapter_title": title, "paragraph": paragraph},
           "output": {"analysis": analysis,
                      "metrics": [{"metric_name": n, "metric_type": t, "score": s, "reason": "段落核心分析对象"}
                                  for n, t, s in metrics]}}
    return Example(rows=(row,), note=note)


@dataclass(frozen=True)
class Rule:
    """A registered rule with its documentation, ruff-style: what it catches (`summary`, the check's
    docstring), why (`rationale`, citing the lesson), how to fix it, and an example that fires and
    one that does not (both run by the test suite). Sample checks yield messages (or `Hit`s);
    dataset checks yield Findings; load rules are reported from rows that failed to load."""

    id: str
    severity: Severity
    rationale: str
    scope: Scope
    check: Callable[..., Iterable[Any]]
    fix: str
    fires: Example
    passes: Example
    takes_options: bool = False
    # autofix strategies, the default first: name -> (item -> fixed item, or None when it cannot fix this one)
    fixes: tuple[tuple[str, Callable[[Any], Any]], ...] = ()
    declared_severity: Severity | None = None  # the severity the rule was written with, before the evidence

    @property
    def autofix(self) -> Callable[[Any], Any] | None:
        """The default autofix strategy (None: the rule has none)."""
        return self.fixes[0][1] if self.fixes else None

    @property
    def fix_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.fixes)

    @property
    def evidence(self) -> list[Measurement]:
        """What a real model said about this rule's remedies and faults (`audit.evidence`)."""
        return for_rule(self.id)

    @property
    def summary(self) -> str:
        """What the rule catches: the check's docstring, re-flowed to one paragraph per blank line."""
        text = inspect.cleandoc(self.check.__doc__ or "")
        return "\n\n".join(" ".join(p.split()) for p in text.split("\n\n") if p.strip())

    def explain(self) -> str:
        """`finsynth lint --explain ID`: the rule's whole documentation as Markdown."""
        fixable = ""
        if self.fixes:
            fixable = f" (fixable: `finsynth build --fix {self.id}[:{'|'.join(self.fix_names)}]`)"
        shown: str = self.severity
        if self.declared_severity and self.declared_severity != self.severity:
            shown = f"{self.severity}; written as {self.declared_severity}, the evidence decides"
        return rule_markdown(f"{self.id} ({shown}, {self.scope} rule){fixable}", self.summary,
                             self.rationale, self.fires.describe(), self.passes.describe(), self.fix,
                             evidence=self.evidence_markdown())

    def evidence_markdown(self) -> str:
        """The rule's measured effects on a real model, one bullet each, or 'Not measured.'"""
        lines = [f"- {m.describe()}" + (f" {m.note}" if m.note else "") for m in self.evidence]
        if self.declared_severity and self.declared_severity != self.severity:
            harmful = harmful_remedy(self.id)
            lines.append(f"- Severity: {self.severity}, not {self.declared_severity}, because its measured remedy "
                         f"({harmful.change if harmful else '?'}) made the model worse; a build does not stop on it "
                         "and `--fix` does not apply a harmful fix unless it is named.")
        for name in self.fix_names:
            m = fix_effect(self.id, name)
            lines.append(f"- Fix `{self.id}:{name}`: " + (f"measured, {m.effect}." if m else "not measured."))
        return "\n".join(lines) if lines else "Not measured."


def rule_markdown(title: str, summary: str, rationale: str, fires: str, passes: str, fix: str,
                  evidence: str | None = None) -> str:
    """A rule's documentation page (`lint --explain`, `qa lint --explain`): what, why, the two examples, the fix,
    and (extraction rules) the measured evidence."""
    page = (f"# {title}\n\n## What it catches\n\n{summary}\n\n## Why\n\n{rationale}\n\n"
            f"## Example that fires\n\n{fires}\n\n## Example that does not fire\n\n{passes}\n\n"
            f"## How to fix\n\n{fix}\n")
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


RULES: dict[str, Rule] = {}


def rule(*, id: str, severity: Severity, rationale: str, fix: str, fires: Example, passes: Example,
         scope: Scope = "sample", fixes: dict[str, Callable[[Any], Any]] | None = None):
    """Register the decorated function as lint rule `id`, with its documentation and examples.
    A sample check may take a second parameter, `options` (a `LintOptions`); `fixes` (sample rules) are named
    autofix strategies, the default first, each rewriting an offending item so that the rule no longer fires
    (`fix_records`, `build --fix`). The rule's severity is `severity` unless the evidence file says its remedy
    hurts a real model (`audit.evidence.effective_severity`)."""
    if severity not in SEVERITIES:
        raise ValueError(f"rule {id}: unknown severity {severity!r}")

    def register(fn: Callable[..., Iterable[Any]]) -> Callable[..., Iterable[Any]]:
        if id in RULES:
            raise ValueError(f"lint rule {id!r} registered twice")
        if not (fn.__doc__ or "").strip():
            raise ValueError(f"lint rule {id!r} needs a docstring saying what it catches")
        takes_options = "options" in inspect.signature(fn).parameters
        effective = cast(Severity, effective_severity(id, severity))
        RULES[id] = Rule(id=id, severity=effective, rationale=rationale, scope=scope, check=fn, fix=fix,
                         fires=fires, passes=passes, takes_options=takes_options,
                         fixes=tuple((fixes or {}).items()), declared_severity=severity)
        return fn

    return register


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


Item = Sample | TestCase

# --- helpers ------------------------------------------------------------------------------------

def _bigrams(text: str) -> list[str]:
    return [text[i:i + 2] for i in range(len(text) - 1)] or [text]


def grounding(name: str, text: str) -> float:
    """How well `name` is found in `text`, 0..1: 1.0 for a substring, else the better of rapidfuzz's
    partial_ratio and the share of the name's character bigrams present in the text."""
    best = 0.0
    for variant in surface_variants(name):
        if variant in text:
            return 1.0
        grams = _bigrams(variant)
        coverage = sum(g in text for g in grams) / len(grams)
        best = max(best, coverage, fuzz.partial_ratio(variant, text) / 100.0)
    return best


_NAME_GLUE = frozenset("（）()及和与、/／ ")


def invented_run(name: str, text: str) -> int:
    """Longest run of the name's characters (best variant) covered by none of its character
    bigrams found in `text`: 4 for 核心产品全球销售额 against a paragraph about 泽布替尼全球销售额."""
    best = len(name)
    for variant in surface_variants(name):
        covered = [ch in _NAME_GLUE for ch in variant]
        for i in range(len(variant) - 1):
            if variant[i:i + 2] in text:
                covered[i] = covered[i + 1] = True
        if len(variant) == 1 and variant in text:
            covered[0] = True
        run = longest = 0
        for flag in covered:
            run = 0 if flag else run + 1
            longest = max(longest, run)
        best = min(best, longest)
    return best


_LABEL_MATCHER = FuzzyMatcher(lexicon=default_lexicon())


def metric_sets_agree(a: Item, b: Item) -> bool:
    """Same number of metrics and a one-to-one match of names by the lexicon's (fuzzy) matcher, the
    one evaluation uses: 营收 and 营收增速 are two labels, 营收 and 营业收入 one."""
    names_a = [m.metric_name for m in a.output.metrics]
    names_b = [m.metric_name for m in b.output.metrics]
    if len(names_a) != len(names_b):
        return False
    return len(_LABEL_MATCHER.match(names_a, names_b)) == len(names_a)


def _listed(items: Sequence[str]) -> str:
    shown = "、".join(items[:MAX_LISTED])
    return shown + (f" (+{len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else "")


# --- sample rules -------------------------------------------------------------------------------

_B_PARAGRAPH = ("受益于原材料价格大幅下降，中国巨石2025H1毛利率提升至31.2%，同比改善4.6个百分点。"
                "玻纤纱均价同比下降约12%，叶腊石采购价同比下降22%。")
_B_ANALYSIS = ("本段核心分析对象是毛利率（31.2%，同比+4.6pct）。逐项排除：玻纤纱均价（同比-12%）：归因项——是毛利率"
               "提升的收入端背景。叶腊石采购价（同比-22%）：归因项——是成本端原因之一，不是分析主体。")
_PROSE = "段落围绕毛利率展开，35.8%的水平和2.3个百分点的提升都来自产品结构升级，是段落唯一的分析主体。"


@rule(
    id="numbered-list",
    severity="error",
    rationale="Lesson 6: numbered lists '1. 2. 3.' in the analysis (v12) fell 56%->44%; single-metric cases 9/10->4/10",
    fix="Rewrite the items as flowing sentences that say why each metric is (or is not) core; keep the "
        "numbers, drop the markers.",
    fires=example("本段核心指标：1. 毛利率提升2.3个百分点；2. 产品结构升级。", note="1. and 2. count up"),
    passes=example("公司1.6T光模块放量，2025H1毛利率35.8%，较9.8元的单位成本摊薄明显，是段落唯一的分析主体。",
                   note="1.6T, 2025H1 and 9.8元 are numbers, not markers"),
)
def numbered_list(item: Item) -> Iterator[Hit]:
    """The analysis is a list: two or more markers counting up from 1 (`1.` `1、` `1)` `(1)` `（1）`
    `①` `一、`), two bullets at line starts (`- ` `• `), or ordinals `第一，…` / `其一，…` / `一是…二是…` that
    name the sample's metrics. Numbers such as 1.6T, 3.5万, 2025H1, 9.8元 and ranges are not markers."""
    names = [m.metric_name for m in item.output.metrics]
    markers = list_markers(item.output.analysis, names)
    if markers:
        kind = markers[0].kind
        shown = " ".join(str(m.number) for m in markers[:4]) if kind != "bulleted" else f"{len(markers)} bullets"
        yield Hit(f"analysis enumerates with {kind} list markers ({shown}); write prose instead",
                  _spans("analysis", ((m.start, m.end) for m in markers)))


@rule(
    id="semicolon-enumeration",
    severity="error",
    rationale="Lesson 6: semicolon enumerations 'X——要点；Y——要点' (v12.1) fell 56%->44%, predictions/case 100->120",
    fix="Say in sentences what the paragraph analyses and why: name the core metric with its evidence, "
        "then why the other numbers are context. Parallel 'head——point' items teach the model to list "
        "everything it sees.",
    fires=example(
        "段落分析快递企业的单票经济性。核心指标：单票收入（2.41元，同比-3%）——价格竞争的直接体现；"
        "单票成本（2.05元，同比-6%）——自动化分拣摊薄成本。",
        paragraph="公司单票收入2.41元，同比-3%；单票成本2.05元，同比-6%。",
        metrics=(("单票收入", "business", 0.95), ("单票成本", "business", 0.9)),
        note="two items after a lead-in, values in the heads (the v12.1 shape)",
    ),
    passes=example(
        "毛利率提升主要来自原材料降价；费用率则基本持平，是背景。", note="prose that merely has a semicolon"
    ),
)
def semicolon_enumeration(item: Item) -> Iterator[Hit]:
    """The analysis lays out two or more items in parallel: consecutive segments (split at `；` `;`
    `。`, newlines or list markers) that each open with a short head (a name, optionally with a
    parenthesised value or qualifier) followed by `——` `—` `：` `:` or `-`, with or without a lead-in
    such as `核心指标：`. The exclusion list of B and D ("X：归因项——…") and a financial/business
    rationale are the required style there, not an enumeration of metrics, and do not count."""
    items = parallel_items(item.output.analysis)
    if items:
        yield Hit(f"analysis enumerates {len(items)} items in parallel ({_listed([i.head for i in items])}); "
                  "write prose instead", _spans("analysis", ((i.start, i.end) for i in items)))


_COUNT_WORD = r"(?:\d+|[一二两三四五六七八九十])"
_WHOSE = r"(?:本段落?|该段落?|此段|段落|这段)?(?:中|的)?"
_INDICATOR = r"(?:(?:核心|关键|重要|被深度分析|被分析|深度分析)的?)?(?:指标|核心指标)"
_COUNT_ANCHOR = re.compile(
    r"[\s【\[（(「“\"'*#]*"
    r"(?P<anchor>" + _WHOSE + _INDICATOR + r"(?:数量|个数|数目|数)\s*(?:[:：=＝]|为|是|共)?\s*" + _COUNT_WORD
    + r"|" + _WHOSE + r"(?:共|总共|一共|只|仅|仅仅|只是)?"
    + r"(?:有|包含|含有|涉及|提取出?|识别出?|给出|深度分析了?|分析了)\s*"
    + _COUNT_WORD + r"\s*[个项](?:核心|关键|重要)?(?:指标|核心指标|被深度分析|值得)"
    + r"|" + _WHOSE + r"(?:共|总共|一共|仅|只)\s*" + _COUNT_WORD + r"\s*[个项](?:核心|关键)?指标"
    + r"|" + _WHOSE + _INDICATOR + r"\s*(?:共|有|为|是)\s*" + _COUNT_WORD + r"\s*[个项]"
    + r"|" + _WHOSE + _INDICATOR + r"\s*[（(]\s*(?:共|有)?\s*" + _COUNT_WORD + r"\s*[个项]\s*[）)]"
    + r"|" + _COUNT_WORD + r"\s*[个项](?:核心|关键)指标\s*[:：]"
    + r"|" + _WHOSE + _INDICATOR + r"\s*[:：=＝]\s*" + _COUNT_WORD + r"\s*[个项]"
    + r")"
)

def _anchor_match(analysis: str) -> re.Match[str] | None:
    match = _COUNT_ANCHOR.match(analysis)
    topic = _TOPIC_SENTENCE.match(analysis)
    if match is None and topic:  # "段落分析家电企业的经营质量。本段有2个指标…": a topic line is not reasoning
        match = _COUNT_ANCHOR.match(analysis, topic.end())
    return match


_SENTENCE_END = re.compile(r"[。；;\n]")


def _without_count_anchor(analysis: str) -> str | None:
    """The analysis with its announcing sentence ("本段有3个指标被深度分析。") deleted, the reasoning after it
    kept; None when the announcement runs into the reasoning with no sentence break to cut at."""
    match = _anchor_match(analysis)
    if match is None:
        return None
    end = _SENTENCE_END.search(analysis, match.end("anchor"))
    if end is None or end.start() - match.end("anchor") > 12:  # "本段有2个指标被深度分析" + at most a few words
        return None
    return (analysis[:match.start("anchor")] + analysis[end.end():]).strip() or None


def _with_analysis(item: Item, analysis: str | None) -> Item | None:
    if analysis is None:
        return None
    return item.model_copy(update={"output": item.output.model_copy(update={"analysis": analysis})})


_CN_COUNT = "零一两三四"


def _names_phrase(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else "、".join(names[:-1]) + "和" + names[-1]


def _drop_count_anchor(item: Item) -> Item | None:
    """cut: delete the announcing sentence, keep the reasoning (the count is left to the metrics list)."""
    return _with_analysis(item, _without_count_anchor(item.output.analysis))


def _count_conclusion(names: Sequence[str]) -> str:
    """The count said as the reasoning's conclusion: "因此本段只有毛利率一个核心指标。"."""
    if not names:
        return "因此本段没有被深度分析的核心指标。"
    if len(names) == 1:
        return f"因此本段只有{names[0]}一个核心指标。"
    count = _CN_COUNT[len(names)] if len(names) < len(_CN_COUNT) else str(len(names))
    return f"因此本段有{_names_phrase(names)}{count}个核心指标。"


def _move_count_anchor(item: Item) -> Item | None:
    """move: the count goes to the end, as the conclusion of the reasoning, naming the metrics
    ("……。因此本段只有矿产金产量一个核心指标。"): the model still learns to say the count, after reasoning."""
    rest = _without_count_anchor(item.output.analysis)
    if rest is None:
        return None
    if rest[-1] not in "。！？!?":
        rest += "。"
    return _with_analysis(item, rest + _count_conclusion([m.metric_name for m in item.output.metrics]))


_GROWTH_WORDS = ("增速", "增长率", "增幅", "增长", "同比")


def _quantifies(mention: Mention, name: str) -> bool:
    """Whether a paragraph quantity is (part of) metric `name`: the names contain each other or share their
    lexicon spelling, or the quantity is the percent change of a growth metric's subject (营业收入…28% for 营收增速)."""
    subject = mention.subject
    if subject in name or name in subject or canonical(subject) == canonical(name):
        return True
    if mention.kind == "percent" and any(w in name for w in _GROWTH_WORDS):
        return bool(set(_bigrams(subject)) & set(_bigrams(name))) or subject[:1] == name[:1]
    return False


def _other_quantities(item: Item, limit: int = 3) -> list[str]:
    """Up to `limit` quantities of the paragraph that belong to no metric: their subject and value as written."""
    names = [m.metric_name for m in item.output.metrics]
    out: list[str] = []
    for mention in extract_mentions(item.input.paragraph):
        if mention.kind not in QUANTITY_KINDS or not mention.subject:
            continue
        if any(_quantifies(mention, name) for name in names):
            continue
        if any(phrase.startswith(mention.subject) for phrase in out):
            continue  # one value per subject: "房地产对公不良率4.8%" stands for its later values too
        out.append(f"{mention.subject}{mention.text}")
        if len(out) == limit:
            break
    return out


def _rewrite_count_anchor(item: Item) -> Item | None:
    """rewrite: the announcement becomes a sentence that names the metric(s) and says why the paragraph's other
    numbers are not metrics, with no count in it ("本段深度分析的是毛利率，营收12.5亿元等数字是背景或原因，不单独作为
    核心指标。")."""
    rest = _without_count_anchor(item.output.analysis)
    if rest is None:
        return None
    names = [m.metric_name for m in item.output.metrics]
    head = f"本段深度分析的是{_names_phrase(names)}" if names else "本段没有被深度分析的指标"
    others = _other_quantities(item)
    if others:
        head += f"，{'、'.join(others)}等数字是背景、原因或拆分，不单独作为核心指标"
    return _with_analysis(item, f"{head}。{rest}")


# a short opening sentence with no number that only names the topic ("段落分析家电企业的经营质量。")
_TOPIC_SENTENCE = re.compile(r"[^。；;！？!?\n\d]{4,30}[。；;\n]")

@rule(
    id="count-anchor",
    severity="error",
    rationale="Lesson 5: opening with '核心指标数量：2' (v10) fell 52%->46%: the model commits to a count, then pads",
    fix="Reason about the paragraph first; say the count, if at all, as the conclusion after the reasoning "
        "(`--fix count-anchor:move`). Cutting the sentence (`count-anchor:cut`) was measured harmful on the 0.5B "
        "model (see the evidence): type C's count statements are the only place the corpus says in words that a "
        "paragraph has one metric.",
    fires=example("本段只有1个指标被深度分析。段落围绕毛利率展开。", note="a restraint opening commits to a count too"),
    passes=example("段落围绕毛利率展开，给出35.8%的水平和同比提升，是唯一被深度分析的指标。"),
    fixes={"cut": _drop_count_anchor, "move": _move_count_anchor, "rewrite": _rewrite_count_anchor},
)
def count_anchor(item: Item) -> Iterator[Hit]:
    """The analysis opens by announcing a metric count ("核心指标数量：2", "本段有3个指标被深度分析",
    "共2个核心指标：", "本段只有1个指标被深度分析"), at its start or right after a short topic sentence
    without numbers.

    Decision: the restraint opening "本段只有1个…" is an announcement too. It commits to a number before
    any reasoning, exactly as "本段有3个…" does; lesson 5's damage came from that commitment (the model
    writes the count, then fits the list to it), and a model taught to open with "只有1个" learns to
    decide the count first on every paragraph. All 72 type C rows of the reference corpus open this
    way. An opening that says the paragraph has no core metric ("本段无核心量化分析对象") names no count
    and is the background verdict of type B; it does not fire."""
    analysis = item.output.analysis
    match = _anchor_match(analysis)
    if match:
        opening = re.split(r"[。；;\n]", analysis.strip(), maxsplit=1)[0][:40]
        yield Hit(f"analysis opens by announcing a metric count ({opening!r}); reason first, count last",
                  _spans("analysis", [match.span("anchor")]))


EXPECTED_STYLES: dict[str, tuple[str, ...]] = {
    "A": ("prose",),
    "B": ("exclusion", "hybrid"),
    "C": ("prose",),
    "D": ("hybrid",),
}
_STYLE_WORDS = {
    "prose": "prose without an exclusion list",
    "exclusion": "a per-item exclusion list",
    "hybrid": "a per-item exclusion list plus a financial/business rationale per metric",
}


@rule(
    id="style-mismatch",
    severity="error",
    rationale="Lesson 4: exclusion style forced onto A/C/D (v9) fell 48%->40%; asymmetric styles (v9.1) rose to 52%",
    fix="Write the type's style: prose for A and C; for B name the core metric(s) then every other number "
        "with '逐项排除：X（值）：类别——理由'; for D add a financial/business rationale to each extracted metric.",
    fires=example(_B_ANALYSIS, paragraph=_B_PARAGRAPH, note="type A written in B's exclusion style"),
    passes=example(_B_ANALYSIS, type="B", paragraph=_B_PARAGRAPH),
)
def style_mismatch(item: Item) -> Iterator[Hit]:
    """The analysis style does not fit the type: B needs a per-item exclusion list, D exclusion plus
    a classification rationale, A and C prose without an exclusion list. Test cases are not checked."""
    expected = EXPECTED_STYLES.get(item.type)
    if expected is None:
        return
    analysis = item.output.analysis
    style = classify_analysis(analysis)
    if style not in expected:
        # point at the exclusion list's item names when there is one the type should not have
        bounds = []
        for excluded in exclusion_items(analysis) if style != "prose" else ():
            start = analysis.find(excluded.name)
            if start >= 0:
                bounds.append((start, start + len(excluded.name)))
        yield Hit(f"type {item.type} analysis is {style} ({_STYLE_WORDS[style]}); "
                  f"type {item.type} needs {_STYLE_WORDS[expected[0]]}", _spans("analysis", bounds))


# how a growth rate is written (增速, 同比增长率, 增幅, YoY, ...): the lexicon's spellings of its growth term
_GROWTH_SPELLINGS = tuple(sorted(default_lexicon().surfaces.get(canonical("增速"), ["增速"]), key=len, reverse=True))
# where a clause (or a 、-list part) and a sentence start
_CLAUSE_START = frozenset("，,。；;！？!?：:、\n")
_SENTENCE_START = frozenset("。；;！？!?\n")


def _start_of(text: str, position: int, breaks: frozenset[str]) -> int:
    while position > 0 and text[position - 1] not in breaks:
        position -= 1
    return position


def _growth_stem(core: str) -> str:
    """The level a growth-rate metric grows ("奶粉及奶制品收入" of "奶粉及奶制品收入增速"), else ""."""
    return next((core[: -len(g)] for g in _GROWTH_SPELLINGS if core.endswith(g) and len(core) > len(g)), "")


def _level_of_growth(name: str, cores: Sequence[str]) -> str | None:
    """The growth-rate metric whose level `name` is, or None."""
    level = canonical(name)
    return next((core for core in cores if level and (stem := _growth_stem(core)) and canonical(stem) == level), None)


def _names_its_own_subject(paragraph: str, mention: Mention, core: str) -> bool:
    """Whether `mention` is a figure of `core`: its subject, written in its clause, names the core or the
    level the core grows (in some spelling, or the same metric to the lexicon's matcher: 综合毛利率 for 毛利率),
    or it writes no subject of its own ("毛利率31.2%，同比改善4.6个百分点": the change borrows the level's).
    "线上收入占比82%" is not a figure of 线上收入增速, nor "全球智能手机出货量约3.1亿台" of 国内智能手机出货量."""
    clause = _start_of(paragraph, mention.start, _CLAUSE_START)
    if not mention.subject or paragraph.rfind(mention.subject, clause, mention.start) < 0:
        return True
    stem = _growth_stem(core)
    if canonical(mention.subject) in {*name_variants(core), *((canonical(stem),) if stem else ())}:
        return True
    return any(_LABEL_MATCHER.same(mention.subject, name) for name in (core, stem) if name)


def uncovered_mentions(item: Item) -> list[Mention]:
    """The paragraph's quantities that the analysis neither extracts nor excludes; each mention's
    `subject` is the name of the item it belongs to.

    The paragraph's quantities are grouped into items the way the offline annotator groups them
    (`quantity_candidates`: a change and its level are one item, a new period starts a new item, and the
    extracted metrics own their own figures; index points, scores, discounts and bare ratios such as
    "从7.10贬值至7.28" are quantities). A quantity is covered when
    - its value is cited anywhere in the analysis, or another value of its item in the same clause is
      ("净增8家至1,068家" cited as "净增门店至1,068家");
    - an extracted metric owns it and it names that metric, or no subject of its own (a change after the
      metric's level);
    - its item's name is an extracted metric's or an excluded item's name, in any spelling
      (`names.name_variants`): named without its number;
    - it is the level of a growth-rate metric written in a sentence where that metric has its value
      ("奶粉及奶制品收入约135亿元，同比增长约12%" for 奶粉及奶制品收入增速).
    A name that only contains or resembles the item's does not cover it: "火电上网电价" is a breakdown of
    "上网电价", "老白汾系列毛利率" a sibling of "玻汾系列毛利率", and "收入" written in the analysis says
    nothing about "Q2收入2,914亿元"."""
    analysis, paragraph = item.output.analysis, item.input.paragraph
    cited = numbers_in(analysis)
    if not extract_mentions(paragraph, skip_values=cited):
        return []  # every number cited: nothing to group (most rows; it skips the grouping's cost)
    cores = [m.metric_name for m in item.output.metrics]
    named = {v for name in [*cores, *(x.name for x in exclusion_items(analysis))] for v in name_variants(name)}
    quantities, owned = quantity_candidates(paragraph, cores)
    core_sentences = {core: {_start_of(paragraph, m.start, _SENTENCE_START) for m in ms} for core, ms in owned.items()}

    def is_cited(mention: Mention) -> bool:
        return mention.value is not None and abs(mention.value) in cited

    out = [m for core, ms in owned.items() for m in ms
           if not is_cited(m) and not _names_its_own_subject(paragraph, m, core)]
    for quantity in quantities:
        if canonical(quantity.name) in named:
            continue
        growth = _level_of_growth(quantity.name, cores)
        sentence = _start_of(paragraph, quantity.mentions[0].start, _SENTENCE_START)
        if growth is not None and sentence in core_sentences[growth]:
            continue
        cited_clauses = {_start_of(paragraph, m.start, _CLAUSE_START) for m in quantity.mentions if is_cited(m)}
        out += [Mention(m.text, m.value, m.unit, m.start, m.end, m.kind, quantity.name) for m in quantity.mentions
                if not is_cited(m) and _start_of(paragraph, m.start, _CLAUSE_START) not in cited_clauses]
    return sorted(out, key=lambda m: m.start)


@rule(
    id="exclusion-coverage",
    severity="warning",
    rationale="Lesson 3: per-item exclusion (v6: 55%->65%) works by naming every non-extracted number with its reason",
    fix="Add the missing item to the exclusion list with its category and reason "
        "('叶腊石采购价（同比-22%）：归因项——…'), or extract it if it is core.",
    fires=example("本段核心分析对象是毛利率（31.2%，同比+4.6pct）。逐项排除：玻纤纱均价（同比-12%）：归因项——是收入端背景。",
                  type="B", paragraph=_B_PARAGRAPH, note="叶腊石采购价 (-22%) is neither extracted nor excluded"),
    passes=example(_B_ANALYSIS, type="B", paragraph=_B_PARAGRAPH),
)
def exclusion_coverage(item: Item) -> Iterator[Hit]:
    """In B and D: a quantitative item of the paragraph (a number with its unit, an index value or a bare
    ratio such as an exchange rate; not a date or period) whose value is cited nowhere in the analysis and
    which is neither an extracted metric's figure nor named in the exclusions by its own name: a longer or
    similar name does not cover it (火电上网电价 is not 上网电价, 老白汾系列毛利率 not 玻汾系列毛利率). Skipped
    when the analysis has no exclusion list at all (style-mismatch reports that)."""
    if item.type not in ("B", "D") or classify_analysis(item.output.analysis) == "prose":
        return
    missing = uncovered_mentions(item)
    if missing:
        shown = [f"{m.text}（{m.subject}）" if m.subject else m.text for m in missing]
        yield Hit(
            f"{len(missing)} quantitative item(s) of the paragraph neither extracted nor excluded: {_listed(shown)}",
            _spans("paragraph", ((m.start, m.end) for m in missing)),
        )


_FRAGMENT_ANALYSIS = ("本段核心分析对象是毛利率（31.2%，同比+4.6pct）。"
                      "逐项排除：玻纤纱均价（同比-12%）：归因项——是收入端背景。"
                      "在叶腊石采购价（同比-22%）：归因项——是成本端原因之一。")
_SIGN_LOST_ANALYSIS = ("本段核心分析对象是毛利率（31.2%，同比+4.6pct）。"
                       "逐项排除：玻纤纱均价（12%）：归因项——是收入端背景。"
                       "叶腊石采购价（同比-22%）：归因项——是成本端原因之一。")


def _exclusions(item: Item) -> list:
    if item.type not in ("B", "D") or classify_analysis(item.output.analysis) == "prose":
        return []
    return exclusion_items(item.output.analysis)


@rule(
    id="ungrounded-exclusion",
    severity="warning",
    rationale="Lesson 3: per-item exclusion teaches the model to name each number as the paragraph does; "
              "clause fragments ('在碳酸锂价格', '的背景下') and invented names teach it to cut text at random",
    fix="Name the item with the paragraph's own noun phrase for the quantity (叶腊石采购价, not 在叶腊石采购价 "
        "or 叶腊石采购); split parallel items only where the paragraph names each one.",
    fires=example(_FRAGMENT_ANALYSIS, type="B", paragraph=_B_PARAGRAPH,
                  note="'在叶腊石采购价' opens with a preposition"),
    passes=example(_B_ANALYSIS, type="B", paragraph=_B_PARAGRAPH),
)
def ungrounded_exclusion(item: Item) -> Iterator[Hit]:
    """An exclusion item name (types B and D) that is not a span of the paragraph, or a span that
    opens or ends with a connective or particle (的, 在, 由于, 主要因为, 和, …), i.e. a clause fragment.

    Decision: what a human label adds without naming anything else is allowed: 的/了/之, a trailing
    generic word (智能座舱收入增速 for 智能座舱收入同比增长23%), and a span shortened to at most
    three in-order pieces of one sentence (人民币汇率 for 人民币对美元汇率). Names assembled from
    parallel lists (南非市占率 from "南非、越南市占率分别为") still fire: they are the label's own
    wording, worth a look, hence a warning."""
    paragraph = item.input.paragraph
    analysis = item.output.analysis
    for excluded in _exclusions(item):
        problems = name_problems(paragraph, excluded.name)
        if problems:
            start = analysis.find(excluded.name)
            bounds = [(start, start + len(excluded.name))] if start >= 0 else []
            yield Hit(f"exclusion item {excluded.name!r}: {'; '.join(problems)}", _spans("analysis", bounds))


@rule(
    id="exclusion-value-mismatch",
    severity="warning",
    rationale="Lesson 3: an exclusion restates the paragraph's evidence; 同比-3% cited as 3% (or 4.6个百分点 as "
              "4.6%) teaches the model to misread direction and units",
    fix="Cite the value as the paragraph writes it, direction included: '同比下降22%' or '同比-22%', never "
        "'22%'; keep 个百分点/pct apart from %, and 万 apart from 亿.",
    fires=example(
        _SIGN_LOST_ANALYSIS, type="B", paragraph=_B_PARAGRAPH, note="玻纤纱均价 fell 12%; '12%' drops the sign"
    ),
    passes=example(_B_ANALYSIS, type="B", paragraph=_B_PARAGRAPH),
)
def exclusion_value_mismatch(item: Item) -> Iterator[Hit]:
    """An exclusion item value (types B and D) whose sign or unit differs from every mention of that
    number in the paragraph; a fall cited without its minus or direction word, a level given a minus,
    percent for percentage points, 万 for 亿. The item's name may carry the
    direction (LPR累计下调（30个基点）); numbers the paragraph does not contain are not judged."""
    paragraph = item.input.paragraph
    analysis = item.output.analysis
    for excluded in _exclusions(item):
        problems = value_mismatches(paragraph, excluded.values, excluded.name)
        if problems:
            start = analysis.find(excluded.values) if excluded.values else -1
            bounds = [(start, start + len(excluded.values))] if start >= 0 else []
            yield Hit(f"exclusion item {excluded.name!r}: " + "; ".join(p.describe() for p in problems),
                      _spans("analysis", bounds))


@rule(
    id="metric-not-in-analysis",
    severity="warning",
    rationale="Lesson 2: the analysis is the chain of thought; a metric it never discusses was not reasoned about",
    fix="Discuss the metric in the analysis (why it is core, with its evidence), or drop it from the list.",
    fires=example("段落围绕产品结构升级展开，是唯一的分析主体。", note="毛利率 is extracted but never discussed"),
    passes=example(_PROSE),
)
def metric_not_in_analysis(item: Item) -> Iterator[str]:
    """An extracted metric whose name (or a close variant) does not appear in the analysis."""
    analysis = item.output.analysis
    for metric in item.output.metrics:
        score = grounding(metric.metric_name, analysis)
        if score < GROUNDING_MIN:
            yield f"metric {metric.metric_name!r} is not discussed in the analysis (similarity {score:.2f})"


@rule(
    id="ungrounded-metric",
    severity="warning",
    rationale="Lesson 9: names come from the paragraph; a 32B model 'improved' "
              "泽布替尼全球销售额 -> 核心产品全球销售额",
    fix="Use the paragraph's own wording for the metric name (泽布替尼全球销售额, not 核心产品全球销售额).",
    fires=example(
        "段落围绕核心产品全球销售额展开，是唯一的分析主体。",
        paragraph="百济神州泽布替尼全球销售额达到26.4亿美元，同比增长56%。",
        metrics=(("核心产品全球销售额", "financial", 0.95),),
    ),
    passes=example(
        "段落围绕泽布替尼全球销售额展开，是唯一的分析主体。",
        paragraph="百济神州泽布替尼全球销售额达到26.4亿美元，同比增长56%。",
        metrics=(("泽布替尼全球销售额", "financial", 0.95),),
    ),
)
def ungrounded_metric(item: Item) -> Iterator[str]:
    """A metric name far from anything in the paragraph (rapidfuzz partial ratio and bigram coverage
    both below GROUNDING_MIN), or one carrying an invented run of >= INVENTED_RUN characters that no
    bigram of the paragraph supports (核心产品全球销售额 for 泽布替尼全球销售额)."""
    paragraph = item.input.paragraph
    for metric in item.output.metrics:
        name = metric.metric_name
        score = grounding(name, paragraph)
        if score < GROUNDING_MIN:
            yield f"metric {name!r} is far from anything in the paragraph (similarity {score:.2f})"
        elif score < 1.0 and (run := invented_run(name, paragraph)) >= INVENTED_RUN:
            yield f"metric {name!r} has {run} characters in a row that the paragraph does not support"


@rule(
    id="duplicate-metric",
    severity="error",
    rationale="Lesson 3 (the matcher undercounts spellings): one metric listed twice under two spellings (营收 and "
              "营业收入) is counted once by evaluation and teaches the model to pad the list",
    fix="Keep one of the two names (the paragraph's own wording) and drop the other metric.",
    fires=example("段落围绕营收展开，营业收入的增长是分析主体。",
                  paragraph="公司2025H1营收达到120亿元，营业收入同比增长18%。",
                  metrics=(("营收", "financial", 0.95), ("营业收入", "financial", 0.9))),
    passes=example("段落围绕营收及其增速展开，两者都是分析主体。",
                   paragraph="公司2025H1营收达到120亿元，营收增速为18%。",
                   metrics=(("营收", "financial", 0.95), ("营收增速", "financial", 0.9))),
)
def duplicate_metric(item: Item) -> Iterator[str]:
    """Two metrics of one sample that the lexicon spells the same, such as 营收 and 营业收入 or EPS and 每股收益.

    One canonical form is the test: stricter than evaluation's fuzzy match, which is lenient by design
    between a prediction and its gold and would pair 广告收入增速 with 视频号广告收入增速 inside one sample.
    A level and its growth (营收 / 营收增速) are two metrics."""
    names = [m.metric_name for m in item.output.metrics]
    forms = [canonical(name) for name in names]
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            if forms[i] == forms[j]:
                b = names[j]
                yield f"metrics {a!r} and {b!r} name the same metric (see `finsynth eval --explain-match`)"


@rule(
    id="score-order",
    severity="warning",
    rationale="GUIDE section 1: metrics are listed highest score first; training and evaluation read them in order",
    fix="Sort the metrics by score, highest first.",
    fires=example("段落围绕毛利率和净利率展开，两者都是分析主体。",
                  paragraph="公司毛利率为35.8%，净利率为12.1%，均同比提升。",
                  metrics=(("净利率", "financial", 0.8), ("毛利率", "financial", 0.95))),
    passes=example("段落围绕毛利率和净利率展开，两者都是分析主体。",
                   paragraph="公司毛利率为35.8%，净利率为12.1%，均同比提升。",
                   metrics=(("毛利率", "financial", 0.95), ("净利率", "financial", 0.8))),
)
def score_order(item: Item) -> Iterator[str]:
    """Metrics are not ordered by score, highest first."""
    scores = [m.score for m in item.output.metrics]
    if any(a < b for a, b in pairwise(scores)):
        yield f"metrics are not ordered by score, highest first: {', '.join(f'{s:g}' for s in scores)}"


DEFAULT_MAX_TOKENS = 2048  # train's max_length, the reference configuration's (GUIDE section 5)
# The most characters the real Qwen3 tokenizer packs into one token of the reference corpus's
# paragraphs and analyses (measured: 1.48 on average, 1.70 at most). Past max_tokens x this, a row
# cannot fit however the text tokenizes.
MAX_CHARS_PER_TOKEN = 1.7
DEFAULT_MAX_CHARS = int(DEFAULT_MAX_TOKENS * MAX_CHARS_PER_TOKEN)


@dataclass(frozen=True)
class LintOptions:
    """Settings of the rules that take them: the `length` bound in characters, and with a local
    tokenizer (`tokens.load_tokenizer`) the token budget of a rendered training row."""

    max_chars: int = DEFAULT_MAX_CHARS
    max_tokens: int = DEFAULT_MAX_TOKENS
    tokenizer: Any = None

    @classmethod
    def for_max_tokens(cls, max_tokens: int, tokenizer: Any = None, max_chars: int | None = None) -> LintOptions:
        """Options whose character bound follows the token budget unless given."""
        chars = max_chars if max_chars is not None else int(max_tokens * MAX_CHARS_PER_TOKEN)
        return cls(max_chars=chars, max_tokens=max_tokens, tokenizer=tokenizer)


@rule(
    id="length",
    severity="error",
    rationale="GUIDE section 5: training truncates at max_length 2048 tokens; a cut row loses its metrics JSON "
              "(or its analysis) and teaches the model to stop mid-answer",
    fix="Split the paragraph at a chapter or sentence boundary (finsynth ingest cuts chunks that fit), or "
        "shorten the analysis; raise --max-tokens only if training uses a longer max_length.",
    fires=example(_PROSE, paragraph="公司2025H1毛利率为35.8%，同比提升2.3个百分点。" * 160,
                  note="a paragraph of 4,160 characters"),
    passes=example(_PROSE),
)
def length(item: Item, options: LintOptions) -> Iterator[str]:
    """The paragraph and analysis together run past the character bound (default: 2048 tokens x 1.7
    characters per token, the densest the real Qwen3 tokenizer packs corpus text), or, with a local
    tokenizer, the training row rendered with Qwen3's chat template (thinking off) has more tokens
    than the budget and would be truncated."""
    paragraph, analysis = len(item.input.paragraph), len(item.output.analysis)
    if paragraph + analysis > options.max_chars:
        yield (f"paragraph ({paragraph:,} characters) and analysis ({analysis:,}) run past {options.max_chars:,} "
               f"characters; the row cannot fit in {options.max_tokens:,} training tokens")
        return
    if options.tokenizer is not None:
        from finsynth.audit.tokens import chat_row_tokens

        n = chat_row_tokens(item, options.tokenizer)
        if n > options.max_tokens:
            yield (f"the rendered training row has {n:,} tokens, past max_length {options.max_tokens:,}; "
                   "it would be truncated")


@rule(
    id="unreadable-row",
    severity="error",
    rationale="Every input row ends up trained on or in quarantine with its reason; a set whose rows do not "
              "load is not the set the reviewer thinks it is",
    fix="Fix the row named by file, line and field (the reason says what the data contract expected), or "
        "delete it; `finsynth build` quarantines it otherwise.",
    fires=Example(raw='{"type": "A", "input": {"chapter_title": "盈利能力", "paragraph": "毛利率35.8%"}, "output": ',
                  note="a row cut off mid-object"),
    passes=Example(raw=json.dumps(example(_PROSE).rows[0], ensure_ascii=False)),
    scope="load",
)
def unreadable_row(row: QuarantineRow) -> Iterator[Finding]:
    """A row of an input file that does not load: bad UTF-8, bad JSON, not an object, or a field that
    breaks the data contract (a missing analysis, a score given as a string). Reported with its file,
    line, field and reason, as an error."""
    field = f"{row.field}: " if row.field else ""
    yield Finding(rule="unreadable-row", severity="error", path=row.path, line=row.line,
                  message=f"row does not load: {field}{row.reason}")


def _rows(*examples: Example) -> tuple[dict[str, Any], ...]:
    return tuple(row for ex in examples for row in ex.rows)


_LONG = ("公司2025H1实现营收623亿元，同比增长11.3%，其中运营商网络业务收入346亿元，毛利率为35.8%，"
         "同比提升2.3个百分点，主要受益于产品结构升级和海外市场放量。")
_COUNT_METRICS = (("营收", "financial", 0.95), ("毛利率", "financial", 0.9), ("运营商网络业务收入", "financial", 0.8))


def _count_example(counts: Sequence[int], note: str) -> Example:
    """Samples with the given metric counts, each paragraph distinct (fixed-count's examples)."""
    rows = _rows(*(example("段落围绕营收、毛利率和运营商网络业务收入展开。", paragraph=f"第{i}段：" + _LONG,
                           metrics=_COUNT_METRICS[:n]) for i, n in enumerate(counts)))
    return Example(rows=rows, note=note)


# --- dataset rules ------------------------------------------------------------------------------


class DatasetView:
    """What dataset rules see: the linted records, the test set, and (computed once, lazily) each
    record's link to the earlier record it repeats or near-duplicates on its side, and each training
    sample's nearest-in-order test case (`links`, `leaks`)."""

    def __init__(self, records: Sequence[Record], against: Sequence[Record] | None = None,
                 threshold: float = NEAR_DUP_THRESHOLD) -> None:
        self.records = list(records)
        self.threshold = threshold
        in_records = [r for r in self.records if isinstance(r.item, TestCase)]
        # test cases passed as records count as the test side too
        self.against = list(against) if against is not None else []
        seen = {id(r) for r in self.against}
        self.against += [r for r in in_records if id(r) not in seen]

    @property
    def samples(self) -> list[Record]:
        return [r for r in self.records if isinstance(r.item, Sample)]

    @cached_property
    def combined(self) -> list[tuple[Record, bool]]:
        """(record, is_linted) for the records, then test-set records not already among them."""
        ids = {id(r) for r in self.records}
        return [(r, True) for r in self.records] + [(r, False) for r in self.against if id(r) not in ids]

    @cached_property
    def _training(self) -> tuple[list[int], Any]:
        """Positions (in `records`) of the training samples, and a `NearDupSearch` over their paragraphs."""
        where = [k for k, r in enumerate(self.records) if isinstance(r.item, Sample)]
        return where, NearDupSearch([self.records[k].item.input.paragraph for k in where], threshold=self.threshold)

    @cached_property
    def links(self) -> list[PairLink]:
        """One link per linted record that repeats or near-duplicates an earlier record on its side
        (training samples among training samples, test cases among test cases), by record: per-side
        near-duplicate clusters (`text.similarity.NearDupSearch.clusters`) link a copy to the earliest
        identical record, any other member to its cluster's representative (the earliest member),
        or, in a chain A ~ B ~ C where C is not near A, to the earlier member it is near. A cluster
        of k records gives k - 1 links, not k * (k - 1) / 2 pairs."""
        training, search = self._training
        tests = [k for k, r in enumerate(self.records) if isinstance(r.item, TestCase)]
        sides = [(training, search), (tests, NearDupSearch([self.records[k].item.input.paragraph for k in tests],
                                                            threshold=self.threshold))]
        out: list[tuple[int, PairLink]] = []
        for where, side in sides:
            for cluster in side.clusters():
                for m in cluster.members:
                    out.append((where[m.index], PairLink(self.records[where[m.index]], self.records[where[m.anchor]],
                                                         m.similarity, m.identical)))
        out.sort(key=lambda item: item[0])
        return [link for _, link in out]

    @cached_property
    def leaks(self) -> list[PairLink]:
        """Training samples identical or near (Jaccard >= threshold) to a test-set paragraph, by
        record, each linked to the first such test case (test cases among the records first, then
        `against`), found without comparing every sample with every test case."""
        training, search = self._training
        tests = [r for r, _ in self.combined if isinstance(r.item, TestCase)]
        if not training or not tests:
            return []
        found = search.earliest_near([r.item.input.paragraph for r in tests])
        return [PairLink(self.records[k], tests[hit[0]], hit[1], False)
                for k, hit in zip(training, found, strict=True) if hit is not None]


@dataclass(slots=True)
class PairLink:
    """A pair finding's two rows: `record` (the one reported) repeats or near-duplicates `other`."""

    record: Record
    other: Record
    similarity: float
    identical: bool


def _finding(rule_id: str, record: Record | None, message: str, severity: Severity | None = None,
             related: Record | None = None) -> Finding:
    return Finding(
        rule=rule_id,
        severity=severity or RULES[rule_id].severity,
        path=record.path if record else None,
        line=record.line if record else None,
        sample_id=record.item.id if record else None,
        message=message,
        related=Related(path=related.path, line=related.line, sample_id=related.item.id) if related else None,
    )


def _where(record: Record) -> str:
    return f"{record.item.id} ({record.path}:{record.line})"


@rule(
    id="fixed-count",
    severity="error",
    rationale="Lesson 1: 260 samples all with 2 metrics taught the model to pad or cut to 2 (29% perfect match)",
    fix="Let each paragraph decide its count: add 0-, 1-, 3- and 4-metric paragraphs (type C exists for this) "
        "and drop padded weak metrics; `finsynth report` shows the distribution against the test set.",
    fires=_count_example([2] * 20, "20 samples, all with 2 metrics"),
    passes=_count_example([1, 2, 3, 1, 2] * 4, "20 samples with 1, 2 and 3 metrics"),
    scope="dataset",
)
def fixed_count(view: DatasetView) -> Iterator[Finding]:
    """One metric count dominates: error when it holds >= 90% of the dataset's samples, warning
    per type when it holds >= 80% of that type's (each needs >= 20 samples to judge)."""
    samples = [r.item for r in view.samples]
    dominant = dominant_count([s.count for s in samples])
    if dominant is not None and dominant[2] >= FIXED_COUNT_ERROR:
        count, n, share = dominant
        yield _finding("fixed-count", None,
                       f"{n} of {len(samples)} samples ({share:.0%}) have exactly {count} metric(s); "
                       f"the model will learn to pad or cut to {count}")
    by_type: dict[str, list[int]] = {}
    for s in samples:
        by_type.setdefault(s.type, []).append(s.count)
    for sample_type in sorted(by_type):
        counts = by_type[sample_type]
        dominant = dominant_count(counts)
        if dominant is not None and dominant[2] >= FIXED_COUNT_WARNING:
            count, n, share = dominant
            yield _finding("fixed-count", None,
                           f"type {sample_type}: {n} of {len(counts)} samples ({share:.0%}) "
                           f"have exactly {count} metric(s)", severity="warning")


@rule(
    id="duplicate",
    severity="warning",
    rationale="Lesson 9 (data quality first): a repeated paragraph over-weights one example; the build keeps one copy",
    fix="Keep one copy (the build does); if the copies differ in their labels, label-conflict says which to keep.",
    fires=Example(rows=_rows(example(_PROSE, paragraph=_LONG), example(_PROSE, paragraph=_LONG))),
    passes=Example(rows=_rows(example(_PROSE, paragraph=_LONG), example(_PROSE, paragraph=_B_PARAGRAPH))),
    scope="dataset",
)
def duplicate(view: DatasetView) -> Iterator[Finding]:
    """A paragraph identical (after normalisation) to an earlier one."""
    for link in view.links:
        if link.identical:
            yield _finding("duplicate", link.record, f"paragraph is identical to {_where(link.other)}",
                           related=link.other)


@rule(
    id="near-duplicate",
    severity="warning",
    rationale="Lesson 9 (data quality first): lightly edited copies over-weight one example and hide in splits",
    fix="Keep one of the copies (the build keeps the first), or rewrite the other into a genuinely "
        "different paragraph.",
    fires=Example(
        rows=_rows(example(_PROSE, paragraph=_LONG), example(_PROSE, paragraph=_LONG.replace("623", "641"))),
        note="one number changed",
    ),
    passes=Example(rows=_rows(example(_PROSE, paragraph=_LONG), example(_PROSE, paragraph=_B_PARAGRAPH))),
    scope="dataset",
)
def near_duplicate(view: DatasetView) -> Iterator[Finding]:
    """A paragraph whose character-trigram Jaccard with an earlier one is >= 0.8 (not identical)."""
    for link in view.links:
        if not link.identical:
            yield _finding("near-duplicate", link.record,
                           f"paragraph near-duplicates {_where(link.other)} (Jaccard {link.similarity:.2f})",
                           related=link.other)


@rule(
    id="label-conflict",
    severity="error",
    rationale="Lesson 9 (data quality first): one paragraph with two different metric sets teaches both answers",
    fix="Decide which metric set is right for the paragraph and keep only that row.",
    fires=Example(rows=_rows(example(_PROSE, paragraph=_LONG),
                             example(_PROSE, paragraph=_LONG, metrics=(("营收", "financial", 0.95),))),
                  note="the same paragraph labelled 毛利率 and 营收"),
    passes=Example(rows=_rows(example(_PROSE, paragraph=_LONG), example(_PROSE, paragraph=_LONG))),
    scope="dataset",
)
def label_conflict(view: DatasetView) -> Iterator[Finding]:
    """Duplicate or near-duplicate paragraphs whose metric sets disagree (count, or names by the
    reference matcher)."""
    for link in view.links:
        ri, rj, similarity = link.other, link.record, link.similarity
        if not metric_sets_agree(ri.item, rj.item):
            names_i = [m.metric_name for m in ri.item.output.metrics] or ["(none)"]
            names_j = [m.metric_name for m in rj.item.output.metrics] or ["(none)"]
            yield _finding(
                "label-conflict",
                rj,
                f"metrics [{'、'.join(names_j)}] disagree with [{'、'.join(names_i)}] of "
                f"{_where(ri)}, a near-duplicate paragraph (Jaccard {similarity:.2f})",
                related=ri,
            )


@rule(
    id="split-leakage",
    severity="error",
    rationale="Lesson 8: scores must be honest; a training paragraph that near-duplicates a test case inflates them",
    fix="Drop the training row (the build does with --allow-errors) or replace the test case; "
        "never train on the test set.",
    fires=Example(rows=_rows(example(_PROSE, paragraph=_LONG)), against=_rows(example(_PROSE, paragraph=_LONG))),
    passes=Example(
        rows=_rows(example(_PROSE, paragraph=_LONG)), against=_rows(example(_PROSE, paragraph=_B_PARAGRAPH))
    ),
    scope="dataset",
)
def split_leakage(view: DatasetView) -> Iterator[Finding]:
    """A training paragraph identical or near-identical (Jaccard >= 0.8) to a test-set paragraph."""
    for leak in view.leaks:
        yield _finding("split-leakage", leak.record,
                       f"training paragraph near-duplicates test case {_where(leak.other)} "
                       f"(Jaccard {leak.similarity:.2f})",
                       related=leak.other)


# --- running ------------------------------------------------------------------------------------


def select_rules(select: Iterable[str] | None = None, ignore: Iterable[str] | None = None,
                 scope: Scope | None = None) -> list[Rule]:
    """The registry's rules, narrowed to `select` (all when None) less `ignore`, in registry order;
    an unknown id is a ValueError naming the known ones."""
    wanted = set(select) if select is not None else set(RULES)
    dropped = set(ignore or ())
    unknown = sorted((wanted | dropped) - RULES.keys())
    if unknown:
        raise ConfigError(f"unknown lint rule(s): {', '.join(unknown)}; known: {', '.join(RULES)}")
    return [r for r in RULES.values() if r.id in wanted - dropped and (scope is None or r.scope == scope)]


def _check_item(item: Item, rules: Sequence[Rule], path: str | None, line: int | None,
                options: LintOptions) -> list[Finding]:
    out: list[Finding] = []
    for r in rules:
        for result in (r.check(item, options) if r.takes_options else r.check(item)):
            hit = result if isinstance(result, Hit) else Hit(result)
            out.append(Finding(rule=r.id, severity=hit.severity or r.severity, path=path, line=line,
                               sample_id=item.id, message=hit.message, spans=list(hit.spans)))
    return out


def lint_sample(sample: Item, rules: Iterable[str] | None = None, options: LintOptions | None = None) -> list[Finding]:
    """Sample-scope rules on one sample or test case (dataset rules in `rules` are ignored).
    Findings carry the provenance's source and line when it has them."""
    chosen = select_rules(rules, scope="sample")
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
) -> LintResult:
    """Run the chosen rules (`rules`, all by default, less `ignore`) over `records`; `against` is the
    test set that split-leakage compares with (test cases among `records` count as test set too);
    `unreadable` are rows that failed to load, reported by the `unreadable-row` rule. Findings come
    sorted by path, line and rule, dataset-wide ones last. `on_progress(n)` is told of every 500
    samples checked and once more when the dataset rules are done (len(records) + 1 steps in all)."""
    chosen = select_rules(rules, ignore)
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
    counts = {rule_id: 0 for rule_id in RULES}
    for f in findings:
        counts[f.rule] += 1
    return LintResult(findings=findings, counts=counts)


def lint_loaded(loaded: LoadResult, against: LoadResult | None = None, **kwargs: Any) -> LintResult:
    """`lint_records` over what `io.load_paths` read: accepted rows are linted, and every row that
    failed to load (training side or test set) is an `unreadable-row` error with its file and line."""
    unreadable = list(loaded.quarantined) + (list(against.quarantined) if against else [])
    return lint_records(loaded.records, against=against.records if against else None,
                        unreadable=unreadable, **kwargs)


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


def _fixable_rule(rule_id: str) -> Rule:
    r = RULES.get(rule_id)
    if r is None:
        raise ConfigError(f"unknown lint rule {rule_id!r} in the fix selection (known: "
                         + ", ".join(sorted(x.id for x in RULES.values() if x.fixes)) + ")")
    if not r.fixes:
        raise ConfigError(f"lint rule {rule_id!r} has no autofix (fixable: "
                         + ", ".join(sorted(x.id for x in RULES.values() if x.fixes)) + ")")
    return r


def plan_fixes(select: Sequence[str] | None = None, exclude: Sequence[str] = ()) -> FixPlan:
    """Resolve a fix selection. `select` None: every fixable rule's default strategy, except one whose measured
    effect on a real model is harmful (the evidence file), which is skipped with its measurement. A named
    `rule` means its default strategy and `rule:strategy` that strategy: both are applied as asked, a measured
    harm then being a warning. `exclude` (`--no-fix`) names rules (or `rule:strategy`) never to apply.
    Raises ValueError for an unknown rule or strategy."""
    plan = FixPlan()
    excluded = set(exclude)
    for item in excluded:
        _fixable_rule(item.split(":", 1)[0])
    chosen: list[tuple[Rule, str, bool]] = []  # (rule, strategy, named by the user)
    if select is None:
        chosen = [(r, r.fix_names[0], False) for r in RULES.values() if r.fixes]
    else:
        for item in select:
            rule_id, _, strategy = item.partition(":")
            r = _fixable_rule(rule_id)
            if strategy and strategy not in r.fix_names:
                raise ConfigError(f"lint rule {rule_id!r} has no fix strategy {strategy!r} "
                                 f"(strategies: {', '.join(r.fix_names)})")
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
                plan.skipped[key] = (f"measured harmful ({measured.describe()}); not applied by default: name it to "
                                     f"apply it anyway" + (f", or try {' / '.join(others)}" if others else ""))
                continue
            plan.warnings.append(f"{key} is applied as asked, but was measured harmful: {measured.describe()}")
        plan.apply.append(key)
    return plan


def fix_records(records: Sequence[Record], fixes: Sequence[str] | None = None,
                options: LintOptions | None = None) -> tuple[list[Record], list[Fix]]:
    """Apply autofixes (`rule:strategy` as `plan_fixes` resolves them; None: every rule's default strategy) to
    every record whose rule fires; a fix is kept only when the rule no longer fires on the result. Records come
    back in order, fixed or as they were, with the list of fixes applied."""
    options = options or LintOptions()
    if fixes is None:
        fixes = [f"{r.id}:{r.fix_names[0]}" for r in RULES.values() if r.fixes]
    chosen: list[tuple[Rule, str, Callable[[Any], Any]]] = []
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
                applied.append(Fix(path=record.path, line=record.line, sample_id=item.id, rule=r.id,
                                   strategy=strategy, before=item.output.analysis, after=fixed.output.analysis))
                item = fixed
        out.append(record if item is record.item else record.model_copy(update={"item": item}))
    return out, applied


def _severity_cell(r: Rule) -> str:
    if r.id == "fixed-count":  # an error for the whole set, a warning per type (its docstring)
        return f"{r.severity} (dataset), warning (per type)"
    if r.declared_severity and r.declared_severity != r.severity:
        return f"{r.severity} (written as {r.declared_severity}; measured)"
    return r.severity


def rules_table() -> list[dict[str, Any]]:
    """The registry as rows: id, scope, severity (and as written), rationale, fixes and the measured evidence
    (docs and `lint --list`)."""
    return [{"id": r.id, "scope": r.scope, "severity": r.severity, "declared_severity": r.declared_severity,
             "rationale": r.rationale, "fixes": list(r.fix_names),
             "evidence": [m.model_dump(mode="json") | {"effect": m.effect} for m in r.evidence] or "not measured"}
            for r in RULES.values()]


def rules_markdown() -> str:
    """The README's rule table, generated from the registry (a test keeps the README in sync)."""
    rows = [[f"`{r.id}`", r.scope, _severity_cell(r),
             re.split(r"[:.](?:\s|$)", r.summary.split("\n\n")[0], maxsplit=1)[0], r.rationale,
             evidence_summary(r.id)] for r in RULES.values()]
    return markdown_table(["rule", "scope", "severity", "what it catches", "rationale", "measured Δ total [95% CI]"],
                          rows) + "\n"


def run_example(r: Rule, which: Literal["fires", "passes"]) -> list[Finding]:
    """Run rule `r` on its own documented example, loaded through `io` as a user's file would be
    (the test suite checks both examples of every rule)."""
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
            return lint_loaded(loaded, rules=[r.id]).findings
        loaded = load("example.jsonl", [json.dumps(row, ensure_ascii=False) for row in ex.rows])
        tests = [json.dumps({**row, "type": "test", "scenario": "single_metric"}, ensure_ascii=False)
                 for row in ex.against]
        against = load("example_test.jsonl", tests, "test") if tests else None
    bad = loaded.quarantined + (against.quarantined if against else [])
    if bad:
        raise ValueError(f"rule {r.id}: its {which} example does not load: {bad[0].field}: {bad[0].reason}")
    return lint_loaded(loaded, against, rules=[r.id]).findings
