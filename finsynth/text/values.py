"""Signs, units and grounding of the values and names an exclusion list cites.

A per-item exclusion ("叶腊石采购价（同比-22%）：归因项——…") must say what the paragraph says: the
paragraph's "同比下降22%" may be cited verbatim or as "同比-22%", never as "22%" (the sign is lost) or
"+22%"; "4.6个百分点" may be "4.6pct" but not "4.6%". Used by the `ungrounded-exclusion` and
`exclusion-value-mismatch` lint rules, the offline annotator (which cites values verbatim, direction
words included) and `benchmarks/annotator_agreement.py` (value fidelity).

    direction(text, start)  -1 / +1 / 0: the sign a number at `start` carries, written or in words
    value_span(text, m)     (start, end) of the mention with the direction words before it
    value_mismatches(p, v)  what in the cited values `v` disagrees with paragraph `p` (sign, unit)
    name_problems(p, name)  why an item name is not a clean span of paragraph `p`
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from finsynth.text.mentions import QUANTITY_KINDS, Mention, extract_mentions

# Words right before a number that give it a sign. "降至/增至/提升至" name a level (no sign), so a word
# followed by 至/到 never counts; qualifiers (约, 近, 超, 了) may sit between the word and the number.
_NEGATIVE = (
    "下降",
    "减少",
    "下滑",
    "回落",
    "降低",
    "下跌",
    "缩小",
    "收窄",
    "下调",
    "减",
    "降",
    "跌",
    "降幅",
    "减幅",
    "跌幅",
    "下滑幅度",
    "下降幅度",
    "负增长",
    "少",
    "流出",
)
_POSITIVE = (
    "增长",
    "提升",
    "提高",
    "上升",
    "上涨",
    "增加",
    "扩大",
    "改善",
    "上调",
    "增",
    "升",
    "涨",
    "增幅",
    "涨幅",
    "提升幅度",
    "多",
    "回升",
    "反弹",
    "净流入",
)
_QUALIFIER = re.compile(
    r"(?:累计|合计|约|近|超过|超|逾|了|达到|达|高达|仅|大约|接近|将近|约为|为|分别为|分别|幅度为|幅度|\s)*$"
)
_WORDS = sorted(((w, -1) for w in _NEGATIVE), key=lambda x: -len(x[0])) + sorted(
    ((w, 1) for w in _POSITIVE), key=lambda x: -len(x[0])
)
_WORDS.sort(key=lambda x: -len(x[0]))
_SHORT_LEAD = re.compile(r"(?:同比|环比|较[^，,。；;]{0,6}|分别|大幅|小幅|略|再|累计|均|则|又|也)$")
_SIGN_CHARS = {"-": -1, "−": -1, "－": -1, "+": 1, "＋": 1}
_STOP = "，,。；;：:（）()、\n"


def _word_before(text: str, end: int) -> tuple[int, int] | None:
    """(start, sign) of a direction word ending right before `end` (qualifiers skipped), else None."""
    window_start = end
    while window_start > 0 and end - window_start < 12 and text[window_start - 1] not in _STOP:
        window_start -= 1
    window = text[window_start:end]
    qualifier = _QUALIFIER.search(window)
    core_end = qualifier.start() if qualifier else len(window)
    core = window[:core_end]
    for word, sign in _WORDS:
        if core.endswith(word):
            start = window_start + core_end - len(word)
            # one character is a direction only after 同比/较…/分别 or at a clause start: "同比降3%",
            # not "航班起降约28万架次"
            if len(word) == 1 and not (start == window_start or _SHORT_LEAD.search(text, window_start, start)):
                return None
            return start, sign
    return None


def direction(text: str, start: int) -> int:
    """The sign the number starting at `start` carries: an explicit +/- or a direction word before it
    ("同比下降约22%" -> -1, "同比改善4.6个百分点" -> +1, "降至71美元/桶" and "为31.2%" -> 0)."""
    if start < len(text) and text[start] in _SIGN_CHARS:
        return _SIGN_CHARS[text[start]]
    found = _word_before(text, start)
    return found[1] if found else 0


_LEAD = re.compile(r"(?:同比|环比|较上年同期|较去年同期|较上年末|较年初|较上年|较去年|较同期|同期|较上季度|比上年)$")


def value_span(text: str, mention: Mention) -> tuple[int, int]:
    """The mention with the words that give it its sign: "同比下降约22%" for the 22% of
    "叶腊石采购价同比下降约22%", "降幅约13.4%"; just the mention when no direction word precedes it."""
    start = mention.start
    if text[start : start + 1] not in _SIGN_CHARS:
        found = _word_before(text, start)
        if found is not None:
            start = found[0]
    lead = _LEAD.search(text, max(0, start - 6), start)
    if lead:
        start = lead.start()
    return start, mention.end


# --- units --------------------------------------------------------------------------------------

_PP = ("个百分点", "百分点", "pct", "ppt", "pp")
_BP = ("个基点", "基点", "bps", "bp")
_MULTIPLIERS = ("万亿", "千亿", "百亿", "十亿", "亿", "千万", "百万", "十万", "万", "千")


def unit_key(unit: str) -> str:
    """A comparable unit: "个百分点"/"pct" -> "pp", "％" -> "%", "倍"/"x" -> "x"; others as written."""
    unit = unit.strip()
    low = unit.lower()
    if low in _PP:
        return "pp"
    if low in _BP:
        return "bp"
    if unit in ("%", "％"):
        return "%"
    if unit in ("倍", "x", "X", "×"):
        return "x"
    return unit.replace("人民币", "")


def _multiplier(unit: str) -> str:
    return next((m for m in _MULTIPLIERS if unit.startswith(m)), "")


def units_agree(cited: str, paragraph: str) -> bool:
    """Whether a cited unit can be the paragraph's: the same after `unit_key`, either one missing, or
    one a shortening of the other with the same multiplier ("亿" for "亿元"). Percent vs percentage
    points, and 万 vs 亿, disagree."""
    a, b = unit_key(cited), unit_key(paragraph)
    if not a or not b or a == b:
        return True
    if {a, b} & {"%", "pp", "bp", "x"}:
        return False
    if _multiplier(a) != _multiplier(b):
        return False
    return a.startswith(b) or b.startswith(a)


@dataclass(frozen=True)
class ValueProblem:
    """One cited number that disagrees with the paragraph: `kind` is "sign" or "unit"."""

    kind: str
    cited: str
    paragraph: str

    def describe(self) -> str:
        what = "sign" if self.kind == "sign" else "unit"
        return f"{self.cited!r} ({what} differs from the paragraph's {self.paragraph!r})"


# single-character units that a cited value may glue to a following 至/到; 升 is settled where mentions are
# read (`text.mentions`: 升 before 至/到 is the verb, never litres), 度 and 方 stay here because they are
# also real units before 至 ("从1,200万度至…") in a paragraph
_VERB_UNITS = frozenset({"度", "方"})


def _mentions(text: str) -> list[Mention]:
    return [m for m in extract_mentions(text) if m.kind in QUANTITY_KINDS]


def _sign_agrees(cited: int, written: int) -> bool:
    """A negative change must stay negative; a positive one may be written without its +; a level
    (no sign in the paragraph) must not gain a minus."""
    if written < 0:
        return cited < 0
    if written > 0:
        return cited >= 0
    return cited >= 0


def value_mismatches(paragraph: str, values: str, name: str = "") -> list[ValueProblem]:
    """The numbers of `values` (an exclusion item's parenthesised values) whose sign or unit differs
    from every mention of the same number in `paragraph`. The item's `name` may carry the direction
    ("LPR累计下调（30个基点）"). A number the paragraph does not contain is
    not judged here (the values may be derived: "降幅约13.4%"), nor is one without a unit's unit."""
    problems: list[ValueProblem] = []
    mentions = _mentions(paragraph)
    for cited in _mentions(values):
        if cited.value is None:
            continue
        same = [m for m in mentions if m.value is not None and abs(m.value) == abs(cited.value)]
        if not same:
            continue
        cited_sign = direction(name + values, len(name) + cited.start)
        cited_text = values[slice(*value_span(values, cited))]
        unit = cited.unit
        if unit in _VERB_UNITS and values[cited.end : cited.end + 1] in "至到":
            unit = ""  # compared without the unit
        unit_ok = [m for m in same if units_agree(unit, m.unit)]
        if not unit_ok:
            first = same[0]
            problems.append(ValueProblem("unit", cited_text, paragraph[slice(*value_span(paragraph, first))]))
            continue
        if not any(_sign_agrees(cited_sign, direction(paragraph, m.start)) for m in unit_ok):
            first = unit_ok[0]
            problems.append(ValueProblem("sign", cited_text, paragraph[slice(*value_span(paragraph, first))]))
    return problems


# --- names --------------------------------------------------------------------------------------

# An item name that opens with a connective or a particle is a clause fragment, not a noun phrase:
# "在碳酸锂价格", "的背景下", "主要因为吨煤耗下降和燃煤采购价". 在手 (在手订单) is a word.
_BROKEN_HEAD = re.compile(
    r"^(?:的|了|在(?![手管建售研营职线网运途库保册])|因为|由于|主要因为|主要由于|主要受|受益于|得益于|受到|而|但|并|且|及|和|与|"
    r"叠加|同时|其中(?=[，,]))"
)
_BROKEN_TAIL = re.compile(
    r"(?:(?<![目有])的|(?<![温总饱平缓柔调])和|(?<![参给])与|(?<![普涉波以危顾])及|(?<![存所现实自内潜])在"
    r"|(?<![服自跟盲])从|(?<![自理经缘])由|(?<![比相])较|(?<![蒙遭])被|(?<![相针绝面核应反])对|(?<![行作认成因称以视])为)$"
)  # a connective at the end, not the end of a word (温和, 存在, 比较, 作为)
# what a human label adds to the paragraph's words and is still the same thing ("智能座舱收入增速")
_LABEL_SUFFIXES = (
    "增速",
    "增幅",
    "降幅",
    "变化",
    "变动",
    "同比",
    "环比",
    "金额",
    "规模",
    "绝对值",
    "数量",
    "水平",
    "占比",
    "预测",
    "目标",
    "情况",
)
_IGNORABLE = re.compile(r"[的了之\s]")
MAX_PIECES = 3  # a name pieced from more spans than this is not the paragraph's wording


_SENTENCES = re.compile(r"[^。！？!?；;\n]+")


def _pieces(sentence: str, name: str) -> int | None:
    """How many pieces of at least two characters, found in order in `sentence`, make up `name`
    (greedy, longest first); None when it cannot be pieced together."""
    cursor = count = i = 0
    while i < len(name):
        best = 0
        for j in range(len(name), i + 1, -1):
            if sentence.find(name[i:j], cursor) >= 0:
                best = j
                break
        if not best:
            return None
        cursor = sentence.find(name[i:best], cursor) + (best - i)
        count += 1
        i = best
    return count


def is_pieced(paragraph: str, name: str, max_pieces: int = MAX_PIECES) -> bool:
    """`name` is at most `max_pieces` spans of one sentence of `paragraph`, in order, each of two or
    more characters: a shortened span ("人民币汇率" for "人民币对美元汇率", "2024Q2收入" for
    "2024Q2实现收入…"), not an invented word."""
    core = _IGNORABLE.sub("", name)
    for suffix in ("", *_LABEL_SUFFIXES):
        if suffix and not (core.endswith(suffix) and len(core) > len(suffix) + 1):
            continue
        stem = core[: len(core) - len(suffix)] if suffix else core
        for match in _SENTENCES.finditer(paragraph):
            pieces = _pieces(_IGNORABLE.sub("", match.group()), stem)
            if pieces is not None and pieces <= max_pieces:
                return True
    return False


def is_span(paragraph: str, name: str) -> bool:
    """`name` is a contiguous span of `paragraph`, allowing only what a label adds without changing
    what is named: 的/了/之 and spaces, and a trailing generic word (增速, 占比, 金额, …)."""
    if name in paragraph:
        return True
    squeezed = _IGNORABLE.sub("", paragraph)
    core = _IGNORABLE.sub("", name)
    for _ in range(2):
        if core and core in squeezed:
            return True
        suffix = next((s for s in _LABEL_SUFFIXES if core.endswith(s) and len(core) > len(s) + 1), None)
        if suffix is None:
            return False
        core = core[: -len(suffix)]
    return bool(core) and core in squeezed


def name_problems(paragraph: str, name: str) -> list[str]:
    """Why an exclusion item's name is not a clean noun phrase of the paragraph: it is not a span of it
    (see `is_span`) nor a shortened one (`is_pieced`), or it is one that opens or ends with a connective or a \
particle."""
    problems = []
    if not is_span(paragraph, name) and not is_pieced(paragraph, name):
        problems.append("not a span of the paragraph")
    if _BROKEN_HEAD.match(name):
        problems.append("opens with a connective or particle")
    elif _BROKEN_TAIL.search(name) and len(name) > 1:
        problems.append("ends with a connective or particle")
    return problems
