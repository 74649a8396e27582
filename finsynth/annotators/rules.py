"""The offline rules annotator: deterministic Type B per-item exclusion analyses.

Used when no LLM endpoint is configured (`--llm auto` falls back to it, `--llm rules` forces it).
Given a paragraph and its core metrics (kept as labelled), it:

1. finds every quantitative mention (`finsynth.mentions.extract_mentions`);
2. assigns to each core metric the mentions that quantify it (same subject, or the same clause as
   the metric's name, e.g. "毛利率提升至31.2%，同比改善4.6个百分点");
3. classifies every other mention into one of the GUIDE's exclusion categories by cue words and
   position: industry/macro words (行业, 全球, 据…统计), historical comparisons ("从12%提升至16%",
   上年同期), breakdown words (其中, 占比, a subject that extends the core metric's name), cause and
   driver words (受益于, 由于, 带动, 成本), and otherwise scale background for levels and drivers for
   changes; qualitative sentences with no number become 定性无数值 items;
4. renders the analysis in the B style through `templates/rules_b.j2` ("本段核心分析对象是… 逐项排除：
   X（v）：类别——理由。…" then the paragraph's analysis frame).

Every mention's text is cited verbatim, so the output passes `exclusion-coverage`, and the explicit
"逐项排除" list makes `classify_analysis` read it as the exclusion style (`style-mismatch`).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field

from ..matching import bigram_jaccard
from ..mentions import QUANTITY_KINDS, Mention, extract_mentions
from ..prompts import render
from ..schema import Extraction, Sample

RULES_TEMPLATE = "rules_b.j2"

_SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;\n]?")
_CLAUSE_BREAK = "，,。；;！？!?：:\n"

INDUSTRY_CUES = ("行业", "全行业", "全国", "全球", "国内市场", "海外市场", "市场规模", "宏观", "GDP", "CPI", "PPI",
                 "社零", "统计局", "协会", "据", "央行", "同业", "竞争对手", "可比公司", "渗透率", "大盘", "指数",
                 "BNEF", "IDC", "中汽协", "乘联会", "海关", "政策", "整体市场", "市场整体", "全市场")
# heads of names that drive a result rather than split it ("天然气价格", "原材料成本")
DRIVER_HEADS = frozenset({"价格", "均价", "单价", "成本", "费用", "汇率", "利率", "价差"})
# in an item's own name: market prices and economy-wide figures, not the company's
MARKET_CUES = ("市场均价", "市场价", "现货", "期货", "LME", "国际", "原油", "国债", "收益率", "全社会", "社会消费品",
               "房地产", "城市", "预算", "CR", "市占率", "份额", "交易所", "大宗", "指数")
_HISTORY_BEFORE = re.compile(
    r"(?:上年同期|去年同期|上年末|去年末|去年|上年|年初|历史|此前|以往|峰值|高点|低点|前期|上一轮|过去|曾)"
    r"(?:的|为|是|达到|达)?(?:约|近|超)?$"
)
_HISTORY_HEAD = re.compile(r"^(?:上年同期|去年同期|上年末|去年末|去年|上年|历史上|此前|以往|过去)")
_FROM_BEFORE = re.compile(r"(?:从|由)[^，,。；;]{0,8}$")
_TO_AFTER = re.compile(r"\s*(?:的)?(?:提升|提高|增|升|降|下降|下滑|回落|扩大|收窄|变|到|至)")
_LABEL_TAIL = re.compile(r"(?:从|由)(?:上年同期|去年同期|上年末|上年|去年|年初|年末)?(?:的)?$")
_LABEL_HEAD = re.compile(r"^(?:由于|因为|叠加|受益于|得益于|同时|此外|其中|而|但)+")
# anywhere in the clause / just before the number
BREAKDOWN_CUES = ("其中", "分别", "占比", "占", "细分", "构成", "分产品", "分地区", "分业务")
BREAKDOWN_LEADS = ("拆分", "板块", "分部", "子公司", "单季", "季度", "贡献了", "来自")
CAUSE_CUES = ("受益于", "得益于", "由于", "因为", "主要因", "驱动", "带动", "推动", "叠加", "导致", "原因", "拉动",
              "成本", "价格", "均价", "单价", "采购", "原材料", "费用", "汇率", "补贴", "影响", "使得", "促使")
QUALITATIVE_CUES = ("表示", "认为", "显著", "旺盛", "持续", "策略", "有望", "预计", "趋势", "景气", "改善", "承压",
                    "优势", "成效", "稳健", "良好", "压力", "回暖", "平滑", "竞争")

REASONS = {
    "归因项": "是{core}变动的原因或驱动因素，属于归因链条的一环，不是分析主体",
    "子项拆分": "是{core}的结构细分或组成部分，服务于对整体的分析，不单独作为核心指标",
    "规模背景": "是规模或经营背景信息，段落只作陈述，没有展开分析",
    "历史参照": "是用于对比的历史数值，当期表现才是分析对象",
    "行业/宏观数据": "是行业或宏观层面的数据，不是公司自身的指标",
    "定性无数值": "是定性描述，没有给出具体数值",
}


@dataclass
class _Item:
    name: str
    category: str
    mentions: list[Mention] = field(default_factory=list)
    sentence: int = 0

    @property
    def values(self) -> str:
        return "，".join(m.text for m in self.mentions)


def _sentences(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _SENTENCE.finditer(text)]


def _clause_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    left = start
    while left > 0 and text[left - 1] not in _CLAUSE_BREAK:
        left -= 1
    right = end
    while right < len(text) and text[right] not in _CLAUSE_BREAK:
        right += 1
    return left, right


def _same_metric(subject: str, name: str) -> bool:
    """A mention's subject names the core metric (not a longer breakdown of it)."""
    if not subject or not name:
        return False
    if subject == name:
        return True
    if name in subject:
        head, _, tail = subject.partition(name)
        # "综合毛利率", "毛利率水平" name the metric; "火电上网电价" is a breakdown of "上网电价"
        return head in _SAME_PREFIXES and len(tail) <= 2
    if subject in name:
        return len(subject) >= 2 and 2 * len(subject) >= len(name)
    return bigram_jaccard(subject, name) >= 0.6


_SAME_PREFIXES = ("", "综合", "整体", "总", "合计", "全部", "累计", "公司", "集团", "整体的")


def _extends(subject: str, name: str) -> bool:
    """The subject is a longer name containing the core metric's: a sub-item of it."""
    return bool(subject and name) and name in subject and not _same_metric(subject, name)


def _has(text: str, cues: tuple[str, ...]) -> bool:
    return any(cue in text for cue in cues)


def _head(name: str) -> str:
    """The head noun of a metric name, for sibling detection: "抖音渠道GMV" -> "GMV", "欧洲市场收入" -> "收入"."""
    match = re.search(r"(?:[A-Za-z]+|费用率|不良率|利用率|[\u4e00-\u9fff]{2})$", name)
    return match.group() if match else name


def classify_mention(paragraph: str, mention: Mention, core_names: list[str], sentence: str,
                     previous_end: int = 0, siblings: frozenset[str] = frozenset()) -> str:
    """The exclusion category of one non-core mention, from cue words and position.

    `previous_end` is where the mention before this one ends: position cues ("从X提升至", "上年同期
    的X") are read only in the text between the two numbers. `siblings` are head nouns shared by
    several non-core items ("抖音渠道GMV", "天猫渠道GMV"): parallel items of one breakdown.
    """
    left, right = _clause_bounds(paragraph, mention.start, mention.end)
    clause = paragraph[left:right]
    before = paragraph[max(left, previous_end):mention.start]
    after = paragraph[mention.end:right]
    if _has(clause, INDUSTRY_CUES) or _has(mention.subject, INDUSTRY_CUES + MARKET_CUES):
        return "行业/宏观数据"
    if (_FROM_BEFORE.search(before) and _TO_AFTER.match(after)) or _HISTORY_BEFORE.search(before):
        return "历史参照"
    if _HISTORY_HEAD.match(paragraph[left:mention.start].strip()):
        return "历史参照"  # "上年同期的上网电价为0.405元/千瓦时"
    if any(_extends(mention.subject, name) for name in core_names):
        return "子项拆分"
    if _has(clause, BREAKDOWN_CUES) or _has(before, BREAKDOWN_LEADS):
        return "子项拆分"
    head = _head(mention.subject) if mention.subject else ""
    if head and head not in DRIVER_HEADS and (
        head in siblings or any(_head(name) == head and name != mention.subject for name in core_names)
    ):
        return "子项拆分"  # one of several "X收入", or a part of the core "营业收入"
    if _has(sentence, CAUSE_CUES) or _has(mention.subject, CAUSE_CUES):
        return "归因项"
    if mention.kind in ("amount", "count"):
        return "规模背景"
    return "归因项" if core_names else "规模背景"


def _label(paragraph: str, mention: Mention) -> str:
    """A short name for the item: the mention's subject, else the words just before it."""
    label = _LABEL_HEAD.sub("", _LABEL_TAIL.sub("", mention.subject)).strip()
    if label:
        return label
    left, _ = _clause_bounds(paragraph, mention.start, mention.end)
    words = re.sub(r"[\s（）()“”\"'：:]", "", paragraph[left:mention.start])[-10:]
    return words or "该数值"


def _qualitative_items(paragraph: str, covered: list[tuple[int, int]], core_names: list[str]) -> list[_Item]:
    """Clauses with a qualitative cue, no number and no core metric: 定性无数值 items (at most 2)."""
    items: list[_Item] = []
    for index, (start, end) in enumerate(_sentences(paragraph)):
        if any(s < end and start < e for s, e in covered):
            continue
        sentence = paragraph[start:end].strip().rstrip("。！？!?；;")
        if not sentence or any(name in sentence for name in core_names) or re.search(r"\d", sentence):
            continue
        if not _has(sentence, QUALITATIVE_CUES):
            continue
        clauses = [c for c in re.split(r"[，,：:]", sentence) if _has(c, QUALITATIVE_CUES)]
        name = re.sub(r"[“”\"'（）()]", "", (clauses[-1] if clauses else sentence)).strip()[:24]
        if name:
            items.append(_Item(name=name, category="定性无数值", sentence=index))
        if len(items) == 2:
            break
    return items


def _framework(categories: list[str], core: str) -> str:
    if not core:
        return "段落只是罗列背景数据，没有围绕任何指标展开分析，因此不提取核心指标。"
    present = set(categories)
    if "归因项" in present:
        frame = f"段落分析框架是'原因→结果'，只有结果{core}才是分析主体，其余数字服务于对它的解释。"
    elif "子项拆分" in present:
        frame = f"段落分析框架是'总量→拆分'，分项数据服务于对{core}的分析。"
    elif "行业/宏观数据" in present:
        frame = f"段落以行业环境为背景，公司自身被深入分析的只有{core}。"
    else:
        frame = f"段落的分析集中在{core}上，其余数字只是参照与背景。"
    return frame


def annotate(sample: Sample, template_dir: str | os.PathLike[str] | None = None) -> Extraction:
    """A deterministic B-style analysis for `sample`; its metrics are kept unchanged."""
    paragraph = sample.input.paragraph
    core_names = [m.metric_name for m in sample.output.metrics]
    mentions = [m for m in extract_mentions(paragraph) if m.kind in QUANTITY_KINDS]
    sentences = _sentences(paragraph)

    def sentence_of(position: int) -> int:
        for index, (start, end) in enumerate(sentences):
            if start <= position < end:
                return index
        return max(0, len(sentences) - 1)

    core_values: dict[str, list[Mention]] = {name: [] for name in core_names}
    name_spans = {name: [(m.start(), m.end()) for m in re.finditer(re.escape(name), paragraph)] for name in core_names}
    others: list[Mention] = []
    for mention in mentions:
        owner = next((name for name in core_names if _same_metric(mention.subject, name)), None)
        if owner is None and not mention.subject:
            left, right = _clause_bounds(paragraph, mention.start, mention.end)
            owner = next((name for name in core_names
                          if any(left <= s and e <= right for s, e in name_spans[name])), None)
        if owner is not None:
            core_values[owner].append(mention)
        else:
            others.append(mention)

    heads = Counter(_head(m.subject) for m in others if m.subject)
    siblings = frozenset(h for h, n in heads.items()
                         if n >= 2 and len({m.subject for m in others if m.subject and _head(m.subject) == h}) >= 2)
    items: list[_Item] = []
    for mention in others:
        index = sentence_of(mention.start)
        start, end = sentences[index] if sentences else (0, len(paragraph))
        position = mentions.index(mention)
        previous_end = mentions[position - 1].end if position else 0
        category = classify_mention(paragraph, mention, core_names, paragraph[start:end], previous_end, siblings)
        label = _label(paragraph, mention)
        previous = items[-1] if items else None
        same_item = previous is not None and previous.name == label and previous.sentence == index
        if same_item and previous.category == "历史参照" and category != "历史参照":
            previous.category = category  # "从82美元/桶降至71美元/桶": one item, the current value's category
            previous.mentions.append(mention)
        elif same_item and previous.category == category:
            previous.mentions.append(mention)
        else:
            items.append(_Item(name=label, category=category, mentions=[mention], sentence=index))
    covered = [(m.start, m.end) for m in mentions]
    items.extend(_qualitative_items(paragraph, covered, core_names))

    core_text = "和".join(core_names)
    context = {
        "core": [{"name": name, "vals": "，".join(m.text for m in core_values[name])} for name in core_names],
        "items": [{"name": item.name, "vals": item.values, "category": item.category,
                   "reason": REASONS[item.category].format(core=core_text or "段落主题")} for item in items],
        "framework": _framework([item.category for item in items], core_text),
    }
    analysis = render(RULES_TEMPLATE, template_dir, **context).strip()
    return Extraction(analysis=analysis, metrics=sample.output.metrics)
