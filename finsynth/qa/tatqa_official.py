"""TAT-QA's leaderboard score: the behaviour of the official scorer (NExTplusplus/TAT-QA `tatqa_eval.py` with its
`tatqa_metric.py` / `tatqa_utils.py`), written from a reading of it, question by question.

How the official scorer reads one prediction `(answer, scale)` against a gold question:
- an empty prediction (`None`, `""`, `[]`, and also the number `0`: the script tests `not prediction`) scores 0;
- both answers become ONE string: the spans (a bare answer is one span) are sorted as given and joined with
  spaces, so a multi-span answer is one bag of tokens, whatever its span order, and a dropped span costs recall
  only (DROP's one-to-one alignment of spans runs over that single bag);
- a span that reads as a number (its first word is a number once `$€£¥%(),[]'"\\` are dropped, and a second word,
  if any, is a scale word) becomes its value: the first number in it, times a scale word written after a number
  (`2 million`), negative when a plain number is in parentheses (`(134)`; not `(1,234)`, whose comma breaks the
  pattern), a hundredth with `%`; then, unless the span has a `%`, rounded to 2 decimals and multiplied by the
  answer's `scale` (`thousand` 1e3, `million` 1e6, `billion` 1e9, `percent` 0.01), written with 4 decimals. A
  scale mismatch therefore makes a different number and the score is 0 (the value is never rescaled to match);
- a span that is not a number gets the scale word appended (`"apple million"`);
- a single bare number predicted with no scale is also tried as written (to 4 decimals, not rounded to 2), so
  `0.2342` matches gold `23.42` with scale `percent`; the better of the two readings counts;
- both strings are normalised token by token (split on single spaces; lower case; punctuation dropped unless the
  token reads as a number, which becomes its value's `str`; `a`/`an`/`the` dropped); EM is 1 when the two
  normalised strings are equal; F1 is the token-set F1 of the two bags (no number-match rule), rounded half to
  even to 2 decimals as numpy does; for `arithmetic` and `count` questions F1 is EM.

The departures `finsynth.qa.tatqa.score_answer` makes (spans as separate bags, a number rescaled across scales,
`(1,234)` negative, a gold number required in a span) are the `lenient` metric, reported beside this one.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Sequence
from typing import Any

_NOT_IN_NUMBERS = set("'\"\\$€£¥%(),[]")
_FIRST_NUMBER = re.compile(r"([+-]?\d+(\.\d+)?)|([+-]?\.\d+)")
_NEGATIVE = re.compile(r"\([\d.\s]+\)")
_PERCENT = re.compile(r"[\d.\s]+%")
_NUMBER_THEN_WORD = re.compile(r"[\d.]+\s?[a-zA-Z]+")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def scale_factor(word: str) -> int | float:
    """A scale word's multiplier: a word that contains hundred/thousand/million/billion/percent, else 1 (ints,
    so that a whole number stays an int, as it does in the official scorer)."""
    word = word.lower()
    for name, factor in (
        ("hundred", 100),
        ("thousand", 1_000),
        ("million", 1_000_000),
        ("billion", 1_000_000_000),
        ("percent", 0.01),
    ):
        if name in word:
            return factor
    return 1


def _without_number_marks(text: str) -> str:
    return "".join(c for c in text if c not in _NOT_IN_NUMBERS)


def reads_as_number(text: str) -> bool:
    """True when the first word, with currency signs, commas, brackets and `%` dropped, is a float (Python's
    `float`: `1e5`, `inf` too, not `nan`) and a second word, if any, is a scale word."""
    words = _without_number_marks(text).split()
    if not words:
        return False
    try:
        first = float(words[0])
    except ValueError:
        return False
    if math.isnan(first):
        return False
    return len(words) < 2 or scale_factor(words[1]) != 1


def number_value(text: str) -> int | float | None:
    """The value the official scorer reads in `text`: its first number (`.5` alone reads as none), times the scale
    word after the first number-and-word (`2 million`), negated for `(134)`, a hundredth for `12%`, to 4 decimals."""
    match = _FIRST_NUMBER.search(_without_number_marks(text))
    if match is None or not match.group(1):
        return None
    digits = match.group(1)
    number: int | float = float(digits) if "." in digits else int(digits)
    word = _NUMBER_THEN_WORD.search(text)
    scale = scale_factor(word.group(0)) if word else 1
    sign = -1 if _NEGATIVE.search(text.strip()) else 1
    percent = 0.01 if _PERCENT.search(text.strip()) else 1
    return round(number * scale * sign * percent, 4)


def normalize_answer(text: str) -> str:
    """Token by token (split on single spaces): lower case; punctuation dropped unless the token reads as a number,
    which then becomes `str` of its value; articles dropped; empty tokens dropped."""
    parts = []
    for token in text.split(" "):
        token = token.lower()
        if not reads_as_number(token):
            token = "".join(c for c in token if c not in _PUNCTUATION)
        if reads_as_number(token):
            token = str(number_value(token))
        token = " ".join(_ARTICLES.sub(" ", token).split())
        if token.strip():
            parts.append(token)
    return " ".join(parts).strip()


def _sorted_spans(spans: Sequence[Any]) -> list[Any]:
    try:
        return sorted(spans)
    except TypeError:  # numbers mixed with text: the official script stops here; compare them as text
        return sorted(spans, key=str)


def answer_string(spans: Sequence[Any], scale: str) -> str:
    """The one string an answer is compared as: its spans sorted and joined, numbers as their scaled value."""
    shown = []
    for span in _sorted_spans(spans):
        text = str(span)
        if reads_as_number(text):
            value = number_value(text)
            if value is None:
                text = f"{text} {scale}" if scale else text
            elif "%" in text:  # the span is already a percentage: the scale does not apply
                text = f"{value:.4f}"
            else:
                text = f"{round(value, 2) * scale_factor(scale):.4f}"
        elif scale:
            text = f"{text} {scale}"
        shown.append(text)
    return " ".join(shown)


def _bag_f1(predicted: set[str], gold: set[str]) -> float:
    common = len(gold & predicted)
    precision = 1.0 if not predicted else common / float(len(predicted))
    recall = 1.0 if not gold else common / float(len(gold))
    return 0.0 if precision == 0.0 and recall == 0.0 else (2 * precision * recall) / (precision + recall)


def _round2(value: float) -> float:
    """numpy's rounding to 2 decimals (scale, round half to even, unscale), which the official F1 goes through."""
    return round(value * 100) / 100


def _em_f1(predicted: str, gold: str) -> tuple[float, float]:
    p, g = normalize_answer(predicted), normalize_answer(gold)
    return (1.0 if p == g else 0.0), _round2(_bag_f1(set(p.split()), set(g.split())))


def gold_spans(kind: str, spans: Sequence[str], value: float | None) -> list[str]:
    """A gold answer as the official scorer lists it: the spans of a span or multi-span answer, the number of an
    arithmetic one, the whole number of a count."""
    if kind in ("span", "multi-span"):
        return list(spans)
    if kind == "count":
        text = spans[0] if spans else str(value)
        try:
            return [str(int(text))]
        except ValueError:
            return [text]
    return [str(value) if value is not None else (spans[0] if spans else "")]


def score(prediction: Any, pred_scale: str, gold: Sequence[str], gold_scale: str, kind: str) -> tuple[float, float]:
    """(EM, F1) of one prediction (a string, a number or a list of spans) as the official scorer gives them."""
    if not prediction or not gold:
        return 0.0, 0.0
    spans = prediction if isinstance(prediction, list) else [prediction]
    candidates = [answer_string(spans, pred_scale)]
    if len(spans) == 1 and not pred_scale:
        alone = str(spans[0])
        if "%" not in alone and reads_as_number(alone):
            value = number_value(alone)
            if value is not None:
                candidates.append(f"{value:.4f}")
    target = answer_string(gold, gold_scale)
    em, f1 = max(_em_f1(candidate, target) for candidate in candidates)
    return (em, em) if kind in ("arithmetic", "count") else (em, f1)
