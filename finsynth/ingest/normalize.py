"""Text as `finsynth.text.mentions` expects it: decoded, full-width ASCII made half-width, Chinese punctuation kept.

Encoding rule (deterministic, no guessing library): a UTF-8 byte-order mark -> `utf-8-sig`; a UTF-16
byte-order mark -> `utf-16`; bytes that decode as strict UTF-8 -> `utf-8`; bytes that decode as strict
GB18030 (a superset of GBK and GB2312) -> `gb18030`; anything else is an unreadable file. UTF-8 is tried
before GB18030 because valid multi-byte UTF-8 Chinese is practically never valid GB18030 text by chance
(the reverse is common), so the order decides nothing that matters.

Width rule: full-width ASCII letters, digits and signs (`Ａ`-`ｚ`, `０`-`９`, `％＋－．／`) and the
ideographic space become ASCII, which is what `mentions.extract_mentions` scans for ("１２．５％" -> "12.5%");
Chinese punctuation (`，。；：（）`) stays full-width, and a half-width comma, semicolon, colon, question or
exclamation mark written right after a Chinese character (so never inside a number, "3,260") becomes the
full-width form a Chinese sentence uses, so sentence splitting and the mention subjects see one form.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

_FW = {chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)}
# keep Chinese punctuation full-width: these full-width forms are the ones Chinese text uses
for _keep in "，。；：（）！？、“”‘’【】《》":
    _FW.pop(_keep, None)
_FW["\u3000"] = " "
_FW["\u00a0"] = " "
_WIDTH = str.maketrans(_FW)
_HALF_PUNCT = {",": "，", ";": "；", ":": "：", "?": "？", "!": "！"}
_CJK = r"[\u3400-\u9fff\uf900-\ufaff]"
_HALF_AFTER_CJK = re.compile(rf"(?<={_CJK})[,;:?!]")
_SPACES = re.compile(r"[ \t]+")
_CJK_OR_PUNCT = rf"(?:{_CJK}|[，。；：！？、（）“”《》【】])"
_CJK_SPACE = re.compile(rf"(?<={_CJK_OR_PUNCT}) +(?={_CJK_OR_PUNCT})")


def decode(data: bytes) -> tuple[str, str]:
    """`(text, encoding)` under the module's encoding rule; ValueError when no encoding fits."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise ValueError("not UTF-8, UTF-8 with BOM, UTF-16 or GB18030/GBK text; re-save it as UTF-8")


def normalize(text: str, squeeze: bool = False) -> str:
    """Width-normalised, NFC, runs of spaces collapsed; with `squeeze` (PDF text, where a justified line
    leaves gaps that read as spaces) spaces between two Chinese characters are removed too ("营 收")."""
    text = unicodedata.normalize("NFC", text).translate(_WIDTH)
    text = text.replace("\r", "").replace("\u200b", "").replace("\ufeff", "")
    text = _HALF_AFTER_CJK.sub(lambda m: _HALF_PUNCT[m.group()], text)
    text = _SPACES.sub(" ", text)
    return (_CJK_SPACE.sub("", text) if squeeze else text).strip()


# a sentence ends with one of these, maybe followed by closing quotes or brackets ("。”", "。）")
_SENTENCE_END = re.compile(r"[。！？；!?;…]+[”’」』）)\]】]*$|(?<=[A-Za-z0-9%)])\.[”’\"')]*$")
# no space before these when a Latin line goes on ("12.5" + "%", "rose" + ",") nor after these
_NO_SPACE_BEFORE = set(",.;:!?%)]}'\"")
_NO_SPACE_AFTER = set("([{'\"$-/")  # "year-" + "on-year", "RMB/" + "USD"


def ends_sentence(text: str) -> bool:
    """Whether a line ends a sentence (Chinese or Latin): a wrapped line that does not cannot end a paragraph."""
    return bool(_SENTENCE_END.search(text.rstrip()))


def join_lines(lines: list[str]) -> str:
    """Lines of one wrapped paragraph as one string: no space where Chinese text meets the break ("同" + "比"),
    one space between two Latin or number tokens ("net" + "profit", "rose" + "8.2%", "100" + "120"), so a
    break never fuses two numbers."""
    out = ""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if out and _latin_break(out[-1], line[0]):
            out += " "
        out += line
    return out


def _latin_break(last: str, first: str) -> bool:
    return (
        last.isascii()
        and first.isascii()
        and last.isprintable()
        and first.isprintable()
        and last not in _NO_SPACE_AFTER
        and first not in _NO_SPACE_BEFORE
    )
