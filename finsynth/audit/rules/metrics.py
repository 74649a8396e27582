"""Metric rules: the extracted metrics are discussed, named as the paragraph names them, listed once and in
score order."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

from rapidfuzz import fuzz

from finsynth.audit.rules.base import PROSE, Item, bigrams, example, rule
from finsynth.text.names import canonical, surface_variants

GROUNDING_MIN = 0.5  # name-to-text similarity below this is "far from anything"
INVENTED_RUN = 4  # ... and a name with this many unsupported characters in a row is renamed


def grounding(name: str, text: str) -> float:
    """How well `name` is found in `text`, 0..1: 1.0 for a substring, else the better of rapidfuzz's
    partial_ratio and the share of the name's character bigrams present in the text."""
    best = 0.0
    for variant in surface_variants(name):
        if variant in text:
            return 1.0
        grams = bigrams(variant)
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
            if variant[i : i + 2] in text:
                covered[i] = covered[i + 1] = True
        if len(variant) == 1 and variant in text:
            covered[0] = True
        run = longest = 0
        for flag in covered:
            run = 0 if flag else run + 1
            longest = max(longest, run)
        best = min(best, longest)
    return best


@rule(
    id="metric-not-in-analysis",
    severity="warning",
    rationale="Lesson 2: the analysis is the chain of thought; a metric it never discusses was not reasoned about",
    fix="Discuss the metric in the analysis (why it is core, with its evidence), or drop it from the list.",
    fires=example("段落围绕产品结构升级展开，是唯一的分析主体。", note="毛利率 is extracted but never discussed"),
    passes=example(PROSE),
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
    fires=example(
        "段落围绕营收展开，营业收入的增长是分析主体。",
        paragraph="公司2025H1营收达到120亿元，营业收入同比增长18%。",
        metrics=(("营收", "financial", 0.95), ("营业收入", "financial", 0.9)),
    ),
    passes=example(
        "段落围绕营收及其增速展开，两者都是分析主体。",
        paragraph="公司2025H1营收达到120亿元，营收增速为18%。",
        metrics=(("营收", "financial", 0.95), ("营收增速", "financial", 0.9)),
    ),
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
    fires=example(
        "段落围绕毛利率和净利率展开，两者都是分析主体。",
        paragraph="公司毛利率为35.8%，净利率为12.1%，均同比提升。",
        metrics=(("净利率", "financial", 0.8), ("毛利率", "financial", 0.95)),
    ),
    passes=example(
        "段落围绕毛利率和净利率展开，两者都是分析主体。",
        paragraph="公司毛利率为35.8%，净利率为12.1%，均同比提升。",
        metrics=(("毛利率", "financial", 0.95), ("净利率", "financial", 0.8)),
    ),
)
def score_order(item: Item) -> Iterator[str]:
    """Metrics are not ordered by score, highest first."""
    scores = [m.score for m in item.output.metrics]
    if any(a < b for a, b in pairwise(scores)):
        yield f"metrics are not ordered by score, highest first: {', '.join(f'{s:g}' for s in scores)}"
