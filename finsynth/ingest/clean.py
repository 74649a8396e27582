"""What is not content: running headers and footers, page numbers, tables of contents, watermarks,
decoration lines. Each function gives a drop *reason* per line (None: keep), and the readers count
the dropped blocks by that reason.

Running header/footer rule: a line among the first (last) `EDGE_LINES` lines of a page (in a PDF, only those
set apart from the body by a gap wider than a line's spacing) whose text, with
digits masked, is found at that edge on at least half of the pages that have text (and on 2 pages or
more) is a running header (footer); "第 3 页", "3", "- 3 -", "3/12", "Page 3" at an edge are page
numbers on any page. A short line without punctuation (at most `WATERMARK_CHARS` characters) of the very same text found
anywhere on at least 60% of the pages of a document of 3 pages or more is a watermark (a stamped
"内部资料" line); in PDFs, rotated characters are watermarks too (see `readers/pdf.py`).
"""

from __future__ import annotations

import re
from collections import Counter

from finsynth.ingest.headings import heading_level

EDGE_LINES = 2
WATERMARK_CHARS = 20
_DIGITS = re.compile(r"\d+")
_PUNCT = re.compile(r"[。！？；，、：,.;:!?%％]")
_PAGE_NUMBER = re.compile(
    r"^(?:第\s*\d+\s*页(?:\s*[/，,]?\s*共\s*\d+\s*页)?|[-–—\s]*\d{1,4}[-–—\s]*|\d{1,4}\s*/\s*\d{1,4}"
    r"|(?:page|p\.)\s*\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?|[ivxlc]{1,6})$",
    re.IGNORECASE,
)
_TOC_TITLE = re.compile(r"^(?:目\s*录|目\s*次|contents|table of contents)$", re.IGNORECASE)
_TOC_LEADER = re.compile(r"^(?P<title>.{1,80}?)\s*(?:[.．·…‥_\-]\s*){3,}\s*\d{1,4}$")
_TOC_ENTRY = re.compile(r"^(?P<title>.{1,60}?)\s+\d{1,4}$")
_DECORATION = re.compile(r"^[\s━─—\-=_*·•~～#+|┃│┄┈═<>◆◇■□★☆]*$")


def _stamp_like(text: str) -> bool:
    """Short, and no punctuation: a stamped line ("内部资料 仅供参考"), not a paragraph's last line ("推进。")."""
    text = text.strip()
    return 2 <= len(text) <= WATERMARK_CHARS and not _PUNCT.search(text)


def mask(text: str) -> str:
    return _DIGITS.sub("#", re.sub(r"\s+", "", text))


def is_page_number(text: str) -> bool:
    return bool(_PAGE_NUMBER.match(text.strip()))


def is_toc_title(text: str) -> bool:
    return bool(_TOC_TITLE.match(text.strip()))


def is_decoration(text: str) -> bool:
    return bool(text.strip()) and bool(_DECORATION.match(text))


def toc_lines(lines: list[str]) -> list[bool]:
    """Which lines belong to a table of contents: any line with a dot leader and a page number, and after
    a "目录" title every line that names a heading and ends with a page number, until the first that does
    not."""
    out = [False] * len(lines)
    in_toc = False
    for i, raw in enumerate(lines):
        text = raw.strip()
        if is_toc_title(text):
            out[i], in_toc = True, True
            continue
        if _TOC_LEADER.match(text):
            out[i] = True
            continue
        entry = _TOC_ENTRY.match(text)
        if in_toc and entry and (heading_level(entry.group("title")) is not None or len(entry.group("title")) <= 30):
            out[i] = True
            continue
        if in_toc and text:
            in_toc = False
    return out


def classify_pages(pages: list[list[str]], edges: list[tuple[int, int]] | None = None) -> list[list[str | None]]:
    """A drop reason (or None) for every line of every page (lines in reading order). `edges` (PDF: from the
    layout) gives per page how many of its first and last lines stand apart from the body and so may be a
    running header or footer; without it, `EDGE_LINES` each. A body line is never a running header or
    footer, even when a templated text repeats it at the foot of every page."""
    with_text = [p for p in pages if p]
    need = max(2, (len(with_text) + 1) // 2)
    heads: Counter[str] = Counter()
    feet: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    limits = edges or [(EDGE_LINES, EDGE_LINES)] * len(pages)
    for page, (n_head, n_foot) in zip(pages, limits, strict=True):
        if not page:
            continue
        keys = [mask(t) for t in page]
        heads.update(set(keys[:n_head]))
        feet.update(set(keys[len(keys) - n_foot :]))
        anywhere.update({t.strip() for t in page if _stamp_like(t)})
    running_head = {k for k, n in heads.items() if n >= need and k}
    running_foot = {k for k, n in feet.items() if n >= need and k}
    stamped = (
        {k for k, n in anywhere.items() if n >= max(3, -(-len(with_text) * 3 // 5)) and k}
        if len(with_text) >= 3
        else set()
    )
    reasons: list[list[str | None]] = []
    for page, (n_head, n_foot) in zip(pages, limits, strict=True):
        page_reasons: list[str | None] = [None] * len(page)
        toc = toc_lines(page)
        for i, text in enumerate(page):
            key = mask(text)
            at_head, at_foot = i < EDGE_LINES, i >= len(page) - EDGE_LINES
            if (at_head or at_foot) and is_page_number(text):
                page_reasons[i] = "page_number"
            elif i < n_head and key in running_head:
                page_reasons[i] = "running_header"
            elif i >= len(page) - n_foot and key in running_foot:
                page_reasons[i] = "running_footer"
            elif text.strip() in stamped:
                page_reasons[i] = "watermark"
            elif toc[i]:
                page_reasons[i] = "toc"
            elif is_decoration(text):
                page_reasons[i] = "decoration"
        reasons.append(page_reasons)
    return reasons
