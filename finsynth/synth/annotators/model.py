"""A category model fitted on the user's own labelled Type B (and D) rows, beside the generic rules.

`finsynth annotator fit data/raw` reads the rows, runs the rules annotator's candidate stage
(`rules.candidates`: one candidate per quantity, plus number-free clauses) on each paragraph, pairs
the candidates with the row's own exclusion items (`pair_items`: names identical, contained, or
bigram Jaccard >= 0.5; or a common number and Jaccard >= 0.25), and fits a multinomial logistic
regression over the candidates' context features (`rules.features`: cue words, the name's bigrams
and head, position against the core metrics, the rules' guess). Labels are the six exclusion
categories; a qualitative candidate the labeller did not list is labelled "" (not listed), so the
model also learns which clauses a labeller names (a clause is listed when P("not listed") is below
LISTING_THRESHOLD). Quantities are always cited (coverage): listed, or, for the level of a growth-rate
core metric ("广告收入28亿元" beside "广告收入增速"), on the core's line when the model reads it so.

numpy (scipy sparse products), full-batch gradient descent from zeros: the same rows give the same model. The model is a
small JSON file (feature vocabulary, weights) under the project's cache directory,
`.finsynth/annotator-model.json` by default; nothing is shipped with the library.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from finsynth.io import UserError, write_text_atomic
from finsynth.schema import Sample
from finsynth.synth.annotators.rules import candidates
from finsynth.text.items import Candidate
from finsynth.text.mentions import numbers_in
from finsynth.text.names import bigram_jaccard
from finsynth.text.style import EXCLUSION_CATEGORIES, ExcludedItem, classify_analysis, exclusion_items

DEFAULT_MODEL_PATH = Path(".finsynth") / "annotator-model.json"
NOT_LISTED = ""
LABELS: tuple[str, ...] = (*EXCLUSION_CATEGORIES, NOT_LISTED)
MIN_FEATURE_COUNT = 2
EPOCHS = 800
LEARNING_RATE = 1.0
L2 = 1e-3
FORMAT = "finsynth-annotator-model/2"  # /2: chapter-title and growth-level features
LISTING_THRESHOLD = 0.5  # a clause is listed when P(not listed) is below this


def name_score(gold: ExcludedItem, pred: ExcludedItem) -> float:
    """How well two exclusion items pair, 0 when they do not: identical names 1, containment
    0.7 + 0.3 x length ratio, bigram Jaccard >= 0.5 (>= 0.25 when they cite a common number); a
    common number adds 0.3."""
    a, b = gold.name, pred.name
    shared = bool(numbers_in(gold.values) & numbers_in(pred.values))
    if a == b:
        score = 1.0
    elif a in b or b in a:
        score = 0.7 + 0.3 * min(len(a), len(b)) / max(len(a), len(b))
    else:
        jaccard = bigram_jaccard(a, b)
        if jaccard >= 0.5 or (shared and jaccard >= 0.25):
            score = jaccard
        else:
            return 0.0
    return score + (0.3 if shared else 0.0)


def pair_items(gold: Sequence[ExcludedItem], pred: Sequence[ExcludedItem]) -> list[tuple[int, int]]:
    """One-to-one (gold index, predicted index) pairs, greedy best-first, ties on item order."""
    scored = sorted(
        ((name_score(g, p), i, j) for i, g in enumerate(gold) for j, p in enumerate(pred)),
        key=lambda x: (-x[0], x[1], x[2]),
    )
    used_g: set[int] = set()
    used_p: set[int] = set()
    out = []
    for score, i, j in scored:
        if score <= 0 or i in used_g or j in used_p:
            continue
        used_g.add(i)
        used_p.add(j)
        out.append((i, j))
    return sorted(out)


def as_item(paragraph: str, candidate: Candidate) -> ExcludedItem:
    return ExcludedItem(name=candidate.name, category=candidate.category, reason="", values=candidate.values(paragraph))


def training_pairs(samples: Iterable[Sample]) -> list[tuple[list[str], str]]:
    """(features, label) for every candidate that the labelled rows decide: quantities paired with a
    labelled item (its category), qualitative clauses (their category when listed, else "")."""
    out: list[tuple[list[str], str]] = []
    for sample in samples:
        if sample.type not in ("B", "D") or classify_analysis(sample.output.analysis) == "prose":
            continue
        gold = [g for g in exclusion_items(sample.output.analysis) if g.category in EXCLUSION_CATEGORIES]
        if not gold:
            continue
        found, _ = candidates(sample)
        paragraph = sample.input.paragraph
        pairs = {j: i for i, j in pair_items(gold, [as_item(paragraph, c) for c in found])}
        for j, candidate in enumerate(found):
            if j in pairs:
                out.append((candidate.features, gold[pairs[j]].category))
            elif candidate.qualitative or candidate.level_of:
                out.append((candidate.features, NOT_LISTED))
    return out


@dataclass
class CategoryModel:
    """Multinomial logistic regression over binary features; `predict` gives a category, or "" for a
    qualitative clause not worth listing."""

    vocabulary: dict[str, int]
    weights: np.ndarray  # (features, labels)
    bias: np.ndarray  # (labels,)
    rows: int = 0
    examples: int = 0

    def scores(self, feats: Iterable[str]) -> np.ndarray:
        index = [self.vocabulary[f] for f in set(feats) if f in self.vocabulary]
        return self.bias + self.weights[index].sum(axis=0)

    def probabilities(self, feats: Iterable[str]) -> np.ndarray:
        scores = self.scores(feats)
        prob = np.exp(scores - scores.max())
        return prob / prob.sum()

    def predict(self, candidate: Candidate) -> str:
        """A quantity gets its most likely category (never 定性无数值: it has a number; never "not
        listed", except the level of a growth-rate core, which may be cited with it). A number-free
        clause is listed when the labeller is more likely to list it than not (P("not listed") below
        LISTING_THRESHOLD), with its most likely category."""
        prob = self.probabilities(candidate.features)
        listable = candidate.qualitative or candidate.level_of
        if listable and prob[LABELS.index(NOT_LISTED)] >= LISTING_THRESHOLD:
            return NOT_LISTED
        if not candidate.qualitative:
            prob[LABELS.index("定性无数值")] = -1.0
        prob[LABELS.index(NOT_LISTED)] = -1.0
        return LABELS[int(np.argmax(prob))]

    def shared_category(self, candidates: Sequence[Candidate]) -> str:
        """The quantity category that the candidates' probabilities, summed, favour."""
        total = np.sum([self.probabilities(c.features) for c in candidates], axis=0)
        total[LABELS.index(NOT_LISTED)] = total[LABELS.index("定性无数值")] = -1.0
        return LABELS[int(np.argmax(total))]

    def to_json(self) -> dict:
        features = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        return {
            "format": FORMAT,
            "labels": list(LABELS),
            "features": features,
            "rows": self.rows,
            "examples": self.examples,
            "bias": [round(float(b), 6) for b in self.bias],
            "weights": [[round(float(w), 6) for w in row] for row in self.weights],
        }

    @classmethod
    def from_json(cls, data: dict) -> CategoryModel:
        if data.get("format") != FORMAT or tuple(data.get("labels", ())) != LABELS:
            raise ValueError(f"not a {FORMAT} file (format {data.get('format')!r})")
        features = data["features"]
        return cls(
            vocabulary={f: i for i, f in enumerate(features)},
            weights=np.asarray(data["weights"], dtype=float).reshape(len(features), len(LABELS)),
            bias=np.asarray(data["bias"], dtype=float),
            rows=data.get("rows", 0),
            examples=data.get("examples", 0),
        )


def fit_model(samples: Sequence[Sample]) -> CategoryModel:
    """Fit the category model on labelled rows (B, and D with an exclusion list); deterministic."""
    pairs = training_pairs(samples)
    if not pairs:
        raise ValueError("no labelled exclusion items to fit on (need Type B or D rows with '逐项排除' lists)")
    counts = Counter(f for feats, _ in pairs for f in set(feats))
    vocabulary = {f: i for i, f in enumerate(sorted(f for f, n in counts.items() if n >= MIN_FEATURE_COUNT))}
    rows_at: list[int] = []
    cols_at: list[int] = []
    y = np.zeros((len(pairs), len(LABELS)))
    for row, (feats, label) in enumerate(pairs):
        present = sorted({vocabulary[f] for f in feats if f in vocabulary})
        rows_at += [row] * len(present)
        cols_at += present
        y[row, LABELS.index(label)] = 1.0
    # binary features, a few dozen per candidate: sparse products keep the fit fast on a small CPU
    x = sparse.csr_matrix((np.ones(len(rows_at)), (rows_at, cols_at)), shape=(len(pairs), len(vocabulary)))
    xt = x.T.tocsr()
    weights = np.zeros((len(vocabulary), len(LABELS)))
    bias = np.zeros(len(LABELS))
    n = len(pairs)
    for _ in range(EPOCHS):
        logits = x @ weights + bias
        logits -= logits.max(axis=1, keepdims=True)
        prob = np.exp(logits)
        prob /= prob.sum(axis=1, keepdims=True)
        grad = prob - y
        weights -= LEARNING_RATE * (xt @ grad / n + L2 * weights)
        bias -= LEARNING_RATE * grad.mean(axis=0)
    rows = sum(1 for s in samples if s.type in ("B", "D"))
    return CategoryModel(vocabulary=vocabulary, weights=weights, bias=bias, rows=rows, examples=n)


def save_model(model: CategoryModel, path: str | os.PathLike[str] = DEFAULT_MODEL_PATH) -> Path:
    return write_text_atomic(path, json.dumps(model.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n")


def load_model(path: str | os.PathLike[str] = DEFAULT_MODEL_PATH) -> CategoryModel:
    """The fitted model at `path`; a `UserError` naming the file when it is unreadable or was
    written by another version (its features would not mean the same)."""
    try:
        return CategoryModel.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(
            f"{path}: not a usable annotator model ({error}); refit it with `finsynth annotator fit data/raw`"
        ) from error
