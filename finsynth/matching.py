"""Metric-name matchers: deciding which predicted metric is which gold metric.

Three matchers, one interface (`Matcher`):

- `ReferenceMatcher` reproduces the reference project's rule bit for bit (identical, containment, or
  character-bigram Jaccard >= 0.5; for each gold metric in order, the best-scoring unused prediction),
  including its quirks, so that its published verdicts can be recomputed exactly.
- `FuzzyMatcher` (the default) normalises Chinese metric names deliberately (width, spaces, aliases in
  brackets, "A及B" compounds, synonyms such as 营收/营业收入, 市占率/市场份额), vetoes pairs whose
  qualifiers contradict each other (毛利率 vs 净利率, 营收 vs 营收增速, T700 vs T800, 经营 vs 投资活动),
  scores the rest with rapidfuzz and assigns gold to predictions optimally one-to-one.
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

MATCHERS = ("fuzzy", "reference", "embedding")


class MatcherUnavailable(ValueError):
    """A matcher cannot be built here (missing optional package or local model)."""


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
        if gold == pred or gold in pred or pred in gold:
            return True
        return bigram_jaccard(gold, pred) >= self.threshold

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
        for r, c in zip(rows, cols)
        if admissible[r, c]
    ]


# --- fuzzy: normalisation ------------------------------------------------------------------------

# Applied in order, longest first where they overlap. Each rewrites one spelling to a canonical one;
# only spellings that are the same metric in every context are listed (营业总收入 is 营业收入, but
# 总资产 is not 资产, so "总" is not stripped blindly).
_SYNONYMS: tuple[tuple[str, str], ...] = (
    # revenue
    ("营业总收入", "收入"),
    ("营业收入", "收入"),
    ("总营收", "收入"),
    ("营收", "收入"),
    ("主营业务收入", "主营收入"),
    # growth: 同比 is only a comparison basis once a growth word is present; 环比 is kept (a veto)
    ("同比增长率", "增速"),
    ("同比增速", "增速"),
    ("同比增幅", "增速"),
    ("同比增长", "增速"),
    ("增长率", "增速"),
    ("增长速度", "增速"),
    ("增幅", "增速"),
    ("yoy", "增速"),
    # cash flow: 净 before 现金流 (and 净额 after it) is redundant, 现金流 conventionally means net
    ("产生的现金流量净额", "现金流"),
    ("现金流量净额", "现金流"),
    ("现金净流量", "现金流"),
    ("净现金流量", "现金流"),
    ("净现金流", "现金流"),
    ("现金流量", "现金流"),
    ("经营性现金流", "经营活动现金流"),
    ("经营现金流", "经营活动现金流"),
    ("投资性现金流", "投资活动现金流"),
    ("筹资性现金流", "筹资活动现金流"),
    ("fcf", "自由现金流"),
    # margins and profits
    ("毛利润率", "毛利率"),
    ("销售毛利率", "毛利率"),
    ("净利润率", "净利率"),
    ("销售净利率", "净利率"),
    ("营业利润", "经营利润"),
    ("归属于母公司股东的净利润", "归母净利"),
    ("归属于母公司所有者的净利润", "归母净利"),
    ("归属母公司净利润", "归母净利"),
    ("归母净利润", "归母净利"),
    ("扣除非经常性损益后的净利润", "扣非净利润"),
    ("扣非归母净利润", "扣非净利润"),
    ("净资产收益率", "roe"),
    ("资产收益率", "roa"),
    # market share
    ("市场占有率", "市占率"),
    ("市场份额", "市占率"),
    # capex, prices, volumes
    ("资本性支出", "资本开支"),
    ("资本支出", "资本开支"),
    ("capex", "资本开支"),
    ("平均售价", "均价"),
    ("平均销售价格", "均价"),
    ("asp", "均价"),
    ("出货量增速", "出货增速"),
    ("销售量", "销量"),
    ("比重", "占比"),
    ("月活跃用户数", "月活跃用户"),
    ("月活用户", "月活跃用户"),
    ("日活用户", "日活跃用户"),
)
_SYNONYM_RE = re.compile("|".join(re.escape(a) for a, _ in sorted(_SYNONYMS, key=lambda s: -len(s[0]))))
_SYNONYM_MAP = dict(_SYNONYMS)

# Punctuation carries no meaning in a metric name; brackets are handled before this (they hold aliases).
_DROP = re.compile(r"[\s\-_·•/／\\,，、:：;；'\"“”‘’.。!！?？*#]")
_BRACKET_CHARS = re.compile(r"[()\[\]【】{}]")
_BRACKET = re.compile(r"[(\[【{]([^()\[\]【】{}]*)[)\]】}]")
# "A及B" compounds of two metrics; "及以上"/"及其" are not compounds.
_COMPOUND = re.compile(r"及(?!以上|以下|其)|和|与|&")
# Trailing qualifiers a compound's second half may refer back to: 青花系列收入占比及增速.
_QUALIFIER_TAIL = re.compile(r"(占比|增速|均价|毛利率|净利率|利润率|渗透率|利用率|市占率|率)$")
# Model numbers, node sizes, units: 1.6t vs 800g, t700 vs t800, 28nm, 300mm.
_CODE = re.compile(r"[a-z]*\d+(?:\.\d+)?[a-z]*")

# Qualifier families: two names that each carry a member of one family must carry the same members,
# else they are different metrics (毛利率 vs 净利率). The families are matched on canonical text.
_VETO_FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("profit", ("毛利", "净利", "经营利润", "利润总额", "ebitda", "ebit", "扣非")),
    ("cash_flow_activity", ("经营活动", "投资活动", "筹资活动", "自由现金流")),
    ("region", ("国内", "海外", "境外", "国际", "省内", "省外", "北美", "欧洲")),
    ("period", ("环比", "单季", "季度", "全年", "年度", "月度", "半年")),
    ("active_users", ("月活", "日活", "mau", "dau")),
)
# A volume (units) and a value (money) are different metrics even for the same product; a name may
# carry both words (销量及收入), so only volume-only vs value-only contradicts.
_VOLUME = ("销量", "出货", "业务量", "交付量", "产量", "装机量", "手术量", "门诊量")
_VALUE = ("销售额", "收入", "金额", "gmv", "成本", "价")


@lru_cache(maxsize=200_000)
def canonical(name: str) -> str:
    """One spelling of a metric name: NFKC width folding, lower case, no punctuation, synonyms applied.

    Brackets are removed but their content kept (aliases are handled by `name_variants`).
    """
    text = unicodedata.normalize("NFKC", name).lower()
    text = _BRACKET_CHARS.sub("", text)
    text = _DROP.sub("", text)
    return _SYNONYM_RE.sub(lambda m: _SYNONYM_MAP[m.group(0)], text)


@lru_cache(maxsize=200_000)
def name_variants(name: str) -> tuple[str, ...]:
    """Every canonical spelling a name stands for.

    `新业务价值（NBV）` stands for itself, `新业务价值` and `nbv`; `青花系列收入占比及增速` stands for
    `青花系列收入占比` and `青花系列收入增速` (the compound's second half borrows the first half's stem).
    """
    text = unicodedata.normalize("NFKC", name).lower().strip()
    raw: list[str] = [text]
    outside = _BRACKET.sub("", text).strip()
    if outside and outside != text:
        raw.append(outside)
        raw.extend(inner for inner in _BRACKET.findall(text) if len(inner.strip()) >= 2)
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
        canon = canonical(item)
        if canon and canon not in out:
            out.append(canon)
    return tuple(out)


def _growth(text: str) -> bool:
    return "增速" in text


def _ratio(text: str) -> bool:
    # A rate or share (毛利率, 市占率, 收入占比, 拿地销售比) vs a level (毛利, 收入, 审定数量).
    return text.endswith(("率", "占比", "比", "roe", "roa", "margin", "%"))


def veto(a: str, b: str) -> str | None:
    """Why two canonical names cannot be the same metric, or None when nothing contradicts."""
    if _growth(a) != _growth(b):
        return "growth vs level"
    if _ratio(a) != _ratio(b):
        return "rate vs amount"
    if ("环比" in a) != ("环比" in b):
        # 同比 is the default basis and is dropped by canonicalisation; 环比 never is.
        return "sequential vs year-on-year"
    codes_a, codes_b = set(_CODE.findall(a)), set(_CODE.findall(b))
    if codes_a and codes_b and codes_a != codes_b:
        return "different model/spec numbers"
    for family, members in _VETO_FAMILIES:
        in_a = {m for m in members if m in a}
        in_b = {m for m in members if m in b}
        if in_a and in_b and in_a != in_b:
            return f"different {family.replace('_', ' ')}"
    kind_a, kind_b = _quantity_kind(a), _quantity_kind(b)
    if kind_a and kind_b and kind_a != kind_b:
        return "volume vs value"
    return None


def _quantity_kind(text: str) -> str | None:
    volume = any(w in text for w in _VOLUME)
    value = any(w in text for w in _VALUE)
    if volume and not value:
        return "volume"
    if value and not volume:
        return "value"
    return None


def pair_score(a: str, b: str) -> float:
    """Similarity of two canonical names: 1 if equal, 0 if vetoed, containment 0.6-1 by length, else Indel ratio."""
    if a == b:
        return 1.0
    if veto(a, b):
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

    def __init__(self, threshold: float = 0.75) -> None:
        self.threshold = threshold

    def similarity(self, gold: str, pred: str) -> float:
        return _similarity_cached(gold, pred)

    def same(self, gold: str, pred: str) -> bool:
        return self.similarity(gold, pred) >= self.threshold

    def explain(self, gold: str, pred: str) -> dict[str, object]:
        """Why a pair scored what it did: variants, the best pair, and any veto."""
        best = max(
            ((pair_score(a, b), a, b) for a in name_variants(gold) for b in name_variants(pred)),
            default=(0.0, "", ""),
        )
        return {
            "score": round(best[0], 4),
            "gold_variant": best[1],
            "pred_variant": best[2],
            "veto": veto(best[1], best[2]) if best[0] == 0.0 else None,
            "same": best[0] >= self.threshold,
        }

    def match(self, gold: Sequence[str], pred: Sequence[str]) -> list[MatchPair]:
        if not gold or not pred:
            return []
        scores = np.array([[_similarity_cached(g, p) for p in pred] for g in gold], dtype=float)
        return assign(scores, self.threshold)


@lru_cache(maxsize=500_000)
def _similarity_cached(gold: str, pred: str) -> float:
    return max((pair_score(a, b) for a in name_variants(gold) for b in name_variants(pred)), default=0.0)


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
                "the embedding matcher needs --model PATH, a local sentence-transformers model directory"
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
            self._cache.update(zip(missing, vectors))
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


def get_matcher(name: str, *, threshold: float | None = None, model_path: str | None = None) -> Matcher:
    """Build a matcher by name (`fuzzy`, `reference`, `embedding`)."""
    if name == "reference":
        return ReferenceMatcher() if threshold is None else ReferenceMatcher(threshold)
    if name == "fuzzy":
        return FuzzyMatcher() if threshold is None else FuzzyMatcher(threshold)
    if name == "embedding":
        return EmbeddingMatcher(model_path) if threshold is None else EmbeddingMatcher(model_path, threshold)
    raise ValueError(f"unknown matcher {name!r}: choose one of {', '.join(MATCHERS)}")
