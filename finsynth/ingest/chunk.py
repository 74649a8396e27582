"""Chapter-aware chunking.

Headings set the heading path and are never chunks. Under one heading, consecutive paragraphs (and
lists) merge while the chunk stays within `target_chars`; a heading or a table ends the run, so a chunk
never crosses a heading. A paragraph over `max_chars` is split at sentence ends (`。！？；` and their
half-width forms), sentences packed up to `target_chars`; a single sentence over `max_chars` is cut at
clause marks (`，、：`), and as a last resort every `max_chars` characters. A chunk under `min_chars`
then merges with its neighbour in the same run (the previous one first) when the two fit in
`max_chars`; one that has no such neighbour (a short section on its own) stays as it is. So every text
chunk is at most `max_chars`, and one under `min_chars` is the only chunk of its run or could not merge
without going over `max_chars`. Tables are one chunk each, whatever their length: they stay whole.
Paragraphs merged into one chunk are separated by a newline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from finsynth.ingest.headings import HeadingPath
from finsynth.ingest.models import Block, OutlineEntry
from finsynth.ingest.tables import to_markdown

_SENTENCE = re.compile(r"[^。！？；!?;]*[。！？；!?;]+[”’」』）)]*|[^。！？；!?;]+$")
_CLAUSE = re.compile(r"[^，、：,:]*[，、：,:]+|[^，、：,:]+$")


@dataclass
class Chunk:
    kind: str
    text: str
    heading_path: list[str]
    pages: list[int] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    rows: list[list[str]] | None = None


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.findall(text) if s]


def _pieces(text: str, max_chars: int, target: int) -> list[str]:
    """`text` cut into pieces of at most `max_chars`, at sentence ends where it can."""
    if len(text) <= max_chars:
        return [text]
    units: list[str] = []
    for sentence in sentences(text):
        if len(sentence) <= max_chars:
            units.append(sentence)
            continue
        for clause in _CLAUSE.findall(sentence):
            units.extend(clause[i : i + max_chars] for i in range(0, len(clause), max_chars))
    out: list[str] = []
    for unit in units:
        if out and len(out[-1]) + len(unit) <= target:
            out[-1] += unit
        else:
            out.append(unit)
    return out


@dataclass
class _Unit:
    text: str
    pages: list[int]
    lines: list[int]


def _join(a: _Unit, b: _Unit) -> _Unit:
    lines = [min(a.lines[0], b.lines[0]), max(a.lines[-1], b.lines[-1])] if a.lines and b.lines else a.lines or b.lines
    return _Unit(a.text + "\n" + b.text, sorted({*a.pages, *b.pages}), lines)


def _size(a: _Unit, b: _Unit) -> int:
    return len(a.text) + 1 + len(b.text)


def _chunk_run(units: list[_Unit], min_chars: int, max_chars: int, target: int) -> list[_Unit]:
    split: list[_Unit] = []
    for unit in units:
        # a paragraph split in pieces keeps its pieces apart (they were cut to fit)
        split.extend(_Unit(p, unit.pages, unit.lines) for p in _pieces(unit.text, max_chars, target))
    chunks: list[_Unit] = []
    for unit in split:
        if chunks and _size(chunks[-1], unit) <= target:
            chunks[-1] = _join(chunks[-1], unit)
        else:
            chunks.append(unit)
    i = 0
    while i < len(chunks):
        if len(chunks[i].text) < min_chars and len(chunks) > 1:
            if i > 0 and _size(chunks[i - 1], chunks[i]) <= max_chars:
                chunks[i - 1] = _join(chunks[i - 1], chunks.pop(i))
                i -= 1
                continue
            if i + 1 < len(chunks) and _size(chunks[i], chunks[i + 1]) <= max_chars:
                chunks[i] = _join(chunks[i], chunks.pop(i + 1))
                continue
        i += 1
    return chunks


def chunk_blocks(
    blocks: list[Block], min_chars: int, max_chars: int, target: int
) -> tuple[list[Chunk], list[OutlineEntry]]:
    """Blocks in reading order -> chunks, and the document's outline (its headings)."""
    path = HeadingPath()
    outline: list[OutlineEntry] = []
    chunks: list[Chunk] = []
    run: list[_Unit] = []

    def end_run() -> None:
        titles = path.titles
        for unit in _chunk_run(run, min_chars, max_chars, target):
            chunks.append(Chunk("text", unit.text, titles, unit.pages, unit.lines))
        run.clear()

    for block in blocks:
        if block.kind == "heading":
            end_run()
            path.push(block.level, block.text)
            outline.append(
                OutlineEntry(
                    level=len(path.stack),
                    title=block.text,
                    page=block.pages[0] if block.pages else None,
                    line=block.lines[0] if block.lines else None,
                )
            )
        elif block.kind == "table":
            end_run()
            rows = block.rows or []
            chunks.append(Chunk("table", to_markdown(rows), path.titles, block.pages, block.lines, rows))
        elif block.text:
            run.append(_Unit(block.text, block.pages, block.lines))
    end_run()
    return chunks, outline
