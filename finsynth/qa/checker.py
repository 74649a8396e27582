"""Recompute a table answer from its cells: the verifiable ground of table QA (and of an RL reward).

The checker is the lower layer: it owns how a cell is read (`parse_cell`) so that the generator in
`finsynth.qa.tables` and every consumer of `check` read a cell the same way.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from finsynth.qa.schema import Program, QASample, Table
from finsynth.qa.tatqa import parse_number

# Full-width forms Chinese filings use for the ASCII ones `parse_number` reads.
_WIDTH = str.maketrans(
    {"（": "(", "）": ")", "－": "-", "−": "-", "–": "-", "，": ",", "％": "%", "．": ".", "\uff04": "$", "￥": "¥"}
)  # \uff04: the full-width dollar sign
_EMPTY = {"", "-", "--", "—", "——", "n/a", "na", "nm", "*", "不适用", "/"}
_CURRENCY = re.compile(r"^(us\$|hk\$|rmb|\$|€|£|¥)")
_CELL_UNIT = re.compile(r"(百万元|千元|万元|亿元|元|美元|亿|万)$")
_NUMBER_IN_TEXT = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


@dataclass(frozen=True)
class CellValue:
    """A numeric cell: `value` as written (12.5% is 12.5), its decimals, whether it is a percent, and the
    currency or unit written in the cell itself ("" when none)."""

    value: float
    decimals: int
    percent: bool
    unit: str = ""


def parse_cell(text: str) -> CellValue | None:
    """`$1,234.5`, `(1,234)` (negative), `12.5%`, `1,234.5亿元`, `（3.2）` -> a `CellValue`; None for an empty
    marker (`—`, `n/a`) or anything that is not one number."""
    s = str(text).translate(_WIDTH).strip().lower().replace(" ", "").replace("\u00a0", "")
    if s.replace("-", "").replace("%", "") in _EMPTY or s in _EMPTY:
        return None
    unit = ""
    match = _CELL_UNIT.search(s)
    if match:
        unit, s = match.group(1), s[: match.start()]
    negative = s.startswith("-")
    core = s[1:] if negative else s
    match = _CURRENCY.match(core)
    if match:
        currency = match.group(1)
        unit = unit or (currency.upper() if currency in ("us$", "hk$", "rmb") else currency)
        core = core[match.end() :]
    percent = core.endswith("%")
    core = core.rstrip("%")
    if not core or re.search(r"[^\d.,()\-]", core):
        return None
    value = parse_number(("-" if negative else "") + core)
    if value is None:
        return None
    digits = core.strip("()").split(".")
    decimals = len(digits[1].rstrip(")")) if len(digits) == 2 else 0
    return CellValue(value=value, decimals=decimals, percent=percent, unit=unit)


def row_label(table: Table, row: int) -> str:
    """The label of a row: its first cell, without a trailing colon."""
    cells = table.rows[row] if 0 <= row < len(table.rows) else []
    return cells[0].strip().rstrip(":：").strip() if cells else ""


def cell_value(table: Table, row: int, column: int) -> CellValue:
    """The numeric cell at [row, column]; ValueError naming the cell when it is missing or not a number."""
    if not (0 <= row < len(table.rows) and 0 <= column < len(table.rows[row])):
        raise ValueError(f"cell [{row}, {column}] is outside the table")
    parsed = parse_cell(table.rows[row][column])
    if parsed is None:
        raise ValueError(f"cell [{row}, {column}] {table.rows[row][column]!r} is not a number")
    return parsed


def recompute(program: Program, table: Table) -> float:
    """Read the program's cells again and apply its operation; ValueError when that cannot be done."""
    values = [cell_value(table, r, c).value for r, c in program.cells]
    if not values:
        raise ValueError("the program has no cells")
    pair = program.op in ("change", "growth", "share", "difference")
    if pair and len(values) != 2:
        raise ValueError(f"{program.op} needs 2 cells, the program has {len(values)}")
    if program.op == "change":
        return values[1] - values[0]
    if program.op == "difference":
        return values[0] - values[1]
    if program.op in ("growth", "share"):
        base = values[0] if program.op == "growth" else values[1]
        if base == 0:
            raise ValueError(f"{program.op}: division by a zero cell")
        top = values[1] - values[0] if program.op == "growth" else values[0]
        return top / base * 100
    if program.op == "sum":
        return math.fsum(values)
    if program.op == "average":
        return math.fsum(values) / len(values)
    return max(values) if program.op == "max" else min(values)


def number_in_text(text: str) -> float | None:
    match = _NUMBER_IN_TEXT.search(text)
    return float(match.group(0).replace(",", "")) if match else None


def check(sample: QASample) -> list[str]:
    """Problems with a sample's computed answer, one message each; empty when it has no program or when
    the cells recompute to `program.result` and the answer equals it rounded to `program.decimals`. For
    `max` / `min` the answer is the label of the one row holding the extreme (and `answer.value`, when set,
    the extreme itself)."""
    program = sample.program
    if program is None:
        return []
    table = sample.context.table
    if table is None:
        return ["the sample has a program but its context has no table"]
    try:
        value = recompute(program, table)
    except ValueError as exc:
        return [f"recompute: {exc}"]
    problems = []
    if not math.isclose(value, program.result, rel_tol=1e-9, abs_tol=1e-9):
        problems.append(f"the cells give {value!r}, program.result is {program.result!r}")
    # half a unit of the last decimal, plus the float noise of a value that sits exactly on the half
    half = 0.5 * 10**-program.decimals * (1 + 1e-6) + 1e-12 * abs(value)
    if program.op in ("max", "min") and sample.answer.value is None:
        pass  # the answer is the row's label (a span); the extreme value is program.result
    elif sample.answer.value is None:
        problems.append("answer.value is missing")
    elif abs(sample.answer.value - value) > half:
        problems.append(f"answer.value {sample.answer.value!r} is not {value!r} to {program.decimals} decimals")
    if program.op in ("max", "min"):
        rows = sorted({r for r, c in program.cells if math.isclose(cell_value(table, r, c).value, value)})
        if len(rows) != 1:
            problems.append(f"the {program.op} is tied between rows {rows}")
        elif sample.answer.text.strip() != row_label(table, rows[0]):
            problems.append(
                f"answer.text {sample.answer.text!r} is not the {program.op} row {row_label(table, rows[0])!r}"
            )
    else:
        number = number_in_text(sample.answer.text)
        if number is None:
            problems.append(f"answer.text {sample.answer.text!r} has no number")
        elif abs(number - value) > half:
            problems.append(f"answer.text {sample.answer.text!r} is not {value!r} to {program.decimals} decimals")
    return problems
