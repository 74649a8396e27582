"""`--redact`: personal data replaced by typed placeholders; financial figures left as written.

- e-mail addresses -> `<EMAIL>`;
- mainland ID numbers (18 characters: 6-digit area, a 19xx/20xx birth date, 3 digits, a check digit or X;
  the date must be a real month and day) -> `<ID_NUMBER>`;
- bank card numbers (16-19 digits, optionally in groups of 4 split by spaces or hyphens, passing the Luhn
  check) -> `<BANK_CARD>`;
- phone numbers: mainland mobiles (1[3-9] + 9 digits, optional +86), landlines with an area code and a
  hyphen (010-12345678, 0755-1234567) and 400/800 service numbers -> `<PHONE>`.

Every pattern refuses to start or end inside a longer run of digits, so amounts (12.5亿元, 3,260万头),
percentages (+15.3%), years (2025年) and codes (600519.SH) are never touched.
"""

from __future__ import annotations

import re
from collections import Counter

PLACEHOLDERS = {"email": "<EMAIL>", "id_number": "<ID_NUMBER>", "bank_card": "<BANK_CARD>", "phone": "<PHONE>"}
_EDGE_L = r"(?<![\d.,A-Za-z])"
_EDGE_R = r"(?![\d.,]?\d)(?![A-Za-z])"
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_ID = re.compile(
    rf"{_EDGE_L}[1-9]\d{{5}}(?:19|20)\d{{2}}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{{3}}[\dXx]{_EDGE_R}"
)
_CARD = re.compile(rf"{_EDGE_L}(?:\d{{4}}(?:[ \-]\d{{4}}){{3}}(?:[ \-]?\d{{1,3}})?|\d{{16,19}}){_EDGE_R}")
_PHONE = re.compile(
    rf"{_EDGE_L}(?:(?:\+?86[\- ]?)?1[3-9]\d(?:[\- ]?\d{{4}}){{2}}|0\d{{2,3}}-\d{{7,8}}(?:-\d{{1,5}})?"
    rf"|[48]00-?\d{{3}}-?\d{{4}}){_EDGE_R}"
)


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def redact(text: str) -> tuple[str, Counter[str]]:
    """`text` with personal data replaced, and how many of each type were replaced."""
    counts: Counter[str] = Counter()

    def sub(kind: str, pattern: re.Pattern[str], text: str, check=None) -> str:
        def repl(match: re.Match[str]) -> str:
            if check is not None and not check(match.group()):
                return match.group()
            counts[kind] += 1
            return PLACEHOLDERS[kind]

        return pattern.sub(repl, text)

    text = sub("email", _EMAIL, text)
    text = sub("id_number", _ID, text)
    text = sub("bank_card", _CARD, text, lambda s: luhn(re.sub(r"\D", "", s)))
    text = sub("phone", _PHONE, text)
    return text, counts
