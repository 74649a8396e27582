"""DOCX through python-docx: the body's paragraphs and tables in document order.

Headers and footers live in their own parts and are never read. `Heading N` / `标题 N` styles (and
`Title`, level 1) are headings; numbered patterns (`一、`, `1.1`...) on a short paragraph are headings too.
A soft line break inside a paragraph is a wrap, joined like a PDF's wrapped lines.
List paragraphs (a `List...` style or numbering properties) next to each other form one list block,
each item on its own line with "- ". Table-of-contents paragraphs (`TOC N` styles, or a "目录" title
and its entries) are dropped as `toc`; empty paragraphs are not blocks. Pages are counted from explicit
page breaks (a DOCX has no layout): `pages` is 1 + the number of page breaks, and a chunk's page is the
page it starts on under that count.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

from finsynth.ingest.clean import is_decoration, toc_lines
from finsynth.ingest.headings import heading_level
from finsynth.ingest.models import Block, ReadDocument, UnreadableFile
from finsynth.ingest.normalize import join_lines, normalize
from finsynth.ingest.tables import clean_rows

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*(\d)$", re.IGNORECASE)


def _page_breaks(element) -> int:
    breaks = sum(1 for br in element.iter(f"{_W}br") if br.get(f"{_W}type") == "page")
    ppr = element.find(f"{_W}pPr")
    if ppr is not None and ppr.find(f"{_W}pageBreakBefore") is not None:
        breaks += 1
    return breaks


def _text(paragraph) -> str:
    """A paragraph's text on one line: a soft line break (Shift+Enter, `<w:br/>`, which python-docx gives as
    "\\n") is a wrap inside the paragraph, joined as wrapped lines are (`normalize.join_lines`)."""
    return join_lines([normalize(line) for line in paragraph.text.splitlines()])


def read_docx(path: Path) -> ReadDocument:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise UnreadableFile(
            f"not a readable DOCX ({type(exc).__name__}: {str(exc)[:120] or 'no detail'}); save it from Word as .docx"
        ) from exc
    except Exception as exc:  # python-docx / lxml raise their own types for a damaged package
        raise UnreadableFile(f"not a readable DOCX ({type(exc).__name__}: {str(exc)[:120]})") from exc
    doc = ReadDocument(format="docx", blocks=[])
    page = 1
    items: list[tuple[str, Any, int]] = []  # (kind, payload: a Paragraph or a Table, page)
    for element in document.element.body.iterchildren():
        if element.tag == f"{_W}p":
            para = Paragraph(element, document)
            breaks = _page_breaks(element)
            text = _text(para)
            if text:
                items.append(("p", para, page))
            page += breaks
        elif element.tag == f"{_W}tbl":
            items.append(("t", Table(element, document), page))
            page += _page_breaks(element)
    doc.pages = page
    texts = [_text(p) if kind == "p" else "" for kind, p, _ in items]
    toc = toc_lines(texts)
    open_list: Block | None = None
    for (kind, payload, on_page), text, in_toc in zip(items, texts, toc, strict=True):
        doc.blocks_read += 1
        if kind == "t":
            open_list = None
            rows = clean_rows([[cell.text for cell in row.cells] for row in payload.rows])
            if not rows:
                doc.drop("empty_table")
                continue
            doc.blocks.append(Block("table", pages=[on_page], rows=rows))
            doc.blocks_kept += 1
            continue
        style = (payload.style.name if payload.style is not None else "") or ""
        if style.lower().startswith("toc") or in_toc:
            doc.drop("toc")
            continue
        if is_decoration(text):
            doc.drop("decoration")
            continue
        doc.blocks_kept += 1
        match = _HEADING_STYLE.match(style.strip())
        level = int(match.group(1)) if match else (1 if style.lower() == "title" else None)
        if level is None:
            level = heading_level(text)
        if level is not None:
            open_list = None
            doc.blocks.append(Block("heading", text, level=level, pages=[on_page]))
            continue
        is_list = style.lower().startswith("list") or (payload._p.pPr is not None and payload._p.pPr.numPr is not None)
        if is_list:
            if open_list is None:
                open_list = Block("list", "- " + text, pages=[on_page])
                doc.blocks.append(open_list)
            else:
                open_list.text += "\n- " + text
                if on_page not in open_list.pages:
                    open_list.pages.append(on_page)
            continue
        open_list = None
        doc.blocks.append(Block("text", text, pages=[on_page]))
    return doc
