"""Is a QA answer grounded in its context? Numbers and named entities the context does not support.

    context_text(context)            the paragraphs' text, then the table's Markdown
    context_numbers(context)         every number of the context, normalised (sign, percent, scale words)
    ungrounded(answer, context, steps=..., computed=...)   one message per unsupported number or entity
    numbers(text), expression_values(step)   the numbers a text writes; the values of a step's arithmetic

What counts as grounded:

- a number that the context writes (compared by absolute value, as written or normalised: "12%" is
  12 and 0.12, "(1,234)" is 1234, "$2.5 million" 2.5 and 2,500,000, "1.2亿" 1.2 and 120,000,000), or
  that one arithmetic step over context numbers gives within the rounding of the answer's last written
  digit: a+b, a-b, (a+b)/2, a/b, (a-b)/b, the two ratios times 100, and the sum or the average of a run
  of two or more adjacent numeric cells of one table row or column. Sums of arbitrary subsets are not
  tried: over a large table nearly any number is such a sum, and the check would pass everything;
- a number of the reasoning `steps` that is grounded (by the rules above, in step order) becomes an
  intermediate result the next steps and the answer may build on ("20 / 100 = 20%" after "120 - 100 = 20");
- for an extracted (span) answer (`computed=False`) only the first rule: a span is copied, not computed;
- a whole number from 0 to `SMALL_COUNT` (counts: "How many years ..." -> 3; ordinals) always is;
- signs are not judged (an answer may state a decrease as a positive number); that a value is the
  right one is `finsynth.qa.checker`'s job, not this module's.

Named entities (precision first: only what is clearly a name is checked; a check that fires on plain
words teaches people to ignore it):

- Latin script: a run of capitalised words ("Fixed Price", "Apple Inc.") that is not a lone
  sentence-initial word, or a lone word in capitals ("IBM"); grounded when every word of the run
  occurs in the context (case-insensitively);
- Chinese: a company-like name, two Han characters before a suffix such as 公司/集团/银行/证券/股份/基金/控股
  ("招商银行", "牧原股份"; generic heads like 本公司/子公司 and share nouns like 回购股份 are skipped), grounded
  when the context writes it; and a name in 《》 or “”/「」 quotes, grounded when the context writes the
  quoted text.
"""

from __future__ import annotations

import ast
import operator
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from finsynth.qa.schema import Context
from finsynth.qa.tatqa import parse_number

SMALL_COUNT = 10  # whole numbers up to this are counts or ordinals, never flagged
RELATIVE_TOLERANCE = 1e-4  # on top of the rounding of the last written digit (float noise, rounded operands)


def context_text(context: Context) -> str:
    """The paragraphs' texts (in order), then the table's Markdown, one block per line."""
    parts = [p.text for p in sorted(context.paragraphs, key=lambda p: p.order)]
    if context.table is not None and context.table.markdown:
        parts.append(context.table.markdown)
    return "\n".join(parts)


# --- numbers ------------------------------------------------------------------------------------

# A number as financial text writes it: an optional sign or opening parenthesis, a currency sign,
# digits with thousands separators, a decimal part, then a percent sign, an English scale word or a
# Chinese multiplier. Digits glued to Latin letters (A100, H1, 10-K's 10 is kept) are not numbers.
_NUMBER = re.compile(
    r"(?<![A-Za-z\d.,])(?P<sign>[-−(])?\s?[$€£¥]?\s?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?![A-Za-z\d])(?P<close>\))?(?P<pct>\s?%)?(?:\s?(?P<word>thousand|million|billion)\b)?"
    r"(?P<cn>万亿|千亿|百亿|十亿|亿|千万|百万|十万|万)?",
)
_CN_MULTIPLIER = {
    "万亿": 1e12,
    "千亿": 1e11,
    "百亿": 1e10,
    "十亿": 1e9,
    "亿": 1e8,
    "千万": 1e7,
    "百万": 1e6,
    "十万": 1e5,
    "万": 1e4,
}


@dataclass(frozen=True)
class Number:
    """One number of a text: `written` its digits' value with the sign, `value` after percent and scale
    normalisation (`parse_number`'s for English), `decimals` how many decimals it was written with."""

    text: str
    written: float
    value: float
    decimals: int
    start: int


_FULL_WIDTH = re.compile("[\uff01-\uffff]")


def _ascii(text: str) -> str:
    # NFKC maps full-width digits, ％ and （） to ASCII; it keeps the length of those characters
    return unicodedata.normalize("NFKC", text) if _FULL_WIDTH.search(text) else text


def numbers(text: str) -> list[Number]:
    """Every number written in `text`, in order (see `_NUMBER` for what is one)."""
    found: list[Number] = []
    for m in _NUMBER.finditer(_ascii(text)):
        digits = m["num"].replace(",", "")
        decimals = len(digits.partition(".")[2])
        negative = m["sign"] == "-" or m["sign"] == "−" or (m["sign"] == "(" and m["close"] is not None)
        written = -float(digits) if negative else float(digits)
        shown = ("(" if m["sign"] == "(" and m["close"] else "-" if negative else "") + digits
        shown += ")" if m["sign"] == "(" and m["close"] else ""
        shown += "%" if m["pct"] else ""
        shown += m["word"] or ""
        value = parse_number(shown)
        if value is None:  # cannot happen for what `_NUMBER` matches; keep the written value regardless
            value = written
        if m["cn"]:
            value = written * _CN_MULTIPLIER[m["cn"]]
        found.append(Number(m.group(0).strip(), written, value, decimals, m.start("num")))
    return found


def context_numbers(context: Context) -> list[float]:
    """Every number in the context's paragraphs and table cells, normalised: sign ("(12)" is -12),
    percent ("12%" is 0.12), scale words ("2 million", "3亿"); `parse_number`'s reading for English."""
    return [n.value for n in _context_numbers(context)]


def _context_numbers(context: Context) -> list[Number]:
    out: list[Number] = []
    for p in sorted(context.paragraphs, key=lambda p: p.order):
        out.extend(numbers(p.text))
    if context.table is not None:
        for row in context.table.rows:
            for cell in row:
                out.extend(numbers(cell))
    return out


def _cell_value(cell: str) -> float | None:
    """The written value of a cell that is one number, else None ("2019" is one; "Note 3" is not)."""
    found = numbers(cell)
    if len(found) != 1:
        return None
    rest = cell.replace(found[0].text, "").strip(" $€£¥()%")
    return found[0].written if not rest else None


def _runs(rows: Sequence[Sequence[str]]) -> list[float]:
    """Sums and averages of every run of two or more adjacent numeric cells in a row or a column."""
    grid = [[_cell_value(c) for c in row] for row in rows]
    width = max((len(r) for r in grid), default=0)
    lines: list[list[float | None]] = [list(r) for r in grid]
    lines += [[r[j] if j < len(r) else None for r in grid] for j in range(width)]
    out: list[float] = []
    for line in lines:
        i = 0
        while i < len(line):
            if line[i] is None:
                i += 1
                continue
            j = i
            while j < len(line) and line[j] is not None:
                j += 1
            run = [v for v in line[i:j] if v is not None]
            for a in range(len(run)):
                total = run[a]
                for b in range(a + 1, len(run)):
                    total += run[b]
                    out.extend((total, total / (b - a + 1)))
            i = j
    return out


class _Pool:
    """The context's numbers (both readings), their run sums, and the one-step results over them; also its
    text and lower-cased Latin words (for the name check)."""

    def __init__(self, context: Context) -> None:
        self.text = context_text(context)
        self.words = frozenset(w.lower() for w in _LATIN_WORDS.findall(_ascii(self.text)))
        found = _context_numbers(context)
        self.direct = np.unique(np.abs(np.array([n.written for n in found] + [n.value for n in found], dtype=float)))
        self.operands = np.unique(np.array([n.written for n in found] + [n.value for n in found], dtype=float))
        runs = _runs(context.table.rows) if context.table is not None else []
        self.runs = np.unique(np.abs(np.array(runs, dtype=float)))
        self.steps: list[float] = []
        self._base: _Pool | None = None
        self._reachable_values: np.ndarray | None = None
        self._cross: list[np.ndarray] | None = None

    def with_steps(self, extra: Iterable[float]) -> _Pool:
        pool = object.__new__(_Pool)
        pool.direct, pool.runs, pool.text, pool.words = self.direct, self.runs, self.text, self.words
        pool.steps = list(extra)
        pool._base = self._base or self
        pool._reachable_values = None
        pool._cross = None
        pool.operands = np.unique(np.concatenate([self.operands, np.array(pool.steps, dtype=float)]))
        return pool

    def _reachable(self) -> np.ndarray:
        """Sorted absolute values of everything one step reaches from the context alone: the numbers, the
        run sums/averages, and a+b, a-b, (a+b)/2, a/b, (a-b)/b and both ratios x100 over every operand pair.
        Computed once per context (a table's dozens of questions share it); a target is a binary search."""
        if self._reachable_values is None:
            values = np.concatenate([self.direct, self.runs, *_one_step(self.operands, self.operands)])
            self._reachable_values = np.unique(values[np.isfinite(values)])
        return self._reachable_values

    def supports(self, targets: Sequence[tuple[float, float]]) -> bool:
        """Whether any of `targets` (readings of one number, each with its tolerance) is a context number,
        a run sum/average, or one arithmetic step over the operands (relative tolerance added). A pool with
        steps checks the context's precomputed array, then only the pairs that involve a step (directly:
        such a pool serves a few targets, so sorting its results would cost more than it saves)."""
        base = (self._base or self)._reachable()
        if self._cross is None:
            new = np.array(self.steps, dtype=float)
            self._cross = (
                [np.abs(new), *_one_step(new, self.operands), *_one_step(self.operands, new)] if new.size else []
            )
        cross = self._cross
        for t, tolerance in targets:
            t = abs(t)
            tol = tolerance + t * RELATIVE_TOLERANCE
            i = int(np.searchsorted(base, t - tol))
            if i < base.size and base[i] <= t + tol:
                return True
            with np.errstate(invalid="ignore"):
                if any(bool(np.any(np.abs(values - t) <= tol)) for values in cross):
                    return True
        return False


def _one_step(left: np.ndarray, right: np.ndarray) -> list[np.ndarray]:
    """|a+b|, |a-b|, |(a+b)/2|, |a/b|, |(a-b)/b| and both ratios x100 for a in `left`, b in `right` (flat;
    NaN where b is 0)."""
    if not (left.size and right.size):
        return []
    a, b = left[:, None], right[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(b != 0, a / b, np.nan)
        growth = np.where(b != 0, (a - b) / b, np.nan)
    return [np.abs(r).ravel() for r in (a + b, a - b, (a + b) / 2, ratio, growth, ratio * 100, growth * 100)]


@lru_cache(maxsize=64)
def _pool_for(key: str) -> _Pool:
    return _Pool(Context.model_validate_json(key))


def _readings(n: Number) -> list[float]:
    return sorted({abs(n.written), abs(n.value)})


def _targets(n: Number) -> list[tuple[float, float]]:
    """The number's readings, each with half a unit of its last written digit (a little widened: operands
    are rounded too) in that reading's scale: 22% is 22 +- 0.005 and 0.22 +- 0.00005."""
    tolerance = 0.5 * 10.0**-n.decimals * 1.01
    out = [(abs(n.written), tolerance)]
    if n.value != n.written and n.written != 0:
        out.append((abs(n.value), tolerance * abs(n.value / n.written)))
    return out


def _is_small_count(n: Number) -> bool:
    return n.decimals == 0 and 0 <= n.written <= SMALL_COUNT and "%" not in n.text


def _grounded_number(n: Number, pool: _Pool, computed: bool = True) -> bool:
    if _is_small_count(n):
        return True
    if not computed:  # an extracted span: the context must write the number itself
        return any(bool(np.any(np.abs(pool.direct - t) <= tol + t * RELATIVE_TOLERANCE)) for t, tol in _targets(n))
    return pool.supports(_targets(n))


# --- entities -----------------------------------------------------------------------------------

_WORD = r"[A-Z][A-Za-z0-9&'’.\-]*"
_NAME_RUN = re.compile(rf"{_WORD}(?:\s+(?:of|and|&|de|the|for)?\s*{_WORD})*")
_SENTENCE_START = re.compile(r"(?:^|[.!?;:\n]\s*|[\"“(]\s*)$")
_COMPANY_WORDS = re.compile(r"\b(?:Inc|Corp|Corporation|Ltd|LLC|plc|PLC|Group|Holdings|Bank|Company|Co)\b\.?")
_CN_SUFFIX = (
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "股份",
    "公司",
    "集团",
    "银行",
    "证券",
    "保险",
    "基金",
    "控股",
    "资本",
    "信托",
    "期货",
    "科技",
    "电子",
    "汽车",
    "能源",
    "药业",
    "医药",
    "航空",
    "地产",
    "置业",
    "实业",
)
_CN_NAME = re.compile(r"(?P<head>[\u4e00-\u9fff]{2})(?P<suffix>" + "|".join(_CN_SUFFIX) + ")")
_CN_GENERIC = re.compile(r"[的了和与及或在是为对将被把从由本该其各此这那每子母分总我贵他该某一两个家间内外]")
_QUOTED = re.compile(r"《(?P<a>[^《》\n]{1,30})》|“(?P<b>[^“”\n]{1,20})”|「(?P<c>[^「」\n]{1,20})」")
_LATIN_WORDS = re.compile(r"[A-Za-z0-9&]+")


def _latin_entities(text: str) -> list[str]:
    """Latin-script names in `text` (see the module docstring for what counts)."""
    names: list[str] = []
    for m in _NAME_RUN.finditer(text):
        if m.start() > 0 and text[m.start() - 1].isascii() and text[m.start() - 1].isalnum():
            continue  # the tail of a code or a period ("2025H1", "10K"), not a word of its own
        run = m.group(0).rstrip(".'’-")
        words = run.split()
        lone = len(words) == 1
        if (
            lone
            and _SENTENCE_START.search(text[: m.start()])
            and not (run.isupper() and len(run) > 1)
            and not _COMPANY_WORDS.search(run)
        ):
            continue  # a capitalised first word of a sentence is not a name
        if (
            lone
            and not (run.isupper() and len(run) > 1)
            and not any(c.isupper() for c in run[1:])
            and m.start() > 0
            and text[m.start() - 1] not in " \t"
        ):
            continue
        names.append(run)
    return names


def _latin_grounded(name: str, words: frozenset[str]) -> bool:
    """Every word of the name is a word of the context (not just inside one: "Apple" is not in "Pineapple")."""
    return all(w.lower() in words for w in _LATIN_WORDS.findall(name) if not w.isdigit())


# heads that make 股份 the noun (shares), not a short company name ("回购股份" vs "牧原股份")
_SHARE_VERBS = frozenset(
    {"回购", "持有", "增持", "减持", "公司", "发行", "限售", "流通", "普通", "转让", "质押", "新增"}
)


def _chinese_entities(text: str) -> list[str]:
    names = []
    for m in _CN_NAME.finditer(text):
        if m["suffix"] == "股份" and m["head"] in _SHARE_VERBS:
            continue
        if not _CN_GENERIC.search(m["head"]):
            names.append(m.group(0))
    for m in _QUOTED.finditer(text):
        names.append(m["a"] or m["b"] or m["c"])
    return names


# --- reasoning steps ------------------------------------------------------------------------------

# An arithmetic expression of a step: "(44.1-56.7)/56.7", "[(433+685)/2] - [(-2,088) + (-1,074)]/2",
# "53%*$23,406"; a run of numbers, operators and brackets holding at least one operator.
_EXPRESSION = re.compile(r"[-−(\[$\d][\d\s.,$%+\-−*/×÷()\[\]]*[\d)\]%]")
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    raise ValueError("not arithmetic")


def expression_values(step: str) -> list[float]:
    """The values of the arithmetic expressions written in a reasoning step (percent signs as /100):
    [-0.2222] for "(44.1-56.7)/56.7". A fragment that is not arithmetic (or divides by zero) gives nothing."""
    values = []
    for m in _EXPRESSION.finditer(_ascii(step)):
        source = m.group(0)
        if not any(op in source.strip().lstrip("-−(") for op in "+-−*/×÷"):
            continue
        source = re.sub(r"(?<=\d),(?=\d{3})", "", source).replace("$", "").replace("−", "-")
        source = source.replace("×", "*").replace("÷", "/").replace("[", "(").replace("]", ")")
        source = re.sub(r"(\d+(?:\.\d+)?)\s*%", r"(\1/100)", source)
        try:
            values.append(_evaluate(ast.parse(source.strip(), mode="eval")))
        except (SyntaxError, ValueError, ZeroDivisionError, RecursionError):
            continue
    return values


# --- the check ----------------------------------------------------------------------------------


def _grounded_numbers(text: str, pool: _Pool) -> list[Number]:
    return [n for n in numbers(text) if _grounded_number(n, pool)]


def ungrounded(answer_text: str, context: Context, *, steps: Sequence[str] = (), computed: bool = True) -> list[str]:
    """One message per number or named entity of `answer_text` that the context neither writes nor
    gives by one arithmetic step (numbers of `steps` that are grounded count as intermediate results);
    an empty list when everything is grounded. `computed=False` is for extracted (span) answers: their
    numbers must be written in the context, no arithmetic. See the module docstring for the rules."""
    pool = _pool_for(context.model_dump_json())
    intermediate: list[float] = []
    for step in steps:
        step_pool = pool.with_steps(intermediate) if intermediate else pool
        grounded = _grounded_numbers(step, step_pool)
        intermediate.extend(v for n in grounded for v in _readings(n))
        if len(grounded) == len(numbers(step)):  # an expression over grounded numbers is grounded
            intermediate.extend(v for value in expression_values(step) for v in (value, value * 100))
    if intermediate:
        pool = pool.with_steps(intermediate)
    messages = [
        f"number {n.text!r} is not in the context"
        if not computed
        else f"number {n.text!r} is neither in the context nor one arithmetic step from its numbers"
        for n in numbers(answer_text)
        if not _grounded_number(n, pool, computed)
    ]
    text, words = pool.text, pool.words
    for name in _latin_entities(_ascii(answer_text)):
        if not _latin_grounded(name, words):
            messages.append(f"name {name!r} does not occur in the context")
    for name in _chinese_entities(answer_text):
        if name not in text:
            messages.append(f"name {name!r} does not occur in the context")
    return messages
