"""A paragraph's quantities grouped into items, the way a labeller lists them in an exclusion list.

`quantity_candidates` finds every quantitative mention (`text.mentions.extract_mentions`) and groups
them into one `Candidate` per quantity: a mention that names nothing new ("同比增长42%", "降至71美元/桶")
stays with the quantity before it, so a change and its level are one item, unless a new period stands
between them ("2024Q2收入…，2023Q2收入…": one item per period). Each item is named by the noun phrase
the quantity belongs to (`item_name`), a span of the paragraph; the core metrics own the mentions that
quantify them. The offline annotator (`synth.annotators.rules`) categorises and cites these items, and the
`exclusion-coverage` lint rule checks an analysis against them: one grouping for both, here below both.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from finsynth.text.mentions import QUANTITY_KINDS, Mention, extract_mentions
from finsynth.text.names import bigram_jaccard
from finsynth.text.values import direction, name_problems, value_span

_SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;\n]?")
_CLAUSE_BREAK = "，,。；;！？!?：:\n"


def sentence_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _SENTENCE.finditer(text)]


def clause_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    left = start
    while left > 0 and text[left - 1] not in _CLAUSE_BREAK:
        left -= 1
    right = end
    while right < len(text) and text[right] not in _CLAUSE_BREAK:
        right += 1
    return left, right


def same_metric(subject: str, name: str) -> bool:
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
        return len(subject) >= 2 and (2 * len(subject) >= len(name) or name.endswith(subject))
    bare_subject, bare_name = _strip_prefix(subject), _strip_prefix(name)
    if bare_subject and bare_subject == bare_name:
        return True  # "整体毛利率" and "综合毛利率"
    return bigram_jaccard(subject, name) >= 0.6


def _strip_prefix(name: str) -> str:
    for prefix in sorted(_SAME_PREFIXES, key=len, reverse=True):
        if prefix and name.startswith(prefix):
            return name[len(prefix) :]
    return name


_SAME_PREFIXES = ("", "综合", "整体", "总", "合计", "全部", "累计", "公司", "集团", "整体的")


# --- items: one per quantity, named by the noun phrase it quantifies ------------------------------

# Connectives that end a clause's lead-in: the item's name starts after the last one ("主要因为吨煤耗
# 下降和燃煤采购价" -> "燃煤采购价" via the 和 after a direction word; "受益于原材料价格" -> "原材料价格").
_NAME_CUT = re.compile(
    r"(?:主要因为|主要由于|主要得益于|主要受益于|主要受|主要因|受益于|得益于|因为|由于|随着|受到|据[^，,。；;]{0,12}?(?:统计|数据|显示)"
    r"|其中|此外|同时|另外|叠加|以及|期内|报告期内|相比之下|对比来看|而|但|且|即)"
)
_NAME_LEAD = re.compile(
    r"^(?:在(?![手管建售研营职线网运途库保册])|的|了|对应|对|将|并|和|与|及|是|为|从|由|较|公司|我们|其|该|已|均(?![价值])|都|则|也)+"
)
_NOT_A_NAME = re.compile(
    r"^(?:同比|环比|较|比上年|提升至|提高至|降至|增至|升至|下降至|回落至|上行|下行|上涨|下跌|增长|下降|提升|"
    r"提高|减少|增加|上升|回落|改善|扩大|收窄|达到|达|为|约|超|突破|合计|累计|分别|占比|其中|"
    r"扩展|扩张|优化|贬值|升值|攀升|新增|净增|涨至|跌至|回升|反弹|企稳|继续|占(?!比)|受(?!托|众|理|让|益人))"
)
NAME_TRAIL = re.compile(
    r"(?:最快|最慢|最高|最低|领先|居首|的|了|在|和|与|及|从|由|较|对|为|是|被|已|(?<!平)均|都|则|也|约|近|超|达|至|到)+$"
)
_FROM_TAIL = re.compile(r"(?:从|由|较)(?:上年同期|去年同期|上年末|去年末|上年|去年|年初|年末|此前|历史)?(?:的)?$")
# "先导智能2025H1新增订单" -> "新增订单": the company and the period before a metric are not its name;
# "年7月单月签约金额" (a year's digits read as a date) -> "7月单月签约金额"
_OWNER_BEFORE_PERIOD = re.compile(
    r"^(?:[\u4e00-\u9fffA-Za-z]{2,8}?(?=(?:FY|CY)?(?:19|20)\d{2}(?:年|[HhQq][1-4]))|年(?=\d{1,2}月))"
)
_DIRECTION_WORD = re.compile(r"(?:下降|提升|增长|上升|下滑|回落|减少|增加|提高|改善|扩大|收窄|上涨|下跌|恶化|回升)")
# a period at a name's start, with a range's tail ("-Q4收入" of "2024年Q1-Q4收入", "/2026/2027年")
_PERIOD_LEAD = re.compile(
    r"^(?:[-/~～—–](?=(?:19|20)\d{2}|[HhQq][1-4]|\d{1,2}月))?"
    r"(?:(?:FY|CY)?(?:19|20)\d{2}(?:年度?|年末|年初)?(?:[HhQq][1-4]|上半年|下半年|前三季度|全年|第?[一二三四1-4]季度)?"
    r"|[HhQq][1-4]|[上下]半年|(?:第|前)?[一二三四]季度|\d{1,2}月(?:份)?|同期|当期|本期|期末|年末|年初)+"
)
# a subject that only says "the change" of the previous item: "降幅约13.4%", "占比从12%提升至15.6%"
_AFTER_NOUN = re.compile(r"的([\u4e00-\u9fffA-Za-z]{2,10})(?=[，,。；;！？!?]|$)")
GENERIC_NAMES = frozenset(
    {
        "水平",
        "区间",
        "高位",
        "低位",
        "幅度",
        "降幅",
        "涨幅",
        "增幅",
        "增速",
        "同比增速",
        "同比",
        "环比",
        "同比增长",
        "同比下降",
        "增长",
        "下降",
        "占比",
        "比重",
        "其中",
        "合计",
        "分别",
        "累计",
        "整体",
        "提升",
        "规模",
        "金额",
    }
)


def _clean_name(name: str) -> str:
    """The noun phrase of a raw subject: after the last lead-in connective, without a leading
    period or particle and without trailing particles."""
    for _ in range(3):
        before = name
        cuts = list(_NAME_CUT.finditer(name))
        if cuts and cuts[-1].end() < len(name):
            name = name[cuts[-1].end() :]
        # "吨煤耗下降和燃煤采购价": a change clause before 和 is its own statement, not part of the name
        joint = max(name.rfind("和"), name.rfind("及"), name.rfind("与"), name.rfind("、"))
        if joint > 0 and _DIRECTION_WORD.search(name[:joint]):
            name = name[joint + 1 :]
        name = _OWNER_BEFORE_PERIOD.sub("", name.strip("，,、 ：:“”\"'（）()"))
        name = _NAME_LEAD.sub("", _PERIOD_LEAD.sub("", name))
        name = NAME_TRAIL.sub("", _FROM_TAIL.sub("", name))
        if name == before:
            break
    return name


# a number the mention scanner leaves as "other" that is still a quantity an analysis cites: index
# points, scores, discounts, and bare ratios ("SCFI指数从约2,800点降至约1,650点", "PSY从24.5提升至26.2",
# "人民币汇率从7.10贬值至7.28"); product codes ("800G", "32寸") are not
_MEASURE_CODES = frozenset({"", "点", "分", "折"})
_DURATIONS = frozenset({"个月", "天", "年", "日", "周", "小时"})


# a bare number is a value after these ("回升至98", "PUE值为1.25", "从24.5提升至26.2"), not a name's
# part ("沪深300指数", "征程5", "秦皇岛港5500大卡")
_BARE_VALUE_BEFORE = re.compile(r"(?:至|到|为|从|由|值|是)(?:[^，,。；;]{0,6}的)?(?:约|近|超|达)?$")


def _is_quantity(paragraph: str, mention: Mention) -> bool:
    if mention.kind in QUANTITY_KINDS:
        return True
    if mention.kind != "other" or mention.unit not in _MEASURE_CODES:
        return False
    if mention.unit:
        return True  # 点, 分, 折
    around = paragraph[max(0, mention.start - 1) : mention.start] + paragraph[mention.end : mention.end + 1]
    return "/" not in around and bool(_BARE_VALUE_BEFORE.search(paragraph, 0, mention.start))


def _qualifiers_dropped(paragraph: str, mentions: list[Mention]) -> list[Mention]:
    """A duration written into the next quantity's name ("13个月继续率92.8%", "逾期90天以上贷款与不良
    贷款的比值为82%") qualifies that name: it is not an item of its own, and the name keeps it."""
    mentions = list(mentions)  # the qualified names replace the caller's mentions in a copy
    out: list[Mention] = []
    for index, mention in enumerate(mentions):
        following = mentions[index + 1] if index + 1 < len(mentions) else None
        if (
            following is not None
            and mention.kind == "count"
            and mention.unit in _DURATIONS
            and following.subject
            and paragraph.startswith(following.subject, mention.end)
            and not re.search(r"[，,。；;：:、（）()]", paragraph[mention.end : following.start])
        ):
            head = mention.subject
            start = mention.start - len(head) if head and paragraph.endswith(head, 0, mention.start) else mention.start
            mentions[index + 1] = Mention(
                following.text,
                following.value,
                following.unit,
                following.start,
                following.end,
                following.kind,
                paragraph[start : mention.end] + following.subject,
            )
            continue
        out.append(mention)
    return out


_BRACKET_QUALIFIER = re.compile(r"^(?:以|按|含|不含|剔除|扣除|即|包括|口径|注)")
# an index or product code written before a name: "沪深300指数同期涨幅", "中证500"
_CODE_BEFORE = re.compile(r"(?:[A-Za-z]{1,6}|[\u4e00-\u9fff]{2,4})\d{2,4}$")


def _outside_brackets(paragraph: str, subject: str, floor: int, end: int) -> str:
    """A subject written right after brackets, or inside them as a qualifier, names the words before
    them: "波罗的海原油运价指数（BDTI）均值" -> "波罗的海原油运价指数", "渠道库存（以零售额计算）约4个月" ->
    "渠道库存"; a noun phrase inside brackets names itself ("受益于生猪价格周期上行（出栏均价从12.5…）")."""
    at = paragraph.rfind(subject, floor, end)
    if at <= 0 or paragraph[at - 1] not in "（(）)":
        return subject
    if paragraph[at - 1] in "（(" and not _BRACKET_QUALIFIER.match(subject):
        return subject
    opening = max(paragraph.rfind("（", floor, at), paragraph.rfind("(", floor, at))
    if opening <= floor:
        return subject
    left = opening
    while left > floor and paragraph[left - 1] not in _CLAUSE_BREAK:
        left -= 1
    outer = _clean_name(paragraph[left:opening])
    return outer if len(outer) >= 2 else subject


def item_name(paragraph: str, mention: Mention, floor: int = 0) -> str:
    """The item name of a mention: its subject's noun phrase, as a span of the paragraph before it
    (searched from `floor`); "" when the subject names nothing."""
    after = _AFTER_NOUN.match(paragraph, mention.end)
    if after and after.group(1) not in GENERIC_NAMES and not _NOT_A_NAME.match(after.group(1)):
        return after.group(1)  # "仍保持约50%的毛利空间": the noun after the number names it
    subject = _clean_name(_outside_brackets(paragraph, mention.subject, floor, mention.start))
    if len(subject) < 2 or subject in GENERIC_NAMES or _NOT_A_NAME.match(subject):
        return ""
    at = paragraph.rfind(subject, floor, mention.start)
    if at < 0:
        return ""  # a borrowed subject: the mention quantifies an earlier phrase
    code = _CODE_BEFORE.search(paragraph, max(floor, at - 10), at)
    if code and (code.start() == 0 or paragraph[code.start() - 1] in _CLAUSE_BREAK + "。"):
        return code.group() + subject  # "沪深300" + "指数同期涨幅"
    return subject


@dataclass
class Candidate:
    """One thing the exclusion list may name: a quantity (its mentions, a change and its level
    together) or a qualitative clause (no mention). `category` is the rules' guess; `features`
    are what a fitted model reads."""

    name: str
    mentions: list[Mention] = field(default_factory=list)
    sentence: int = 0
    start: int = 0
    cue: str = ""
    category: str = ""
    level_of: str | None = None  # the growth-rate core metric this is the level of ("广告收入" of "广告收入增速")
    features: list[str] = field(default_factory=list)

    @property
    def qualitative(self) -> bool:
        return not self.mentions

    def values(self, paragraph: str) -> str:
        """The values verbatim, each with the words that give it its sign ("同比下降约22%") or its
        approximation ("约46万辆", "超过70万辆/年": a qualifier is part of what the paragraph says)."""
        parts = []
        floor = 0
        for mention in self.mentions:
            start, end = cited_span(paragraph, mention, floor)
            text = paragraph[start:end]
            if re.search(r"[（）()：:。；;]", text):
                text = mention.text
            parts.append(text)
            floor = end
        return "，".join(parts)


# an approximation or bound written right before a number, which its citation keeps
_QUALIFIER_BEFORE = re.compile(r"(?:大约|约|将近|接近|近|超过|超|逾|不足|不到|高达|仅|至少)$")


def cited_span(paragraph: str, mention: Mention, floor: int = 0) -> tuple[int, int]:
    """Where a mention's citation starts and ends: `value_span` (the words that give it its sign), or,
    without such words, the qualifier right before it ("约46万辆", "超过70万辆/年"); never before `floor`."""
    start, end = value_span(paragraph, mention)
    if start == mention.start and (qualifier := _QUALIFIER_BEFORE.search(paragraph, floor, start)):
        start = qualifier.start()
    return max(start, floor), end


def sentence_index(sentences: list[tuple[int, int]], position: int) -> int:
    for index, (start, end) in enumerate(sentences):
        if start <= position < end:
            return index
    return max(0, len(sentences) - 1)


PERIOD_TOKEN = re.compile(
    r"(?:FY|CY)?(?:19|20)\d{2}(?:年度?)?(?:[HhQq][1-4]|上半年|下半年|前三季度|全年|第?[一二三四]季度|同期)?"
    r"|[HhQq][1-4]|[1-4][HhQq]|\d{1,2}月(?:份)?|[上下]半年|(?:第|前)?[一二三四]季度"
)
_TO_BEFORE = re.compile(r"(?:至|到)")
_GROWTH_SUFFIXES = ("增速", "增长率", "增幅", "同比增速", "同比增长")


def period_in(text: str) -> str:
    """The last period token written in `text` ("2024Q4", "2023年", "Q1", "6月"), else ""."""
    found = [m.group() for m in PERIOD_TOKEN.finditer(text) if re.search(r"\d|季度|半年", m.group())]
    return found[-1] if found else ""


def growth_stem(core: str) -> str:
    """ "新能源品类收入增速" -> "新能源品类收入"; "" when the core metric is not a growth rate."""
    for suffix in _GROWTH_SUFFIXES:
        if core.endswith(suffix) and len(core) > len(suffix) + 1:
            return core[: -len(suffix)]
    return ""


def _owner(name: str, mention: Mention, core_names: list[str]) -> str | None:
    """The core metric a named mention quantifies. A growth-rate metric ("EMEA收入增速") owns its
    changes, not its level ("EMEA收入约1,120亿元" is an item of its own)."""
    for core in core_names:
        stem = growth_stem(core)
        if stem and mention.kind in ("amount", "count", "price") and same_metric(name, stem):
            continue
        if same_metric(name, core) or (stem and same_metric(name, stem)):
            return core
    return None


def quantity_candidates(paragraph: str, core_names: list[str]) -> tuple[list[Candidate], dict[str, list[Mention]]]:
    """The paragraph's quantities grouped into items, and each core metric's own mentions.

    A mention starts a new item when it names a new noun phrase; one that names nothing ("同比增长
    42%", "降至71美元/桶") stays with the quantity before it in the sentence (a change and its level
    are one item), unless a new period stands between them ("2024Q2收入2,686亿元，2023Q2收入…",
    "Q2为89.3%，Q1为83.1%"): each period's value is an item of its own."""
    mentions = _qualifiers_dropped(paragraph, [m for m in extract_mentions(paragraph) if _is_quantity(paragraph, m)])
    sentences = sentence_spans(paragraph)
    core_values: dict[str, list[Mention]] = {name: [] for name in core_names}
    items: list[Candidate] = []
    previous_end = 0
    previous_owner: str | None = None
    previous_base = ""
    for mention in mentions:
        index = sentence_index(sentences, mention.start)
        sentence_start = sentences[index][0] if sentences else 0
        floor = max(sentence_start, previous_end)
        name = item_name(paragraph, mention, floor)
        previous = items[-1] if items and items[-1].sentence == index else None
        continues = previous_end > sentence_start
        between = paragraph[floor : mention.start]
        # "从年初的148美元降至6月的112美元" (one clause): the period names the end point of a change,
        # not another period's item
        end_point = previous_owner is None and _TO_BEFORE.search(between) and not re.search(r"[，,、]", between)
        period = period_in(between) if continues and not name and not end_point else ""
        owner = _owner(name, mention, core_names) if name else None
        if not name and continues and period and previous_base:
            # a value of another period: its own item, "产能利用率Q1" (or "2024Q2收入" when written so)
            joined = period + previous_base
            name = joined if joined in paragraph else previous_base + period
            if name_problems(paragraph, name):
                name = previous_base  # the period's words are too far apart to name it: the base alone
        elif not name and continues:
            owner = previous_owner
        elif not name:
            left, right = clause_bounds(paragraph, mention.start, mention.end)
            owner = next((core for core in core_names if paragraph.find(core, left, right) >= 0), None)
            if owner is None and mention.kind in ("percent", "pct_point") and direction(paragraph, mention.start):
                # "2025Q2同比增长8.5%" at a sentence start: the growth of the growth-rate metric
                owner = next((core for core in core_names if growth_stem(core)), None)
        if owner is not None and not _fits_core(owner, mention):
            owner = None  # "海外收入合计120亿元" is not a figure of "海外收入占比"
        if owner is not None:
            core_values[owner].append(mention)
            previous_base = owner
        elif not name and continues and previous is not None and previous_owner is None:
            previous.mentions.append(mention)
        else:
            if not name:
                name = _fallback_name(paragraph, mention, sentence_start)
            start = paragraph.rfind(name, sentence_start, mention.start)
            items.append(
                Candidate(name=name, mentions=[mention], sentence=index, start=start if start >= 0 else mention.start)
            )
            if not period:
                previous_base = name
        previous_owner = owner
        previous_end = mention.end
    _name_series(paragraph, items)
    return _claim_unquantified_cores(paragraph, _merge_growth(items), core_values), core_values


def _claim_unquantified_cores(
    paragraph: str, items: list[Candidate], core_values: dict[str, list[Mention]]
) -> list[Candidate]:
    """A core metric that no mention quantified is written under a longer name ("吨铝利润" as
    "电解铝吨铝利润", "客座率" as "高铁客座率"): the first item that names it is its own figure, not an
    exclusion. A growth-rate metric ("广告收入增速") takes only the changes of the item it names
    (the level, "广告收入28亿元", stays an item), and a regional part ("国内手机出货量") is a breakdown."""
    for core, values in core_values.items():
        if values:
            continue
        stem = growth_stem(core)
        for item in items:
            if not item.mentions or item.name.startswith(_REGION_PREFIXES) or not names_core(item.name, stem or core):
                continue
            if stem:
                changes = [m for m in item.mentions if direction(paragraph, m.start)]
            else:
                changes = item.mentions if _fits_core(core, item.mentions[0]) else []
            if changes:
                values.extend(changes)
                values.sort(key=lambda m: m.start)
                item.mentions = [m for m in item.mentions if m not in changes]
                break
    return [item for item in items if item.mentions]


_REGION_PREFIXES = ("国内", "海外", "境内", "境外", "全球", "全国", "行业")
_RATIO_SUFFIXES = ("率", "占比", "比重", "比例", "份额")


def _fits_core(core: str, mention: Mention) -> bool:
    """A ratio core metric ("海外收入占比", "毛利率") is quantified by percents and points, not amounts."""
    return not core.endswith(_RATIO_SUFFIXES) or mention.kind in ("percent", "pct_point")


def names_core(name: str, core: str) -> bool:
    """`name` names `core`: it contains it, is most of it, or spells a share out ("效果广告收入占广告
    总收入比例" for "效果广告占比")."""
    if core in name or (len(name) >= 2 and name in core and 2 * len(name) >= len(core)):
        return True
    stem = core[:-2] if core.endswith("占比") else ""
    return bool(stem) and name.startswith(stem) and "占" in name and name.endswith(("比例", "比重", "占比"))


def _merge_growth(items: list[Candidate]) -> list[Candidate]:
    """An item that is only the growth of an earlier item ("水产饲料销量360万吨。…水产饲料增速最快达18%")
    joins it: a quantity and its change are one item."""
    out: list[Candidate] = []
    for item in items:
        stem = growth_stem(item.name) if item.name.endswith(("增速", "增长率", "增幅")) else ""
        base = next(
            (o for o in out if stem and len(stem) >= 2 and o.name.startswith(stem) and not growth_stem(o.name)), None
        )
        if base is not None:
            base.mentions.extend(item.mentions)
        else:
            out.append(item)
    return out


def _name_series(paragraph: str, items: list[Candidate]) -> None:
    """Items of one name written for several periods ("2024Q2收入…，2023Q2收入…") keep their period."""
    names = Counter(item.name for item in items)
    for item in items:
        if names[item.name] < 2:
            continue
        head = paragraph[max(0, item.start - 8) : item.start]
        period = re.search(r"(?:" + PERIOD_TOKEN.pattern + r")$", head)
        if period and re.search(r"\d|季度|半年", period.group()):
            item.name = period.group() + item.name
            item.start -= len(period.group())


def _fallback_name(paragraph: str, mention: Mention, floor: int) -> str:
    """A name for a mention whose subject names nothing: the clause's words before it, cleaned."""
    left, _ = clause_bounds(paragraph, mention.start, mention.end)
    left = max(left, floor)
    words = _clean_name(re.sub(r"^[\s（）()“”\"'：:]+", "", paragraph[left : mention.start]))
    if len(words) >= 2 and words in paragraph:
        return words[-16:]
    # the clause before: "净利率提升，从12.8%升至14.6%"
    head = paragraph[max(floor, paragraph.rfind("，", floor, left - 1) + 1) : max(floor, left - 1)]
    words = _clean_name(head)
    if len(words) >= 2 and words in paragraph:
        return words[-16:]
    return mention.text
