"""The analysis style of an extraction: flowing prose, a per-item exclusion list, or a hybrid.

GUIDE section 2: type B analyses name the core metric(s), then every other quantitative item with an
exclusion category and a reason ("逐项排除：玻纤纱均价（同比-12%）：归因项——是毛利率提升的收入端背景。");
type D analyses add a short classification rationale to each extracted metric ("毛利率（35.2%，
financial——利润表核心科目…）"); types A and C are prose. The `style-mismatch` lint rule and the
report's style-per-type table both use `classify_analysis`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

Style = Literal["prose", "exclusion", "hybrid"]
STYLES: tuple[str, ...] = ("prose", "exclusion", "hybrid")

EXCLUSION_CATEGORIES: tuple[str, ...] = ("归因项", "子项拆分", "规模背景", "定性无数值", "历史参照", "行业/宏观数据")

# Spellings seen in real data (and close variants) -> canonical category.
_CATEGORY_ALIASES: dict[str, str] = {
    "归因项": "归因项",
    "归因": "归因项",
    "归因因素": "归因项",
    "驱动因素": "归因项",
    "子项拆分": "子项拆分",
    "子项": "子项拆分",
    "拆分项": "子项拆分",
    "结构拆分": "子项拆分",
    "子项拆解": "子项拆分",
    "规模背景": "规模背景",
    "背景": "规模背景",
    "背景数据": "规模背景",
    "规模数据": "规模背景",
    "定性无数值": "定性无数值",
    "定性描述": "定性无数值",
    "定性": "定性无数值",
    "无数值": "定性无数值",
    "历史参照": "历史参照",
    "历史数据": "历史参照",
    "历史对比": "历史参照",
    "历史参考": "历史参照",
    "行业宏观数据": "行业/宏观数据",
    "行业数据": "行业/宏观数据",
    "宏观数据": "行业/宏观数据",
    "行业背景": "行业/宏观数据",
    "宏观背景": "行业/宏观数据",
    "行业宏观": "行业/宏观数据",
}
_SEPARATORS = re.compile(r"[/／、\s·]")

EXCLUSION_MARKER = re.compile(r"逐项排除|排除项|排除以下|其余(?:数字|数据|数值)(?:逐项)?排除")
# An item is one sentence "NAME（values）：CATEGORY——reason": the category sits between the last colon
# before the first dash and that dash.
_SENTENCE = re.compile(r"[。；;！？!?\n]")
_DASH = re.compile(r"——|—|--|－－")
_NOT_CATEGORY = re.compile(r"[，,（）()0-9%]")
_NAME_TAIL = re.compile(r"[（(](?P<values>[^（）()]*)[）)]\s*$")
# what may stand right before the dash of a classification rationale ("financial——利润表…")
_RATIONALE_HEAD = re.compile(
    r"(?:(?<![A-Za-z])(?:financial|business)|(?:财务|业务|经营)类?指标|(?:财务|业务)类)\s*$", re.IGNORECASE
)


@dataclass(frozen=True)
class ExcludedItem:
    """One entry of an exclusion list. `category` is canonical when recognised (see
    EXCLUSION_CATEGORIES), else as written; `values` is what the parentheses after the name held."""

    name: str
    category: str
    reason: str
    values: str = ""

    @property
    def known_category(self) -> bool:
        return self.category in EXCLUSION_CATEGORIES


def canonical_category(raw: str) -> str | None:
    """ "定性/无数值" -> "定性无数值", "行业宏观数据" -> "行业/宏观数据"; None when not a category."""
    key = _SEPARATORS.sub("", raw.strip())
    return _CATEGORY_ALIASES.get(key)


@lru_cache(maxsize=4096)
def _parse_items(text: str) -> tuple[ExcludedItem, ...]:
    marker = EXCLUSION_MARKER.search(text)
    body = text[marker.end() :] if marker else text
    items: list[ExcludedItem] = []
    for sentence in _SENTENCE.split(body):
        dash = _DASH.search(sentence)
        if dash is None:
            continue
        head = sentence[: dash.start()]
        colon = max(head.rfind("："), head.rfind(":"))
        if colon < 0:
            continue
        raw_cat = head[colon + 1 :].strip()
        if not raw_cat or len(raw_cat) > 10:
            continue
        category = canonical_category(raw_cat)
        if category is None:
            if (
                not marker
                or len(raw_cat) > 8
                or raw_cat.lower() in ("financial", "business")
                or _NOT_CATEGORY.search(raw_cat)
            ):
                continue
            category = raw_cat
        name = head[:colon].strip().strip("，,、 ：:")
        values = ""
        tail = _NAME_TAIL.search(name)
        if tail:
            values = tail.group("values").strip()
            name = name[: tail.start()].strip()
        if name:
            reason = sentence[dash.end() :].strip().rstrip("。；;")
            items.append(ExcludedItem(name=name, category=category, reason=reason, values=values))
    return tuple(items)


def exclusion_items(text: str) -> list[ExcludedItem]:
    """Parse the per-item exclusion list of an analysis: sentences "NAME（values）：CATEGORY——reason".
    After an explicit "逐项排除" marker any short category is read; without the marker only items
    whose category is recognised count."""
    return list(_parse_items(text))


def has_classification_rationale(text: str) -> bool:
    """A financial/business rationale for an extracted metric: "financial——利润表…"."""
    return any(_RATIONALE_HEAD.search(text, max(0, dash.start() - 12), dash.start()) for dash in _DASH.finditer(text))


def has_exclusion_list(text: str) -> bool:
    """An explicit "逐项排除" list with at least one item, or two recognised category items."""
    items = exclusion_items(text)
    if EXCLUSION_MARKER.search(text):
        return len(items) >= 1
    return sum(item.known_category for item in items) >= 2


@lru_cache(maxsize=4096)
def classify_analysis(text: str) -> Style:
    """ "exclusion" (per-item exclusion list), "hybrid" (exclusion plus a financial/business
    classification rationale), else "prose"."""
    if not has_exclusion_list(text):
        return "prose"
    return "hybrid" if has_classification_rationale(text) else "exclusion"
