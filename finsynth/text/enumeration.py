"""Enumerations in an analysis: items laid out in parallel instead of reasoned about in prose.

GUIDE lesson 6: numbered lists "1. 2. 3." (v12) and "X——要点；Y——要点" enumerations (v12.1) both fell
56% -> 44%. People write them in many surface forms, so both detectors work on structure:

- `list_markers`: two or more list markers counting up from 1, in any form people use (`1.` `1、`
  `1)` `(1)` `（1）` `①` `一、` `- ` `• `, and `第一，…第二，…` / `其一，…` / `一是…二是…` when the items name
  metrics), at the start of a segment (after `。；：`, a newline or a space). Numbers such as 1.6T,
  3.5万, 2025H1, 9.8元, 3-5% are not markers: a digit marker must not run into another digit.
- `parallel_items`: two or more consecutive segments (cut at `；` `;` `。` newlines and inline list
  markers, never inside parentheses) that each open with a short head (a name, optionally with a
  parenthesised value or qualifier: `单票收入（2.41元，同比-3%）`) followed by `——` `—` `：` `:` or a
  free-standing `-`, with or without a lead-in (`核心指标：`, `关键指标有`, `主要指标包括`).

An exclusion-list item ("玻纤纱均价（同比-12%）：归因项——…", the required style of types B and D)
and a classification rationale ("会员总数（4,200万）：business——…") are not enumerated metrics: they
break a run without counting. `style-mismatch` judges whether a type may carry them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from finsynth.text.style import EXCLUSION_MARKER, canonical_category

# --- list markers --------------------------------------------------------------------------------

_HAN_NUMBERS = "一二三四五六七八九十"
_HAN_VALUE = {c: i for i, c in enumerate(_HAN_NUMBERS, start=1)}
_BOUNDARY = re.compile(r"[\n。；;：:！？!?，,]|\s+")
_DIGIT_MARK = re.compile(
    r"(?P<mark>[(（](?P<paren>\d{1,2})[)）]"  # (1) （1）
    r"|(?P<dot>\d{1,2})(?:[.．](?![\d.．])|[、)）])"  # 1. 1、 1) 1）, never 1.6T or 3.5万
    r"|(?P<circled>[①-⑳⑴-⒇])"  # ① ⑴
    r"|(?P<han>[一二三四五六七八九十])[、.．]"  # 一、
    r"|(?P<bullet>-(?=\s*[^\s\d\-—])|[•·●▪*](?=\s*\S)))"  # - item, • item (not -3% or ——)
)
_MARK_AT_START = re.compile(r"(?:^|(?<=[\n。；;：:！？!?，,\s]))\s*(?:" + _DIGIT_MARK.pattern + ")")
_ORDINAL = re.compile(
    r"(?P<mark>(?:第|其)(?P<ord>[一二三四五六七八九十])[，,、：:是]|(?P<shi>[一二三四五六七八九十])是)"
)
_ORDINAL_REACH = 40  # characters after an ordinal marker that must name a metric


@dataclass(frozen=True)
class Marker:
    """One list marker: its position in the sequence (1, 2, ...; 0 for a bullet) and its span."""

    number: int
    start: int
    end: int
    kind: str


def _marker_number(match: re.Match[str]) -> tuple[int, str]:
    if match.group("paren"):
        return int(match.group("paren")), "parenthesised"
    if match.group("dot"):
        return int(match.group("dot")), "numbered"
    if match.group("circled"):
        return _circled_value(match.group("circled")), "circled"
    if match.group("han"):
        return _HAN_VALUE[match.group("han")], "numbered"
    return 0, "bulleted"


def _circled_value(ch: str) -> int:
    """① -> 1, ⑴ -> 1."""
    return ord(ch) - (ord("①") if "①" <= ch <= "⑳" else ord("⑴")) + 1


def _counts_up(markers: Sequence[Marker]) -> list[Marker]:
    """The longest run 1, 2, ... that the markers contain in order (empty when there is no 1 then 2)."""
    best: list[Marker] = []
    for i, first in enumerate(markers):
        if first.number != 1:
            continue
        run = [first]
        for m in markers[i + 1 :]:
            if m.number == run[-1].number + 1:
                run.append(m)
        if len(run) >= 2 and len(run) > len(best):
            best = run
    return best


def list_markers(text: str, metric_names: Sequence[str] = ()) -> list[Marker]:
    """The markers of a list in `text` (at least two), or []. Two ordinal words (第一，… / 一是…)
    count when the text after each names one of `metric_names`, three always; bullets need two at
    line starts."""
    found: dict[str, list[Marker]] = {}
    for match in _MARK_AT_START.finditer(text):  # one scan: markers right after a segment boundary
        pos = match.start()
        number, kind = _marker_number(match)
        if kind == "bulleted" and pos != 0 and text[pos - 1] != "\n":
            continue  # a dash or dot inside a line is punctuation, not a bullet
        found.setdefault(kind, []).append(Marker(number, *match.span("mark"), kind))
    # circled and parenthesised markers count anywhere: "①" and "（2）" are never amounts
    circled = [Marker(_circled_value(m.group()), m.start(), m.end(), "circled") for m in re.finditer(r"[①-⑳⑴-⒇]", text)]
    parens = [
        Marker(int(m.group(1)) if m.group(1) else _HAN_VALUE[m.group(2)], m.start(), m.end(), "parenthesised")
        for m in re.finditer(r"[(（](?:(\d{1,2})|([一二三四五六七八九十]))[)）]", text)
    ]
    for kind, anywhere in (("circled", circled), ("parenthesised", parens)):
        if len(anywhere) > len(found.get(kind, [])):
            found[kind] = anywhere
    for kind, markers in found.items():
        if kind == "bulleted":
            if len(markers) >= 2:
                return markers
            continue
        run = _counts_up(markers)
        if run:
            return run
    # ordinal words are ordinary prose too ("原因有二：其一是…"): two make a list when they name the
    # sample's metrics, three or more always
    ordinals, naming = [], []
    for match in _ORDINAL.finditer(text):
        if match.start() not in _segment_starts_set(text):
            continue
        marker = Marker(_HAN_VALUE[match.group("ord") or match.group("shi")], *match.span("mark"), "ordinal")
        ordinals.append(marker)
        reach = text[match.end() : match.end() + _ORDINAL_REACH]
        if any(name and name in reach for name in metric_names):
            naming.append(marker)
    run = _counts_up(ordinals)
    if len(run) >= 3:
        return run
    return _counts_up(naming)


@lru_cache(maxsize=4096)
def _segment_starts_set(text: str) -> frozenset[int]:
    """Where a segment may start: the text's start and right after each boundary."""
    return frozenset([0, *(m.end() for m in _BOUNDARY.finditer(text))])


# --- parallel items ------------------------------------------------------------------------------

_STRIP = re.compile(
    r"[\s*#>]+|(?:-\s*(?=[^\d\-—])|[•·●▪]\s*|\d{1,2}(?:[.．](?![\d.．])|[、)）])|[一二三四五六七八九十][、.．]"
    r"|(?:第|其)[一二三四五六七八九十][，,、：:]?|(?:首先|其次|再次|然后|最后)[，,、：:]?|[①-⑳⑴-⒇]|[(（](?:\d{1,2}|[一二三四五六七八九十])[)）])\s*"
)
_LEAD_IN = re.compile(
    r"[^，,。；;：:\n（）()]{0,16}?(?:指标|要点|方面|因素|维度|如下|以下|逐项排除|排除项)"
    r"[^，,。；;：:\n（）()]{0,8}?(?:(?:有|包括|包含|涉及|为|是|分别是|分别为)\s*[：:]?|[：:])\s*"
)
_HEAD = re.compile(
    r"(?P<head>【(?P<bracketed>[^【】]{1,24})】(?>(?:[^，,。；;：:！？!?（）()—\-－\n]|(?<=\d),(?=\d{3})){0,16})|(?P<name>[^\s，,。；;：:！？!?（）()【】\[\]—\-－\n](?>(?:[^，,。；;：:！？!?（）()【】\[\]—\-－\n]|(?<=\d),(?=\d{3})|(?<=[A-Za-z])-(?=[A-Za-z])){0,23}))"
    r"\s*(?P<paren>[（(][^（）()]{0,40}[）)])?)\s*"
    r"(?P<sep>——|—|－－|--|[：:]|(?<=\s)-(?=\s)|(?:(?<=[\u4e00-\u9fff）)%％])|(?<=\d[A-Za-z])|(?<=\d[A-Za-z]{2})|(?<=\d[A-Za-z]{3}))-(?=[\u4e00-\u9fff]))"
)
_CATEGORY_WORD = re.compile(
    r"\s*(?P<word>[^，,。；;：:（）()0-9%\s—\-]{1,10}?)\s*(?P<after>——|—|－－|--|\s-\s|[，,。；;]|$)"
)
_CLASSIFICATION = re.compile(r"(?:financial|business|财务类?|业务类?|经营类?)(?:指标)?$", re.IGNORECASE)
_MIN_ITEMS = 2
_SEPARATOR_CHARS = ("—", "：", ":", "-", "－")
_HEAD_ZONE = 96  # lead-in, marker, head and its parenthesised value all fit in this many characters
_LETTER = re.compile(r"[\u4e00-\u9fffA-Za-z]")
# a head is a name (with its value, "归母净利润906.4亿元"), not a clause: a copula or a verb of prose makes
# "磷化工毛利率32%提升5个百分点是核心——…" (real type A prose) a sentence, not an item head
_CLAUSE = re.compile(r"[是为]|围绕|展开|在于|来自|表明|显示|反映|说明|可见|看出|认为|主要|全部|都")


@dataclass(frozen=True)
class Item:
    """One head of a parallel layout: the head text (name and parenthesised value) and the span of
    the head with its separator ("毛利率——")."""

    head: str
    start: int
    end: int


_SEGMENT_TOKEN = re.compile(
    r"(?P<mark>[①-⑳⑴-⒇]|[(（](?:\d{1,2}|[一二三四五六七八九十])[)）])"
    r"|(?P<open>[（(【\[])|(?P<close>[）)】\]])|(?P<brk>[；;。！？!?\n])"
)


def _segments(text: str) -> list[tuple[int, int]]:
    """(start, end) of each segment: cut at sentence and list breaks outside parentheses, and before
    inline markers (① / （1）)."""
    out: list[tuple[int, int]] = []
    depth, start = 0, 0
    for token in _SEGMENT_TOKEN.finditer(text):
        i = token.start()
        if token.lastgroup == "mark":
            if depth == 0 and i > start:
                out.append((start, i))
                start = i
        elif token.lastgroup == "open":
            depth += 1
        elif token.lastgroup == "close":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append((start, i))
            start = i + 1
    out.append((start, len(text)))
    return [(a, b) for a, b in out if text[a:b].strip()]


def _is_exclusion_item(rest: str, after_marker: bool) -> bool:
    """`rest` (what follows a head's colon) opens with an exclusion category or a financial/business
    classification and a dash: the B/D per-item style, not an enumerated metric."""
    match = _CATEGORY_WORD.match(rest)
    if match is None:
        return False
    word = match.group("word").strip()
    after = match.group("after").strip()
    if canonical_category(word) is not None or _CLASSIFICATION.fullmatch(word):
        # a category with its reason ("：归因项——…", "：归因项，是…"); a bare one ends an item only
        # in an explicit exclusion list, else "可用座公里（2,542亿）：规模背景。" is one more listed head
        return after not in ("", "。") or after_marker
    # an unknown short word counts only in an explicit exclusion list, and only before a dash
    return after_marker and after in ("——", "—", "－－", "--", "-")


def _segment_item(text: str, start: int, end: int, marker_at: int) -> tuple[str, Item | None]:
    """Classify one segment: ("item", head), ("exclusion", None), ("lead", None) or ("other", None)."""
    segment = text[start:end]
    head_zone = segment[:_HEAD_ZONE]
    if not any(sep in head_zone for sep in _SEPARATOR_CHARS):
        return "other", None  # no separator where a head could end: prose (the common case, kept cheap)
    offset = 0
    stripped = _STRIP.match(segment)
    if stripped:
        offset = stripped.end()
    lead = _LEAD_IN.match(segment, offset)
    head = None
    if lead:
        if not segment[lead.end() :].strip():
            return "lead", None
        head = _HEAD.match(segment, lead.end())
    if head is None:  # no lead-in, or what looked like one is the head itself ("28nm及以下收入占比：")
        head = _HEAD.match(segment, offset)
    if head is None:
        return "other", None
    name = (head.group("name") or head.group("bracketed")).strip()
    if not _LETTER.search(name) or _CLAUSE.search(name):
        return "other", None
    if head.group("sep") in ("：", ":") and _is_exclusion_item(
        segment[head.end() :], 0 <= marker_at < start + head.end()
    ):
        return "exclusion", None
    return "item", Item(head.group("head").strip(), start + head.start("head"), start + head.end())


@lru_cache(maxsize=4096)
def parallel_items(text: str) -> tuple[Item, ...]:
    """The heads of the longest run of at least two consecutive parallel items, or ()."""
    if sum(text.count(sep) for sep in _SEPARATOR_CHARS) < _MIN_ITEMS:
        return ()  # every item needs a separator: most prose has fewer than two
    marker = EXCLUSION_MARKER.search(text)
    marker_at = marker.start() if marker else -1
    run: list[Item] = []
    best: list[Item] = []
    for start, end in _segments(text):
        kind, item = _segment_item(text, start, end, marker_at)
        if kind == "item" and item is not None:
            run.append(item)
            if len(run) > len(best):
                best = list(run)
        elif kind != "lead":
            run = []
    return tuple(best) if len(best) >= _MIN_ITEMS else ()
