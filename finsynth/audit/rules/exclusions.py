"""Exclusion rules (lesson 3, types B and D): every number of the paragraph extracted or excluded by its own
name, each exclusion a span of the paragraph citing its value as written."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from finsynth.audit.kit import Hit
from finsynth.audit.rules.base import (
    B_ANALYSIS,
    B_PARAGRAPH,
    LABEL_MATCHER,
    Item,
    example,
    listed,
    rule,
    text_spans,
)
from finsynth.text.items import quantity_candidates
from finsynth.text.lexicon import default_lexicon
from finsynth.text.mentions import Mention, extract_mentions, numbers_in
from finsynth.text.names import canonical, name_variants
from finsynth.text.style import classify_analysis, exclusion_items
from finsynth.text.values import name_problems, value_mismatches

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
    return any(LABEL_MATCHER.same(mention.subject, name) for name in (core, stem) if name)


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

    out = [
        m
        for core, ms in owned.items()
        for m in ms
        if not is_cited(m) and not _names_its_own_subject(paragraph, m, core)
    ]
    for quantity in quantities:
        if canonical(quantity.name) in named:
            continue
        growth = _level_of_growth(quantity.name, cores)
        sentence = _start_of(paragraph, quantity.mentions[0].start, _SENTENCE_START)
        if growth is not None and sentence in core_sentences[growth]:
            continue
        cited_clauses = {_start_of(paragraph, m.start, _CLAUSE_START) for m in quantity.mentions if is_cited(m)}
        out += [
            Mention(m.text, m.value, m.unit, m.start, m.end, m.kind, quantity.name)
            for m in quantity.mentions
            if not is_cited(m) and _start_of(paragraph, m.start, _CLAUSE_START) not in cited_clauses
        ]
    return sorted(out, key=lambda m: m.start)


@rule(
    id="exclusion-coverage",
    severity="warning",
    rationale="Lesson 3: per-item exclusion (v6: 55%->65%) works by naming every non-extracted number with its reason",
    fix="Add the missing item to the exclusion list with its category and reason "
    "('叶腊石采购价（同比-22%）：归因项——…'), or extract it if it is core.",
    fires=example(
        "本段核心分析对象是毛利率（31.2%，同比+4.6pct）。逐项排除：玻纤纱均价（同比-12%）：归因项——是收入端背景。",
        type="B",
        paragraph=B_PARAGRAPH,
        note="叶腊石采购价 (-22%) is neither extracted nor excluded",
    ),
    passes=example(B_ANALYSIS, type="B", paragraph=B_PARAGRAPH),
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
            f"{len(missing)} quantitative item(s) of the paragraph neither extracted nor excluded: {listed(shown)}",
            text_spans("paragraph", ((m.start, m.end) for m in missing)),
        )


_FRAGMENT_ANALYSIS = (
    "本段核心分析对象是毛利率（31.2%，同比+4.6pct）。"
    "逐项排除：玻纤纱均价（同比-12%）：归因项——是收入端背景。"
    "在叶腊石采购价（同比-22%）：归因项——是成本端原因之一。"
)
_SIGN_LOST_ANALYSIS = (
    "本段核心分析对象是毛利率（31.2%，同比+4.6pct）。"
    "逐项排除：玻纤纱均价（12%）：归因项——是收入端背景。"
    "叶腊石采购价（同比-22%）：归因项——是成本端原因之一。"
)


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
    fires=example(
        _FRAGMENT_ANALYSIS, type="B", paragraph=B_PARAGRAPH, note="'在叶腊石采购价' opens with a preposition"
    ),
    passes=example(B_ANALYSIS, type="B", paragraph=B_PARAGRAPH),
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
            yield Hit(f"exclusion item {excluded.name!r}: {'; '.join(problems)}", text_spans("analysis", bounds))


@rule(
    id="exclusion-value-mismatch",
    severity="warning",
    rationale="Lesson 3: an exclusion restates the paragraph's evidence; 同比-3% cited as 3% (or 4.6个百分点 as "
    "4.6%) teaches the model to misread direction and units",
    fix="Cite the value as the paragraph writes it, direction included: '同比下降22%' or '同比-22%', never "
    "'22%'; keep 个百分点/pct apart from %, and 万 apart from 亿.",
    fires=example(
        _SIGN_LOST_ANALYSIS, type="B", paragraph=B_PARAGRAPH, note="玻纤纱均价 fell 12%; '12%' drops the sign"
    ),
    passes=example(B_ANALYSIS, type="B", paragraph=B_PARAGRAPH),
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
            yield Hit(
                f"exclusion item {excluded.name!r}: " + "; ".join(p.describe() for p in problems),
                text_spans("analysis", bounds),
            )
