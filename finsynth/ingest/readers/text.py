"""Markdown and plain text: decoded by the rule in `normalize.py`, then split into blocks.

A block is a run of lines up to a blank line, or up to a line that ends a sentence (`normalize.ends_sentence`:
。！？；… or a Latin full stop, maybe followed by a closing quote) when the next line starts something new:
Chinese text files often put one paragraph on a line with no blank line between, and hard-wrapped files do
not end their wrapped lines with punctuation; wrapped lines are joined by `normalize.join_lines`, which
never fuses two numbers. Two or more consecutive lines with two or more tab-separated cells each are a
table (one block, its rows and cells kept apart, as a PDF or DOCX table is).
A line indented with spaces (or "　　") deeper than the line before starts a new paragraph; at the same depth
(a left margin), only after a line under half its length (a title). A numbered heading (`一、`, `1.1`...,
see `headings.py`) counts only on a line that starts a paragraph, so a wrapped line that happens to
begin with "12.5亿元" is not one. Markdown adds `#` headings, lists (`-`, `*`, `+`, `1.`: consecutive
items, one block, "- item" a line; a single "1. 标题" line on its own is a heading), pipe tables, fenced
code (kept as text) and image lines (dropped as `markup`). Lines of rules and box-drawing characters are
dropped as `decoration`; a table of contents as `toc`. A form feed is a page break (`pages` counts them), not a
blank line.
"""

from __future__ import annotations

import re
from pathlib import Path

from finsynth.ingest.clean import is_decoration, toc_lines
from finsynth.ingest.headings import heading_level, markdown_heading
from finsynth.ingest.models import Block, ReadDocument, UnreadableFile
from finsynth.ingest.normalize import decode, ends_sentence, join_lines, normalize

_LIST = re.compile(r"^\s{0,3}(?:[-*+]|\d{1,3}[.)])\s+(?P<text>\S.*)$")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
_IMAGE = re.compile(r"^\s*!\[[^\]]*\]\([^)]*\)\s*$|^\s*<img\b[^>]*>\s*$|^\s*<!--.*-->\s*$")
_INDENT = re.compile(r"^(?:\u3000|\s{2,}|\t)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_MD_INLINE = re.compile(r"\*\*(.+?)\*\*|__(.+?)__|`([^`]+)`|\[([^\]]+)\]\([^)]*\)")


def _inline(text: str) -> str:
    """Markdown emphasis, code spans and links as their text."""
    return _MD_INLINE.sub(lambda m: next(g for g in m.groups() if g is not None), text)


def _cells(line: str) -> list[str]:
    line = line.strip()
    line = line.removeprefix("|")
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)]


def _tab_cells(line: str) -> list[str] | None:
    """The cells of a tab-separated table row (two or more non-empty), else None: a line indented with a
    tab has one."""
    cells = [normalize(cell) for cell in line.rstrip("\r\n ").split("\t")]
    return cells if sum(1 for cell in cells if cell) >= 2 else None


def _indent(raw: str) -> int:
    """The depth of a line's indentation, in spaces (a tab 4, an ideographic space 2)."""
    stripped = raw.lstrip(" \t\u3000")
    lead = raw[: len(raw) - len(stripped)]
    return lead.count(" ") + 4 * lead.count("\t") + 2 * lead.count("\u3000")


def _indent_starts(prev_raw: str, prev_text: str, raw: str, text: str) -> bool:
    """An indented line starts a paragraph when it is indented deeper than the line before (a first-line
    indent); at the same depth (a file with a left margin) only after a short line, such as a title: the
    previous line, which does not end a sentence (else it ended the paragraph), wraps into this one."""
    if _INDENT.match(raw) is None:
        return False
    return _indent(raw) > _indent(prev_raw) or 2 * len(prev_text) < len(text)


def read_text(path: Path, markdown: bool) -> ReadDocument:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(f"cannot read it ({exc.strerror or exc})") from exc
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableFile("binary data, not text; give a PDF, DOCX, Markdown or text file")
    try:
        text, encoding = decode(data)
    except ValueError as exc:
        raise UnreadableFile(str(exc)) from exc
    # a form feed is a page break (pdftotext writes one at the start of each page's first line), not a line
    # end: splitlines() would cut "\f" into a blank line of its own, splitting a sentence it falls in
    pages = 1 + text.rstrip("\f\n").count("\f")
    text = re.sub(r"\n?\f", "\n", text)
    doc = ReadDocument(format="markdown" if markdown else "text", blocks=[], encoding=encoding, pages=pages)
    _parse(doc, text.splitlines(), markdown)
    return doc


def _parse(doc: ReadDocument, raw_lines: list[str], markdown: bool) -> None:
    lines = [normalize(_inline(line) if markdown else line) for line in raw_lines]
    toc = toc_lines(lines)
    i, n = 0, len(lines)
    paragraph: list[tuple[int, str]] = []

    def keep(block: Block) -> None:
        doc.blocks_read += 1
        doc.blocks_kept += 1
        doc.blocks.append(block)

    def drop(reason: str) -> None:
        doc.blocks_read += 1
        doc.drop(reason)

    def flush() -> None:
        if paragraph:
            numbers = [number for number, _ in paragraph]
            keep(Block("text", join_lines([t for _, t in paragraph]), lines=[numbers[0], numbers[-1]]))
            paragraph.clear()

    while i < n:
        raw, text, number = raw_lines[i], lines[i], i + 1
        if not text:
            flush()
            i += 1
            continue
        if markdown and _FENCE.match(raw):
            flush()
            end = next((j for j in range(i + 1, n) if _FENCE.match(raw_lines[j])), n)
            body = "\n".join(raw_lines[i + 1 : end]).strip()
            if body:
                keep(Block("text", body, lines=[number, min(end + 1, n)]))
            else:
                drop("markup")
            i = end + 1
            continue
        if toc[i]:
            flush()
            drop("toc")
            i += 1
            continue
        if is_decoration(text) and not (markdown and _TABLE_ROW.match(raw)):
            flush()
            drop("decoration")
            i += 1
            continue
        if markdown and _IMAGE.match(raw):
            flush()
            drop("markup")
            i += 1
            continue
        md = markdown_heading(raw.strip()) if markdown else None
        if md is not None:
            flush()
            keep(Block("heading", normalize(_inline(md[1])), level=md[0], lines=[number, number]))
            i += 1
            continue
        if markdown and _TABLE_ROW.match(raw):
            flush()
            end = i
            while end < n and _TABLE_ROW.match(raw_lines[end]):
                end += 1
            rows = [
                [normalize(c) for c in _cells(raw_lines[j])]
                for j in range(i, end)
                if not _TABLE_RULE.match(raw_lines[j])
            ]
            width = max(len(r) for r in rows)
            keep(Block("table", rows=[r + [""] * (width - len(r)) for r in rows], lines=[number, end]))
            i = end
            continue
        if not markdown and _tab_cells(raw) and i + 1 < n and _tab_cells(raw_lines[i + 1]):
            flush()
            end = i
            tab_rows: list[list[str]] = []
            while end < n and (cells := _tab_cells(raw_lines[end])):
                tab_rows.append(cells)
                end += 1
            width = max(len(r) for r in tab_rows)
            keep(Block("table", rows=[r + [""] * (width - len(r)) for r in tab_rows], lines=[number, end]))
            i = end
            continue
        if markdown and _LIST.match(raw):
            end = i
            while end < n and _LIST.match(raw_lines[end]):
                end += 1
            starts_paragraph = not paragraph
            if end - i == 1 and starts_paragraph and heading_level(text) is not None:
                keep(Block("heading", text, level=heading_level(text) or 6, lines=[number, number]))
                i = end
                continue
            flush()
            # lines i..end all matched _LIST in the loop above
            items = [
                normalize(_inline(_LIST.match(raw_lines[j]).group("text")))  # type: ignore[union-attr]
                for j in range(i, end)
            ]
            keep(Block("list", "\n".join(f"- {item}" for item in items), lines=[number, end]))
            i = end
            continue
        starts_paragraph = not paragraph or _indent_starts(raw_lines[paragraph[-1][0] - 1], paragraph[-1][1], raw, text)
        level = heading_level(text) if starts_paragraph else None
        if level is not None:
            flush()
            keep(Block("heading", text, level=level, lines=[number, number]))
            i += 1
            continue
        if paragraph and starts_paragraph:
            flush()
        paragraph.append((number, text))
        if ends_sentence(text):
            flush()
        i += 1
    flush()
