"""The offline rules annotator: deterministic Type B per-item exclusion analyses.

Used when no LLM endpoint is configured (`--llm auto` falls back to it, `--llm rules` forces it).
Given a paragraph and its core metrics (kept as labelled), it:

1. finds every quantitative mention (`finsynth.text.mentions.extract_mentions`) and groups them into one
   candidate per quantity (`finsynth.text.items.quantity_candidates`, which `exclusion-coverage` shares):
   a mention that names nothing new ("同比增长42%", "降至71美元/桶") stays with the quantity before it,
   so a change and its level are one item, unless a new period stands between them ("2024Q2收入…，
   2023Q2收入…": one item per period);
2. names each item by the noun phrase the quantity belongs to (`item_name`): the subject after the
   clause's last lead-in connective (受益于, 由于, 主要因为, 据…统计, 其中 …), without a leading
   period, preposition or particle ("在碳酸锂价格" -> "碳酸锂价格"), and never a change clause joined
   by 和 ("主要因为吨煤耗下降和燃煤采购价" -> "燃煤采购价"); every name is a span of the paragraph;
3. assigns to each core metric the mentions that quantify it (same subject, or a nameless change in
   its clause; a growth-rate metric such as "EMEA收入增速" owns the changes, not the level);
4. cites values verbatim with the words that give them their sign (`finsynth.text.values.value_span`:
   "同比下降约22%", never "22%");
5. adds number-free candidates (`qualitative_candidates`): causes after 受益于/由于/受…影响, split at
   和/、, and clauses with no number (split at a colon and at 、 between long parts; not a clause that
   only restates the quantity before it, "同比基本持平", a topic lead-in, "OLED方面", or the analyst's
   verdict, "维持'买入'评级"); without a model the rules list them within an item budget (about as many
   items as labellers write: few clauses beside many quantities, causes first);
6. categorises each candidate: by cue words and position (`classify_mention`: industry/macro words,
   historical comparisons, breakdown words, cause and driver words, scale background), or, given a
   model fitted on the user's own labelled rows (`finsynth.synth.annotators.model`), by that model, which
   also decides which qualitative clauses a labeller would list (in a background paragraph, with no
   core metric, every clause is listed);
7. renders the analysis in the B style through `templates/rules_b.j2` ("本段核心分析对象是… 逐项排除：
   X（v）：类别——理由。…" then the paragraph's analysis frame).

Every quantity is cited, so the output passes `exclusion-coverage`; names are spans and values keep
their signs and units, so it passes `ungrounded-exclusion` and `exclusion-value-mismatch`; and the
explicit "逐项排除" list makes `classify_analysis` read it as the exclusion style (`style-mismatch`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from finsynth.prompts import DEFAULT_TEMPLATES, Templates
from finsynth.schema import Extraction, Sample
from finsynth.text.items import (
    NAME_TRAIL,
    PERIOD_TOKEN,
    Candidate,
    cited_span,
    clause_bounds,
    growth_stem,
    names_core,
    period_in,
    quantity_candidates,
    same_metric,
    sentence_index,
    sentence_spans,
)
from finsynth.text.mentions import Mention
from finsynth.text.values import direction

RULES_TEMPLATE = "rules_b.j2"


class CategoryPredictor(Protocol):
    """What the annotator asks of a category model. The fitted one (`synth.annotators.model.CategoryModel`)
    implements it; the rules depend only on this protocol, so the model module imports the rules, never the
    reverse."""

    def predict(self, candidate: Candidate) -> str:
        """The candidate's exclusion category, or "" for one a labeller would not list."""
        ...

    def shared_category(self, candidates: Sequence[Candidate]) -> str:
        """The one category of parallel items ("抖音渠道GMV", "天猫渠道GMV")."""
        ...


INDUSTRY_CUES = (
    "行业",
    "全行业",
    "全国",
    "全球",
    "国内市场",
    "海外市场",
    "市场规模",
    "宏观",
    "GDP",
    "CPI",
    "PPI",
    "社零",
    "统计局",
    "协会",
    "据",
    "央行",
    "同业",
    "竞争对手",
    "可比公司",
    "渗透率",
    "大盘",
    "指数",
    "BNEF",
    "IDC",
    "中汽协",
    "乘联会",
    "海关",
    "政策",
    "整体市场",
    "市场整体",
    "全市场",
)
# heads of names that drive a result rather than split it ("天然气价格", "原材料成本")
DRIVER_HEADS = frozenset({"价格", "均价", "单价", "成本", "费用", "汇率", "利率", "价差"})
# in an item's own name: market prices and economy-wide figures, not the company's
MARKET_CUES = (
    "市场均价",
    "市场价",
    "现货",
    "期货",
    "LME",
    "国际",
    "原油",
    "国债",
    "收益率",
    "全社会",
    "社会消费品",
    "房地产",
    "预算",
    "CR",
    "市占率",
    "份额",
    "交易所",
    "大宗",
    "指数",
)
_HISTORY_BEFORE = re.compile(
    r"(?:上年同期|去年同期|上年末|去年末|去年|上年|年初|历史|此前|以往|峰值|高点|低点|前期|上一轮|过去|曾)"
    r"(?:的|为|是|达到|达)?(?:约|近|超)?$"
)
_HISTORY_HEAD = re.compile(r"^(?:上年同期|去年同期|上年末|去年末|去年|上年|历史上|此前|以往|过去)")
_FROM_BEFORE = re.compile(r"(?:从|由)[^，,。；;]{0,8}$")
_TO_AFTER = re.compile(r"\s*(?:的)?(?:提升|提高|增|升|降|下降|下滑|回落|扩大|收窄|变|到|至)")
# anywhere in the clause / just before the number
BREAKDOWN_CUES = ("其中", "分别", "细分", "构成", "分产品", "分地区", "分业务")
BREAKDOWN_LEADS = ("拆分", "板块", "分部", "子公司", "单季", "季度", "贡献了", "来自")
CAUSE_CUES = (
    "受益于",
    "得益于",
    "由于",
    "因为",
    "主要因",
    "驱动",
    "带动",
    "推动",
    "叠加",
    "导致",
    "原因",
    "拉动",
    "成本",
    "价格",
    "均价",
    "单价",
    "采购",
    "原材料",
    "费用",
    "汇率",
    "补贴",
    "影响",
    "使得",
    "促使",
)
QUALITATIVE_CUES = (
    "表示",
    "认为",
    "显著",
    "旺盛",
    "持续",
    "策略",
    "有望",
    "预计",
    "趋势",
    "景气",
    "改善",
    "承压",
    "优势",
    "成效",
    "稳健",
    "良好",
    "压力",
    "回暖",
    "平滑",
    "竞争",
)

REASONS = {
    "归因项": "是{core}变动的原因或驱动因素，属于归因链条的一环，不是分析主体",
    "子项拆分": "是{core}的结构细分或组成部分，服务于对整体的分析，不单独作为核心指标",
    "规模背景": "是规模或经营背景信息，段落只作陈述，没有展开分析",
    "历史参照": "是用于对比的历史数值，当期表现才是分析对象",
    "行业/宏观数据": "是行业或宏观层面的数据，不是公司自身的指标",
    "定性无数值": "是定性描述，没有给出具体数值",
}


def _extends(subject: str, name: str) -> bool:
    """The subject is a longer name containing the core metric's: a sub-item of it."""
    return bool(subject and name) and name in subject and not same_metric(subject, name)


def _has(text: str, cues: tuple[str, ...]) -> bool:
    return any(cue in text for cue in cues)


def _head(name: str) -> str:
    """The head noun of a metric name, for sibling detection: "抖音渠道GMV" -> "GMV", "欧洲市场收入" -> "收入"."""
    match = re.search(r"(?:[A-Za-z]+|费用率|不良率|利用率|[\u4e00-\u9fff]{2})$", name)
    return match.group() if match else name


# a name that is the whole its head noun measures: "总销量", "公司合计收入", "营业总收入", a bare "销量"
# ("消费电子收入占总收入" is a share of the total, not the total)
_TOTAL_STEM = re.compile(r"^(?:公司|集团|全公司)?(?:总|合计|整体|全部)?$|^[^占]*(?:总|合计)$")


def _is_total(name: str) -> bool:
    """A total ("总销量" beside the core "海外销量") is not a sub-item of its part."""
    head = _head(name)
    return name.endswith(head) and bool(_TOTAL_STEM.search(name[: len(name) - len(head)]))


def classify_mention(
    paragraph: str,
    mention: Mention,
    core_names: list[str],
    sentence: str,
    previous_end: int = 0,
    siblings: frozenset[str] = frozenset(),
) -> str:
    """The exclusion category of one non-core mention, from cue words and position.

    `previous_end` is where the mention before this one ends: position cues ("从X提升至", "上年同期
    的X") are read only in the text between the two numbers. `siblings` are head nouns shared by
    several non-core items ("抖音渠道GMV", "天猫渠道GMV"): parallel items of one breakdown.
    """
    left, right = clause_bounds(paragraph, mention.start, mention.end)
    clause = paragraph[left:right]
    before = paragraph[max(left, previous_end) : mention.start]
    after = paragraph[mention.end : right]
    if _has(clause, INDUSTRY_CUES) or _has(mention.subject, INDUSTRY_CUES + MARKET_CUES):
        return "行业/宏观数据"
    if (_FROM_BEFORE.search(before) and _TO_AFTER.match(after)) or _HISTORY_BEFORE.search(before):
        return "历史参照"
    if _HISTORY_HEAD.match(paragraph[left : mention.start].strip()):
        return "历史参照"  # "上年同期的上网电价为0.405元/千瓦时"
    if any(_extends(mention.subject, name) for name in core_names):
        return "子项拆分"
    if _has(clause, BREAKDOWN_CUES) or _has(before, BREAKDOWN_LEADS):
        return "子项拆分"
    head = _head(mention.subject) if mention.subject else ""
    if (
        head
        and head not in DRIVER_HEADS
        and not _is_total(mention.subject)
        and (head in siblings or any(_head(name) == head and name != mention.subject for name in core_names))
    ):
        return "子项拆分"  # one of several "X收入", or a part of the core "营业收入" (never their total)
    if _has(clause, CAUSE_CUES) or _has(mention.subject, CAUSE_CUES):
        return "归因项"
    if mention.kind in ("amount", "count"):
        return "规模背景"
    return "归因项" if core_names else "规模背景"


_CN_NUMERALS = {"一": 1, "二": 2, "三": 3, "四": 4}
_FORECAST = re.compile(r"预计|预测|预期|目标|指引|展望|E(?![A-Za-z])")


def _period_month(token: str, year: int) -> int | None:
    """A period token as a month count (year x 12 + the period's last month), bare quarters and
    months in `year`: "2024Q2" -> 2024*12+6, "2023年" -> 2023*12+12, "Q1" -> year*12+3."""
    match = re.match(r"(?:FY|CY)?((?:19|20)\d{2})?(?:年度?)?(.*)$", token)
    if match is None:
        return None
    explicit, rest = match.groups()
    base = int(explicit) if explicit else year
    quarter = re.search(r"[HhQq]([1-4])|([1-4])[HhQq]|第?([一二三四])季度", rest)
    if rest.startswith(("H", "h")) or rest.endswith(("H", "h")):
        return base * 12 + 6 * int(re.sub(r"\D", "", rest) or 2)
    if quarter:
        number = quarter.group(1) or quarter.group(2) or str(_CN_NUMERALS[quarter.group(3)])
        return base * 12 + 3 * int(number)
    month = re.match(r"(\d{1,2})月", rest)
    if month:
        return base * 12 + int(month.group(1))
    if rest.startswith("上半年"):
        return base * 12 + 6
    if rest.startswith("前三季度"):
        return base * 12 + 9
    return base * 12 + 12 if explicit else None


def _latest_period(paragraph: str) -> tuple[int, int]:
    """(year, month count) of the latest reported, not forecast, period the paragraph writes."""
    tokens = [
        m
        for m in PERIOD_TOKEN.finditer(paragraph)
        if not _FORECAST.search(paragraph[max(0, m.start() - 6) : m.end() + 1])
    ]
    years = [int(y) for m in tokens for y in re.findall(r"(?:19|20)\d{2}", m.group())]
    year = max(years) if years else 0
    months = [month for m in tokens if (month := _period_month(m.group(), year)) is not None]
    return year, max(months) if months else 0


def _earlier_period(paragraph: str, item: Candidate, latest: tuple[int, int]) -> bool:
    """The item's value is of a period before the paragraph's latest one ("2023年同期收入为185亿元",
    "Q2为89.3%，Q1为83.1%" -> Q1): a historical reference."""
    year, newest = latest
    if not newest or not item.mentions:
        return False
    last = item.mentions[-1]
    left, _ = clause_bounds(paragraph, last.start, last.end)
    floor = max(left, item.mentions[-2].end if len(item.mentions) > 1 else left)
    token = period_in(item.name) or period_in(paragraph[floor : last.start])
    month = _period_month(token, year) if token else None
    return month is not None and month < newest


# --- qualitative items ------------------------------------------------------------------------------

# causes named without a number: "受益于X和Y，…", "主要得益于X和Y。", "受X影响，…"
_CAUSE_PHRASE = re.compile(
    r"(?:主要得益于|主要受益于|受益于|得益于|主要因为|主要由于|主要因|由于|随着|受)"
    r"(?P<body>[^，,。；;！？!?]{2,90}?)(?:的?(?:影响|推动|带动|驱动|拉动|支撑|影响下|背景下|等因素))?(?=[，,。；;！？!?]|$)"
)
_PARTS = re.compile(r"以及|和|及|、|叠加|与")
_QUAL_LEAD = re.compile(
    r"^(?:公司|期内|同时|此外|另外|整体来看|总体来看|管理层(?:表示|指出|认为|称)|我们(?:认为|预计)|"
    r"预计|其中|而|但|且|并|将|也|还|继续|持续推进)+"
)


_CODE = re.compile(r"[A-Za-z]+\d+[A-Za-z\d]*|\d+[A-Za-z]+")


def qualitative_candidates(paragraph: str, core_names: list[str], covered: list[tuple[int, int]]) -> list[Candidate]:
    """Number-free things the paragraph says: causes after 受益于/由于/受…影响 (split at 和/、), and
    clauses with no number. Each becomes a candidate 定性无数值 item; the rules keep the cause phrases
    and the cue-word clauses, a fitted model decides for each."""
    out: list[Candidate] = []
    seen: set[str] = set()
    sentences = sentence_spans(paragraph)

    def quantified(start: int, end: int) -> bool:
        return any(s < end and start < e for s, e in covered)

    def add(name: str, start: int, cue: str) -> None:
        name = NAME_TRAIL.sub("", _QUAL_LEAD.sub("", name.strip(" “”\"'‘’")))
        contribution = _CONTRIBUTES.match(name)
        if contribution:
            name = contribution.group("driver")  # "产品结构优化也对毛利率有正向贡献" -> "产品结构优化"
        if len(name) < 3 or name in seen or any(core in name for core in core_names):
            return
        if quantified(start, start + len(name)) or re.search(r"\d", _CODE.sub("", name)):
            return  # a number-free item has no number (a product code is not one: "5G", "BCL2", "T7")
        if paragraph.find(name) < 0 or _BROKEN_START.match(name):
            return
        if cue == "clause" and (_NO_SUBJECT.search(name) or _VERDICT.search(name)):
            return  # "同比小幅下降", "OLED方面": no statement of its own; "维持'买入'评级": the verdict
        seen.add(name)
        out.append(Candidate(name=name, sentence=sentence_index(sentences, start), start=start, cue=cue))

    for match in _CAUSE_PHRASE.finditer(paragraph):
        body = match.group("body")
        offset = match.start("body")
        for part in _PARTS.split(body):
            position = paragraph.find(part, offset)
            add(part, position, "cause")
    for start, end in sentences:
        for clause in re.finditer(r"[^，,。；;！？!?：:\n]+", paragraph[start:end]):
            text = clause.group()
            a = start + clause.start()
            if quantified(a, a + len(text)) or re.search(r"\d", _CODE.sub("", text)):
                continue
            lead_in = paragraph[a + len(text) : a + len(text) + 1] in ("：", ":")
            if _CAUSE_PHRASE.match(_QUAL_LEAD.sub("", text)) or lead_in:
                continue  # a cause (listed above), or the lead-in of a list ("需要关注的风险因素包括：")
            parts = text.split("、")
            # examples before a shared predicate are one statement: "市场由林德、空气化工等巨头主导"
            shared_predicate = re.search(r"等[\u4e00-\u9fff]", parts[-1])
            if len(parts) > 1 and all(len(part) >= ENUMERATION_PART for part in parts) and not shared_predicate:
                # "宏观经济增速不及预期、行业竞争加剧导致毛利率下行、…": one statement per part
                # (short parts name one thing: "覆盖东南亚、中东、非洲等区域")
                offset = a
                for part in parts:
                    add(part, offset, "clause")
                    offset += len(part) + 1
                continue
            add(text, a, "clause")
    out.sort(key=lambda c: c.start)
    return out


# a number-free clause that opens with a comparison or change word restates the quantity before it
# ("…，同比基本持平", "…，较上年同期大幅改善"); "X方面" / "对比来看" only introduce a topic
_NO_SUBJECT = re.compile(
    r"^(?:较|同比|环比|增速|增幅|降幅|涨幅|位居|位列|对比来看|相比之下|具体来看|高于|低于|优于|好于|快于|慢于|是|为(?!了)|呈)"
    r"|^.{0,8}方面$"
)
# the analyst's verdict or advice to the reader, not a statement about the business: labellers
# seldom list it (corpus B: 3 of 12)
_VERDICT = re.compile(r"^(?:我们|投资者|建议|以上|维持|给予|重申)|建议关注|评级|投资价值|目标价")
ENUMERATION_PART = 5  # a 、-separated part this long is a statement of its own
# "X也对毛利率有正向贡献": the clause names its driver X
_CONTRIBUTES = re.compile(
    r"^(?P<driver>.{3,}?)(?:也|还|均|都|亦)?对.{1,10}?(?:有|形成|产生)(?:明显|显著|积极|正向|负向|一定)?(?:的)?(?:贡献|影响|拉动|支撑)$"
)
_BROKEN_START = re.compile(r"^(?:的|了|在(?![手管建售研营职线网运途库保册])|和|与|及|而|但|且|并)")


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


def candidates(sample: Sample) -> tuple[list[Candidate], dict[str, list[Mention]]]:
    """Every candidate item of `sample`'s paragraph with the rules' category and its model features,
    and the core metrics' own mentions."""
    paragraph = sample.input.paragraph
    core_names = [m.metric_name for m in sample.output.metrics]
    items, core_values = quantity_candidates(paragraph, core_names)
    sentences = sentence_spans(paragraph)
    heads = Counter(_head(c.name) for c in items)
    siblings = frozenset(h for h, n in heads.items() if n >= 2)
    all_mentions = sorted((m for c in items for m in c.mentions), key=lambda m: m.start)
    all_mentions += [m for ms in core_values.values() for m in ms]
    all_mentions.sort(key=lambda m: m.start)
    latest = _latest_period(paragraph)
    for item in items:
        mention = item.mentions[0]
        index = all_mentions.index(mention)
        previous_end = all_mentions[index - 1].end if index else 0
        start, end = sentences[item.sentence] if sentences else (0, len(paragraph))
        named = Mention(mention.text, mention.value, mention.unit, mention.start, mention.end, mention.kind, item.name)
        item.category = classify_mention(paragraph, named, core_names, paragraph[start:end], previous_end, siblings)
        if item.category == "历史参照" and len(item.mentions) > 1:
            # "从82美元/桶降至71美元/桶": one item, the current value's category
            last = item.mentions[-1]
            later = Mention(last.text, last.value, last.unit, last.start, last.end, last.kind, item.name)
            item.category = classify_mention(
                paragraph, later, core_names, paragraph[start:end], item.mentions[-2].end, siblings
            )
        if item.category != "行业/宏观数据" and _earlier_period(paragraph, item, latest):
            item.category = "历史参照"
    for item in items:
        item.level_of = next(
            (
                core
                for core in core_names
                if (stem := growth_stem(core)) and (names_core(item.name, stem) or same_metric(item.name, stem))
            ),
            None,
        )
    covered = [(m.start, m.end) for m in all_mentions]
    quals = qualitative_candidates(paragraph, core_names, covered)
    for qual in quals:
        listed = qual.cue == "cause" or not core_names or _has(qual.name, QUALITATIVE_CUES)
        qual.category = "定性无数值" if listed else ""
    found = sorted(items + quals, key=lambda c: c.start)
    core_sentences = {sentence_index(sentences, m.start) for ms in core_values.values() for m in ms}
    context = _row_context(len(items), len(quals))
    rank = {id(q): r for r, q in enumerate(_by_priority(quals), start=1)}
    for item in found:
        item.features = features(paragraph, item, core_names, core_sentences, siblings)
        if item.level_of:
            # labellers cite a growth metric's level either with the core or as an item of its own
            item.features += [
                "growth_level",
                f"growth_level|head:{_head(item.name)}",
                f"growth_level|mk:{item.mentions[0].kind}",
            ]
        if not item.qualitative and heads[_head(item.name)] >= 3:
            # one of three or more parallel items ("大零售IT业务收入", "银行IT业务收入", …): a breakdown
            item.features.append(f"parallel:{min(heads[_head(item.name)], 5)}")
        if item.qualitative:
            item.features += _with_context(item, [*context, f"slot:{_slot(len(items) + rank[id(item)])}"])
        item.features += _title_features(sample.input.chapter_title, item)
    return found, core_values


def _title_features(title: str, item: Candidate) -> list[str]:
    """The chapter title's words, crossed with the candidate's kind: a "风险提示" chapter lists its
    clauses, an "行业竞争格局" chapter's figures are the industry's."""
    kind = "qual" if item.qualitative else "quant"
    return [f"title:{kind}:{title[i : i + 2]}" for i in range(len(title) - 1)]


def _bucket(n: int) -> str:
    return "0" if n == 0 else "1-2" if n <= 2 else "3-4" if n <= 4 else "5-6" if n <= 6 else "7+"


def _row_context(quantities: int, qualitative: int) -> list[str]:
    """How crowded the paragraph is: labellers list fewer number-free clauses beside many quantities."""
    return [f"nq:{_bucket(quantities)}", f"nqual:{_bucket(qualitative)}"]


# the company a paragraph is about, when it opens with it: "海天味业2025H1…", "万科A 2024年…"
_COMPANY = re.compile(
    r"^(?:受益于[^，,]*，|由于[^，,]*，)?([\u4e00-\u9fffA-Za-z]{2,6}?)\s?(?:(?:19|20)\d{2}|[HQ][1-4]|公司)"
)


def _slot(n: int) -> str:
    return str(n) if 5 <= n <= 8 else "<5" if n < 5 else "9+"


def _by_priority(quals: list[Candidate]) -> list[Candidate]:
    """Number-free candidates in the order a labeller with a budget would list them: named causes
    (受益于X、由于Y) first, then other clauses, each in paragraph order."""
    return sorted(quals, key=lambda c: (c.cue != "cause", c.start))


def _with_context(item: Candidate, context: list[str]) -> list[str]:
    """The row context, alone and crossed with the candidate's kind and cue (a linear model needs
    the conjunction: a cause beside three quantities is listed, beside eight it is usually not)."""
    return context + [f"{item.cue}|{c}" for c in context]


def features(
    paragraph: str, item: Candidate, core_names: list[str], core_sentences: set[int], siblings: frozenset[str]
) -> list[str]:
    """Context features of a candidate for the fitted category model: its kind, the rules' guess,
    cue words around it, its name's characters and head, and its relation to the core metrics."""
    sentences = sentence_spans(paragraph)
    s_start, s_end = sentences[item.sentence] if sentences else (0, len(paragraph))
    sentence = paragraph[s_start:s_end]
    position = item.mentions[0].start if item.mentions else item.start
    left, right = clause_bounds(paragraph, position, position + 1)
    clause = paragraph[left:right]
    before = paragraph[max(s_start, item.start - 4) : item.start]
    name = item.name
    out = [
        f"kind:{'qual' if item.qualitative else 'quant'}",
        f"rule:{item.category or 'none'}",
        f"cue:{item.cue or '-'}",
        f"head:{_head(name)}",
        f"before:{before[-2:]}",
    ]
    out += [f"mk:{m.kind}" for m in item.mentions[:3]]
    out.append(f"n_mentions:{min(len(item.mentions), 3)}")
    out += [f"bi:{name[i : i + 2]}" for i in range(len(name) - 1)]
    for cues, tag in (
        (INDUSTRY_CUES, "ind"),
        (MARKET_CUES, "mkt"),
        (CAUSE_CUES, "cause"),
        (BREAKDOWN_CUES, "brk"),
        (BREAKDOWN_LEADS, "lead"),
        (QUALITATIVE_CUES, "qual"),
    ):
        out += [f"{tag}_clause:{c}" for c in cues if c in clause]
        out += [f"{tag}_name:{c}" for c in cues if c in name]
        if any(c in sentence for c in cues):
            out.append(f"{tag}_sentence")
    if _HISTORY_HEAD.search(clause) or re.search(r"上年|去年|年初|历史|此前|同期的", clause):
        out.append("history_clause")
    if re.search(r"从|由", clause) and re.search(r"至|到", clause):
        out.append("from_to")
    if "公司" in clause:
        out.append("company_clause")
    if any(core in name for core in core_names):
        out.append("name_extends_core")
    if any(name in core for core in core_names):
        out.append("name_in_core")
    if any(_head(core) == _head(name) for core in core_names):
        out.append("head_of_core")
    if _head(name) in siblings:
        out.append("sibling")
    if not core_names:
        out.append("no_core")
    if item.sentence in core_sentences:
        out.append("core_sentence")
    elif core_sentences and item.sentence < min(core_sentences):
        out.append("before_core")
    else:
        out.append("after_core")
    out.append(f"sentence:{min(item.sentence, 4)}")
    lead = paragraph[max(left, item.start - 4) : item.start]
    out += [f"lead:{lead[-k:]}" for k in (1, 2, 4) if len(lead) >= k]
    if re.search(r"\d", sentence):
        out.append("sentence_has_number")
    if item.qualitative:
        clause_lead = _QUAL_LEAD.match(paragraph, left)
        out.append(f"clause_lead:{clause_lead.group()[:4] if clause_lead else '-'}")
        out.append("clause_first" if left == s_start else "clause_later")
        out += [f"qual_word:{c}" for c in QUALITATIVE_WORDS if c in name]
    else:
        values = item.values(paragraph)
        out.append("has_change" if any(direction(paragraph, m.start) for m in item.mentions) else "level_only")
        if PERIOD_TOKEN.search(name) or period_in(values):
            out.append("period_named")
        if s_start < item.start and re.search(r"[A-Za-z\u4e00-\u9fff]{2,}", paragraph[s_start : item.start]):
            out.append("has_prefix")
    out += [f"core_head:{_head(core)}" for core in core_names[:2]]
    company = _COMPANY.match(paragraph)
    if "公司" in sentence or (company and company.group(1) in sentence):
        out.append("company_sentence")  # the company's own figures, not the industry's
    if not item.qualitative:
        out.append(f"rule|mk:{item.category}|{item.mentions[0].kind}")
    out.append("last_sentence" if sentences and item.sentence == len(sentences) - 1 else "not_last")
    out.append(f"len:{min(len(name) // 4, 6)}")
    return out


def _parallel_categories(found: list[Candidate], model: CategoryPredictor) -> dict[int, str]:
    """Parallel items of one sentence (the same head noun: "水产饲料销量…，猪饲料销量…，禽饲料销量…") play
    one role: they share the category their summed probabilities favour. Values of different periods
    ("2025Q2收入…，Q1收入…") are not parallel: the rules' 历史参照 keeps them apart."""
    groups: dict[tuple[int, str, bool], list[Candidate]] = {}
    for item in found:
        if not item.qualitative and not item.level_of:
            key = (item.sentence, _head(item.name), item.category == "历史参照")
            groups.setdefault(key, []).append(item)
    out: dict[int, str] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        category = model.shared_category(members)
        out.update({id(item): category for item in members})
    return out


def annotate(
    sample: Sample, templates: Templates = DEFAULT_TEMPLATES, model: CategoryPredictor | None = None
) -> Extraction:
    """A deterministic B-style analysis for `sample`; its metrics are kept unchanged. With `model`
    (a fitted `finsynth.synth.annotators.model.CategoryModel`) the categories, and which qualitative
    clauses are listed, come from the model; else from the cue-word rules."""
    paragraph = sample.input.paragraph
    core_names = [m.metric_name for m in sample.output.metrics]
    found, core_values = candidates(sample)
    chosen: list[Candidate] = []
    shared = _parallel_categories(found, model) if model is not None else {}
    for item in found:
        category = model.predict(item) if model is not None else item.category
        if category and id(item) in shared:
            category = shared[id(item)]
        if not category and item.level_of:
            # the model reads this level as cited with its growth-rate core, not listed
            core_values[item.level_of] = sorted(core_values[item.level_of] + item.mentions, key=lambda m: m.start)
            continue
        if model is not None and not core_names and item.qualitative:
            category = "定性无数值"  # a background paragraph: every statement is an item (as the rules do)
        if category:
            item.category = category
            chosen.append(item)
    if model is None and core_names:
        chosen = _within_budget(chosen)
    core_text = "和".join(core_names)
    context = {
        "core": [
            {"name": name, "vals": "，".join(paragraph[slice(*cited_span(paragraph, m))] for m in core_values[name])}
            for name in core_names
        ],
        "items": [
            {
                "name": item.name,
                "vals": item.values(paragraph),
                "category": item.category,
                "reason": REASONS[item.category].format(core=core_text or "段落主题"),
            }
            for item in chosen
        ],
        "framework": _framework([item.category for item in chosen], core_text),
    }
    analysis = templates.render(RULES_TEMPLATE, **context).strip()
    return Extraction(analysis=analysis, metrics=sample.output.metrics)


# words of judgement and trend in number-free clauses
QUALITATIVE_WORDS = (
    "稳健",
    "稳定",
    "持续",
    "提升",
    "改善",
    "领先",
    "预期",
    "加速",
    "加快",
    "放缓",
    "承压",
    "推进",
    "有望",
    "优化",
    "恢复",
    "回暖",
    "趋缓",
    "收窄",
    "突破",
    "认可",
    "乐观",
    "确定性",
    "偏紧",
    "旺盛",
    "不确定",
    "增长",
    "下降",
    "高于",
    "低于",
    "快于",
    "慢于",
    "明显",
    "显著",
    "良好",
    "强劲",
    "领先",
    "第一",
)
MAX_RULE_QUALITATIVE = 3  # without a model, at most this many qualitative items
# Labellers list about six to eight items per paragraph: beside many quantities they name few or
# no number-free clauses (corpus B: 2.2 listed beside 3 quantities, 0.3 beside 8).
RULE_ITEM_BUDGET = 8


def _within_budget(chosen: list[Candidate]) -> list[Candidate]:
    """The rules' number-free items, in priority order (named causes first), while the item list
    stays within RULE_ITEM_BUDGET and MAX_RULE_QUALITATIVE; every quantity stays (coverage)."""
    quantities = sum(not c.qualitative for c in chosen)
    room = min(MAX_RULE_QUALITATIVE, max(0, RULE_ITEM_BUDGET - quantities))
    keep = {id(c) for c in _by_priority([c for c in chosen if c.qualitative])[:room]}
    return [c for c in chosen if not c.qualitative or id(c) in keep]
