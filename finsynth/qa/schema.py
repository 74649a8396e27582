"""`QASample`: one question-answer pair over a financial context (text paragraphs and/or one table)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from finsynth.markdown import markdown_table

Kind = Literal["span", "multi-span", "arithmetic", "count", "explain"]
Scale = Literal["", "thousand", "million", "billion", "percent"]
Difficulty = Literal["easy", "medium", "hard"]
Language = Literal["zh", "en"]
Operation = Literal["change", "growth", "share", "difference", "sum", "average", "max", "min"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Paragraph(_Model):
    id: str
    order: int
    text: str


class Table(_Model):
    """A table as structured rows (strings, as in the source) plus its Markdown rendering."""

    id: str | None = None
    rows: list[list[str]]
    markdown: str

    @classmethod
    def from_rows(cls, rows: list[list[str]], id: str | None = None) -> Table:
        return cls(id=id, rows=rows, markdown=table_markdown(rows))


def table_markdown(rows: list[list[str]]) -> str:
    """The first row is the header; short rows are padded so every line has the same width."""
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    padded = [[str(c).strip() for c in r] + [""] * (width - len(r)) for r in rows]
    return markdown_table(padded[0], padded[1:])


class Context(_Model):
    paragraphs: list[Paragraph] = Field(default_factory=list)
    table: Table | None = None


class Answer(_Model):
    """`text` is the answer as a reader sees it; `spans` the parts a multi-span answer has (one otherwise).
    A numeric answer also has `value` (as written, before `scale`), `scale` and `unit`."""

    text: str
    spans: list[str]
    value: float | None = None
    scale: Scale = ""
    unit: str | None = None


class Reasoning(_Model):
    """The three-part chain-of-thought: what the question needs, the steps, the answer they give."""

    analysis: str = ""
    steps: list[str] = Field(default_factory=list)
    answer: str = ""


class Source(_Model):
    file: str
    page: int | None = None
    chunk_id: str | None = None


class Grounding(_Model):
    """What supports the answer: paragraph ids, table cells as [row, column], where it comes from."""

    paragraphs: list[str] = Field(default_factory=list)
    cells: list[tuple[int, int]] = Field(default_factory=list)
    answer_from: Literal["text", "table", "table-text"] | None = None


class Program(_Model):
    """How a computed answer follows from table cells, so a checker can recompute it (the RL reward's ground).

    `cells` are the operands as [row, column] of `context.table.rows`, in operand order (for `change` and
    `growth`: old, new; for `share`: part, whole; for `difference`: minuend, subtrahend); `result` is the exact
    value before rounding, in the answer's scale; `decimals` how the answer text rounds it."""

    op: Operation
    cells: list[tuple[int, int]]
    result: float
    decimals: int = 2


class QASample(_Model):
    id: str
    context: Context
    question: str
    answer: Answer
    reasoning: Reasoning
    kind: Kind
    difficulty: Difficulty | None = None
    source: Source
    grounding: Grounding
    language: Language | None = None
    program: Program | None = None  # set for answers computed from table cells (verifiable)
    # how the sample was made: generator, template, model, augmentation (e.g. punctuation removal), judge scores
    provenance: dict[str, Any] = Field(default_factory=dict)
