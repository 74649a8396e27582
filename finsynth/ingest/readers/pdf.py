"""PDF with a text layer, through pdfplumber (characters with positions).

Per page: rotated characters are dropped as a watermark; ruled tables are found (`find_tables`) and
their characters kept out of the text lines; a two-column page (an empty vertical gutter in the middle
third, a fifth of the words or more left of it, on lines mostly without wide gaps inside, so not the
cells of an unruled table, and some words right of it) is read left column, then right; lines are then cleaned
(`clean.classify_pages`) and joined into paragraphs:

- a line that the layout wrapped never ends a paragraph: it does not end a sentence
  (`normalize.ends_sentence`) and the room left at its end is too small for the next line's first unit (a
  character, or a whole number or word), give or take two characters. The next line goes on with it (and
  is not taken for a numbered heading), across a column or a page break too, so a CJK column's ragged
  right edge or a wrap before a long number ("归母净利润为" + "101.8%") is no break. Only layout breaks it:
  a wide gap or blank line inside a column, an indented first line in a document that indents them, a
  list marker ("•", "(1)"), a larger font, or a line of an unruled table ("营业收入   100   120": cells
  apart by gaps wider than a character, a short label, then only numbers) before or after it;
- otherwise, inside a column a new paragraph starts at an indented line (when the document indents first
  lines), else after a line that stops short of the right margin (a short caption "资料来源：Wind" ends
  its paragraph); across a column or page break, the paragraph goes on when the next line is not
  indented and the last one reached the right margin;
- lines are joined by `normalize.join_lines` (no space in Chinese text, one between Latin words and
  numbers, so "100" + "120" never becomes "100120");
- a table at the top of a page with the column count of the table that ended the previous page is
  its continuation (a repeated header row is dropped).

A page with no characters is a blank page when it has no images, else a scanned page: OCRed when
tesseract is installed (`ocr.py`), otherwise listed in `pages_without_text`.
"""

from __future__ import annotations

import itertools
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from finsynth.ingest import ocr as ocr_mod
from finsynth.ingest.clean import EDGE_LINES, classify_pages
from finsynth.ingest.headings import heading_level, looks_like_title
from finsynth.ingest.models import Block, ReadDocument, UnreadableFile
from finsynth.ingest.normalize import ends_sentence, join_lines, normalize
from finsynth.ingest.tables import clean_rows, continues, is_number, merge

# a bullet or "1)" / "(1)" list marker at a line start: a new item, whatever the line before ended with
# ("-" and "*" only before a space: "-3.5%" starting a wrapped line is a number)
_LIST_ITEM = re.compile(r"^(?:[•▪●◦‣]\s*|[-–*]\s+|[（(]?\d{1,2}[)）]\s*)\S")
_FIRST_ASCII = re.compile(r"^[!-~]+")  # a number or word at a line start: a layout wraps it whole


def _table_row(line: Line) -> bool:
    """A line of an unruled table ("营业收入   100   120   150"): cells apart by gaps wider than a character
    (two or more), a label of at most two words, then only numbers, two or more, and no sentence
    punctuation. It is never joined to the next line (a prose line has no such gaps)."""
    text = line.text
    cells = text.split()
    if line.wide_gaps < 2:
        return False
    label = next((i for i, cell in enumerate(cells) if is_number(cell)), len(cells))
    return (
        label <= 2
        and len(cells) - label >= 2
        and all(is_number(c) for c in cells[label:])
        and not any(p in text for p in "，。；！？")
    )


@dataclass
class Line:
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    page: int
    column: int = 0
    gap_before: bool = False  # OCR: a blank line came before
    wide_gaps: int = 0  # gaps between characters wider than one character (table cells apart)


@dataclass
class _Table:
    rows: list[list[str]]
    top: float
    page: int
    column: int = 0


@dataclass
class _Page:
    number: int
    lines: list[Line] = field(default_factory=list)
    tables: list[_Table] = field(default_factory=list)


def _rotated(obj: dict) -> bool:
    if obj.get("object_type") != "char":
        return False
    matrix = obj.get("matrix") or (1, 0, 0, 1)
    return abs(matrix[1]) > 1e-3 or abs(matrix[2]) > 1e-3


def _inside(obj: dict, boxes: list[tuple[float, float, float, float]]) -> bool:
    if obj.get("object_type") != "char":
        return False
    cx, cy = (obj["x0"] + obj["x1"]) / 2, (obj["top"] + obj["bottom"]) / 2
    return any(x0 <= cx <= x1 and top <= cy <= bottom for x0, top, x1, bottom in boxes)


def _lines(page, number: int, column: int = 0) -> list[Line]:
    out = []
    for line in page.extract_text_lines(return_chars=True, strip=True):
        text = normalize(line["text"], squeeze=True)
        if not text:
            continue
        chars = sorted((c for c in line["chars"] if c["text"].strip()), key=lambda c: c["x0"])
        sizes = [c["size"] for c in chars]
        size = statistics.median(sizes) if sizes else 0.0
        wide = sum(1 for a, b in itertools.pairwise(chars) if size and b["x0"] - a["x1"] > size)
        out.append(
            Line(text, line["x0"], line["x1"], line["top"], line["bottom"], size, number, column, wide_gaps=wide)
        )
    return out


def _gutter(page, boxes: list[tuple[float, float, float, float]]) -> tuple[float, float, float] | None:
    """(x, top, bottom) of the gutter of a two-column page, or None for a one-column page. The ruled tables'
    `boxes` (kept out of the text) take their place as words: a column may hold only a table."""
    width, height = page.width, page.height
    words = [
        w
        for w in page.extract_words(x_tolerance=3, y_tolerance=3)
        if height * 0.06 < w["top"] and w["bottom"] < height * 0.94
    ]
    words += [{"x0": x0, "x1": x1, "top": top, "bottom": bottom, "text": ""} for x0, top, x1, bottom in boxes]
    if len(words) < 10:
        return None
    lo, hi = int(width * 0.33), int(width * 0.67)
    covered = [False] * (hi - lo)
    for w in words:
        for x in range(max(lo, int(w["x0"])), min(hi, int(w["x1"]) + 1)):
            covered[x - lo] = True
    best, run, best_end = 0, 0, 0
    for i, c in enumerate(covered):
        run = 0 if c else run + 1
        if run > best:
            best, best_end = run, i
    if best < 8:
        return None
    gutter = lo + best_end - best / 2
    left = [w for w in words if w["x1"] < gutter]
    right = [w for w in words if w["x0"] > gutter]
    # the right column may be a line or two (before a page break, at the end): its lines must still not be
    # read across into the left column's; only the left column must be a real share of the page
    if len(left) < 0.2 * len(words) or not right or not _column_lines(left):
        return None
    sided = left + right
    return gutter, min(w["top"] for w in sided) - 1, max(w["bottom"] for w in sided) + 1


def _column_lines(words: list[dict]) -> bool:
    """Whether the words left of a gutter are lines of a text column: at most a few of those lines have a
    wide gap inside (the cells of an unruled table that spans the page do)."""
    lines: dict[int, list[dict]] = {}
    for w in words:
        lines.setdefault(round(w["top"]), []).append(w)
    gapped = 0
    for line in lines.values():
        line.sort(key=lambda w: w["x0"])
        gapped += any(b["x0"] - a["x1"] > 12 for a, b in itertools.pairwise(line))
    return gapped < 0.5 * len(lines)


def _page_content(page, number: int) -> tuple[_Page, bool]:
    """The page's lines and tables in reading order, and whether rotated (watermark) text was dropped."""
    had_rotated = any(_rotated(c) for c in page.chars)
    if had_rotated:
        page = page.filter(lambda obj: not _rotated(obj))
    found = page.find_tables()
    boxes = [t.bbox for t in found]
    text_page = page.filter(lambda obj: not _inside(obj, boxes)) if boxes else page
    content = _Page(number)
    gutter = _gutter(text_page, boxes)
    if gutter is None:
        content.lines = _lines(text_page, number)
    else:
        g, top, bottom = gutter
        whole = _lines(text_page, number)
        above = [ln for ln in whole if ln.bottom <= top]
        below = [ln for ln in whole if ln.top >= bottom]
        left = _lines(text_page.crop((0, top, g, bottom)), number, column=0)
        right = _lines(text_page.crop((g, top, page.width, bottom)), number, column=1)
        for ln in right:
            ln.column = 1
        for ln in below:
            ln.column = 2
        content.lines = above + left + right + below
    for table in found:
        x0, top, x1, _ = table.bbox
        column = 0 if gutter is None or x1 <= gutter[0] + 1 else (1 if x0 >= gutter[0] - 1 else 0)
        rows = clean_rows(table.extract())
        if rows:
            content.tables.append(_Table(rows, top, number, column))
    return content, had_rotated


def read_pdf(path: Path, ocr: bool = True) -> ReadDocument:
    import pdfplumber

    doc = ReadDocument(format="pdf", blocks=[])
    pages: list[_Page] = []
    try:
        with pdfplumber.open(path) as pdf:
            doc.pages = len(pdf.pages)
            for number, page in enumerate(pdf.pages, start=1):
                content, had_rotated = _page_content(page, number)
                if had_rotated:
                    doc.blocks_read += 1
                    doc.drop("watermark")
                if not content.lines and not content.tables:
                    doc.blocks_read += 1
                    if not page.images:
                        doc.drop("blank_page")
                    elif ocr and ocr_mod.unavailable() is None:
                        doc.blocks_read -= 1
                        content.lines = _ocr_lines(page, number)
                        doc.pages_ocr.append(number)
                    else:
                        doc.drop("no_text_layer")
                        doc.pages_without_text.append(number)
                pages.append(content)
                page.close()
    except UnreadableFile:
        raise
    except Exception as exc:  # pdfminer/pdfplumber raise many types for a damaged or non-PDF file
        raise UnreadableFile(f"not a readable PDF ({type(exc).__name__}: {str(exc)[:120] or 'no detail'})") from exc
    if doc.pages_without_text:
        doc.notes.append(
            f"pages without a text layer, not read: {doc.pages_without_text}; "
            + (ocr_mod.unavailable() or "OCR turned off")
        )
    _assemble(doc, pages)
    return doc


def _ocr_lines(page, number: int) -> list[Line]:
    lines: list[Line] = []
    gap = False
    for text in ocr_mod.ocr_page(page):
        text = normalize(text, squeeze=True)
        if not text:
            gap = True
            continue
        lines.append(Line(text, 0.0, 0.0, float(len(lines)), float(len(lines)), 0.0, number, gap_before=gap))
        gap = False
    return lines


def _mode(values: list[float]) -> float:
    rounded = [round(v) for v in values]
    return statistics.mode(rounded) if rounded else 0.0


def _edges(lines: list[Line]) -> tuple[int, int]:
    """How many of a page's first and last lines (at most `EDGE_LINES`) stand apart from the body: a header
    or footer is set off by a gap wider than the body's line spacing or by its font size, a body line at the
    foot of a column is not. OCR lines carry no layout: all `EDGE_LINES` may be."""
    if any(not ln.size for ln in lines):
        return EDGE_LINES, EDGE_LINES

    def apart(upper: Line, lower: Line) -> bool:
        # a header or footer is set off by a gap, or printed in another size than the body next to it
        return (
            lower.column != upper.column
            or lower.top - upper.bottom > 1.5 * max(upper.size, lower.size)
            or abs(upper.size - lower.size) > 0.5
        )

    head = next((k + 1 for k in range(min(EDGE_LINES, len(lines) - 1)) if apart(lines[k], lines[k + 1])), 0)
    last = len(lines) - 1
    foot = next((k + 1 for k in range(min(EDGE_LINES, last)) if apart(lines[last - k - 1], lines[last - k])), 0)
    if len(lines) <= EDGE_LINES:
        head = foot = len(lines)
    return head, foot


def _assemble(doc: ReadDocument, pages: list[_Page]) -> None:
    """Clean the lines, then join them into headings, paragraphs and tables."""
    reasons = classify_pages([[ln.text for ln in p.lines] for p in pages], [_edges(p.lines) for p in pages])
    kept_pages: list[list[Line]] = []
    for page, page_reasons in zip(pages, reasons, strict=True):
        doc.blocks_read += len(page.lines) + len(page.tables)
        kept = []
        for line, reason in zip(page.lines, page_reasons, strict=True):
            if reason:
                doc.drop(reason)
            else:
                kept.append(line)
        kept_pages.append(kept)
        doc.blocks_kept += len(kept) + len(page.tables)
    body = [ln for page in kept_pages for ln in page if ln.size]
    body_size = statistics.median([ln.size for ln in body]) if body else 0.0
    margins: dict[int, float] = {}
    rights: dict[int, float] = {}
    for column in {ln.column for ln in body}:
        col = [ln for ln in body if ln.column == column]
        margins[column] = _mode([ln.x0 for ln in col])
        rights[column] = max(ln.x1 for ln in col)

    def indented(ln: Line) -> bool:
        return bool(ln.size) and ln.x0 - margins.get(ln.column, ln.x0) >= 1.2 * ln.size

    def full(ln: Line) -> bool:
        return not ln.size or ln.x1 >= rights.get(ln.column, ln.x1) - 1.0 * ln.size

    uses_indent = sum(indented(ln) for ln in body) >= 2

    def level_of(ln: Line) -> int | None:
        level = heading_level(ln.text)
        if level is not None:
            return level
        if body_size and ln.size >= body_size * 1.15 and looks_like_title(ln.text):
            return 1
        return None

    def same_flow(prev: Line, line: Line) -> bool:
        """The next line of the same column, without a wide gap (a new page or column is a flow break)."""
        return (
            prev.page == line.page
            and prev.column == line.column
            and not line.gap_before
            and not (prev.size and line.top - prev.bottom > 1.5 * prev.size)
        )

    def hard_break(prev: Line, line: Line) -> bool:
        """Layout that starts a paragraph whatever the text says: a wide gap or a blank line inside a
        column, an indented first line in a document that indents them, a line after a table row."""
        if prev.page == line.page and prev.column == line.column and not same_flow(prev, line):
            return True
        if line.gap_before and prev.page != line.page:
            return True
        return (
            (uses_indent and indented(line))
            or _LIST_ITEM.match(line.text) is not None
            or _table_row(prev)
            or _table_row(line)
        )

    def wrapped(prev: Line, line: Line) -> bool:
        """The layout wrapped `prev` into `line`: `prev` does not end a sentence and the room left at its
        end (to the column's right edge) is too small for the first unit of `line` (a Chinese character, or
        a whole number or word, which a layout does not cut), give or take two characters for a ragged or
        hanging-punctuation edge. So "归母净利润为" + "101.8%" goes on, and so does a CJK column's ragged
        edge; a short caption or source line ("资料来源：Wind") does not."""
        if ends_sentence(prev.text):
            return False
        if not prev.size:
            return True
        first = _FIRST_ASCII.match(line.text)
        unit = 0.6 * line.size * len(first.group()) if first else line.size
        return rights.get(prev.column, prev.x1) - prev.x1 <= unit + 2 * prev.size

    def goes_on(prev: Line, line: Line) -> bool:
        """`line` continues the sentence of `prev`, so it is no heading either (a wrapped "三、四线城市" is
        text), unless its font is larger."""
        return not hard_break(prev, line) and wrapped(prev, line) and (not body_size or line.size < body_size * 1.15)

    def starts_paragraph(prev: Line, line: Line) -> bool:
        if hard_break(prev, line):
            return True
        if wrapped(prev, line):
            return False
        if not same_flow(prev, line):
            return indented(line) or not full(prev)
        return indented(line) if uses_indent else not full(prev)

    open_lines: list[Line] = []
    last_table: Block | None = None  # the table that ended the previous page, while it may continue

    def close() -> None:
        if open_lines:
            pages_of = sorted({ln.page for ln in open_lines})
            doc.blocks.append(Block("text", join_lines([ln.text for ln in open_lines]), pages=pages_of))
            open_lines.clear()

    for page, kept in zip(pages, kept_pages, strict=True):
        items: list[tuple[int, float, int, Line | _Table]] = [(ln.column, ln.top, 0, ln) for ln in kept]
        items += [(t.column, t.top, 1, t) for t in page.tables]
        items.sort(key=lambda item: (item[0], item[1], item[2]))
        for position, (_, _, _, item) in enumerate(items):
            if isinstance(item, _Table):
                if position == 0 and last_table is not None and continues(last_table.rows or [], item.rows):
                    last_table.rows = merge(last_table.rows or [], item.rows)
                    last_table.pages = sorted({*last_table.pages, item.page})
                    continue
                close()
                last_table = Block("table", pages=[item.page], rows=item.rows)
                doc.blocks.append(last_table)
                continue
            line = item
            prev = open_lines[-1] if open_lines else None
            level = None if prev is not None and goes_on(prev, line) else level_of(line)
            if level is not None:
                close()
                doc.blocks.append(Block("heading", line.text, level=level, pages=[line.page]))
            else:
                if prev is not None and starts_paragraph(prev, line):
                    close()
                open_lines.append(line)
            last_table = None
        if items and not isinstance(items[-1][3], _Table):
            last_table = None
    close()
