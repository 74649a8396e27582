"""Metric-name matchers: deciding which predicted metric is which gold metric.

Three matchers, one interface (`Matcher`):

- `ReferenceMatcher` reproduces the reference project's rule bit for bit (identical, containment, or
  character-bigram Jaccard >= 0.5; for each gold metric in order, the best-scoring unused prediction),
  including its quirks, so that its published verdicts can be recomputed exactly.
- `FuzzyMatcher` (the default) normalises Chinese metric names deliberately (width, spaces, aliases in
  brackets, "A及B" compounds, the lexicon's synonyms such as 营收/营业收入, EPS/每股收益), vetoes pairs
  whose qualifiers contradict each other (毛利率 vs 净利率, 营收 vs 营收增速, T700 vs T800, ROE vs ROA),
  scores the rest with rapidfuzz and assigns gold to predictions optimally one-to-one. The vocabulary
  is data, `finsynth/text/lexicon/*.yaml` (see `finsynth.text.lexicon`); users extend it with `--lexicon FILE`.
- `EmbeddingMatcher` (optional extra `embedding`) uses a local sentence-transformers model.

GUIDE lesson 10: string matching undercounts (45 of 158 "mismatches" were the same metric written
differently) and containment overcounts (营收 ⊂ 营收增速). Both errors move verdicts.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
from pydantic import BaseModel
from rapidfuzz import fuzz
from scipy.optimize import linear_sum_assignment

from finsynth.errors import ConfigError
from finsynth.errors import MatcherUnavailable as MatcherUnavailable  # re-exported
from finsynth.text.lexicon import Lexicon, default_lexicon

MATCHERS = ("fuzzy", "reference", "embedding")


class MatchPair(BaseModel):
    """One gold metric matched to one predicted metric (indices into the two name lists)."""

    gold: int
    pred: int
    score: float


class Matcher(Protocol):
    """What evaluation needs from a matcher."""

    name: str
    threshold: float

    def similarity(self, gold: str, pred: str) -> float:
        """A score in [0, 1]; `same` is `similarity >= threshold` for every matcher but `reference`."""

    def same(self, gold: str, pred: str) -> bool:
        """Whether the two names denote the same metric."""

    def match(self, gold: Sequence[str], pred: Sequence[str]) -> list[MatchPair]:
        """A one-to-one matching of gold names to predicted names."""


# --- reference ---------------------------------------------------------------------------------


def char_bigrams(text: str) -> set[str]:
    """Character bigrams; a one-character string is its own single 'bigram' (as in the reference)."""
    return {text[i : i + 2] for i in range(len(text) - 1)} if len(text) > 1 else {text}


def bigram_jaccard(a: str, b: str) -> float:
    """The reference project's `char_similarity`: Jaccard over character bigrams, 0 for empty input."""
    if not a or not b:
        return 0.0
    x, y = char_bigrams(a), char_bigrams(b)
    union = x | y
    return len(x & y) / len(union) if union else 0.0


def reference_same(a: str, b: str, threshold: float = 0.5) -> bool:
    """The reference project's name rule (GUIDE section 4): identical, either contains the other, or
    character-bigram Jaccard >= `threshold`; names compared raw."""
    if a == b or a in b or b in a:
        return True
    return bigram_jaccard(a, b) >= threshold


class ReferenceMatcher:
    """The reference project's matcher, reproduced exactly (quirks included, on purpose).

    Quirks kept: names are compared raw (no stripping, case-sensitive); a containment match whose
    bigram score is 0 (a one-character name) can never be selected because the reference keeps a
    candidate only when its score is strictly greater than the running best, which starts at 0;
    ties go to the earliest prediction.
    """

    name = "reference"

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold

    def similarity(self, gold: str, pred: str) -> float:
        return 1.0 if gold == pred else bigram_jaccard(gold, pred)

    def same(self, gold: str, pred: str) -> bool:
        return reference_same(gold, pred, self.threshold)

    def match(self, gold: Sequence[str], pred: Sequence[str]) -> list[MatchPair]:
        used: set[int] = set()
        pairs: list[MatchPair] = []
        for gi, g in enumerate(gold):
            best_score, best_pi = 0.0, -1
            for pi, p in enumerate(pred):
                if pi in used or not self.same(g, p):
                    continue
                score = 1.0 if g == p else bigram_jaccard(g, p)
                if score > best_score:
                    best_score, best_pi = score, pi
            if best_pi >= 0:
                used.add(best_pi)
                pairs.append(MatchPair(gold=gi, pred=best_pi, score=best_score))
        return pairs


# --- optimal one-to-one assignment --------------------------------------------------------------


def assign(scores: np.ndarray, threshold: float) -> list[MatchPair]:
    """Maximum-cardinality, then maximum-score, one-to-one matching of pairs scoring >= threshold.

    Greedy first-fit can spend a prediction on the wrong gold metric and leave a later gold metric
    unmatched; the Hungarian algorithm cannot. Each admissible pair weighs `big + score` with `big`
    larger than any possible total score, so one more match always beats a better-scoring smaller set.
    """
    if scores.size == 0:
        return []
    admissible = scores >= threshold
    if not admissible.any():
        return []
    if 1 in scores.shape:
        # One gold or one prediction: the best admissible pair is the optimum (ties: lowest index).
        flat = int(np.argmax(np.where(admissible, scores, -1.0)))
        r, c = np.unravel_index(flat, scores.shape)
        return [MatchPair(gold=int(r), pred=int(c), score=round(float(scores[r, c]), 4))]
    big = float(min(scores.shape) + 1)
    weights = np.where(admissible, big + scores, 0.0)
    rows, cols = linear_sum_assignment(weights, maximize=True)
    return [
        MatchPair(gold=int(r), pred=int(c), score=round(float(scores[r, c]), 4))
        for r, c in zip(rows, cols, strict=True)
        if admissible[r, c]
    ]


# --- fuzzy: normalisation ------------------------------------------------------------------------

# What the words mean (synonyms, qualifier families, level/share/growth markers, volume vs value) is
# data: the lexicon YAML files (`finsynth.text.lexicon`). What follows is syntax only: brackets hold aliases,
# "A及B" is a compound of two metrics.
_BRACKET = re.compile(r"[(\[【{]([^()\[\]【】{}]*)[)\]】}]")
# "A及B" compounds of two metrics; "及以上"/"及其" are not compounds.
_COMPOUND = re.compile(r"及(?!以上|以下|其)|和|与|&")
# Trailing qualifiers a compound's second half may refer back to: 青花系列收入占比及增速.
_QUALIFIER_TAIL = re.compile(r"(占比|增速|均价|毛利率|净利率|利润率|渗透率|利用率|市占率|率)$")


def canonical(name: str, lexicon: Lexicon | None = None) -> str:
    """One spelling of a metric name: NFKC width folding, lower case, no punctuation, the lexicon's
    rewrites applied (营收 -> 收入, EPS -> eps). Brackets are removed but their content kept (aliases
    are handled by `name_variants`)."""
    return (lexicon or default_lexicon()).canonical(name)


def veto(a: str, b: str, lexicon: Lexicon | None = None) -> str | None:
    """Why two canonical names cannot be the same metric (the lexicon's markers, families and
    dimensions, and model/spec numbers), or None when nothing contradicts."""
    return (lexicon or default_lexicon()).veto(a, b)


def name_variants(name: str, lexicon: Lexicon | None = None) -> tuple[str, ...]:
    """Every canonical spelling a name stands for.

    `新业务价值（NBV）` stands for itself, `新业务价值` and `nbv`; `青花系列收入占比及增速` stands for
    `青花系列收入占比` and `青花系列收入增速` (the compound's second half borrows the first half's stem).
    A bracket holding a qualifier (`净利润（IFRS）`) is part of the name, not an alias.
    """
    return _variants(lexicon or default_lexicon(), name)


@lru_cache(maxsize=200_000)
def _variants(lexicon: Lexicon, name: str) -> tuple[str, ...]:
    text = unicodedata.normalize("NFKC", name).lower().strip()
    raw: list[str] = [text]
    outside = _BRACKET.sub("", text).strip()
    inners = [inner for inner in _BRACKET.findall(text) if inner.strip()]
    if outside and outside != text and not any(lexicon.is_qualifier(inner) for inner in inners):
        raw.append(outside)
        raw.extend(inner for inner in inners if len(inner.strip()) >= 2)
    for base in list(raw):
        parts = [p for p in _COMPOUND.split(base) if p.strip()]
        if len(parts) == 2:
            first, second = parts
            raw.append(first)
            raw.append(second)
            stem = _QUALIFIER_TAIL.sub("", first)
            if len(second) <= 4 and stem != first:
                raw.append(stem + second)
    out: list[str] = []
    for item in raw:
        canon = lexicon.canonical(item)
        if canon and canon not in out:
            out.append(canon)
    return tuple(out)


_SURFACE_SPLIT = re.compile(r"[及和与、/／]")
_SURFACE_PAREN = re.compile(r"^(?P<head>.*?)[（(](?P<inner>[^（）()]*)[）)](?P<tail>.*)$")


@lru_cache(maxsize=65536)
def surface_variants(name: str) -> tuple[str, ...]:
    """The spellings of a name as a paragraph may write it, not canonicalised (lint's grounding looks
    them up in the raw text; `name_variants` gives the canonical ones matching compares).

    "ROE（净资产收益率）" -> itself, "ROE", "净资产收益率"; "ARR及净收入留存率" -> parts too; then each
    variant with a lexicon spelling swapped for another spelling of the same metric ("每股收益" for
    "EPS"), so a name is grounded by the paragraph's standard wording of it (finsynth.text.lexicon)."""
    out = [name]
    match = _SURFACE_PAREN.match(name)
    if match:
        out += [match.group("head") + match.group("tail"), match.group("inner")]
    for variant in list(out):
        parts = [p for p in _SURFACE_SPLIT.split(variant) if len(p) >= 2]
        if len(parts) > 1:
            out += parts
    lexicon = default_lexicon()
    out += [spelling for variant in list(out) for spelling in lexicon.spellings(variant.strip())]
    seen: list[str] = []
    for variant in out:
        variant = variant.strip()
        if variant and variant not in seen:
            seen.append(variant)
    return tuple(seen)


def pair_score(a: str, b: str, lexicon: Lexicon | None = None) -> float:
    """Similarity of two canonical names: 1 if equal, 0 if vetoed, containment 0.6-1 by length, else Indel ratio."""
    if a == b:
        return 1.0
    if (lexicon or default_lexicon()).veto(a, b):
        return 0.0
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    if len(short) >= 2 and short in long:
        # A more specific name for the same metric (运维业务收入 vs 排水管网及泵站运维业务收入) scores high,
        # but less the more the longer name adds: 收入 inside 海外业务收入 is not enough on its own.
        return 0.6 + 0.4 * len(short) / len(long)
    return fuzz.ratio(a, b) / 100.0


class FuzzyMatcher:
    """Normalised names, qualifier vetoes, rapidfuzz scores, optimal one-to-one assignment."""

    name = "fuzzy"

    def __init__(self, threshold: float = 0.75, lexicon: Lexicon | None = None) -> None:
        self.threshold = threshold
        self.lexicon = lexicon or default_lexicon()

    def similarity(self, gold: str, pred: str) -> float:
        return _similarity_cached(self.lexicon, gold, pred)

    def same(self, gold: str, pred: str) -> bool:
        return self.similarity(gold, pred) >= self.threshold

    def explain(self, gold: str, pred: str) -> dict[str, object]:
        """Why a pair scored what it did: the variants compared, the best pair, the lexicon rewrites
        that made the names equal, and the veto (with its lexicon entry) that kept them apart."""
        lex = self.lexicon
        va, vb = name_variants(gold, lex), name_variants(pred, lex)
        best = max(((pair_score(a, b, lex), a, b) for a in va for b in vb), default=(0.0, "", ""))
        rule = None
        if best[0] == 0.0:
            # the veto on the pair that would have scored best without it
            pairs = sorted(((fuzz.ratio(a, b), a, b) for a in va for b in vb), reverse=True)
            rule = next((lex.veto_rule(a, b) for _, a, b in pairs if lex.veto_rule(a, b)), None)
        rewrites = [r.model_dump() for r in lex.applied(gold) + lex.applied(pred)]
        return {
            "gold": gold,
            "pred": pred,
            "score": round(best[0], 4),
            "threshold": self.threshold,
            "same": best[0] >= self.threshold,
            "gold_variant": best[1],
            "pred_variant": best[2],
            "gold_variants": list(va),
            "pred_variants": list(vb),
            "rewrites": list({(r["form"], r["canonical"]): r for r in rewrites}.values()),
            "veto": rule.reason if rule else None,
            "veto_rule": rule.model_dump() if rule else None,
        }

    def match(self, gold: Sequence[str], pred: Sequence[str]) -> list[MatchPair]:
        if not gold or not pred:
            return []
        scores = np.array([[_similarity_cached(self.lexicon, g, p) for p in pred] for g in gold], dtype=float)
        return assign(scores, self.threshold)


@lru_cache(maxsize=500_000)
def _similarity_cached(lexicon: Lexicon, gold: str, pred: str) -> float:
    return max(
        (pair_score(a, b, lexicon) for a in _variants(lexicon, gold) for b in _variants(lexicon, pred)), default=0.0
    )


def lexicon_of(matcher: object) -> Lexicon:
    """The lexicon a matcher decides sameness with (the built-in one for matchers without their own)."""
    lex = getattr(matcher, "lexicon", None)
    return lex if isinstance(lex, Lexicon) else default_lexicon()


# --- embedding -----------------------------------------------------------------------------------


class EmbeddingMatcher:
    """Cosine similarity of sentence-transformers embeddings from a *local* model directory.

    Never downloads: the path must exist, and the hub is forced offline before the import.
    """

    name = "embedding"

    def __init__(self, model_path: str | os.PathLike[str] | None, threshold: float = 0.85) -> None:
        self.threshold = threshold
        if not model_path:
            raise MatcherUnavailable(
                "model_path: the embedding matcher needs a local sentence-transformers model directory",
                setting="model_path",
            )
        path = Path(model_path)
        if not path.is_dir():
            raise MatcherUnavailable(
                f"embedding model not found at {path}: give a local directory (nothing is downloaded)"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MatcherUnavailable(
                "the embedding matcher needs the optional extra: pip install 'finsynth[embedding]'"
            ) from exc
        try:
            self._model = SentenceTransformer(str(path), local_files_only=True)
        except Exception as exc:
            raise MatcherUnavailable(f"cannot load embedding model from {path}: {exc}") from exc
        self._cache: dict[str, np.ndarray] = {}

    def _embed(self, names: Sequence[str]) -> np.ndarray:
        missing = [n for n in dict.fromkeys(names) if n not in self._cache]
        if missing:
            vectors = self._model.encode(missing, normalize_embeddings=True, convert_to_numpy=True)
            self._cache.update(zip(missing, vectors, strict=True))
        return np.stack([self._cache[n] for n in names]) if names else np.zeros((0, 1))

    def warm(self, names: Sequence[str]) -> None:
        """Embed many names in one batch (evaluation calls this once with every name)."""
        self._embed(list(dict.fromkeys(names)))

    def similarity(self, gold: str, pred: str) -> float:
        vectors = self._embed([gold, pred])
        return float(np.clip(vectors[0] @ vectors[1], 0.0, 1.0))

    def same(self, gold: str, pred: str) -> bool:
        return self.similarity(gold, pred) >= self.threshold

    def match(self, gold: Sequence[str], pred: Sequence[str]) -> list[MatchPair]:
        if not gold or not pred:
            return []
        scores = np.clip(self._embed(list(gold)) @ self._embed(list(pred)).T, 0.0, 1.0)
        return assign(scores, self.threshold)


def get_matcher(
    name: str, *, threshold: float | None = None, model_path: str | None = None, lexicon: Lexicon | None = None
) -> Matcher:
    """Build a matcher by name (`fuzzy`, `reference`, `embedding`); `lexicon` serves `fuzzy`."""
    if name == "reference":
        return ReferenceMatcher() if threshold is None else ReferenceMatcher(threshold)
    if name == "fuzzy":
        return FuzzyMatcher(lexicon=lexicon) if threshold is None else FuzzyMatcher(threshold, lexicon=lexicon)
    if name == "embedding":
        return EmbeddingMatcher(model_path) if threshold is None else EmbeddingMatcher(model_path, threshold)
    raise ConfigError(f"unknown matcher {name!r}: choose one of {', '.join(MATCHERS)}")
