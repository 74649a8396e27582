"""Verified arithmetic QA from tables, offline: what a table supports -> questions in Chinese and English
with the answer computed from the cells, the derivation as `Reasoning`, and a `Program` that
`finsynth.qa.checker.check` recomputes before a sample is kept.

What a table supports: two year columns of one group give change, growth and average per row; a run of
part rows followed by a total row whose cells they sum to gives shares and the sum; a run of sibling rows
gives the difference of neighbours and the largest / smallest. Anything that cannot be computed honestly
(mixed units, percent cells summed, empty or text cells, zero bases, ties) is skipped and counted.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, Field

from finsynth.errors import ConfigError
from finsynth.io import InputError, json_rows
from finsynth.qa.checker import CellValue, check, parse_cell, row_label
from finsynth.qa.schema import (
    Answer,
    Context,
    Difficulty,
    Grounding,
    Language,
    Operation,
    Program,
    QASample,
    Reasoning,
    Scale,
    Source,
    Table,
)
from finsynth.qa.tatqa import read_tatqa

_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_TOTAL = re.compile(r"^\s*(sub)?total\b|合计|总计|小计|总额$", re.IGNORECASE)
_DERIVED = re.compile(r"change|growth|variance|increase|decrease|同比|增减|变动|增长|环比", re.IGNORECASE)
# footnote marks and unit tokens say nothing about which group a column belongs to
_NOT_A_NAME = re.compile(
    r"\(\d\)|[$€£]\s?(m|bn|000)\b|\(?in (thousands|millions|billions)\)?|'000|’000|年度|年末|年", re.I
)
_PER_SHARE = re.compile(r"per share|\beps\b|每股", re.IGNORECASE)
_COUNT_LABEL = re.compile(r"\bshares\b(?!.based)|number of|employees|headcount|股数|人数", re.IGNORECASE)
_RATE_LABEL = re.compile(r"%|margin|\brate\b|ratio|percent|率|占比|比例", re.IGNORECASE)
_SCALES = [
    ("billion", re.compile(r"in billions|billions of|[$€£]\s?bn\b|十亿", re.IGNORECASE)),
    ("million", re.compile(r"in millions|millions of|\bmillions\b|[$€£]\s?m\b|\bm[$€£]|百万", re.IGNORECASE)),
    ("thousand", re.compile(r"in thousands|thousands of|\bthousands\b|'000|’000|\(000s?\)|千元", re.IGNORECASE)),
]
_UNITS = [
    ("亿元", re.compile(r"亿元")),
    ("万元", re.compile(r"万元")),
    ("元", re.compile(r"元|人民币|rmb", re.I)),
    ("€", re.compile(r"€|euro", re.I)),
    ("£", re.compile(r"£")),
    ("$", re.compile(r"\$|dollar", re.I)),
]
_ZH_CURRENCY = {"$": "美元", "€": "欧元", "£": "英镑", "元": "元", "RMB": "元"}
_ZH_SCALE = {"thousand": "千", "million": "百万", "billion": "十亿"}


@dataclass(frozen=True)
class Unit:
    """What a cell's number is in: percent, or a scale and a unit (currency or a Chinese unit like 亿元)."""

    percent: bool
    scale: str = ""
    unit: str = ""


def _units_in(text: str) -> tuple[str, str]:
    scale = next((name for name, rx in _SCALES if rx.search(text)), "")
    unit = next((name for name, rx in _UNITS if rx.search(text)), "")
    if unit == "元" and scale in ("thousand", "million"):
        return scale, "元"
    return scale, unit


@dataclass
class Layout:
    """Where a table's parts are: header rows end at `body`; `names[c]`, `years[c]` and `groups[c]` of each
    value column; the unit of each column header and of the table as a whole."""

    body: int
    columns: list[int]
    names: dict[int, str]
    years: dict[int, int | None]
    groups: dict[int, str]
    column_units: dict[int, tuple[str, str]]
    table_units: tuple[str, str]
    percent_columns: set[int]
    derived_columns: set[int]
    zh_names: dict[int, str] = field(default_factory=dict)  # each column's header as a Chinese question says it


def _is_year_cell(text: str) -> bool:
    return bool(re.fullmatch(r"(19|20)\d{2}", text.replace(" ", "").strip()))


def _is_title(row: list[str]) -> bool:
    texts = [c.strip() for c in row[1:] if c.strip()]
    return len(texts) == 1 and not _is_year_cell(texts[0]) and len(row) > 2


def analyse(table: Table) -> Layout | None:
    """Header rows, value columns (their year, group, units) of a table; None when it has no numeric body."""
    rows = table.rows
    width = max((len(r) for r in rows), default=0)
    body = next(
        (i for i, r in enumerate(rows) if any(parse_cell(c) is not None and not _is_year_cell(c) for c in r[1:])), None
    )
    if body is None or width < 2:
        return None
    header = rows[:body]
    titles = [" ".join(c for c in r if c.strip()) for r in header if _is_title(r)]
    title_text = " ".join(titles + [r[0] for r in header if r])
    grouped = []  # header rows with several different texts: a text names its column and the empty ones after it
    for r in header:
        if len({c.strip() for c in r[1:] if c.strip()}) > 1 and not all(_is_year_cell(c) for c in r[1:] if c.strip()):
            filled, last = [], ""
            for text in r + [""] * (width - len(r)):
                last = text.strip() or last
                filled.append(last)
            grouped.append(filled)
    layout = Layout(
        body=body,
        columns=list(range(1, width)),
        names={},
        years={},
        groups={},
        column_units={},
        table_units=_units_in(title_text),
        percent_columns=set(),
        derived_columns=set(),
    )
    for c in layout.columns:
        all_text = " ".join(r[c].strip() for r in header if c < len(r) and r[c].strip())
        # a title row (one text over all columns) names no column; its units apply to the whole table
        own = " ".join(r[c].strip() for r in header if c < len(r) and r[c].strip() and not _is_title(r))
        years = _YEAR.findall(own.replace(" ", "")) if own.replace(" ", "").isdigit() else _YEAR.findall(own)
        layout.years[c] = int(years[0]) if len(years) == 1 else None
        group = " ".join(g[c] for g in grouped if g[c] not in own)
        rest = _NOT_A_NAME.sub("", _YEAR.sub("", own.replace(" ", "") if own.replace(" ", "").isdigit() else own))
        rest = " ".join(rest.split()).strip(" ,")
        layout.groups[c] = " ".join(x for x in (group, rest) if x).strip()
        layout.names[c] = " ".join(x for x in (group, own) if x).strip() or f"column {c + 1}"
        layout.column_units[c] = _units_in(all_text)
        if _DERIVED.search(own):
            layout.derived_columns.add(c)
        elif "%" in own:
            layout.percent_columns.add(c)
    raw = {
        c: f"{layout.groups[c]} {year}年".strip() if (year := layout.years[c]) is not None else layout.names[c]
        for c in layout.columns
    }
    clean = {
        c: zh_header(layout.groups[c], year)
        if (year := layout.years[c]) is not None
        else zh_header(layout.names[c]) or layout.names[c]
        for c in layout.columns
    }
    taken = Counter(clean.values())
    # two headers that differ only in what cleaning drops (US$ 2019 vs RMB 2019) keep their own words
    layout.zh_names = {c: clean[c] if taken[clean[c]] == 1 else raw[c] for c in layout.columns}
    return layout


_MONTH = (
    r"(Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|"
    r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_MONTH_NUMBER = {
    m: i
    for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)
}
_YEAR_AFTER = r"(?:,?\s+((?:19|20)\d{2})\b)?"
_MONTH_DAY = re.compile(rf"\b{_MONTH}\s+(\d{{1,2}})\b{_YEAR_AFTER},?", re.IGNORECASE)
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})\s+{_MONTH}\b{_YEAR_AFTER},?", re.IGNORECASE)
# currency signs and unit fragments in TAT-QA's column headers ("$", "(S$ million)", "RMB’Million", "£m", "$'000",
# "(in thousand NT dollars)"): the answer carries the unit; a Chinese question need not repeat them half-translated
_HEADER_NOISE = re.compile(
    r"\([^()]*\b(?:dollars?|millions?|thousands?|billions?)\b[^()]*\)"
    r"|\(\s*(?:US|S|A|HK|NT|C)?[$€£¥]\s*(?:millions?|thousands?|billions?|m|bn|'000)?\s*\)"
    r"|(?:\b(?:US|S|A|HK|NT|C))?[$€£¥]\s*(?:'000|’000|bn\b|m\b)?|`|\bRMB\s*[’']?\s*(?:millions?|thousands?|'000)?"
    r"|\bNone\b",
    re.IGNORECASE,
)
_PERIOD_ENDED = re.compile(r"\b(?:(years?)|(\d+)\s+weeks?)?[\s-]*ended\s*$", re.IGNORECASE)
_AS_OF = re.compile(r"\b(?:as of|as at|at)\s*$", re.IGNORECASE)
_FISCAL = re.compile(r"^(?:fiscal(?: year)?|FY)\b\s*(.*)$", re.IGNORECASE)
_QUARTER = re.compile(r"^Q([1-4])$", re.IGNORECASE)


def zh_header(text: str, year: int | None = None) -> str:
    """A column header as a Chinese question says it (`year`: the column's year when its header gives one apart):
    `December 31, $` + 2019 -> `2019年12月31日`; `Year Ended December 31` -> `截至2019年12月31日止年度`; `Fiscal` ->
    `2019财年`; `Q4` -> `2019年第四季度`; `$ Difference` -> `Difference`. Currency signs and unit fragments are
    dropped, a header repeated over two rows is said once, other words are kept as written."""
    text = " ".join(_HEADER_NOISE.sub(" ", text).split()).strip(" ,;:")
    words = text.split()
    half = len(words) // 2
    if half and len(words) % 2 == 0 and words[:half] == words[half:]:
        text = " ".join(words[:half])
    if text == "%":
        text = ""
    when = f"{year}年" if year is not None else ""
    if year is not None and (fiscal := _FISCAL.match(text)):
        return f"{fiscal.group(1)} {year}财年".strip()
    if year is not None and (quarter := _QUARTER.match(text)):
        return f"{year}年第{'一二三四'[int(quarter.group(1)) - 1]}季度"
    found = _MONTH_DAY.search(text) or _DAY_MONTH.search(text)
    if found is None:
        ended = _PERIOD_ENDED.fullmatch(text)
        if year is not None and ended and ended.group(1):
            return f"{year}年度"
        return f"{text} {when}".strip() or text
    month, day = (found.group(1), found.group(2)) if found.re is _MONTH_DAY else (found.group(2), found.group(1))
    written = int(found.group(3)) if found.group(3) else year
    date = (f"{written}年" if written is not None else "") + f"{_MONTH_NUMBER[month.lower()[:3]]}月{int(day)}日"
    before, after = text[: found.start()], text[found.end() :].strip(" ,")
    if period := _PERIOD_ENDED.search(before):
        label = (
            f"截至{date}止年度"
            if period.group(1)
            else f"截至{date}止{period.group(2)}周"
            if period.group(2)
            else f"截至{date}"
        )
        before = before[: period.start()]
    else:
        label = date
        before = _AS_OF.sub("", before)
    rest = " ".join(x for x in (" ".join(before.split()).strip(" ,"), after) if x)
    return f"{rest} {label}".strip()


def cell_unit(layout: Layout, label: str, cell: CellValue, column: int) -> Unit:
    """A cell's unit: what the cell says, else its row label, else its column header, else the table's."""
    if cell.percent or column in layout.percent_columns or (_RATE_LABEL.search(label) and not cell.unit):
        return Unit(percent=True)
    if _PER_SHARE.search(label):
        return Unit(percent=False, unit="per share")
    row_scale, row_unit = _units_in(label[label.find("(") :] if "(" in label else "")
    col_scale, col_unit = layout.column_units[column]
    table_scale, table_unit = layout.table_units
    unit = cell.unit or row_unit or col_unit or table_unit
    if _COUNT_LABEL.search(label) and not cell.unit:  # a count of shares or people is in no currency
        unit = ""
    if unit in ("亿元", "万元"):  # a Chinese unit carries its own magnitude
        return Unit(percent=False, unit=unit)
    return Unit(percent=False, scale=row_scale or col_scale or table_scale, unit=unit)


# --- questions --------------------------------------------------------------------------------

_QUESTIONS = {
    ("change", "en"): "What was the change in {item} from {old} to {new}?",
    ("change", "zh"): "{item}从{old}到{new}的变动是多少？",
    ("growth", "en"): "What was the percentage change in {item} from {old} to {new}?",
    ("growth", "zh"): "{item}从{old}到{new}的增长率是多少？",
    ("average", "en"): "What was the average {item} over {old} and {new}?",
    ("average", "zh"): "{item}在{old}和{new}的平均值是多少？",
    ("share", "en"): "What percentage of {total} did {item} account for in {col}?",
    ("share", "zh"): "{col}，{item}占{total}的比例是多少？",
    ("sum", "en"): "What was the sum of {items} in {col}?",
    ("sum", "zh"): "{col}，{items}的合计是多少？",
    ("difference", "en"): "What was the difference between {item} and {other} in {col}?",
    ("difference", "zh"): "{col}，{item}与{other}的差额（前者减后者）是多少？",
    ("max", "en"): "Which of {items} was the largest in {col}?",
    ("max", "zh"): "{col}，{items}中哪一项最大？",
    ("min", "en"): "Which of {items} was the smallest in {col}?",
    ("min", "zh"): "{col}，{items}中哪一项最小？",
}
_STEPS = {"change": 1, "difference": 1, "growth": 2, "share": 2}


def _difficulty(op: str, operands: int) -> Difficulty:
    steps = _STEPS.get(op, operands - 1 if op in ("sum", "max", "min") else operands)
    return "easy" if steps <= 1 else "medium" if steps <= 3 else "hard"


def _fmt(value: float, decimals: int) -> str:
    text = f"{value:,.{decimals}f}"
    return text[1:] if text.lstrip("-").strip("0.,") == "" and text.startswith("-") else text


def _col_name(layout: Layout, c: int, lang: str) -> str:
    if lang == "zh" and c in layout.zh_names:
        return layout.zh_names[c]
    year = layout.years[c]
    if year is None:
        return layout.names[c]
    group = layout.groups[c]
    when = f"{year}年" if lang == "zh" else str(year)
    return f"{group} {when}".strip() if group else when


def _join(items: list[str], lang: str) -> str:
    if lang == "zh":
        return "、".join(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _phrase(number: str, unit: Unit, points: bool, lang: str) -> str:
    """The answer as a reader says it: `$306.2 million`, `25.47%`, `3.2个百分点`, `306.2百万美元`."""
    if points:
        return number + ("个百分点" if lang == "zh" else " percentage points")
    if unit.percent:
        return number + "%"
    if lang == "zh":
        if unit.unit == "per share":
            return f"每股{number}"
        return number + _ZH_SCALE.get(unit.scale, "") + _ZH_CURRENCY.get(unit.unit, unit.unit)
    scaled = number + (f" {unit.scale}" if unit.scale else "")
    if unit.unit in ("$", "€", "£"):
        return ("-" + unit.unit + scaled[1:]) if scaled.startswith("-") else unit.unit + scaled
    return scaled + (f" {unit.unit}" if unit.unit else "")


@dataclass
class _Operand:
    row: int
    column: int
    label: str
    cell: CellValue
    unit: Unit


class _Builder:
    def __init__(
        self,
        table: Table,
        context: Context,
        source: Source,
        languages: Sequence[str],
        id_prefix: str,
        layout: Layout,
        skipped: Counter[str],
    ):
        self.table, self.context, self.source, self.languages = table, context, source, languages
        self.id_prefix, self.layout, self.skipped = id_prefix, layout, skipped
        self.samples: list[QASample] = []

    def add(
        self,
        op: Operation,
        operands: list[_Operand],
        result: float,
        decimals: int,
        words: dict[str, str],
        answer_row: int | None = None,
    ) -> None:
        """One question per language; each kept only when the checker recomputes it."""
        first = operands[0]
        points = op in ("change", "difference") and first.unit.percent
        out_unit = Unit(percent=True) if op in ("growth", "share") else first.unit
        number = _fmt(result, decimals)
        value = float(number.replace(",", ""))
        rows = ".".join(dict.fromkeys(str(o.row) for o in operands))
        cols = ".".join(sorted({str(o.column) for o in operands}, key=int))
        cells = [(o.row, o.column) for o in operands]
        for lang in self.languages:
            names = {
                k: (v if not k.endswith("_col") else _col_name(self.layout, int(v), lang)) for k, v in words.items()
            }
            names = {k.removesuffix("_col"): v for k, v in names.items()}
            if "items" in names:
                names["items"] = _join(names["items"].split("\x1f"), lang)
            question = _QUESTIONS[(op, lang)].format(**names)
            shown = _phrase(number, out_unit, points, lang)
            if answer_row is not None:
                text, spans = row_label(self.table, answer_row), [row_label(self.table, answer_row)]
                shown = f"{text} ({shown})"
            else:
                text = number + ("%" if out_unit.percent and not points else "")
                if not out_unit.percent and out_unit.unit in ("亿元", "万元"):
                    text += out_unit.unit
                spans = [text]
            sample = QASample(
                id=f"{self.id_prefix}-{op}-r{rows}-c{cols}-{lang}",
                context=self.context,
                question=question,
                answer=Answer(
                    text=text,
                    spans=spans,
                    value=None if answer_row is not None else value,
                    scale=cast(Scale, "percent" if out_unit.percent else out_unit.scale),
                    unit="%" if out_unit.percent else (out_unit.unit or None),
                ),
                reasoning=Reasoning(
                    analysis=self._analysis(op, lang, len(operands)),
                    steps=self._steps(op, operands, result, decimals, lang, answer_row),
                    answer=shown,
                ),
                kind="span" if answer_row is not None else "arithmetic",
                difficulty=_difficulty(op, len(operands)),
                source=self.source,
                grounding=Grounding(cells=cells, answer_from="table"),
                language=cast(Language, lang),
                program=Program(op=op, cells=cells, result=result, decimals=decimals),
                provenance={"generator": "tables", "template": f"{op}-{lang}"},
            )
            if check(sample):
                self.skipped["checker rejected"] += 1
            else:
                self.samples.append(sample)

    @staticmethod
    def _analysis(op: str, lang: str, n: int) -> str:
        if lang == "zh":
            return {
                "change": "题目问两年之间的变动，需要表中两年的数值，相减即可。",
                "growth": "题目问增长率，需要两年的数值：（新值−旧值）÷旧值×100%。",
                "average": f"题目问平均值，需要表中{n}个数值，求和后除以{n}。",
                "share": "题目问占比，需要该项与合计的数值：该项÷合计×100%。",
                "sum": f"题目问合计，需要表中{n}个数值，相加即可。",
                "difference": "题目问两项的差额，需要两项同一列的数值，前者减后者。",
                "max": f"题目问最大的一项，需要比较{n}个数值。",
                "min": f"题目问最小的一项，需要比较{n}个数值。",
            }[op]
        return {
            "change": "The question asks for a change between two years: the two values from the table, new minus old.",
            "growth": "The question asks for a growth rate: (new - old) / old x 100 from two years' values.",
            "average": f"The question asks for an average: the {n} values from the table, summed, divided by {n}.",
            "share": "The question asks for a share: the item divided by the total, x 100.",
            "sum": f"The question asks for a sum: the {n} values from the table, added.",
            "difference": "The question asks for a difference: the first item minus the second, same column.",
            "max": f"The question asks for the largest item: compare the {n} values.",
            "min": f"The question asks for the smallest item: compare the {n} values.",
        }[op]

    def _steps(
        self, op: str, operands: list[_Operand], result: float, decimals: int, lang: str, answer_row: int | None
    ) -> list[str]:
        def shown(o: _Operand) -> str:
            return self.table.rows[o.row][o.column].strip()

        steps = [
            (
                f"{o.label}（{_col_name(self.layout, o.column, lang)}）：{shown(o)}"
                if lang == "zh"
                else f"{o.label} ({_col_name(self.layout, o.column, lang)}): {shown(o)}"
            )
            for o in operands
        ]
        v = [_fmt(o.cell.value, o.cell.decimals) for o in operands]
        r = _fmt(result, decimals)
        formula = {
            "change": f"{v[-1]} - {v[0]} = {r}",
            "difference": f"{v[0]} - {v[-1]} = {r}",
            "growth": f"({v[-1]} - {v[0]}) / {v[0]} x 100 = {r}",
            "share": f"{v[0]} / {v[-1]} x 100 = {r}",
            "sum": " + ".join(v) + f" = {r}",
            "average": f"({' + '.join(v)}) / {len(v)} = {r}",
        }.get(op)
        if formula:
            steps.append(formula.replace("x", "×") if lang == "zh" else formula)
        else:
            who = row_label(self.table, answer_row) if answer_row is not None else ""
            steps.append(
                f"最{'大' if op == 'max' else '小'}的是{who}：{r}"
                if lang == "zh"
                else f"The {'largest' if op == 'max' else 'smallest'} is {who}: {r}"
            )
        return steps


def table_questions(
    table: Table,
    *,
    context: Context | None = None,
    source: Source,
    languages: Sequence[str] = ("zh", "en"),
    id_prefix: str,
) -> tuple[list[QASample], Counter[str]]:
    """Every question the table supports, checked; and each question not asked, counted by reason."""
    skipped: Counter[str] = Counter()
    layout = analyse(table)
    if layout is None:
        skipped["no numeric cells"] += 1
        return [], skipped
    context = context.model_copy(update={"table": table}) if context else Context(table=table)
    build = _Builder(table, context, source, languages, id_prefix, layout, skipped)
    rows = table.rows
    labels: dict[int, str] = {}
    kinds: dict[int, str] = {}
    section = ""
    qualified: dict[int, str] = {}
    for i in range(layout.body, len(rows)):
        label = row_label(table, i)
        numeric = [c for c in layout.columns if c < len(rows[i]) and parse_cell(rows[i][c]) is not None]
        if not numeric:
            kinds[i] = "section" if label else "other"
            section = label or section
            continue
        if not label or parse_cell(label) is not None:
            kinds[i] = "other"
            skipped["row without a text label"] += 1
            continue
        kinds[i] = "total" if _TOTAL.search(label) else "data"
        labels[i], qualified[i] = label, f"{label} ({section})" if section else label
    counts = Counter(labels.values())
    for i, label in labels.items():
        if counts[label] > 1:
            labels[i] = qualified[i]
    counts = Counter(labels.values())
    ambiguous = {i for i, label in labels.items() if counts[label] > 1}
    skipped["ambiguous row label"] += len(ambiguous)
    usable = [c for c in layout.columns if c not in layout.derived_columns]
    skipped["change or ratio column (not a base value)"] += len(layout.derived_columns)
    name_counts = Counter(_col_name(layout, c, "en") for c in usable)
    usable = [c for c in usable if name_counts[_col_name(layout, c, "en")] == 1]
    skipped["ambiguous column header"] += sum(n for n in name_counts.values() if n > 1)

    # a currency written on some cells of a column (the first row, the total) is the column's currency
    currencies: dict[int, str] = {}
    for c in layout.columns:
        written = {cell.unit for i in labels if c < len(rows[i]) and (cell := parse_cell(rows[i][c])) and cell.unit}
        if len(written) == 1:
            currencies[c] = written.pop()

    def operand(i: int, c: int) -> _Operand | None:
        cell = parse_cell(rows[i][c]) if c < len(rows[i]) else None
        if cell is None:
            return None
        if not cell.unit and not cell.percent and c in currencies:
            cell = replace(cell, unit=currencies[c])
        return _Operand(i, c, labels[i], cell, cell_unit(layout, labels[i], cell, c))

    data_rows = [i for i in labels if i not in ambiguous]
    # year pairs: neighbouring years of one group, old first
    by_group: dict[str, list[int]] = {}
    for c in usable:
        if layout.years[c] is not None:
            by_group.setdefault(layout.groups[c], []).append(c)
    pairs = []
    for cols in by_group.values():
        ordered = sorted(cols, key=lambda c: cast(int, layout.years[c]))
        pairs += [(a, b) for a, b in pairwise(ordered) if layout.years[a] != layout.years[b]]
    for i in data_rows:
        for old_c, new_c in pairs:
            old, new = operand(i, old_c), operand(i, new_c)
            if old is None or new is None:
                skipped["empty or non-numeric cell"] += 3
                continue
            if old.unit != new.unit:
                skipped["mixed units"] += 3
                continue
            words = {"item": labels[i], "old_col": str(old_c), "new_col": str(new_c)}
            d = max(old.cell.decimals, new.cell.decimals)
            build.add("change", [old, new], new.cell.value - old.cell.value, d, words)
            build.add("average", [old, new], (old.cell.value + new.cell.value) / 2, max(d, 2), words)
            if old.unit.percent:
                skipped["growth of a percentage (asked as a change in points)"] += 1
            elif old.cell.value <= 0:
                skipped["zero or negative base for growth"] += 1
            else:
                build.add("growth", [old, new], (new.cell.value - old.cell.value) / old.cell.value * 100, 2, words)
    # primary columns: the latest year of each group, and every column without a year
    primary = [c for c in usable if layout.years[c] is None]
    primary += [max(cols, key=lambda c: cast(int, layout.years[c])) for cols in by_group.values()]
    runs: list[tuple[list[int], int | None]] = []  # sibling rows, and the total row that follows them
    run: list[int] = []
    for i in range(layout.body, len(rows)):
        if kinds.get(i) == "data" and i not in ambiguous:
            run.append(i)
            continue
        if run:
            runs.append((run, i if kinds.get(i) == "total" and i not in ambiguous else None))
        run = []
    if run:
        runs.append((run, None))
    for c in sorted(primary):
        for members, total_row in runs:
            ops = [operand(i, c) for i in members]
            present = [o for o in ops if o is not None]
            if len(present) < len(ops):
                skipped["empty or non-numeric cell"] += 1
            if len(present) < 2:
                continue
            if len({o.unit for o in present}) > 1:
                skipped["mixed units"] += 1
                continue
            d = max(o.cell.decimals for o in present)
            for a, b in pairwise(present):
                build.add(
                    "difference",
                    [a, b],
                    a.cell.value - b.cell.value,
                    d,
                    {"item": a.label, "other": b.label, "col_col": str(c)},
                )
            if len(present) >= 3:
                values = [o.cell.value for o in present]
                for op, pick in (("max", max(values)), ("min", min(values))):
                    winners = [o for o in present if o.cell.value == pick]
                    if len(winners) > 1:
                        skipped[f"tie for the {'largest' if op == 'max' else 'smallest'}"] += 1
                        continue
                    build.add(
                        cast(Operation, op),
                        present,
                        pick,
                        d,
                        {"items": "\x1f".join(o.label for o in present), "col_col": str(c)},
                        answer_row=winners[0].row,
                    )
            total = operand(total_row, c) if total_row is not None else None
            if total is None or len(present) < len(ops):
                skipped["no total row the parts add up to"] += 1
                continue
            parts_sum = math.fsum(o.cell.value for o in present)
            if total.unit != present[0].unit or abs(parts_sum - total.cell.value) > 0.5 * 10**-d * len(present):
                skipped["no total row the parts add up to"] += 1
                continue
            if present[0].unit.percent:
                skipped["percent cells: no sum or share"] += 1
                continue
            build.add("sum", present, parts_sum, d, {"items": "\x1f".join(o.label for o in present), "col_col": str(c)})
            if total.cell.value <= 0 or any(o.cell.value < 0 for o in present):
                skipped["negative part or total: no shares"] += 1
                continue
            for o in present:
                build.add(
                    "share",
                    [o, total],
                    o.cell.value / total.cell.value * 100,
                    2,
                    {"item": o.label, "total": total.label, "col_col": str(c)},
                )
    return build.samples, skipped


# --- files ------------------------------------------------------------------------------------


class TableQAResult(BaseModel):
    """The checked samples, question-level skips by reason, and a summary whose table counts reconcile
    (`tables_read = tables_with_questions + sum(tables_skipped)`)."""

    samples: list[QASample] = Field(default_factory=list)
    skipped: dict[str, int] = Field(default_factory=dict)
    summary: dict[str, Any] = Field(default_factory=dict)


def table_id(rows: list[list[str]]) -> str:
    """A table's id from its content, for tables that come without one."""
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()[:12]


def _tables_in(path: Path) -> tuple[str, list[tuple[Table, Source]]]:
    if path.suffix == ".json":
        out = []
        for context in read_tatqa(path):
            raw = context.get("table") or {}
            rows = [[str(c) for c in r] for r in raw.get("table") or []]
            if rows:
                table = Table.from_rows(rows, id=raw.get("uid") or table_id(rows))
                out.append((table, Source(file=path.name, chunk_id=table.id)))
        return "tatqa", out
    out, kind = [], "qa-jsonl"
    for n, row in json_rows(path):
        if not isinstance(row, dict):
            raise InputError(f"{path}:{n}: a row must be a JSON object (a QA sample or an ingest chunk)")
        if "question" in row:
            sample = QASample.model_validate(row)
            if sample.context.table is not None:
                out.append((sample.context.table, sample.source))
        elif isinstance(row.get("source"), dict) and "file" in row["source"]:
            kind = "ingest-chunks"
            rows = row["source"].get("table")
            if rows:
                pages = row["source"].get("pages") or [None]
                out.append(
                    (
                        Table.from_rows(rows, id=str(row.get("id") or table_id(rows))),
                        Source(file=row["source"]["file"], page=pages[0], chunk_id=row.get("id")),
                    )
                )
        else:
            raise InputError(
                f"{path}:{n}: neither a QA sample (with 'question') nor an ingest chunk "
                "(with 'source'); give `qa import-tatqa` or `finsynth ingest` output"
            )
    return kind, out


def generate_table_qa(path: str | Path, *, languages: Sequence[str] = ("zh", "en")) -> TableQAResult:
    """Checked table questions for every distinct table in a TAT-QA JSON file, a QA JSONL or ingest chunks."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; give a TAT-QA .json, a QA .jsonl or `finsynth ingest` chunks")
    unknown = [lang for lang in languages if lang not in ("zh", "en")]
    if unknown or not languages:
        raise ConfigError(f"languages {','.join(languages)}: languages are zh and en", setting="languages")
    kind, tables = _tables_in(path)
    samples: list[QASample] = []
    skipped: Counter[str] = Counter()
    tables_skipped: Counter[str] = Counter()
    seen: set[str] = set()
    with_questions = 0
    for table, source in tables:
        key = json.dumps(table.rows, ensure_ascii=False)
        if key in seen:
            tables_skipped["duplicate table"] += 1
            continue
        seen.add(key)
        got, why = table_questions(
            table, source=source, languages=languages, id_prefix=table.id or table_id(table.rows)
        )
        skipped.update(why)
        if got:
            with_questions += 1
            samples.extend(got)
        else:
            tables_skipped[why.most_common(1)[0][0] if why else "nothing to ask"] += 1
    by = Counter(f"{s.program.op}/{s.language}" for s in samples if s.program)
    question_skips = dict(sorted((k, v) for k, v in skipped.items() if v))
    summary: dict[str, Any] = {
        "file": str(path),
        "input": kind,
        "tables_read": len(tables),
        "tables_with_questions": with_questions,
        "tables_skipped": dict(sorted(tables_skipped.items())),
        "questions": len(samples),
        "by_op_language": dict(sorted(by.items())),
        "by_difficulty": dict(sorted(Counter(str(s.difficulty) for s in samples).items())),
        "skipped": question_skips,
        "checker_rejected": skipped["checker rejected"],
    }
    summary["reconciles"] = len(tables) == with_questions + sum(tables_skipped.values())
    return TableQAResult(samples=samples, skipped=question_skips, summary=summary)
