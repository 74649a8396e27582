"""Evaluation: load predictions, align them to gold test cases, match names, score, compare runs.

Definitions follow the reference project (GUIDE section 4): per case, gold metrics are matched
one-to-one to predicted ones by name;
- strict: predicted count == gold count and every gold metric matched;
- loose: |predicted - gold| <= 1 and every gold metric matched (and not strict);
- total = strict + loose.
Precision, recall and F1 are over metric names (matched / predicted, matched / gold), type accuracy is
over matched pairs. Nothing is hidden: a prediction whose JSON cannot be decoded, or that is not the
schema, is reported as invalid (`invalid_output`, beside `json_valid` and `schema_valid`).

Two scoring conventions (`SCORING`), chosen by the matcher:
- `honest` (every matcher but `reference`): an invalid output is a failed case whatever the gold, so
  a refusal or a list of sentences under `metrics` cannot score strict on an empty-gold case;
- `reference` (`--matcher reference`): as the reference project's script, an invalid output counts as
  the metrics that could be recovered from it (none for undecodable JSON), so on an empty-gold case it
  scores strict. This keeps the reference's published verdicts reproducible.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from finsynth.errors import AlignmentError as AlignmentError  # re-exported
from finsynth.io import InputError, load_file
from finsynth.markdown import markdown_table, pct
from finsynth.parsing import parse_reply
from finsynth.schema import Scenario, TestCase
from finsynth.text.lexicon import Lexicon
from finsynth.text.names import EmbeddingMatcher, Matcher, get_matcher

Verdict = Literal["strict", "loose", "fail"]
STATUS = {"strict": "✅", "loose": "🟡", "fail": "❌"}
# The reference results files use these marks; 🟢/🔴 are accepted too when reading other runs.
_STATUS_TO_VERDICT = {"✅": "strict", "🟢": "strict", "🟡": "loose", "❌": "fail", "🔴": "fail"}

# Fields that may hold the model's reply, in the order they are looked for.
OUTPUT_FIELDS = ("pred_raw", "output", "response", "prediction", "pred", "completion", "generated_text", "text", "raw")
SCENARIO_ORDER = [s.value for s in Scenario]

Scoring = Literal["honest", "reference"]
SCORING: dict[str, str] = {
    "honest": "an invalid-JSON or schema-invalid prediction fails whatever the gold",
    "reference": "as the reference script: an invalid prediction counts as the metrics recovered from it "
    "(an empty-gold case then scores strict)",
}


def scoring_for(matcher: Matcher) -> Scoring:
    """The convention a matcher's evaluation uses: `reference` for the reference matcher, else `honest`."""
    return "reference" if matcher.name == "reference" else "honest"


class PredMetric(BaseModel):
    """A predicted metric as far as evaluation needs it (lenient: type may be missing or odd)."""

    name: str
    type: str | None = None


class Prediction(BaseModel):
    """One prediction row, parsed, with where it came from."""

    path: str
    line: int
    id: str | None = None
    index: int | None = None
    scenario: str | None = None
    title: str | None = None
    raw: str | None = None
    json_valid: bool = False
    json_strict: bool = Field(default=False, description="the raw text was JSON as is, with no cleanup")
    schema_valid: bool = False
    error: str | None = None
    metrics: list[PredMetric] = Field(default_factory=list)
    reference_status: str | None = None


class Pair(BaseModel):
    gold: str
    pred: str
    score: float
    type_ok: bool


class CaseResult(BaseModel):
    """The verdict on one test case."""

    index: int
    id: str
    scenario: str
    title: str
    gold_names: list[str]
    gold_types: list[str]
    pred_names: list[str]
    pred_types: list[str | None]
    gold_count: int
    pred_count: int
    json_valid: bool
    json_strict: bool
    schema_valid: bool
    invalid_output: bool = Field(False, description="invalid JSON or not the schema (failed under honest scoring)")
    parse_error: str | None = None
    exact_hits: int
    matched: int
    type_correct: int
    pairs: list[Pair]
    missed: list[str]
    extra: list[str]
    verdict: Verdict
    status: str
    reference_status: str | None = None


class Summary(BaseModel):
    """Aggregate scores over a set of cases (overall or one scenario)."""

    n: int
    strict: int
    loose: int
    fail: int
    total: int
    total_rate: float | None
    strict_rate: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    type_accuracy: float | None
    json_valid: int
    json_valid_rate: float | None
    schema_valid: int
    invalid_output: int = Field(0, description="cases whose prediction is invalid JSON or not the schema")
    gold_metrics: int
    pred_metrics: int
    matched: int
    exact_hits: int
    type_correct: int
    mean_pred_count: float | None
    mean_gold_count: float | None


class ReferenceAgreement(BaseModel):
    """How our verdicts compare with verdicts recorded in the predictions file (`status`)."""

    compared: int
    agree: int
    disagreements: list[dict[str, Any]] = Field(default_factory=list)


class EvalReport(BaseModel):
    """Everything `finsynth eval` reports, as data."""

    matcher: str
    threshold: float
    scoring: Scoring = Field(
        "reference",
        description="honest: an invalid output fails; reference: as the "
        "reference script (reports written before the field existed scored this way)",
    )
    pred_path: str
    gold_path: str
    alignment: str
    overall: Summary
    by_scenario: dict[str, Summary]
    cases: list[CaseResult]
    reference_agreement: ReferenceAgreement | None = None
    missing: int = Field(0, description="gold cases with no prediction, left out of the scores (--partial)")


# --- loading ---------------------------------------------------------------------------------------


def _rows_of(path: Path) -> list[tuple[int, Any]]:
    """(line or position, decoded row) for a JSON array, a JSON object holding a list, or JSONL."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM (Windows editors) is not part of the data
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8: {exc}") from exc
    stripped = text.lstrip()
    if stripped.startswith("[") or (stripped.startswith("{") and path.suffix == ".json"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            if stripped.startswith("["):
                raise InputError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from exc
            doc = None  # a .json file with one object per line: read as JSONL below
        if isinstance(doc, dict):
            for key in ("predictions", "results", "cases", "data"):
                if isinstance(doc.get(key), list):
                    doc = doc[key]
                    break
            else:
                doc = [doc]
        if isinstance(doc, list):
            return list(enumerate(doc, start=1))
    rows: list[tuple[int, Any]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path}: line {number}: not a JSON row ({exc.msg}); raw model text belongs in a field "
                f"such as 'output' or 'pred_raw'"
            ) from exc
    return rows


def parse_prediction(row: Any, path: str = "<memory>", line: int = 0) -> Prediction:
    """Turn one prediction row (raw text, a parsed extraction, or a record holding either) into a Prediction."""
    pred = Prediction(path=path, line=line)
    payload: Any
    if isinstance(row, str) or row is None:
        payload = row
    elif isinstance(row, dict):
        if row.get("id") is not None:
            pred.id = str(row["id"])
        if row.get("index") is not None:
            try:
                pred.index = int(row["index"])
            except (TypeError, ValueError) as exc:
                raise InputError(f"{path}: line {line}: field 'index' is {row['index']!r}, not an integer") from exc
        scenario = row.get("scenario")
        pred.scenario = scenario if isinstance(scenario, str) else None
        title = row.get("title", row.get("chapter_title"))
        pred.title = title if isinstance(title, str) else None
        status = row.get("status")
        pred.reference_status = status if isinstance(status, str) else None
        field = next((f for f in OUTPUT_FIELDS if f in row), None)
        if field is not None:
            payload = row[field]
        elif "metrics" in row or "analysis" in row:
            payload = row  # the row is the extraction itself
        else:
            raise InputError(
                f"{path}: line {line}: no prediction field: expected one of {', '.join(OUTPUT_FIELDS)} "
                f"or an extraction with 'metrics' (keys: {', '.join(sorted(row)) or 'none'})"
            )
    else:
        raise InputError(f"{path}: line {line}: a prediction row is {type(row).__name__}, expected text or an object")

    if isinstance(payload, dict) and "metrics" not in payload and isinstance(payload.get("output"), (str, dict)):
        payload = payload["output"]  # {"input": ..., "output": {...}} as written by a generation script
    if isinstance(payload, str):
        pred.raw = payload
        try:
            pred.json_strict = isinstance(json.loads(payload), dict)
        except json.JSONDecodeError:
            pred.json_strict = False
    elif payload is not None and not isinstance(payload, dict):
        raise InputError(f"{path}: line {line}: prediction is {type(payload).__name__}, expected text or an object")
    else:
        pred.json_strict = payload is not None

    parsed = parse_reply(payload if payload != "" else None)
    pred.json_valid = parsed.json_valid
    pred.schema_valid = parsed.schema_valid
    pred.error = parsed.error
    if parsed.extraction is not None:
        pred.metrics = [PredMetric(name=m.metric_name, type=m.metric_type) for m in parsed.extraction.metrics]
    elif isinstance(parsed.data, dict):
        # Schema-invalid but decodable: evaluate what is there (as the reference does), report the error.
        raw_metrics = parsed.data.get("metrics")
        if isinstance(raw_metrics, list):
            for item in raw_metrics:
                if isinstance(item, dict) and isinstance(item.get("metric_name"), str):
                    kind = item.get("metric_type")
                    pred.metrics.append(
                        PredMetric(name=item["metric_name"].strip(), type=kind if isinstance(kind, str) else None)
                    )
    return pred


def load_predictions(path: str | os.PathLike[str]) -> list[Prediction]:
    """Read predictions from JSON (array, or an object with a `predictions`/`results` list) or JSONL."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return [parse_prediction(row, str(path), line) for line, row in _rows_of(path)]


def load_gold(path: str | os.PathLike[str]) -> list[TestCase]:
    """Read gold test cases; any row that does not validate is an error (a gold set is not quarantined)."""
    result = load_file(path, kind="test")
    if result.quarantined:
        first = result.quarantined[0]
        more = f" (and {len(result.quarantined) - 1} more)" if len(result.quarantined) > 1 else ""
        raise InputError(f"{first.path}: line {first.line}: field {first.field}: {first.reason}{more}")
    cases = result.test_cases
    if not cases:
        raise InputError(f"{path}: no test cases")
    return cases


def align(
    predictions: Sequence[Prediction], gold: Sequence[TestCase], partial: bool = False
) -> tuple[list[Prediction], str, list[TestCase]]:
    """Pair each gold case with its prediction: by `id`, else by `index`, else by order; returns the
    predictions, the mode, and the gold cases they pair with (all of them unless `partial`).

    Every gold case needs exactly one prediction, unless `partial` (`infer --limit N`: the cases
    without a prediction are left out and counted); a prediction that names an unknown case, a
    duplicate, a missing case, or a `scenario`/`title` that contradicts the gold case it lands on
    raises AlignmentError naming the file and line.
    """
    if not predictions:
        raise AlignmentError("no predictions")
    where = predictions[0].path
    has_id = [p.id is not None for p in predictions]
    has_index = [p.index is not None for p in predictions]
    if any(has_id) and not all(has_id):
        p = predictions[has_id.index(False)]
        raise AlignmentError(f"{p.path}: line {p.line}: some predictions have an 'id' and this one has none")
    keys: list[Any]  # ids (str) or indexes (int)
    wanted: list[Any]
    if all(has_id) and any(p.id in {g.id for g in gold} for p in predictions):
        mode, keys, wanted = "id", [p.id for p in predictions], [g.id for g in gold]
    elif any(has_index):
        if not all(has_index):
            p = predictions[has_index.index(False)]
            raise AlignmentError(f"{p.path}: line {p.line}: some predictions have an 'index' and this one has none")
        base = 0 if min(p.index for p in predictions) == 0 else 1  # type: ignore[type-var]
        mode, keys = f"index ({base}-based)", [p.index for p in predictions]
        wanted = list(range(base, base + len(gold)))
    elif all(has_id):
        p = predictions[0]
        raise AlignmentError(f"{p.path}: line {p.line}: prediction id {p.id!r} matches no gold case id")
    else:
        if len(predictions) < len(gold) and partial:
            gold = list(gold[: len(predictions)])
        if len(predictions) != len(gold):
            raise AlignmentError(
                f"{where}: {len(predictions)} predictions for {len(gold)} gold cases; without 'id' or "
                f"'index' they are paired by order, so the counts must be equal"
            )
        mode, keys, wanted = "order", list(range(len(gold))), list(range(len(gold)))

    by_key: dict[Any, Prediction] = {}
    for key, pred in zip(keys, predictions, strict=True):
        if key in by_key:
            raise AlignmentError(
                f"{pred.path}: line {pred.line}: duplicate prediction for {mode.split()[0]} {key!r} "
                f"(first at line {by_key[key].line})"
            )
        by_key[key] = pred
    wanted_set = set(wanted)
    unknown = [k for k in keys if k not in wanted_set]
    if unknown:
        pred = by_key[unknown[0]]
        raise AlignmentError(
            f"{pred.path}: line {pred.line}: {mode.split()[0]} {unknown[0]!r} matches no gold case"
            f" ({len(unknown)} such predictions)"
        )
    missing = [k for k in wanted if k not in by_key]
    if missing and not partial:
        raise AlignmentError(
            f"{where}: no prediction for {len(missing)} gold case(s), first {mode.split()[0]} {missing[0]!r}; "
            f"`partial` scores the cases that have one",
            setting="partial",
        )
    kept = [case for key, case in zip(wanted, gold, strict=True) if key in by_key]
    gold = kept
    aligned = [by_key[k] for k in wanted if k in by_key]
    for number, (pred, case) in enumerate(zip(aligned, gold, strict=True), start=1):
        if pred.scenario is not None and pred.scenario != case.scenario.value:
            raise AlignmentError(
                f"{pred.path}: line {pred.line}: scenario {pred.scenario!r} but gold case {number} "
                f"({case.provenance.source}:{case.provenance.line}) is {case.scenario.value!r}: files misaligned"
            )
        if pred.title is not None and pred.title.strip() != case.input.chapter_title.strip():
            raise AlignmentError(
                f"{pred.path}: line {pred.line}: title {pred.title!r} but gold case {number} "
                f"({case.provenance.source}:{case.provenance.line}) has {case.input.chapter_title!r}: files misaligned"
            )
    return aligned, mode, kept


# --- scoring ---------------------------------------------------------------------------------------


def verdict_of(gold_count: int, pred_count: int, matched: int) -> Verdict:
    """Reference verdict: strict, loose (count off by one), or fail; every gold metric must be matched."""
    if matched == gold_count and pred_count == gold_count:
        return "strict"
    if matched == gold_count and abs(pred_count - gold_count) <= 1:
        return "loose"
    return "fail"


def score_case(
    index: int, case: TestCase, pred: Prediction, matcher: Matcher, scoring: Scoring | None = None
) -> CaseResult:
    """Match one prediction against its gold case and give the verdict (under `scoring`, by default
    the matcher's convention: see `scoring_for`)."""
    gold_names = [m.metric_name for m in case.output.metrics]
    gold_types: list[str] = [m.metric_type for m in case.output.metrics]
    pred_names = [m.name for m in pred.metrics]
    pred_types = [m.type for m in pred.metrics]
    pairs = matcher.match(gold_names, pred_names)
    matched_gold = {p.gold for p in pairs}
    matched_pred = {p.pred for p in pairs}
    out_pairs = [
        Pair(
            gold=gold_names[p.gold],
            pred=pred_names[p.pred],
            score=p.score,
            type_ok=gold_types[p.gold] == (pred_types[p.pred] or "").strip().lower(),
        )
        for p in sorted(pairs, key=lambda p: p.gold)
    ]
    invalid = not (pred.json_valid and pred.schema_valid)
    verdict = verdict_of(len(gold_names), len(pred_names), len(pairs))
    if invalid and (scoring or scoring_for(matcher)) == "honest":
        verdict = "fail"
    pred_set = set(pred_names)
    return CaseResult(
        index=index,
        id=case.id,
        scenario=case.scenario.value,
        title=case.input.chapter_title,
        gold_names=gold_names,
        gold_types=gold_types,
        pred_names=pred_names,
        pred_types=pred_types,
        gold_count=len(gold_names),
        pred_count=len(pred_names),
        json_valid=pred.json_valid,
        json_strict=pred.json_strict,
        schema_valid=pred.schema_valid,
        invalid_output=invalid,
        parse_error=pred.error,
        exact_hits=len({g for g in gold_names if g in pred_set}),
        matched=len(pairs),
        type_correct=sum(p.type_ok for p in out_pairs),
        pairs=out_pairs,
        missed=[g for i, g in enumerate(gold_names) if i not in matched_gold],
        extra=[p for i, p in enumerate(pred_names) if i not in matched_pred],
        verdict=verdict,
        status=STATUS[verdict],
        reference_status=pred.reference_status,
    )


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def summarize(cases: Sequence[CaseResult]) -> Summary:
    """Aggregate case results (micro-averaged precision/recall over metric names)."""
    n = len(cases)
    strict = sum(c.verdict == "strict" for c in cases)
    loose = sum(c.verdict == "loose" for c in cases)
    gold = sum(c.gold_count for c in cases)
    pred = sum(c.pred_count for c in cases)
    matched = sum(c.matched for c in cases)
    precision, recall = _ratio(matched, pred), _ratio(matched, gold)
    f1 = (
        round(2 * precision * recall / (precision + recall), 4)
        if precision is not None and recall is not None and precision + recall > 0
        else (0.0 if precision is not None and recall is not None else None)
    )
    type_correct = sum(c.type_correct for c in cases)
    valid = sum(c.json_valid for c in cases)
    return Summary(
        n=n,
        strict=strict,
        loose=loose,
        fail=n - strict - loose,
        total=strict + loose,
        total_rate=_ratio(strict + loose, n),
        strict_rate=_ratio(strict, n),
        precision=precision,
        recall=recall,
        f1=f1,
        type_accuracy=_ratio(type_correct, matched),
        json_valid=valid,
        json_valid_rate=_ratio(valid, n),
        schema_valid=sum(c.schema_valid for c in cases),
        invalid_output=sum(c.invalid_output for c in cases),
        gold_metrics=gold,
        pred_metrics=pred,
        matched=matched,
        exact_hits=sum(c.exact_hits for c in cases),
        type_correct=type_correct,
        mean_pred_count=_ratio(pred, n),
        mean_gold_count=_ratio(gold, n),
    )


def by_scenario(cases: Sequence[CaseResult]) -> dict[str, Summary]:
    """Summaries per scenario, known scenarios first in their canonical order."""
    groups: dict[str, list[CaseResult]] = {}
    for case in cases:
        groups.setdefault(case.scenario, []).append(case)
    order = [s for s in SCENARIO_ORDER if s in groups] + sorted(s for s in groups if s not in SCENARIO_ORDER)
    return {s: summarize(groups[s]) for s in order}


def evaluate(
    predictions: Sequence[Prediction],
    gold: Sequence[TestCase],
    matcher: Matcher,
    *,
    pred_path: str = "",
    gold_path: str = "",
    progress: Callable[[int], None] | None = None,
    partial: bool = False,
    scoring: Scoring | None = None,
) -> EvalReport:
    """Align, match and score; `progress(n)` is called as cases are scored. With `partial`, gold
    cases without a prediction are left out of every score and counted in `missing`. `scoring`
    defaults to the matcher's convention (`scoring_for`)."""
    scoring = scoring or scoring_for(matcher)
    n_gold = len(gold)
    aligned, mode, gold = align(predictions, gold, partial)
    if isinstance(matcher, EmbeddingMatcher):
        matcher.warm(
            [m.metric_name for c in gold for m in c.output.metrics] + [m.name for p in aligned for m in p.metrics]
        )
    cases: list[CaseResult] = []
    for number, (case, pred) in enumerate(zip(gold, aligned, strict=True), start=1):
        cases.append(score_case(number, case, pred, matcher, scoring))
        if progress is not None and number % 500 == 0:
            progress(500)
    if progress is not None and len(cases) % 500:
        progress(len(cases) % 500)
    agreement = None
    recorded = [c for c in cases if c.reference_status in _STATUS_TO_VERDICT]
    if recorded:
        disagreements = [
            {
                "index": c.index,
                "recorded": c.reference_status,
                "ours": c.status,
                "gold": c.gold_names,
                "pred": c.pred_names,
            }
            for c in recorded
            if _STATUS_TO_VERDICT[c.reference_status] != c.verdict  # type: ignore[index]
        ]
        agreement = ReferenceAgreement(
            compared=len(recorded), agree=len(recorded) - len(disagreements), disagreements=disagreements
        )
    return EvalReport(
        matcher=matcher.name,
        threshold=matcher.threshold,
        scoring=scoring,
        pred_path=pred_path,
        gold_path=gold_path,
        alignment=mode,
        overall=summarize(cases),
        by_scenario=by_scenario(cases),
        cases=cases,
        reference_agreement=agreement,
        missing=n_gold - len(gold),
    )


def evaluate_files(
    pred_path: str | os.PathLike[str],
    gold_path: str | os.PathLike[str],
    matcher: str | Matcher = "fuzzy",
    *,
    threshold: float | None = None,
    model_path: str | None = None,
    progress: Callable[[int], None] | None = None,
    partial: bool = False,
    lexicon: Lexicon | None = None,
) -> EvalReport:
    """Load both files and evaluate (the library entry point behind `finsynth eval`); `lexicon`
    (built-in plus user files, `finsynth.text.lexicon.load_lexicon`) serves the fuzzy matcher."""
    gold = load_gold(gold_path)
    predictions = load_predictions(pred_path)
    if isinstance(matcher, str):
        matcher = get_matcher(matcher, threshold=threshold, model_path=model_path, lexicon=lexicon)
    return evaluate(
        predictions,
        gold,
        matcher,
        pred_path=str(pred_path),
        gold_path=str(gold_path),
        progress=progress,
        partial=partial,
    )


# --- comparing runs --------------------------------------------------------------------------------


class RunCell(BaseModel):
    """One scenario of one run in a comparison table."""

    n: int
    strict: int
    loose: int
    total: int
    total_rate: float | None
    mean_pred_count: float | None = None
    mean_gold_count: float | None = None


class Comparison(BaseModel):
    """Per-scenario results across runs (the table the reference project kept by hand)."""

    runs: list[str]
    sources: dict[str, str]
    scenarios: list[str]
    table: dict[str, dict[str, RunCell | None]]
    overall: dict[str, RunCell]


def _cell(summary: Summary) -> RunCell:
    return RunCell(
        n=summary.n,
        strict=summary.strict,
        loose=summary.loose,
        total=summary.total,
        total_rate=summary.total_rate,
        mean_pred_count=summary.mean_pred_count,
        mean_gold_count=summary.mean_gold_count,
    )


def _cells_from_statuses(rows: list[Any], path: str) -> tuple[RunCell, dict[str, RunCell]]:
    groups: dict[str, list[str]] = {}
    counts: dict[str, tuple[int, int]] = {}
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or row.get("status") not in _STATUS_TO_VERDICT or not row.get("scenario"):
            raise InputError(f"{path}: entry {number}: expected 'scenario' and a 'status' of ✅/🟡/❌")
        groups.setdefault(row["scenario"], []).append(_STATUS_TO_VERDICT[row["status"]])
        pc, gc = counts.get(row["scenario"], (0, 0))
        counts[row["scenario"]] = (pc + int(row.get("pred_count") or 0), gc + int(row.get("gold_count") or 0))

    def cell(verdicts: list[str], pred: int | None, gold: int | None) -> RunCell:
        n = len(verdicts)
        strict, loose = verdicts.count("strict"), verdicts.count("loose")
        return RunCell(
            n=n,
            strict=strict,
            loose=loose,
            total=strict + loose,
            total_rate=_ratio(strict + loose, n),
            mean_pred_count=_ratio(pred, n) if pred is not None else None,
            mean_gold_count=_ratio(gold, n) if gold is not None else None,
        )

    has_counts = all(isinstance(r, dict) and "pred_count" in r and "gold_count" in r for r in rows)
    per = {s: cell(v, *(counts[s] if has_counts else (None, None))) for s, v in groups.items()}
    all_verdicts = [v for vs in groups.values() for v in vs]
    total_counts = (
        (sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values())) if has_counts else (None, None)
    )
    return cell(all_verdicts, *total_counts), per


def compare_runs(
    runs: Sequence[str],
    *,
    gold_path: str | None = None,
    matcher: str | Matcher = "fuzzy",
    threshold: float | None = None,
    model_path: str | None = None,
) -> Comparison:
    """Compare runs given as `[LABEL=]PATH`: an `eval --format json` report, a reference results file
    (rows with `scenario` and `status`), or raw predictions (evaluated against `gold_path`)."""
    matcher_obj: Matcher | None = None if isinstance(matcher, str) else matcher
    labels: list[str] = []
    sources: dict[str, str] = {}
    overall: dict[str, RunCell] = {}
    per_run: dict[str, dict[str, RunCell]] = {}
    for spec in runs:
        label, sep, path = spec.partition("=")
        if not sep or not label or Path(spec).exists():
            label, path = Path(spec).stem, spec
        if label in sources:
            raise InputError(f"{spec}: run label {label!r} given twice; name runs as LABEL=PATH")
        file = Path(path)
        if not file.is_file():
            raise InputError(f"{path}: no such file")
        doc: Any = None
        if file.suffix == ".json":
            try:
                doc = json.loads(file.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from exc
        if isinstance(doc, dict) and "overall" in doc and "by_scenario" in doc:
            report_overall = Summary.model_validate(doc["overall"])
            overall[label] = _cell(report_overall)
            per_run[label] = {s: _cell(Summary.model_validate(v)) for s, v in doc["by_scenario"].items()}
            kind = "eval report"
        elif isinstance(doc, list) and doc and all(isinstance(r, dict) and "status" in r for r in doc):
            overall[label], per_run[label] = _cells_from_statuses(doc, path)
            kind = "recorded verdicts"
        else:
            if gold_path is None:
                raise InputError(
                    f"{path}: neither an eval report nor recorded verdicts; pass `gold` to evaluate it", setting="gold"
                )
            if matcher_obj is None:
                matcher_obj = get_matcher(str(matcher), threshold=threshold, model_path=model_path)
            report = evaluate_files(path, gold_path, matcher_obj)
            overall[label] = _cell(report.overall)
            per_run[label] = {s: _cell(v) for s, v in report.by_scenario.items()}
            kind = f"evaluated with {matcher_obj.name}"
        labels.append(label)
        sources[label] = f"{path} ({kind})"
    seen = {s for cells in per_run.values() for s in cells}
    scenarios = [s for s in SCENARIO_ORDER if s in seen] + sorted(seen - set(SCENARIO_ORDER))
    table = {s: {label: per_run[label].get(s) for label in labels} for s in scenarios}
    return Comparison(runs=labels, sources=sources, scenarios=scenarios, table=table, overall=overall)


# --- rendering (plain data -> text; the CLI prints it) ----------------------------------------------


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


SUMMARY_COLUMNS = (
    "n",
    "strict",
    "loose",
    "total",
    "total%",
    "P",
    "R",
    "F1",
    "type acc",
    "json ok",
    "invalid",
    "pred/case",
    "gold/case",
)


def summary_row(name: str, s: Summary) -> list[str]:
    """One table row for a summary."""
    return [
        name,
        str(s.n),
        str(s.strict),
        str(s.loose),
        str(s.total),
        pct(s.total_rate),
        pct(s.precision),
        pct(s.recall),
        pct(s.f1),
        pct(s.type_accuracy),
        f"{s.json_valid}/{s.n}",
        str(s.invalid_output),
        _num(s.mean_pred_count),
        _num(s.mean_gold_count),
    ]


def scoring_line(report: EvalReport) -> str:
    """One sentence saying which scoring convention the report used and how many outputs were invalid."""
    o = report.overall
    return (
        f"Scoring: {report.scoring} ({SCORING[report.scoring]}); invalid output {o.invalid_output}/{o.n} "
        f"(JSON valid {o.json_valid}, schema valid {o.schema_valid})."
    )


def render_markdown(
    report: EvalReport, *, failures: bool = True, max_failures: int | None = 50, all_cases: bool = False
) -> str:
    """The report as markdown: overall, per scenario, then (up to `max_failures`) the bad cases, and
    with `all_cases` every case with its JSON status (`finsynth eval --cases --format md`)."""
    out = [
        f"## Evaluation: {report.pred_path}",
        "",
        f"Gold `{report.gold_path}`, matcher `{report.matcher}` (threshold {report.threshold}), "
        f"aligned by {report.alignment}.",
        "",
        scoring_line(report),
        "",
        markdown_table(
            ("scope", *SUMMARY_COLUMNS),
            [summary_row("overall", report.overall)] + [summary_row(s, v) for s, v in report.by_scenario.items()],
        ),
    ]
    if report.reference_agreement:
        ra = report.reference_agreement
        out += ["", f"Recorded verdicts reproduced: {ra.agree}/{ra.compared}."]
    if failures:
        rows = [
            [
                str(c.index),
                c.status,
                c.scenario,
                "、".join(c.gold_names) or "-",
                "、".join(c.pred_names) or "-",
                "、".join(c.missed) or "-",
                "、".join(c.extra) or "-",
            ]
            for c in report.cases
            if c.verdict != "strict"
        ]
        if rows:
            shown = rows if max_failures is None else rows[:max_failures]
            out += [
                "",
                "### Cases not strictly correct",
                "",
                markdown_table(("#", "", "scenario", "gold", "predicted", "missed", "extra"), shown),
            ]
            if len(shown) < len(rows):
                out += ["", f"... and {len(rows) - len(shown)} more (all cases: --cases, or --format json)"]
    if all_cases:
        out += [
            "",
            "### All cases",
            "",
            markdown_table(
                ("#", "", "scenario", "gold", "predicted", "json"),
                [
                    [
                        str(c.index),
                        c.status,
                        c.scenario,
                        "、".join(c.gold_names) or "-",
                        "、".join(c.pred_names) or "-",
                        "ok" if c.json_valid else f"invalid: {c.parse_error}",
                    ]
                    for c in report.cases
                ],
            ),
        ]
    return "\n".join(out) + "\n"


def render_comparison_markdown(comparison: Comparison) -> str:
    """The comparison as a markdown table: a row per scenario, a column per run (total/n)."""

    def fmt(cell: RunCell | None) -> str:
        if cell is None:
            return "-"
        return f"{cell.total}/{cell.n} ({cell.strict}+{cell.loose})"

    rows = [[s] + [fmt(comparison.table[s][r]) for r in comparison.runs] for s in comparison.scenarios]
    rows.append(
        ["**overall**"]
        + [f"**{fmt(comparison.overall[r])}** {pct(comparison.overall[r].total_rate)}" for r in comparison.runs]
    )
    rows.append(
        ["pred/gold per case"]
        + [
            f"{_num(comparison.overall[r].mean_pred_count)}/{_num(comparison.overall[r].mean_gold_count)}"
            for r in comparison.runs
        ]
    )
    return markdown_table(["scenario", *comparison.runs], rows) + "\n\ncells: total/n (strict+loose)\n"
