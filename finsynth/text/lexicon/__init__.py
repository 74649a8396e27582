"""The financial metric lexicon: what "the same metric" means, as data.

The YAML files next to this module (shipped in the wheel) hold, per category:

- `terms`: classes of spellings of one metric (or one qualifier). Every form is rewritten to the class's
  `canonical` spelling before names are compared (营收 -> 收入, EPS -> eps, 存货周转期 -> 存货周转天数).
  A `qualifier` term (an accounting standard, "adjusted") is not a metric on its own: a bracket holding
  one stays part of the name instead of being read as an alias.
- `markers`: a property a name has or lacks (growth, rate/share, sequential, adjusted); two names that
  differ on one are never the same metric (营收 vs 营收增速, 研发费用 vs 研发费用率).
- `families`: mutually exclusive qualifiers; two names that each carry members of a family must carry the
  same ones (毛利率 vs 净利率, ROE vs ROA, 不良 vs 关注类).
- `dimensions`: classes such as volume vs value; a name in one class only is never the same metric as a
  name in another class only (全球销量 vs 全球销售额).
- `examples`: pairs that must match and pairs that must not (the tests check every category's).

Every entry says where its equivalence comes from (`source`: accounting_standard, exchange_disclosure or
research_usage, and `ref`). Users add files of the same format (`finsynth eval --lexicon FILE`); a file
that contradicts the built-in lexicon is an error naming the file and the field.

The fuzzy matcher (`finsynth.text.names`), lint's grounding and label-conflict rules and `diagnose` all
read one `Lexicon`, so one place decides what "the same metric" means.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from finsynth.errors import LexiconError as LexiconError  # re-exported
from finsynth.io import field_path, read_yaml

Source = Literal["accounting_standard", "exchange_disclosure", "research_usage"]
BUILTIN_DIR = Path(__file__).resolve().parent

# Punctuation carries no meaning in a metric name; brackets are handled before this (they hold aliases).
DROP = re.compile(r"[\s\-_·•/／\\,，、:：;；'\"“”‘’.。!！?？*#]")
BRACKET_CHARS = re.compile(r"[()\[\]【】{}]")
_ASCII_WORD = re.compile(r"[a-z0-9%]+")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Sourced(_Strict):
    source: Source = Field(description="where the equivalence or distinction comes from")
    ref: str = Field(min_length=1, description="the standard, disclosure rule or usage it rests on")


class Term(_Sourced):
    """Spellings of one metric (or qualifier): every form is rewritten to `canonical`."""

    canonical: str = Field(min_length=1)
    forms: list[str] = Field(min_length=1)
    qualifier: bool = Field(False, description="a qualifier (a standard, 'adjusted'), not a metric")


class Marker(_Sourced):
    """A property a name has or lacks; names that differ on it are different metrics."""

    name: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    contains: list[str] = Field(default_factory=list)
    suffixes: list[str] = Field(default_factory=list)


class Family(_Sourced):
    """Mutually exclusive qualifiers: two names carrying members must carry the same members."""

    name: str = Field(min_length=1)
    members: list[str] = Field(min_length=2)


class Dimension(_Sourced):
    """Classes (volume, value): a name in one class only differs from a name in another class only."""

    name: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    classes: dict[str, list[str]] = Field(min_length=2)


class Examples(_Strict):
    same: list[tuple[str, str]] = Field(default_factory=list)
    different: list[tuple[str, str]] = Field(default_factory=list)


class LexiconFile(_Strict):
    """One lexicon YAML file."""

    category: str = Field(min_length=1)
    description: str = ""
    terms: list[Term] = Field(default_factory=list)
    markers: list[Marker] = Field(default_factory=list)
    families: list[Family] = Field(default_factory=list)
    dimensions: list[Dimension] = Field(default_factory=list)
    examples: Examples = Field(default_factory=Examples)


def fold(text: str) -> str:
    """NFKC width folding, lower case, no brackets, no punctuation (the comparison alphabet)."""
    text = unicodedata.normalize("NFKC", text).lower()
    return DROP.sub("", BRACKET_CHARS.sub("", text))


class Rewrite(BaseModel):
    """One form -> canonical rewrite and the entry it comes from."""

    form: str
    canonical: str
    category: str
    source: str
    ref: str
    file: str
    qualifier: bool = False


class Rule(BaseModel):
    """A veto: why two names cannot be the same metric, and the entry that says so."""

    kind: Literal["marker", "family", "dimension"]
    name: str
    reason: str
    category: str
    source: str
    ref: str
    file: str


def _ascii_pattern(form: str) -> str:
    # An English abbreviation only matches as a word: "pe" must not rewrite inside "capex".
    body = re.escape(form)
    if _ASCII_WORD.fullmatch(form):
        return rf"(?<![a-z]){body}(?![a-z])"
    return body


def read_lexicon_file(path: str | Path) -> LexiconFile:
    """Parse and validate one lexicon file; any problem is a LexiconError naming the file and field."""
    path = Path(path)
    doc = read_yaml(path, "lexicon", LexiconError, " (a lexicon is a YAML file)")
    if not isinstance(doc, dict):
        raise LexiconError(
            f"{path}: a lexicon file is a YAML mapping with 'category' and 'terms' "
            f"(and optionally markers, families, dimensions, examples)"
        )
    try:
        return LexiconFile.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = field_path(first["loc"])
        hint = (
            ("; allowed keys: " + ", ".join(LexiconFile.model_fields))
            if first["type"] == "extra_forbidden" and len(first["loc"]) == 1
            else ""
        )
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise LexiconError(f"{path}: field {field}: {first['msg']}{hint}{more}") from exc


class Lexicon:
    """The loaded lexicon: rewrites, vetoes, and the name operations built on them (cached)."""

    def __init__(self, files: Sequence[tuple[str, LexiconFile]]) -> None:
        self.files = list(files)
        self.rewrites: dict[str, Rewrite] = {}
        self.surfaces: dict[str, list[str]] = {}  # canonical -> raw spellings (for lint's grounding)
        self.markers: list[tuple[Marker, Rule]] = []
        self.families: list[tuple[list[str], Rule]] = []
        self.dimensions: list[tuple[dict[str, list[str]], Rule]] = []
        self.qualifiers: set[str] = set()
        for origin, doc in self.files:
            self._add(origin, doc)
        forms = sorted(self.rewrites, key=lambda f: (-len(f), f))
        self._rewrite_re = re.compile("|".join(_ascii_pattern(f) for f in forms)) if forms else None
        surface_items = sorted(((s, c) for c, ss in self.surfaces.items() for s in ss), key=lambda sc: -len(sc[0]))
        self._surface_items = surface_items
        self.canonical = lru_cache(maxsize=200_000)(self._canonical)
        self.veto_rule = lru_cache(maxsize=200_000)(self._veto_rule)
        self.spellings = lru_cache(maxsize=65_536)(self._spellings)

    # --- loading ---------------------------------------------------------------------------------

    def _add(self, origin: str, doc: LexiconFile) -> None:
        canonicals = {r.canonical for r in self.rewrites.values()}
        for ti, term in enumerate(doc.terms):
            canon = fold(term.canonical)
            where = f"{origin}: field terms.{ti}"
            if not canon:
                raise LexiconError(f"{where}.canonical: {term.canonical!r} is only punctuation")
            if canon in self.rewrites and self.rewrites[canon].canonical != canon:
                other = self.rewrites[canon]
                raise LexiconError(
                    f"{where}.canonical: {term.canonical!r} is already a form of "
                    f"{other.canonical!r} ({other.file}); add your forms to that term instead"
                )
            if term.qualifier:
                self.qualifiers.add(canon)
            self.surfaces.setdefault(canon, [])
            for raw in [term.canonical, *term.forms]:
                if raw not in self.surfaces[canon]:
                    self.surfaces[canon].append(raw)
            for fi, raw in enumerate(term.forms):
                form = fold(raw)
                if not form:
                    raise LexiconError(f"{where}.forms.{fi}: {raw!r} is only punctuation")
                if form == canon:
                    continue
                if form in canonicals and form != canon:
                    raise LexiconError(
                        f"{where}.forms.{fi}: {raw!r} is the canonical spelling of another "
                        f"term; rewriting it would split that term"
                    )
                known = self.rewrites.get(form)
                if known is not None and known.canonical != canon:
                    raise LexiconError(
                        f"{where}.forms.{fi}: {raw!r} is already a form of {known.canonical!r} "
                        f"({known.file}); one spelling can mean one metric only"
                    )
                self.rewrites[form] = Rewrite(
                    form=form,
                    canonical=canon,
                    category=doc.category,
                    source=term.source,
                    ref=term.ref,
                    file=origin,
                    qualifier=term.qualifier,
                )
            canonicals.add(canon)

        def rule(
            kind: Literal["marker", "family", "dimension"], entry: Marker | Family | Dimension, reason: str
        ) -> Rule:
            return Rule(
                kind=kind,
                name=entry.name,
                reason=reason,
                category=doc.category,
                source=entry.source,
                ref=entry.ref,
                file=origin,
            )

        for marker in doc.markers:
            folded = marker.model_copy(
                update={
                    "contains": [fold(c) for c in marker.contains],
                    "suffixes": [fold(s) or s for s in marker.suffixes],
                }
            )
            self.markers.append((folded, rule("marker", marker, marker.reason)))
        for family in doc.families:
            self.families.append(
                (
                    [fold(m) for m in family.members],
                    rule("family", family, f"different {family.name.replace('_', ' ')}"),
                )
            )
        for dim in doc.dimensions:
            classes = {k: [fold(w) for w in v] for k, v in dim.classes.items()}
            self.dimensions.append((classes, rule("dimension", dim, dim.reason)))

    @property
    def categories(self) -> list[str]:
        return [doc.category for _, doc in self.files]

    # --- names -----------------------------------------------------------------------------------

    def _canonical(self, name: str) -> str:
        text = fold(name)
        if self._rewrite_re is None:
            return text
        return self._rewrite_re.sub(lambda m: self.rewrites[m.group(0)].canonical, text)

    def applied(self, name: str) -> list[Rewrite]:
        """The rewrites `canonical(name)` applies, in order (for --explain-match)."""
        if self._rewrite_re is None:
            return []
        return [self.rewrites[m.group(0)] for m in self._rewrite_re.finditer(fold(name))]

    def is_qualifier(self, text: str) -> bool:
        """Whether `text` is only a qualifier (an accounting standard, 'adjusted'), not a metric alias."""
        canon = self.canonical(text)
        return bool(canon) and canon in self.qualifiers

    def _marker_has(self, marker: Marker, text: str) -> bool:
        return any(c in text for c in marker.contains) or text.endswith(tuple(marker.suffixes))

    def _veto_rule(self, a: str, b: str) -> Rule | None:
        for marker, r in self.markers:
            if self._marker_has(marker, a) != self._marker_has(marker, b):
                return r
        codes_a, codes_b = set(_CODE.findall(a)), set(_CODE.findall(b))
        if codes_a and codes_b and codes_a != codes_b:
            return _SPEC_RULE
        for members, r in self.families:
            in_a = {m for m in members if m in a}
            in_b = {m for m in members if m in b}
            if in_a and in_b and in_a != in_b:
                return r
        for classes, r in self.dimensions:
            kind_a, kind_b = _class_of(classes, a), _class_of(classes, b)
            if kind_a and kind_b and kind_a != kind_b:
                return r
        if _different_subject(a, b):
            return _SUBJECT_RULE
        return None

    def veto(self, a: str, b: str) -> str | None:
        """Why two canonical names cannot be the same metric, or None when nothing contradicts."""
        r = self.veto_rule(a, b)
        return r.reason if r else None

    def _spellings(self, name: str) -> tuple[str, ...]:
        """`name` with one lexicon spelling swapped for each other spelling of its term (ROE ->
        净资产收益率): lint grounds a name in a paragraph that writes the metric another standard way."""
        low = name.lower()
        if len(low) != len(name):
            return ()
        out: list[str] = []
        for surface, canon in self._surface_items:
            start = low.find(surface.lower())
            if start < 0 or len(surface) < 2:
                continue
            for other in self.surfaces[canon]:
                if other != surface and len(other) >= 2:
                    swapped = name[:start] + other + name[start + len(surface) :]
                    if swapped not in out and swapped != name:
                        out.append(swapped)
            if len(out) >= 24:
                break
        return tuple(out[:24])


# Model numbers, node sizes, units: 1.6t vs 800g, t700 vs t800, 28nm, 300mm (syntax, not vocabulary).
_CODE = re.compile(r"[a-z]*\d+(?:\.\d+)?[a-z]*")
_SPEC_RULE = Rule(
    kind="marker",
    name="spec_number",
    reason="different model/spec numbers",
    category="syntax",
    source="research_usage",
    ref="a model or spec number (T700/T800, 800G/1.6T) names a product",
    file="finsynth.text.lexicon",
)


_SUBJECT_RULE = Rule(
    kind="marker",
    name="subject",
    reason="different subject",
    category="syntax",
    source="research_usage",
    file="finsynth.text.lexicon",
    ref="the same measure of two different things (铜业务毛利率 vs 锂矿业务毛利率)",
)


def _different_subject(a: str, b: str) -> bool:
    """The same measure (a shared tail of 2+ characters) of two subjects with no character in common."""
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    if n < 2:
        return False
    head_a, head_b = a[:-n], b[:-n]
    return bool(head_a) and bool(head_b) and not (set(head_a) & set(head_b))


def _class_of(classes: dict[str, list[str]], text: str) -> str | None:
    hits = [k for k, words in classes.items() if any(w in text for w in words)]
    return hits[0] if len(hits) == 1 else None


def builtin_files() -> list[Path]:
    """The shipped lexicon files, in load order (by name)."""
    return sorted(BUILTIN_DIR.glob("*.yaml"))


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """The built-in lexicon (loaded once)."""
    return Lexicon([(p.name, read_lexicon_file(p)) for p in builtin_files()])


def load_lexicon(extra: Iterable[str | Path] | None = None) -> Lexicon:
    """The built-in lexicon plus the user's files (in the order given); no files: the built-in one."""
    extra = list(extra or [])
    if not extra:
        return default_lexicon()
    base = [(p.name, read_lexicon_file(p)) for p in builtin_files()]
    return Lexicon(base + [(str(p), read_lexicon_file(p)) for p in extra])
