"""Which lines are headings, and at what level.

Numbered Chinese headings have fixed levels, so a heading path can be built without a style sheet:
`第X篇/部` 1, `第X章` 2, `第X节` 3, `一、` 4, `（一）` 5, `1.` / `1、` 6, `1.1` 7 (one more per dot),
`（1）` 9. Markdown `#`..`######` and DOCX `Heading N` give their own level N (1-6) - in those formats the
numbered patterns count only for a paragraph that is a line on its own. A heading is short (at most
`MAX_HEADING_CHARS`) and does not end like a sentence.
"""

from __future__ import annotations

import re

MAX_HEADING_CHARS = 40
_END_PUNCT = tuple("。；;，,：:！？!?、")
# "12.5亿元" starting a wrapped line is a number, not heading 12.5
_UNIT_START = "亿万千百十元角分倍个次家台人年月日天季周"
_PATTERNS: list[tuple[re.Pattern[str], int]] = [
    (re.compile(r"^第[一二三四五六七八九十百零〇\d]+[篇部]"), 1),
    (re.compile(r"^第[一二三四五六七八九十百零〇\d]+章"), 2),
    (re.compile(r"^第[一二三四五六七八九十百零〇\d]+节"), 3),
    (re.compile(r"^[一二三四五六七八九十]{1,3}[、．.]\s*\S"), 4),
    (re.compile(r"^[（(][一二三四五六七八九十]{1,3}[)）]\s*\S"), 5),
    (
        re.compile(rf"^\d{{1,2}}(?:\.\d{{1,2}}){{1,3}}(?![\d%])\s*[^\d\s.%{_UNIT_START}]"),
        7,
    ),  # 1.1 / 1.1.1: level from the dots
    (re.compile(rf"^\d{{1,2}}[、．.](?!\d)\s*[^\d\s%{_UNIT_START}]"), 6),
    (re.compile(r"^[（(]\d{1,2}[)）]\s*\S"), 9),
    (re.compile(r"^[◆■▌●◼]\s*\S"), 4),
]
_DOTTED = re.compile(r"^\d{1,2}((?:\.\d{1,2}){1,3})")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def heading_level(text: str) -> int | None:
    """The level of a numbered heading line, or None when the line is not one."""
    text = text.strip()
    if not text or len(text) > MAX_HEADING_CHARS or text.endswith(_END_PUNCT):
        return None
    for pattern, level in _PATTERNS:
        if pattern.match(text):
            if level == 7:
                dotted = _DOTTED.match(text)
                return 6 + (dotted.group(1).count(".") if dotted else 1)
            return level
    return None


def looks_like_title(text: str) -> bool:
    """Short and not a sentence: what a heading set apart by a larger font can be."""
    text = text.strip()
    return bool(text) and len(text) <= MAX_HEADING_CHARS and not text.endswith(_END_PUNCT)


def markdown_heading(line: str) -> tuple[int, str] | None:
    match = _MD_HEADING.match(line)
    if not match or not match.group(2):
        return None
    return len(match.group(1)), match.group(2)


class HeadingPath:
    """The path of headings above the current point: a new heading replaces every heading at its level
    or below."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, str]] = []

    def push(self, level: int, title: str) -> None:
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, title))

    @property
    def titles(self) -> list[str]:
        return [title for _, title in self.stack]
