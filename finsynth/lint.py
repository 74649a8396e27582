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

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import pairwise
from typing import Any, Literal

from pydantic import BaseModel, Field
from rapidfuzz import fuzz

from .io import Record
from .mentions import QUANTITY_KINDS, Mention, extract_mentions, numbers_in
from .neardup import DEFAULT_THRESHOLD, near_duplicate_pairs, normalize
from .schema import Sample, TestCase
from .style import classify_analysis, exclusion_items

Severity = Literal["error", "warning", "info"]
Scope = Literal["sample", "dataset"]
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
class Rule:
    """A registered rule. Sample checks yield messages (or `Hit`s); dataset checks yield Findings."""

    id: str
    severity: Severity
    rationale: str
    scope: Scope
    check: Callable[..., Iterable[Any]]

    @property
    def doc(self) -> str:
        return (self.check.__doc__ or "").strip().splitlines()[0] if self.check.__doc__ else ""


RULES: dict[str, Rule] = {}


def rule(*, id: str, severity: Severity, rationale: str, scope: Scope = "sample"):
    """Register the decorated function as lint rule `id`."""
    if severity not in SEVERITIES:
        raise ValueError(f"rule {id}: unknown severity {severity!r}")

    def register(fn: Callable[..., Iterable[Any]]) -> Callable[..., Iterable[Any]]:
        if id in RULES:
            raise ValueError(f"lint rule {id!r} registered twice")
        RULES[id] = Rule(id=id, severity=severity, rationale=rationale, scope=scope, check=fn)
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
        counts = Counter(f.severity for f in self.findings)
        return {s: counts.get(s, 0) for s in SEVERITIES}

    def to_json(self) -> dict[str, Any]:
        """`{"findings": [{rule, severity, path, line, sample_id, message, spans, related}], "counts": {rule: n}}`."""
        return {"findings": [f.model_dump() for f in self.findings], "counts": dict(self.counts)}


Item = Sample | TestCase

# --- helpers ------------------------------------------------------------------------------------

_ALT_SPLIT = re.compile(r"[及和与、/／]")
_PAREN = re.compile(r"^(?P<head>.*?)[（(](?P<inner>[^（）()]*)[）)](?P<tail>.*)$")


@lru_cache(maxsize=65536)
def _name_variants(name: str) -> tuple[str, ...]:
    """"ROE（净资产收益率）" -> itself, "ROE", "净资产收益率"; "ARR及净收入留存率" -> parts too."""
    out = [name]
    match = _PAREN.match(name)
    if match:
        out += [match.group("head") + match.group("tail"), match.group("inner")]
    for variant in list(out):
        parts = [p for p in _ALT_SPLIT.split(variant) if len(p) >= 2]
        if len(parts) > 1:
            out += parts
    seen: list[str] = []
    for variant in out:
        variant = variant.strip()
        if variant and variant not in seen:
            seen.append(variant)
    return tuple(seen)


def _bigrams(text: str) -> list[str]:
    return [text[i:i + 2] for i in range(len(text) - 1)] or [text]


def grounding(name: str, text: str) -> float:
    """How well `name` is found in `text`, 0..1: 1.0 for a substring, else the better of rapidfuzz's
    partial_ratio and the share of the name's character bigrams present in the text."""
    best = 0.0
    for variant in _name_variants(name):
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
    for variant in _name_variants(name):
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


def _names_similar(a: str, b: str) -> bool:
    """The reference matcher (GUIDE section 4): identical, containment, or bigram Jaccard >= 0.5."""
    if a == b or a in b or b in a:
        return True
    ga, gb = set(_bigrams(a)), set(_bigrams(b))
    return len(ga & gb) / max(1, len(ga | gb)) >= 0.5


def metric_sets_agree(a: Item, b: Item) -> bool:
    """Same number of metrics and a one-to-one match of names by the reference matcher."""
    names_a = [m.metric_name for m in a.output.metrics]
    names_b = [m.metric_name for m in b.output.metrics]
    if len(names_a) != len(names_b):
        return False
    free = list(names_b)
    for name in names_a:
        for other in free:
            if _names_similar(name, other):
                free.remove(other)
                break
        else:
            return False
    return True


def _listed(items: Sequence[str]) -> str:
    shown = "、".join(items[:MAX_LISTED])
    return shown + (f" (+{len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else "")


# --- sample rules -------------------------------------------------------------------------------

_SENTENCE_BOUNDARY = re.compile(r"[\n。；;：:！？!?]")
_LIST_MARK = re.compile(
    r"\s*(?P<mark>[(（](?P<paren>\d{1,2})[)）]|(?P<dot>\d{1,2})(?:[.．](?!\d)|[、)）])|(?P<han>[一二三四五六七八九十])、)"
)
_PAREN_MARK = re.compile(r"[(（](\d{1,2})[)）]")
_CIRCLED = re.compile(r"[①-⑳]")
_HAN_DIGITS = {c: i for i, c in enumerate("一二三四五六七八九十", start=1)}


@rule(
    id="numbered-list",
    severity="error",
    rationale="Lesson 6: numbered lists '1. 2. 3.' in the analysis (v12) fell 56%->44%; single-metric cases 9/10->4/10",
)
def numbered_list(item: Item) -> Iterator[str]:
    """The analysis enumerates with 1. 2. / 1、 / (1) / ① markers (numbers such as 1.6T, 3.5万,
    2025H1, 9.8元 are not markers): at least two markers counting up from 1."""
    analysis = item.output.analysis
    markers: list[tuple[int, tuple[int, int]]] = []
    starts = [0] + [m.end() for m in _SENTENCE_BOUNDARY.finditer(analysis)]
    for match in filter(None, (_LIST_MARK.match(analysis, pos) for pos in starts)):
        raw = match.group("paren") or match.group("dot")
        number = int(raw) if raw else _HAN_DIGITS[match.group("han")]
        markers.append((number, match.span("mark")))
    parens = ([(int(m.group(1)), m.span()) for m in _PAREN_MARK.finditer(analysis)]
              if "(" in analysis or "（" in analysis else [])
    circled = [(ord(m.group()) - ord("①") + 1, m.span()) for m in _CIRCLED.finditer(analysis)]
    for found, label in ((markers, "numbered"), (parens, "parenthesised"), (circled, "circled")):
        numbers = [n for n, _ in found]
        if 1 in numbers and 2 in numbers[numbers.index(1):]:
            shown = " ".join(str(n) for n in numbers[:4])
            yield Hit(f"analysis enumerates with {label} list markers ({shown}); write prose instead",
                      _spans("analysis", (span for _, span in found)))
            return


_SEMI_SPLIT = re.compile(r"[；;]")
_ENUM_HEAD = re.compile(r"^\s*[^；;。，,：:！？!?（）()—\n]{1,24}?(?:——|—|--)")


@rule(
    id="semicolon-enumeration",
    severity="error",
    rationale="Lesson 6: semicolon enumerations 'X——要点；Y——要点' (v12.1) fell 56%->44%, predictions/case 100->120",
)
def semicolon_enumeration(item: Item) -> Iterator[str]:
    """The analysis enumerates items as "X——…；Y——…": two or more semicolon-separated segments each
    opening with a short head and a dash (exclusion-list items "X：归因项——" are not counted)."""
    analysis = item.output.analysis
    if "；" not in analysis and ";" not in analysis:
        return
    run, best, heads, bounds, offset = 0, 0, [], [], 0
    for segment in _SEMI_SPLIT.split(analysis):
        match = _ENUM_HEAD.match(segment)
        if match:
            run += 1
            heads.append(match.group().strip(" —-"))
            bounds.append((offset + match.start(), offset + match.end()))
            best = max(best, run)
        else:
            run = 0
        offset += len(segment) + 1
    if best >= 2:
        yield Hit(f"analysis enumerates with 'X——…；Y——…' segments ({_listed(heads)}); write prose instead",
                  _spans("analysis", bounds))


_COUNT_WORD = r"(?:\d+|[一二两三四五六七八九十])"
_COUNT_ANCHOR = re.compile(
    r"^[\s【\[（(「“\"']*"
    r"(?P<anchor>(?:核心|关键)?指标(?:数量|个数|数目|数)\s*(?:[:：]|为|是)\s*" + _COUNT_WORD
    + r"|(?:本段落?|该段落?|此段|段落|这段)?(?:中)?(?:共|总共|一共)?(?:有|包含|含有|涉及|提取出?|识别出?|给出)\s*"
    + _COUNT_WORD + r"\s*个(?:核心|关键|重要)?(?:指标|核心指标|被深度分析)"
    + r"|(?:共|总共|一共)\s*" + _COUNT_WORD + r"\s*个(?:核心|关键)?指标"
    + r"|" + _COUNT_WORD + r"\s*个(?:核心|关键)指标\s*[:：])"
)


@rule(
    id="count-anchor",
    severity="error",
    rationale="Lesson 5: opening with '核心指标数量：2' (v10) fell 52%->46%: the model commits to a count, then pads",
)
def count_anchor(item: Item) -> Iterator[str]:
    """The analysis opens by announcing a count ("核心指标数量：2", "本段有3个指标被深度分析").
    A restraint opening ("本段只有1个指标被深度分析") is not an announcement and does not fire."""
    analysis = item.output.analysis
    match = _COUNT_ANCHOR.match(analysis)
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
)
def style_mismatch(item: Item) -> Iterator[str]:
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


def uncovered_mentions(item: Item) -> list[Mention]:
    """The paragraph's quantitative items that the analysis neither extracts nor excludes: the value
    is not cited anywhere in the analysis and the subject matches no metric name and no excluded
    item name."""
    analysis = item.output.analysis
    cited = numbers_in(analysis)
    names = [m.metric_name for m in item.output.metrics]
    names += [x.name for x in exclusion_items(analysis)]
    out: list[Mention] = []
    for mention in extract_mentions(item.input.paragraph, skip_values=cited):
        if mention.kind not in QUANTITY_KINDS:
            continue
        subject = mention.subject
        if subject and (subject in analysis or any(_names_similar(subject, n) for n in names)):
            continue
        out.append(mention)
    return out


@rule(
    id="exclusion-coverage",
    severity="warning",
    rationale="Lesson 3: per-item exclusion (v6: 55%->65%) works by naming every non-extracted number with its reason",
)
def exclusion_coverage(item: Item) -> Iterator[str]:
    """In B and D: a quantitative item of the paragraph (number with its unit, not a date or period)
    that is neither an extracted metric nor named in the exclusions. Skipped when the analysis has no
    exclusion list at all (style-mismatch reports that)."""
    if item.type not in ("B", "D") or classify_analysis(item.output.analysis) == "prose":
        return
    missing = uncovered_mentions(item)
    if missing:
        shown = [f"{m.text}（{m.subject}）" if m.subject else m.text for m in missing]
        yield Hit(f"{len(missing)} quantitative item(s) of the paragraph neither extracted nor excluded: "
                  f"{_listed(shown)}", _spans("paragraph", ((m.start, m.end) for m in missing)))


@rule(
    id="metric-not-in-analysis",
    severity="warning",
    rationale="Lesson 2: the analysis is the chain of thought; a metric it never discusses was not reasoned about",
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
    rationale="Lesson 9: names come from the paragraph; a 32B model 'improved' 泽布替尼全球销售额 -> 核心产品全球销售额",
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
    id="score-order",
    severity="warning",
    rationale="GUIDE section 1: metrics are listed highest score first; training and evaluation read them in order",
)
def score_order(item: Item) -> Iterator[str]:
    """Metrics are not ordered by score, highest first."""
    scores = [m.score for m in item.output.metrics]
    if any(a < b for a, b in pairwise(scores)):
        yield f"metrics are not ordered by score, highest first: {', '.join(f'{s:g}' for s in scores)}"


# --- dataset rules ------------------------------------------------------------------------------


class DatasetView:
    """What dataset rules see: the linted records, the test set, and (computed once, lazily) the
    near-duplicate pairs over both."""

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
    def pairs(self) -> list[tuple[int, int, float]]:
        """Near-duplicate pairs (i < j) over `combined` at the threshold."""
        texts = [r.item.input.paragraph for r, _ in self.combined]
        return near_duplicate_pairs(texts, threshold=self.threshold)

    @cached_property
    def normalized(self) -> dict[int, str]:
        needed = {i for pair in self.pairs for i in pair[:2]}
        return {i: normalize(self.combined[i][0].item.input.paragraph) for i in needed}


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


def _same_side_pairs(view: DatasetView) -> Iterator[tuple[int, int, float, Record, Record]]:
    """Near-duplicate pairs of linted records on the same side (both training or both test)."""
    for i, j, similarity in view.pairs:
        (ri, linted_i), (rj, linted_j) = view.combined[i], view.combined[j]
        if linted_i and linted_j and isinstance(ri.item, TestCase) == isinstance(rj.item, TestCase):
            yield i, j, similarity, ri, rj


@rule(
    id="fixed-count",
    severity="error",
    rationale="Lesson 1: 260 samples all with 2 metrics taught the model to pad or cut to 2 (29% perfect match)",
    scope="dataset",
)
def fixed_count(view: DatasetView) -> Iterator[Finding]:
    """One metric count dominates: error when it holds >= 90% of the dataset's samples, warning
    per type when it holds >= 80% of that type's (each needs >= 20 samples to judge)."""
    samples = [r.item for r in view.samples]
    if len(samples) >= FIXED_COUNT_MIN_SAMPLES:
        count, n = Counter(s.count for s in samples).most_common(1)[0]
        if n / len(samples) >= FIXED_COUNT_ERROR:
            yield _finding("fixed-count", None,
                           f"{n} of {len(samples)} samples ({n / len(samples):.0%}) have exactly {count} metric(s); "
                           f"the model will learn to pad or cut to {count}")
    by_type: dict[str, list[int]] = {}
    for s in samples:
        by_type.setdefault(s.type, []).append(s.count)
    for sample_type in sorted(by_type):
        counts = by_type[sample_type]
        if len(counts) < FIXED_COUNT_MIN_SAMPLES:
            continue
        count, n = Counter(counts).most_common(1)[0]
        if n / len(counts) >= FIXED_COUNT_WARNING:
            yield _finding("fixed-count", None,
                           f"type {sample_type}: {n} of {len(counts)} samples ({n / len(counts):.0%}) "
                           f"have exactly {count} metric(s)", severity="warning")


@rule(
    id="duplicate",
    severity="warning",
    rationale="Lesson 9 (data quality first): a repeated paragraph over-weights one example; the build keeps one copy",
    scope="dataset",
)
def duplicate(view: DatasetView) -> Iterator[Finding]:
    """A paragraph identical (after normalisation) to an earlier one."""
    done: set[int] = set()
    for i, j, _, ri, rj in _same_side_pairs(view):
        if j not in done and view.normalized[i] == view.normalized[j]:
            done.add(j)
            yield _finding("duplicate", rj, f"paragraph is identical to {_where(ri)}", related=ri)


@rule(
    id="near-duplicate",
    severity="warning",
    rationale="Lesson 9 (data quality first): lightly edited copies over-weight one example and hide in splits",
    scope="dataset",
)
def near_duplicate(view: DatasetView) -> Iterator[Finding]:
    """A paragraph whose character-trigram Jaccard with an earlier one is >= 0.8 (not identical)."""
    done: set[int] = set()
    for i, j, similarity, ri, rj in _same_side_pairs(view):
        if j not in done and view.normalized[i] != view.normalized[j]:
            done.add(j)
            yield _finding("near-duplicate", rj, f"paragraph near-duplicates {_where(ri)} (Jaccard {similarity:.2f})",
                           related=ri)


@rule(
    id="label-conflict",
    severity="error",
    rationale="Lesson 9 (data quality first): one paragraph with two different metric sets teaches both answers",
    scope="dataset",
)
def label_conflict(view: DatasetView) -> Iterator[Finding]:
    """Duplicate or near-duplicate paragraphs whose metric sets disagree (count, or names by the
    reference matcher)."""
    done: set[int] = set()
    for _, j, similarity, ri, rj in _same_side_pairs(view):
        if j not in done and not metric_sets_agree(ri.item, rj.item):
            done.add(j)
            names_i = [m.metric_name for m in ri.item.output.metrics] or ["(none)"]
            names_j = [m.metric_name for m in rj.item.output.metrics] or ["(none)"]
            yield _finding("label-conflict", rj,
                           f"metrics [{'、'.join(names_j)}] disagree with [{'、'.join(names_i)}] of "
                           f"{_where(ri)}, a near-duplicate paragraph (Jaccard {similarity:.2f})", related=ri)


@rule(
    id="split-leakage",
    severity="error",
    rationale="Lesson 8: scores must be honest; a training paragraph that near-duplicates a test case inflates them",
    scope="dataset",
)
def split_leakage(view: DatasetView) -> Iterator[Finding]:
    """A training paragraph identical or near-identical (Jaccard >= 0.8) to a test-set paragraph."""
    done: set[int] = set()
    for i, j, similarity in view.pairs:
        (ri, li), (rj, lj) = view.combined[i], view.combined[j]
        train_i, train_j = isinstance(ri.item, Sample), isinstance(rj.item, Sample)
        if train_i == train_j:
            continue
        (train, train_linted, train_index), test = ((ri, li, i), rj) if train_i else ((rj, lj, j), ri)
        if not train_linted or train_index in done:
            continue
        done.add(train_index)
        yield _finding("split-leakage", train,
                       f"training paragraph near-duplicates test case {_where(test)} (Jaccard {similarity:.2f})",
                       related=test)


# --- running ------------------------------------------------------------------------------------


def _select(rules: Iterable[str] | None, scope: Scope | None = None) -> list[Rule]:
    if rules is None:
        chosen = list(RULES.values())
    else:
        wanted = set(rules)
        unknown = sorted(wanted - RULES.keys())
        if unknown:
            raise ValueError(f"unknown lint rule(s): {', '.join(unknown)}; known: {', '.join(RULES)}")
        chosen = [r for r in RULES.values() if r.id in wanted]
    return [r for r in chosen if scope is None or r.scope == scope]


def _check_item(item: Item, rules: Sequence[Rule], path: str | None, line: int | None) -> list[Finding]:
    out: list[Finding] = []
    for r in rules:
        for result in r.check(item):
            hit = result if isinstance(result, Hit) else Hit(result)
            out.append(Finding(rule=r.id, severity=hit.severity or r.severity, path=path, line=line,
                               sample_id=item.id, message=hit.message, spans=list(hit.spans)))
    return out


def lint_sample(sample: Item, rules: Iterable[str] | None = None) -> list[Finding]:
    """Sample-scope rules on one sample or test case (dataset rules in `rules` are ignored).
    Findings carry the provenance's source and line when it has them."""
    chosen = _select(rules, "sample")
    prov = sample.provenance
    return _check_item(sample, chosen, prov.source or None, prov.line or None)


def _order(finding: Finding) -> tuple:
    return (finding.path is None, finding.path or "", finding.line or 0, finding.rule, finding.message)


def lint_records(
    records: Sequence[Record],
    against: Sequence[Record] | None = None,
    rules: Iterable[str] | None = None,
    threshold: float = NEAR_DUP_THRESHOLD,
    on_progress: Callable[[int], None] | None = None,
) -> LintResult:
    """Run the chosen rules (all by default) over `records`; `against` is the test set that
    split-leakage compares with (test cases among `records` count as test set too). Findings come
    sorted by path, line and rule, dataset-wide ones last. `on_progress(n)` is told of every 500
    samples checked and once more when the dataset rules are done (len(records) + 1 steps in all)."""
    chosen = _select(rules)
    sample_rules = [r for r in chosen if r.scope == "sample"]
    findings: list[Finding] = []
    tick = on_progress or (lambda _n: None)
    for i, record in enumerate(records, start=1):
        findings.extend(_check_item(record.item, sample_rules, record.path, record.line))
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


def rules_table() -> list[dict[str, str]]:
    """The registry as rows: id, scope, severity, rationale (docs and `lint --list`)."""
    return [{"id": r.id, "scope": r.scope, "severity": r.severity, "rationale": r.rationale} for r in RULES.values()]
