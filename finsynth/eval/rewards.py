"""GRPO rewards: plain functions over one model reply and its gold, and trl adapters around them.

Metric extraction (`task="extraction"`): the reply is parsed as evaluation parses a prediction
(`finsynth.parsing.parse_reply`: a `<think>` block and a code fence are removed first), then scored on
five components, each its own function:

- `json_valid` 1 when the reply parses as the `Extraction` schema, else 0;
- `name_f1` F1 of predicted metric names against gold under the matcher `finsynth eval` uses (fuzzy,
  one-to-one), 2·matched / (predicted + gold); 1 when both lists are empty;
- `count` (1 - |predicted - gold| / max(gold, 1), clipped to [0, 1]) x the share of predicted names that match
  gold (1 for an empty list): credit for the list's length is given only for the names that are right;
- `type_accuracy` the share of matched pairs whose metric_type is right; 1 when both lists are empty,
  0 when no pair matched;
- `lint_penalty` in [-1, 0]: minus the summed weights of the analysis lint rules that fire on the reply
  (`RewardWeights.lint_rules`: numbered-list, semicolon-enumeration, count-anchor and, for a training
  type A-D, style-mismatch), capped at 1.

A reply that does not parse as the schema (no JSON object, or 5 metrics, a missing analysis, a score
given as text) is an unparseable reply: 0 on every positive component and the full lint penalty, -1.
Decision: the full penalty, not 0, because there is no analysis to check, and an unreadable reply
must never total more than a readable one that trips a lint rule; it always gets the lowest total.

Decision (issue 25): `count` is weighted by precision. Plain 1 - |p - g| / g paid for the length of the list,
right names or not, so padding a short list with a wrong name raised the total (gold 2, one right name: 1.92 ->
2.0 with a wrong second one): lesson 1's pad-to-N habit, taught through the reward (the GRPO run of
docs/benchmarks.md, on training prompts of 2.13 gold metrics each, grew the predicted count from 1.66 to 2.88,
consistent with it). Weighted, a short list's
count credit is its recall (p/g x m/p = m/g): a wrong name added to it earns nothing on count and costs F1, and a
list of the right length with wrong names earns no count credit. A longer list than gold never beats the exact
one: every component is at its maximum for the exact reply.

Note: the reference corpus's type C analyses open with "本段只有1个指标被深度分析", which count-anchor
flags (see that rule's decision); a type C gold row used as its own prediction therefore scores the
count-anchor penalty, and GRPO moves the model away from that opening.

QA (`task="qa"`): one component, `qa_exact`, in [0, 1] (see `qa_exact` for the answer formats read):
- a numeric gold answer scores 1 when the predicted value equals it after scale normalisation
  (`finsynth.qa.tatqa.score_answer`: `12%` = 12 with scale percent, `(1,234)` = -1234, `2 million`
  = 2000 with scale thousand); a wrong value of the right sign within a factor of 10 scores up to
  `MAGNITUDE_CREDIT` (0.5), falling linearly with |log10(predicted / gold)| to 0 at a factor of 10
  (so 1% off ≈ 0.5, 2x off ≈ 0.35); a scale error (thousand for million, 0.12 for 12%) scores 0;
- a span answer (or several) scores TAT-QA's F1 (1 on an exact match).

The weighted total is sum(weight · component) (`RewardWeights`); trl computes the same sum from the
per-component functions of `trl_reward_functions` and their weights.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from finsynth.audit.lint import lint_sample, select_rules
from finsynth.errors import ConfigError
from finsynth.io import InputError, schema_errors
from finsynth.parsing import ParsedReply, find_json_object, parse_reply, strip_wrappers
from finsynth.qa.tatqa import SCALES, parse_number, score_answer
from finsynth.schema import Extraction, ParagraphInput, Sample
from finsynth.text.names import Matcher, get_matcher

Task = Literal["extraction", "qa"]
EXTRACTION_COMPONENTS = ("json_valid", "name_f1", "count", "type_accuracy", "lint_penalty")
QA_COMPONENTS = ("qa_exact",)
COMPONENTS: dict[str, tuple[str, ...]] = {"extraction": EXTRACTION_COMPONENTS, "qa": QA_COMPONENTS}
PENALTIES = frozenset({"lint_penalty"})  # components in [-1, 0]; the others are in [0, 1]

# The analysis habits the GUIDE's lessons measured as harmful (lint's own rationales cite them); each
# costs half the penalty, so an enumeration that also opens with a count gets the whole of it.
DEFAULT_LINT_RULES: dict[str, float] = {
    "numbered-list": 0.5,
    "semicolon-enumeration": 0.5,
    "count-anchor": 0.5,
    "style-mismatch": 0.5,
}
# style-mismatch judges an analysis against its training type; a test case has none
_TYPED_RULES = frozenset({"style-mismatch"})
MAGNITUDE_CREDIT = 0.5


class RewardWeights(BaseModel):
    """The weight of each component in the total, and of each lint rule in `lint_penalty`.

    Defaults: `name_f1` 1.0 (what evaluation scores), `count`, `type_accuracy` and `json_valid` 0.5
    each, `lint_penalty` 0.5 (so a style fault costs less than a wrong name: correctness first), and
    `qa_exact` 1.0. The extraction total lies in [-0.5, 2.5] with these."""

    model_config = ConfigDict(extra="forbid")

    json_valid: float = Field(default=0.5, ge=0.0)
    name_f1: float = Field(default=1.0, ge=0.0)
    count: float = Field(default=0.5, ge=0.0)
    type_accuracy: float = Field(default=0.5, ge=0.0)
    lint_penalty: float = Field(default=0.5, ge=0.0)
    lint_rules: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_LINT_RULES))
    qa_exact: float = Field(default=1.0, ge=0.0)

    @field_validator("lint_rules")
    @classmethod
    def _known_sample_rules(cls, rules: dict[str, float]) -> dict[str, float]:
        known = {r.id for r in select_rules(scope="sample")}
        unknown = sorted(set(rules) - known)
        if unknown:
            raise ValueError(f"unknown sample lint rule(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        bad = sorted(rule_id for rule_id, weight in rules.items() if not 0.0 < weight <= 1.0)
        if bad:
            raise ValueError(f"lint rule weight(s) for {', '.join(bad)} must be in (0, 1]")
        return rules

    def for_task(self, task: Task) -> dict[str, float]:
        """Component name -> weight, in the order of the task's components."""
        return {name: float(getattr(self, name)) for name in _components(task)}

    def bounds(self, task: Task) -> tuple[float, float]:
        """The lowest and highest weighted total a reply can get."""
        weights = self.for_task(task)
        low = -sum(w for name, w in weights.items() if name in PENALTIES)
        high = sum(w for name, w in weights.items() if name not in PENALTIES)
        return low, high


def _components(task: str) -> tuple[str, ...]:
    if task not in COMPONENTS:
        raise ConfigError(f"unknown reward task {task!r}: choose one of {', '.join(COMPONENTS)}")
    return COMPONENTS[task]


# --- completions --------------------------------------------------------------------------------


def completion_text(completion: str | Sequence[Mapping[str, Any]] | None) -> str:
    """The text of a completion as trl passes it: a string, or conversational messages (the assistant
    turns' contents, joined)."""
    if completion is None:
        return ""
    if isinstance(completion, str):
        return completion
    parts = [str(m.get("content") or "") for m in completion if m.get("role", "assistant") == "assistant"]
    return "".join(parts)


@lru_cache(maxsize=8192)
def _parse_text(text: str) -> ParsedReply:
    # each component function parses the same reply once per trl call: parse it once
    return parse_reply(text if text.strip() else None)


def parse_completion(completion: str | Sequence[Mapping[str, Any]] | None) -> ParsedReply:
    """A completion parsed as evaluation parses a prediction (a `<think>` block and a fence removed)."""
    return _parse_text(completion_text(completion))


@lru_cache(maxsize=4096)
def _gold_from_text(text: str) -> Extraction:
    return Extraction.model_validate_json(text)


def gold_extraction(gold: str | Mapping[str, Any] | Extraction, where: str = "gold") -> Extraction:
    """The gold extraction from the `gold` column (its JSON text, a dict, or an `Extraction`); a gold
    that is not one is the user's data error, named by `where`."""
    if isinstance(gold, Extraction):
        return gold
    try:
        if isinstance(gold, str):
            return _gold_from_text(strip_wrappers(gold))
        return Extraction.model_validate(gold)
    except ValidationError as exc:
        raise InputError(
            f"{where}: not a gold extraction ({schema_errors(exc)}); pass the gold assistant reply "
            "`finsynth build` wrote (the analysis and metrics JSON)"
        ) from exc


@cache
def default_matcher() -> Matcher:
    """The matcher `finsynth eval` uses by default (fuzzy, built-in lexicon)."""
    return get_matcher("fuzzy")


# --- extraction components ----------------------------------------------------------------------


def json_valid(reply: ParsedReply) -> float:
    """1 when the reply parses as the `Extraction` schema, else 0."""
    return 1.0 if reply.extraction is not None else 0.0


def _names(extraction: Extraction) -> list[str]:
    return [m.metric_name for m in extraction.metrics]


def name_f1(reply: ParsedReply, gold: Extraction, matcher: Matcher | None = None) -> float:
    """F1 of the predicted metric names against gold under `matcher` (default: evaluation's fuzzy one):
    2·matched / (predicted + gold); 1 when both are empty, 0 for an unparseable reply."""
    if reply.extraction is None:
        return 0.0
    pred, want = _names(reply.extraction), _names(gold)
    if not pred and not want:
        return 1.0
    matched = len((matcher or default_matcher()).match(want, pred))
    return 2 * matched / (len(pred) + len(want))


def count(reply: ParsedReply, gold: Extraction, matcher: Matcher | None = None) -> float:
    """(1 - |predicted - gold| / max(gold, 1), clipped to [0, 1]) x the share of the predicted names that match a
    gold one under `matcher` (1 for an empty prediction); 0 for an unparseable reply."""
    if reply.extraction is None:
        return 0.0
    pred, want = len(reply.extraction.metrics), len(gold.metrics)
    closeness = max(0.0, 1.0 - abs(pred - want) / max(want, 1))
    if closeness == 0.0 or pred == 0:
        return closeness
    matched = len((matcher or default_matcher()).match(_names(gold), _names(reply.extraction)))
    return closeness * matched / pred


def type_accuracy(reply: ParsedReply, gold: Extraction, matcher: Matcher | None = None) -> float:
    """The share of matched name pairs whose metric_type is the gold one; 1 when both lists are empty,
    0 when no pair matched or the reply is unparseable."""
    if reply.extraction is None:
        return 0.0
    pred, want = reply.extraction.metrics, gold.metrics
    if not pred and not want:
        return 1.0
    pairs = (matcher or default_matcher()).match([m.metric_name for m in want], [m.metric_name for m in pred])
    if not pairs:
        return 0.0
    return sum(want[p.gold].metric_type == pred[p.pred].metric_type for p in pairs) / len(pairs)


def fired_lint_rules(
    extraction: Extraction, sample_type: str | None = None, paragraph: str = "", weights: RewardWeights | None = None
) -> list[str]:
    """The ids of the weighted lint rules that fire on a reply's analysis, for a sample of `sample_type`
    (A-D; None or "test" for a test case, which style-mismatch does not judge)."""
    rules = dict((weights or RewardWeights()).lint_rules)
    typed = sample_type in ("A", "B", "C", "D")
    chosen = [r for r in rules if typed or r not in _TYPED_RULES]
    if not chosen:
        return []
    # the rules read the analysis, the metric names and the type only: the row need not be a valid
    # training sample (an empty paragraph is fine), so it is built without validation
    item = Sample.model_construct(
        type=sample_type if typed else "A",
        input=ParagraphInput.model_construct(chapter_title="", paragraph=paragraph),
        output=extraction,
    )
    return sorted({f.rule for f in lint_sample(item, rules=chosen)})


def lint_penalty(
    reply: ParsedReply, sample_type: str | None = None, paragraph: str = "", weights: RewardWeights | None = None
) -> float:
    """Minus the summed weights of the lint rules that fire on the analysis, capped at -1; -1 for an
    unparseable reply (no analysis to check)."""
    if reply.extraction is None:
        return -1.0
    rules = (weights or RewardWeights()).lint_rules
    fired = fired_lint_rules(reply.extraction, sample_type, paragraph, weights)
    return 0.0 - min(1.0, sum(rules[r] for r in fired))


# --- QA -----------------------------------------------------------------------------------------

_ANSWER_LINE = re.compile(r"(?:final\s+answer|answer|最终答案|答案)\s*(?:is\s*)?[:：]\s*(?P<answer>.+)", re.IGNORECASE)


def _answer_from_object(obj: Mapping[str, Any]) -> tuple[Any, str] | None:
    answer = obj.get("answer")
    scale = obj.get("scale")
    if isinstance(answer, Mapping):  # a QASample-shaped answer: {"text", "spans", "value", "scale"}
        scale = answer.get("scale", scale)
        spans = answer.get("spans")
        answer = spans if isinstance(spans, list) and spans else answer.get("text", answer.get("value"))
    if answer is None and isinstance(obj.get("reasoning"), Mapping):
        return _answer_from_object(obj["reasoning"])
    if answer is None or isinstance(answer, bool | Mapping):
        return None
    scale = scale if isinstance(scale, str) and scale in SCALES else ""
    if isinstance(answer, list):
        return [str(a) for a in answer], scale
    return answer, scale


def qa_answer(completion: str | Sequence[Mapping[str, Any]] | None) -> tuple[Any, str] | None:
    """(answer, scale) from a QA reply, None when it has none. Read, after removing a `<think>` block
    and a code fence: a JSON object's `answer` (a string, a number, a list of spans, or a QASample
    answer object with `text`/`spans`/`scale`; else its `reasoning.answer`) with its `scale`; else the
    last line saying `答案：` / `Answer:`; else the whole reply."""
    text = strip_wrappers(completion_text(completion))
    if not text:
        return None
    if "{" in text:
        try:
            found = _answer_from_object(find_json_object(text))
        except json.JSONDecodeError:
            found = None
        if found is not None:
            return found
    lines = [m.group("answer").strip() for m in map(_ANSWER_LINE.search, text.splitlines()) if m]
    if lines and lines[-1]:
        return lines[-1], ""
    return text, ""


def gold_spans(answer: Any) -> list[str]:
    """The gold answer's spans from the `answer` column: a list, a JSON (or Python) list written as
    text, a number, or one span."""
    if isinstance(answer, list | tuple):
        return [str(a) for a in answer]
    if isinstance(answer, int | float) and not isinstance(answer, bool):
        return [str(answer)]
    text = str(answer).strip()
    if text.startswith("[") and text.endswith("]"):
        for decode in (json.loads, ast.literal_eval):
            try:
                value = decode(text)
            except (ValueError, SyntaxError):
                continue
            if isinstance(value, list):
                return [str(a) for a in value]
    return [text]


def magnitude_credit(pred: float, gold: float) -> float:
    """Partial credit for a wrong number of the right size: `MAGNITUDE_CREDIT` x (1 - |log10(pred / gold)|)
    for the same sign within a factor of 10, else 0 (and 0 when either is 0)."""
    if pred == 0 or gold == 0 or (pred > 0) != (gold > 0):
        return 0.0
    distance = abs(math.log10(pred / gold))
    return MAGNITUDE_CREDIT * (1.0 - distance) if distance < 1.0 else 0.0


def qa_exact(
    completion: str | Sequence[Mapping[str, Any]] | None, answer: Any, scale: str = "", kind: str | None = None
) -> float:
    """The QA reward of one reply against the gold `answer` (spans) and its `scale`: for a numeric gold
    (kind arithmetic or count, or, with no kind, a single span that is a number) 1 on an exact match
    after scale normalisation, else `magnitude_credit`; for span answers TAT-QA's F1."""
    found = qa_answer(completion)
    if found is None:
        return 0.0
    pred, pred_scale = found
    spans = gold_spans(answer)
    gold_scale = scale if scale in SCALES else ""
    gold_value = parse_number(spans[0], gold_scale) if len(spans) == 1 else None
    numeric = kind in ("arithmetic", "count") or (kind is None and gold_value is not None)
    if numeric:
        exact, _ = score_answer(pred, pred_scale, spans, gold_scale, "arithmetic")
        if exact or gold_value is None:
            return exact
        pred_spans = pred if isinstance(pred, list) else [pred]
        value = parse_number(str(pred_spans[0]), pred_scale) if len(pred_spans) == 1 else None
        return 0.0 if value is None else magnitude_credit(value, gold_value)
    _, f1 = score_answer(pred, pred_scale, spans, gold_scale, kind or ("multi-span" if len(spans) > 1 else "span"))
    return f1


# --- breakdowns ---------------------------------------------------------------------------------


def _total(values: dict[str, float], weights: RewardWeights, task: Task) -> float:
    return sum(weights.for_task(task)[name] * value for name, value in values.items())


def extraction_breakdown(
    completion: str | Sequence[Mapping[str, Any]] | None,
    gold: str | Mapping[str, Any] | Extraction,
    *,
    sample_type: str | None = None,
    paragraph: str = "",
    weights: RewardWeights | None = None,
    matcher: Matcher | None = None,
) -> dict[str, float]:
    """Every extraction component of one reply, and the weighted `total`."""
    weights = weights or RewardWeights()
    reply, want = parse_completion(completion), gold_extraction(gold)
    values = {
        "json_valid": json_valid(reply),
        "name_f1": name_f1(reply, want, matcher),
        "count": count(reply, want, matcher),
        "type_accuracy": type_accuracy(reply, want, matcher),
        "lint_penalty": lint_penalty(reply, sample_type, paragraph, weights),
    }
    return {**values, "total": _total(values, weights, "extraction")}


def qa_breakdown(
    completion: str | Sequence[Mapping[str, Any]] | None,
    answer: Any,
    scale: str = "",
    *,
    kind: str | None = None,
    weights: RewardWeights | None = None,
) -> dict[str, float]:
    """The QA component of one reply, and the weighted `total`."""
    weights = weights or RewardWeights()
    values = {"qa_exact": qa_exact(completion, answer, scale, kind)}
    return {**values, "total": _total(values, weights, "qa")}


def reward_breakdown(
    task: Task,
    completion: str | Sequence[Mapping[str, Any]] | None,
    *,
    weights: RewardWeights | None = None,
    **columns: Any,
) -> dict[str, float]:
    """The task's components and weighted `total` for one reply; `columns` are one row's dataset columns
    (extraction: `gold`, optional `sample_type`, `paragraph`; qa: `answer`, optional `scale`, `kind`)."""
    _components(task)
    if task == "extraction":
        if "gold" not in columns:
            raise InputError("extraction rewards need the gold extraction (column `gold`)")
        return extraction_breakdown(
            completion,
            columns["gold"],
            sample_type=columns.get("sample_type"),
            paragraph=columns.get("paragraph") or "",
            weights=weights,
        )
    if "answer" not in columns:
        raise InputError("qa rewards need the gold answer (column `answer`)")
    return qa_breakdown(
        completion, columns["answer"], columns.get("scale") or "", kind=columns.get("kind"), weights=weights
    )


# --- trl ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    """One completion with its row's columns, as a component sees it."""

    completion: Any
    columns: dict[str, Any]
    where: str

    def reply(self) -> ParsedReply:
        return parse_completion(self.completion)

    def gold(self) -> Extraction:
        if "gold" not in self.columns:
            raise InputError(f"{self.where}: extraction rewards need the gold extraction (dataset column `gold`)")
        return gold_extraction(self.columns["gold"], f"{self.where}: column gold")

    def answer(self) -> Any:
        if "answer" not in self.columns:
            raise InputError(f"{self.where}: qa rewards need the gold answer (dataset column `answer`)")
        return self.columns["answer"]


_COMPONENT_OF_ROW: dict[str, Callable[[_Row, RewardWeights], float]] = {
    "json_valid": lambda row, w: json_valid(row.reply()),
    "name_f1": lambda row, w: name_f1(row.reply(), row.gold()),
    "count": lambda row, w: count(row.reply(), row.gold()),
    "type_accuracy": lambda row, w: type_accuracy(row.reply(), row.gold()),
    "lint_penalty": lambda row, w: lint_penalty(
        row.reply(), row.columns.get("sample_type"), row.columns.get("paragraph") or "", w
    ),
    "qa_exact": lambda row, w: qa_exact(
        row.completion, row.answer(), row.columns.get("scale") or "", row.columns.get("kind")
    ),
}


class RewardFunction:
    """One reward component as trl's GRPOTrainer calls it: `f(prompts, completions, **columns)` with the
    dataset columns as lists (one entry per completion) and trl's own extras (`completion_ids`,
    `trainer_state`, ...) ignored; returns one float per completion. `__name__` is the component, which
    trl logs as `rewards/<name>/mean`. A module-level class, so the function pickles."""

    def __init__(self, component: str, weights: RewardWeights | None = None) -> None:
        if component not in _COMPONENT_OF_ROW:
            raise ConfigError(f"unknown reward component {component!r}: choose one of {', '.join(_COMPONENT_OF_ROW)}")
        self.__name__ = component
        self.component = component
        self.weights = weights or RewardWeights()

    def __call__(
        self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), **columns: Any
    ) -> list[float]:
        n = len(completions)
        lists = {k: v for k, v in columns.items() if isinstance(v, list | tuple) and len(v) == n}
        score = _COMPONENT_OF_ROW[self.component]
        return [
            score(_Row(completion, {k: v[i] for k, v in lists.items()}, f"row {i + 1}"), self.weights)
            for i, completion in enumerate(completions)
        ]

    def __repr__(self) -> str:
        return f"RewardFunction({self.component!r})"


def trl_reward_functions(
    task: Task, weights: RewardWeights | None = None
) -> tuple[list[Callable[..., list[float]]], list[float]]:
    """The task's reward components as trl reward functions, and their weights (GRPOConfig's
    `reward_weights`): trl's weighted sum is `reward_breakdown(...)["total"]`."""
    weights = weights or RewardWeights()
    names = _components(task)
    table = weights.for_task(task)
    return [RewardFunction(name, weights) for name in names], [table[name] for name in names]
