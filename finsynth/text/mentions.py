"""Quantitative mentions in Chinese financial text: a number with its unit, and what it quantifies.

`extract_mentions("叶腊石采购价同比下降22%")` gives one `Mention` with value 22, unit "%", kind
"percent" and subject "叶腊石采购价". Dates and periods (2025H1, 2025年, Q3, 三季度, 连续三年, 1-9月)
are not quantities and are skipped, and so are list markers ("1." "（2）") and identifiers
(H1, A100, NT3). Numbers glued to a product code (1.6T, 800G, 28nm, 8P) are kept with kind "other".

`value` is the number as written (sign kept, thousands separators removed); any multiplier stays in
`unit` ("3,260万头" -> 3260.0, "万头"), because analyses cite numbers the way the paragraph wrote them.

Used by the `exclusion-coverage` lint rule; see `finsynth/lint.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

KINDS: tuple[str, ...] = ("amount", "percent", "pct_point", "multiple", "count", "price", "other")
# Kinds that stand for a quantitative item a paragraph can analyse ("other" is product codes and
# bare numbers).
QUANTITY_KINDS = frozenset({"amount", "percent", "pct_point", "multiple", "count", "price"})


@dataclass(frozen=True)
class Mention:
    """One quantitative item: `text` is paragraph[start:end] (sign, number and unit)."""

    text: str
    value: float | None
    unit: str
    start: int
    end: int
    kind: str
    subject: str


# --- units --------------------------------------------------------------------------------------

_MULT = "万亿|千亿|百亿|十亿|亿|千万|百万|十万|万|千"
_CURRENCY = "元人民币|人民币|美元|港元|港币|欧元|日元|英镑|美金|元"
_COUNT_UNITS = sorted(
    """
    人次 户次 架次 车次 台套 万人 头 家 台 套 辆 户 人 名 位 款 座 艘 架 项 件 单 笔 张 颗 片 块 条 份
    次 站 所 间 栋 个 只 枚 部 支 列 节 批 例 篇 股 票 箱 标箱 桶 根 盒 瓶 吨 千克 公斤 克 斤 升 毫升 盎司 磅
    平方米 平米 平方公里 平方千米 平方英寸 亩 公顷 立方米 方 千瓦时 度 千瓦 兆瓦 吉瓦 瓦 公里 千米 米 杯 种 辆次
    小时 分钟 秒 天 周 个月 年 TEU GWh MWh kWh TWh Wh GW MW kW TW W km KM mAh Ah bps
    """.split(),  # noqa: SIM905 -- a word list reads better as text
    key=len,
    reverse=True,
)
# after a measure, an optional rate: 万吨/年, 次/天, 台/月, Wh/kg
_RATE = r"(?:/(?:年|日|天|月|季|周|小时|h|kg|公斤|吨|人|台|辆|平方米|平米|m²|户|家|店))?"
# "从35升至42美元": 升 there is the verb, not litres
_UNIT_NOT_BEFORE = {"升": "至到幅高值温级"}
_MEASURE = "|".join(
    re.escape(u) + (f"(?![{_UNIT_NOT_BEFORE[u]}])" if u in _UNIT_NOT_BEFORE else "") for u in _COUNT_UNITS
)
_PRICE_DENOM = (
    r"/(?:[A-Za-z]{1,4}(?![A-Za-z])|m²|平方米|平米|平|千瓦时|盎司|磅|吨公里|车公里|人公里|立方米|公斤|千克|标箱|"
    r"[吨克斤头只台辆人户月年天日股桶度瓦方张片件套箱间夜晚床次单票份瓶盒支颗粒]|小时|季度)"
)

# Order matters: longest and most specific first.
_UNIT_PATTERN = rf"""
    (?P<pctpt>个百分点|百分点|pct|ppt|pp|个基点|基点|bps|bp)(?![A-Za-z])
  | (?P<pct>[%％‰])
  | (?P<price>(?:{_MULT})?(?:{_CURRENCY}|分|角){_PRICE_DENOM})
  | (?P<amount>(?:{_MULT})?(?:{_CURRENCY}))
  | (?P<mult>倍|[xX×](?![A-Za-z]))
  | (?P<count>(?:{_MULT})?(?:{_MEASURE}){_RATE})
  | (?P<bare>万亿|亿|千万|百万|万)
"""

_NUMBER = r"(?P<sign>[+\-−－＋])?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
_MENTION = re.compile(
    rf"{_NUMBER}\s?(?:(?P<unit>{_UNIT_PATTERN})|(?P<code>[A-Za-z]{{1,4}}(?:/[A-Za-z]{{1,3}})?|英寸|寸|折|点|分(?!之|别|钟|红|拆|部|行|布|公司|析|化|散|期|成|级|类|销|享|配|摊|层|支|包|众|段|为)))?",
    re.VERBOSE,
)
_CN_DIGITS = "零一二两三四五六七八九十百千"
_HAS_CN_MULTIPLE = re.compile(r"倍|个百分点")
_RANGE_DASH = re.compile(r"\s*[-—–~～至到]\s*")
_CN_MENTION = re.compile(rf"(?P<num>[{_CN_DIGITS}]+(?:点[零一二三四五六七八九]+)?|数|几)(?P<unit>倍|个百分点)")

# --- periods ------------------------------------------------------------------------------------

# What may follow a number and makes it a date or a period rather than a quantity.
_PERIOD_PARTS = [
    (
        r"(?:FY|CY)?(?:19|20)\d{2}(?:\s*[-—–~～至/]\s*(?:19|20)?\d{2})?"
        r"(?:年度?|年末|年初|年底|年中|财年)?(?:[HhQq][1-4]|[1-4][HhQq]|上半年|下半年|前三季度|全年"
        r"|第?[一二三四1-4]季度|E|A)?"
    ),
    r"(?:FY|CY)?[HhQq][1-4](?:\s*(?:19|20)?\d{2})?",
    r"[1-4][HhQq](?:\d{2})?",
    r"(?:前|第|上|下|本|今|去)?[一二三四1-4]季度|[上下]半年|全年|年初|年末|年底|年中|同期|上年同期|去年同期",
    r"(?:连续|近|过去|未来|最近|前|后)?[0-9一二两三四五六七八九十百]+(?:个)?(?:年|个?季度|年度)",
    r"(?:连续|近|过去|未来|最近)[0-9一二两三四五六七八九十百]+(?:个月|周|天|日)",
    r"\d{1,2}(?:\s*[-—–~～至]\s*\d{1,2})?月(?:份)?(?:\d{1,2}日)?|\d{1,2}日|\d{1,2}号",
    r"(?:19|20)\d{2}[-/.]\d{1,2}(?:[-/.]\d{1,2})?",
]
_PERIOD = re.compile(r"(?:" + "|".join(_PERIOD_PARTS) + r")")


def is_period(text: str) -> bool:
    """True when `text` as a whole names a date or a period: 2025H1, 2025年, Q3, 3Q24, 三季度,
    上半年, 连续三年, 近5年, 1-9月, 2024-2026年. Durations used as measures (78天, 4个月) are not."""
    return bool(_PERIOD.fullmatch(text.strip()))


# --- subjects -----------------------------------------------------------------------------------

_CLAUSE_BREAK = re.compile(r"[，。；：、（）()【】,;:！？!?\n“”\"'‘’]")
_TRAILING_WORDS = """
同比 环比 较去年同期 较上年同期 较同期 较上年末 较上年 较年初 较去年 较上季度 较前一年 分别 合计 累计 全年 预计
大幅 小幅 显著 明显 进一步 持续 继续 稳步 快速 逆势 已 仍 也 将 均 约 近 超 逾 高达 仅 共 再 又
增长 增加 增至 上升 升至 提升 提高 提升至 提高至 上涨 涨至 回升 回升至 改善 改善至 扩大 扩大至
下降 下滑 减少 降至 降低 回落 回落至 下跌 收窄 收窄至 缩小 跌至
下降至 下滑至 减少至 降低至 下跌至 缩小至 上升至 增长至 增加至 上涨至
达到 达 实现 录得 为 是 至 到 从 由 在 于 保持 保持在 维持 维持在 突破 超过 不足 低于 高于
有 占 的 了 约为 分别为 左右 以上 以下 之间 达到了 来到 - — – ~ ～
""".split()  # noqa: SIM905 -- a word list reads better as text
# matched on the reversed text, so stripping a suffix costs only its own length
_TRAILING_REV = re.compile(
    "(?:" + "|".join(re.escape(w[::-1]) for w in sorted(_TRAILING_WORDS, key=len, reverse=True)) + ")+"
)
_LEADING = re.compile(
    r"^(?:\d{1,2}[.．、)）]\s*|[(（]\d{1,2}[)）]\s*|其中|此外|同时|另外|期内|报告期内|本期|当期|公司|集团|我们|预计|全年|而|但|且|并|及|和|与|其|"
    r"上半年|下半年|实现|录得|完成|受益于|得益于|带动|推动)+"
)
_PERIOD_IN_SUBJECT = re.compile(
    r"^.*?(?:(?:19|20)\d{2}(?:年度?|[HhQq][1-4]|上半年|下半年|前三季度)?|[HhQq][1-4]|[上下]半年|"
    r"(?:第|前)?[一二三四]季度)(?=[^\d])"
)


_TRAILING_PERIOD_REV = re.compile(
    r"(?:[末底初]?(?:份)?月\d{1,2}|[1-4][HhQq]|[HhQq][1-4]|年半[上下]|度季[一二三四](?:第|前)?|[初末底]年"
    r"|(?:[1-4][HhQq]|年半[上下]|度季三前|[度末底初]?年)?\d{2}(?:02|91))(?:从|自|较|在|于|至截|到)?"
)


def _strip_tail(text: str) -> str:
    rev = text[::-1]
    end = 0
    while True:
        match = _TRAILING_REV.match(rev, end) or _TRAILING_PERIOD_REV.match(rev, end)
        if not match or match.end() == end:
            break
        end = match.end()
    return text[: len(text) - end] if end else text


def _clean_subject(text: str) -> str:
    text = text.strip()
    for _ in range(3):
        stripped = _LEADING.sub("", _strip_tail(text)).strip()
        if stripped == text:
            break
        text = stripped
    if any(ch.isdigit() for ch in text) or "季度" in text or "半年" in text:
        match = _PERIOD_IN_SUBJECT.match(text)
        if match and match.end() < len(text):
            text = _LEADING.sub("", _strip_tail(text[match.end() :])).strip()
    return text[-24:]


# --- extraction ---------------------------------------------------------------------------------

_FULLWIDTH = str.maketrans("０１２３４５６７８９％＋－．", "0123456789%+-.")
_HAS_FULLWIDTH = re.compile("[０-９％＋－．]")


def _fullwidth_to_ascii(text: str) -> str:
    """Full-width digits and signs to ASCII, length kept (offsets stay valid)."""
    return text.translate(_FULLWIDTH) if _HAS_FULLWIDTH.search(text) else text


_SENTENCE_STARTS = "\n。；;：:！？!?"


def _at_sentence_start(text: str, start: int) -> bool:
    i = start
    while i > 0 and text[i - 1] in " \t（(":
        i -= 1
    return i == 0 or text[i - 1] in _SENTENCE_STARTS


_LIST_MARKER_AFTER = re.compile(r"[.．、)）](?!\d)")
_DURATION_PREFIXES = ("连续", "近", "过去", "未来", "最近", "长达")
_STRONG_UNITS = ("pctpt", "pct", "price", "amount")
_MINUS = "-−－"


def _cn_value(text: str) -> float | None:
    digits = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
    if text in ("数", "几"):
        return None
    whole, _, frac = text.partition("点")
    total, current = 0, 0
    for ch in whole:
        if ch in digits:
            current = digits[ch]
        elif ch in ("十", "百", "千"):
            total += (current or 1) * {"十": 10, "百": 100, "千": 1000}[ch]
            current = 0
    value = float(total + current)
    if frac:
        value += float("0." + "".join(str(digits.get(c, 0)) for c in frac))
    return value


def _kind_of(match: re.Match[str]) -> tuple[str, str]:
    unit = match.group("unit")
    if unit:
        for group, kind in (
            ("pctpt", "pct_point"),
            ("pct", "percent"),
            ("price", "price"),
            ("amount", "amount"),
            ("mult", "multiple"),
            ("count", "count"),
        ):
            if match.group(group):
                return kind, unit.strip()
        return ("amount" if "亿" in match.group("bare") else "count"), unit.strip()
    if match.group("code"):
        return "other", match.group("code")
    return "other", ""


_PERIOD_NEXT = frozenset("年月日号季个HhQqEeA-—–~～至/. ")


def _skip(text: str, match: re.Match[str], start: int) -> bool:
    """Periods, identifiers, list markers: numbers that are not quantitative items."""
    num_start, num_end = match.start("num"), match.end("num")
    unit = match.group("unit")
    after = text[num_end : num_end + 1]
    period = (
        _PERIOD.match(text, num_start)
        if after in _PERIOD_NEXT or (num_end - num_start == 4 and text.startswith(("19", "20"), num_start))
        else None
    )
    if period and period.end() > num_end and (not unit or period.end() >= match.end() or match.group("count")):
        return True  # 2025H1, 2025年, 3Q24, 1-9月, 5个季度
    glued = start > 0 and text[start - 1].isascii() and (text[start - 1].isalnum() or text[start - 1] in "._")
    if glued and not (unit and any(match.group(g) for g in _STRONG_UNITS)):
        return True  # glued to a name: H1, A100, NT3, T+3 -- unless money/percent make it a value (ROE21%)
    if (
        unit
        and match.group("count")
        and unit.strip() in ("个月", "天", "周", "日", "小时")
        and text[max(0, start - 2) : start].endswith(_DURATION_PREFIXES)
    ):
        return True  # 连续4个月
    if not unit:
        digits = match.group("num").replace(",", "")
        code = match.group("code") or ""
        if not code and re.fullmatch(r"(?:19|20)\d{2}", digits):
            return True  # a bare year
        if not code and _LIST_MARKER_AFTER.match(text, num_end) and _at_sentence_start(text, start):
            return True  # "1." "2、" "（3）" at a sentence start
        if not code and start > 0 and text[start - 1] in "（(" and text[num_end : num_end + 1] in ")）":
            return True
    return False


def _scan(text: str) -> list[tuple[int, int, float | None, str, str]]:
    """(start, end, value, unit, kind) of every quantitative item, in order, without subjects."""
    found: list[tuple[int, int, float | None, str, str]] = []
    for match in _MENTION.finditer(text):
        sign = match.group("sign") or ""
        start = match.start("sign") if sign else match.start("num")
        if sign and start > 0 and text[start - 1].isdigit():
            start, sign = match.start("num"), ""  # "5-10%": a range, not a sign
        if _skip(text, match, start):
            continue
        kind, unit = _kind_of(match)
        value = float(match.group("num").replace(",", ""))
        if sign and sign in _MINUS:
            value = -value
        end = match.end() if (match.group("unit") or match.group("code")) else match.end("num")
        found.append((start, end, value, unit, kind))
    if _HAS_CN_MULTIPLE.search(text):
        for match in _CN_MENTION.finditer(text):
            unit = match.group("unit")
            found.append(
                (
                    match.start(),
                    match.end(),
                    _cn_value(match.group("num")),
                    unit,
                    "multiple" if unit == "倍" else "pct_point",
                )
            )
        found.sort()
    for index, (start, end, number, unit, _kind) in enumerate(found):
        if not unit and index + 1 < len(found):
            # a unitless number before a range dash takes the unit after it: 5-10%, 3至5家
            nxt = found[index + 1]
            if nxt[3] and _RANGE_DASH.fullmatch(text, end, nxt[0]):
                found[index] = (start, end, number, nxt[3], nxt[4])
    return found


class _Subjects:
    """Subjects of scanned items, computed on demand (each may borrow its predecessor's)."""

    def __init__(self, text: str, found: list[tuple[int, int, float | None, str, str]]) -> None:
        self.text, self.found = text, found
        self.memo: dict[int, str] = {}

    def __getitem__(self, index: int) -> str:
        got = self.memo.get(index)
        if got is not None:
            return got
        start = self.found[index][0]
        previous_end = self.found[index - 1][1] if index else 0
        window = self.text[previous_end:start]
        breaks = list(_CLAUSE_BREAK.finditer(window))
        subject = _clean_subject(window[breaks[-1].end() :] if breaks else window)
        if not subject:
            # "净利率提升，从12.8%升至14.6%": the clause before a bare connective names it;
            # "毛利率31.2%，同比改善4.6个百分点": else the previous number's subject, same sentence
            before = window[: breaks[-1].start()] if breaks else ""
            inner = list(_CLAUSE_BREAK.finditer(before))
            subject = _clean_subject(before[inner[-1].end() :] if inner else before)
            if not subject and index and not any(b.group() in "。；;！？!?\n" for b in breaks):
                subject = self[index - 1]
        self.memo[index] = subject
        return subject


def extract_mentions(paragraph: str, skip_values: set[float] | None = None) -> list[Mention]:
    """Every quantitative item in `paragraph`, in order. Periods, list markers and identifiers are
    skipped; numbers glued to product codes are kept as kind "other". With `skip_values`, items
    whose absolute value is in the set are left out (faster: their subjects
    are never worked out)."""
    if skip_values is None:
        return list(_all_mentions(paragraph))
    return _extract(paragraph, skip_values)


@lru_cache(maxsize=4096)
def _all_mentions(paragraph: str) -> tuple[Mention, ...]:
    # one paragraph is scanned several times per sample (prompt hints, then exclusion-coverage on the
    # reply, then again on a re-ask): remember the last few thousand
    return tuple(_extract(paragraph, None))


def _extract(paragraph: str, skip_values: set[float] | None) -> list[Mention]:
    text = _fullwidth_to_ascii(paragraph)
    found = _scan(text)
    subjects = _Subjects(text, found)
    mentions: list[Mention] = []
    for index, (start, end, value, unit, kind) in enumerate(found):
        if skip_values is not None and value is not None and abs(value) in skip_values:
            continue
        mentions.append(Mention(paragraph[start:end], value, unit, start, end, kind, subjects[index]))
    return mentions


def numbers_in(text: str) -> set[float]:
    """Absolute values of every number written in `text` (for "is this value cited?" checks)."""
    return {
        float(x.replace(",", "")) if "," in x else float(x) for x in _PLAIN_NUMBER.findall(_fullwidth_to_ascii(text))
    }


_PLAIN_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
