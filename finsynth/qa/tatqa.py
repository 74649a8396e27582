"""TAT-QA: the dataset's JSON -> `QASample` rows, and its metrics (EM and numeracy-focused F1).

`qa eval` scores with the official metric by default (`finsynth.qa.tatqa_official`: the leaderboard's
`tatqa_eval.py`, question by question). `score_answer` here is the `lenient` metric, reported beside it on request
and used by the QA reward; it departs from the official one on purpose:
- an answer is a bag of spans; each span is normalised (lower case, punctuation and articles dropped,
  white space collapsed) and a span that is a number becomes its value after scale and sign
  normalisation (`1,234` / `(1,234)` negative / `12%` = 0.12 / a `thousand|million|billion` word, and
  the answer's `scale` field, percent = 0.01), rounded to 4 decimals, so a number given in another scale
  (1,496,500 thousand for 1,496.5 million) still matches;
- EM is 1 when the two bags of normalised spans are equal (same spans, same count);
- F1 aligns predicted and gold spans one to one for the best total token F1 (an optimal assignment),
  a pair scoring 0 when the gold span holds numbers and the predicted one shares none of them; the
  per-span F1s are averaged over max(len(gold), len(pred)); for `arithmetic` and `count` answers F1 = EM.
"""

from __future__ import annotations

import json
import re
import string
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

from finsynth.errors import ConfigError
from finsynth.io import InputError, json_rows
from finsynth.qa.progress import ProgressHook, ticking
from finsynth.qa.schema import (
    Answer,
    Context,
    Grounding,
    Paragraph,
    QASample,
    Reasoning,
    Scale,
    Source,
    Table,
)

SCALES = {"": 1.0, "thousand": 1e3, "million": 1e6, "billion": 1e9, "percent": 0.01}
KINDS = ("span", "multi-span", "arithmetic", "count")

# --- import -----------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _format(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _cells(rows: list[list[str]], spans: Sequence[str]) -> list[tuple[int, int]]:
    wanted = {normalize_span(s) for s in spans if s.strip()}
    return [
        (i, j)
        for i, row in enumerate(rows)
        for j, cell in enumerate(row)
        if cell.strip() and normalize_span(cell) in wanted
    ]


def read_tatqa(path: str | Path) -> list[dict[str, Any]]:
    """The contexts of a TAT-QA dataset file (a BOM is fine; a bad byte or bad JSON names the file and line)."""
    data = read_json_document(path)
    if not isinstance(data, list) or not all(isinstance(c, dict) and "questions" in c for c in data):
        raise InputError(f"{path}: not a TAT-QA file (a JSON list of contexts with 'questions')")
    return data


def import_tatqa(path: str | Path) -> tuple[list[QASample], dict[str, Any]]:
    """Every question of a TAT-QA file as a `QASample`, in file order; a summary whose counts reconcile
    (`questions = imported + sum(skipped)`), naming each skipped question (uid, context number from 1, question
    order, reason)."""
    contexts = read_tatqa(path)
    name = Path(path).name
    samples: list[QASample] = []
    skipped: dict[str, int] = defaultdict(int)
    skipped_questions: list[dict[str, Any]] = []
    seen: set[str] = set()
    questions = 0
    for number, context in enumerate(contexts, start=1):
        rows = [[str(c) for c in r] for r in (context.get("table") or {}).get("table") or []]
        table = Table.from_rows(rows, id=(context.get("table") or {}).get("uid")) if rows else None
        paragraphs = [
            Paragraph(id=str(p["uid"]), order=int(p["order"]), text=str(p["text"]))
            for p in sorted(context.get("paragraphs") or [], key=lambda p: p["order"])
        ]
        by_order = {str(p.order): p.id for p in paragraphs}
        for q in sorted(context["questions"], key=lambda q: q.get("order", 0)):
            questions += 1
            uid = str(q.get("uid") or "")
            raw = q.get("answer")
            scale = q.get("scale") or ""
            reason = (
                "no uid"
                if not uid
                else "duplicate uid"
                if uid in seen
                else "no answer"
                if raw in (None, "", [])
                else f"unknown answer type {q.get('answer_type')!r}"
                if q.get("answer_type") not in KINDS
                else f"unknown scale {scale!r}"
                if scale not in SCALES
                else None
            )
            if reason is not None:
                skipped[reason] += 1
                skipped_questions.append(
                    {"uid": uid or None, "context": number, "question": q.get("order"), "reason": reason}
                )
                continue
            seen.add(uid)
            value = _number(raw)
            spans = (
                [str(s) for s in raw] if isinstance(raw, list) else [_format(value) if value is not None else str(raw)]
            )
            text = ", ".join(spans) if len(spans) > 1 else spans[0]
            derivation = str(q.get("derivation") or "")
            answer_from = q.get("answer_from")
            rel = [str(r) for r in q.get("rel_paragraphs") or []]
            where = {"text": "the text", "table": "the table", "table-text": "the table and the text"}
            analysis = f"A {q['answer_type']} question answered from {where.get(answer_from, 'the context')}"
            if rel:
                analysis += f" (paragraph {', '.join(rel)})"
            shown = text + (f" {scale}" if scale and scale != "percent" else "%" if scale else "")
            samples.append(
                QASample(
                    id=uid,
                    context=Context(paragraphs=paragraphs, table=table),
                    question=str(q["question"]),
                    answer=Answer(
                        text=text,
                        spans=spans,
                        value=value,
                        scale=cast(Scale, scale),
                        unit="%" if scale == "percent" else None,
                    ),
                    reasoning=Reasoning(
                        analysis=analysis + ".", steps=[derivation] if derivation else [], answer=shown
                    ),
                    kind=q["answer_type"],
                    source=Source(file=name, chunk_id=table.id if table else None),
                    grounding=Grounding(
                        paragraphs=[by_order.get(r, r) for r in rel],
                        cells=_cells(rows, spans) if answer_from != "text" else [],
                        answer_from=answer_from,
                    ),
                )
            )
    kinds: dict[str, int] = defaultdict(int)
    scales: dict[str, int] = defaultdict(int)
    for s in samples:
        kinds[s.kind] += 1
        scales[s.answer.scale or "none"] += 1
    summary = {
        "file": str(path),
        "contexts": len(contexts),
        "questions": questions,
        "imported": len(samples),
        "skipped": dict(sorted(skipped.items())),
        "skipped_questions": skipped_questions,
        "by_kind": dict(sorted(kinds.items())),
        "by_scale": dict(sorted(scales.items())),
    }
    summary["reconciles"] = questions == len(samples) + sum(skipped.values())
    return samples, summary


# --- metrics ----------------------------------------------------------------------------------

_NUM = re.compile(r"^\(?-?[$€£¥]?\(?-?[\d.]+\)?%?$")
_WORD_SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9}


def parse_number(text: str, scale: str = "") -> float | None:
    """The value of a span that is one number (`$1,234.5`, `(12)`, `-3.4%`, `2 million`), times
    `scale`, rounded to 4 decimals; None when the span is not a number."""
    s = str(text).strip().lower().replace(",", "").replace(" ", "")
    word = 1.0
    for w, factor in _WORD_SCALE.items():
        if s.endswith(w):
            s, word = s[: -len(w)], factor
            break
    if not s or not _NUM.match(s):
        return None
    negative = s.count("-") + (1 if "(" in s and ")" in s else 0)
    percent = s.endswith("%")
    digits = s.strip("()$€£¥%-").replace("$", "").replace("(", "").replace(")", "").replace("-", "")
    try:
        value = float(digits)
    except ValueError:
        return None
    if negative % 2:
        value = -value
    value *= word * (0.01 if percent else 1.0)
    if not percent:  # a "%" already is the percent scale
        value *= SCALES.get(scale, 1.0)
    elif scale not in ("", "percent"):
        value *= SCALES[scale]
    return round(value, 4)


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def normalize_span(text: str, scale: str = "") -> str:
    """A span as it is compared: a number as its normalised value, else tokens lowered, punctuation
    (outside numbers) and articles removed, white space collapsed."""
    value = parse_number(text, scale)
    if value is not None:
        return f"{value:.4f}"
    tokens = []
    for token in str(text).lower().split():
        number = parse_number(token)
        token = f"{number:.4f}" if number is not None else "".join(c for c in token if c not in _PUNCT)
        token = " ".join(_ARTICLES.sub(" ", token).split())
        if token:
            tokens.append(token)
    return " ".join(tokens)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _token_f1(pred: set[str], gold: set[str]) -> float:
    common = len(pred & gold)
    precision = 1.0 if not pred else common / len(pred)
    recall = 1.0 if not gold else common / len(gold)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _pair_score(pred: set[str], gold: set[str]) -> float:
    gold_numbers = {t for t in gold if _is_number(t)}
    if gold_numbers and not gold_numbers & {t for t in pred if _is_number(t)}:
        return 0.0
    return _token_f1(pred, gold)


def _best_alignment(scores: list[list[float]]) -> float:
    """The largest sum of a one-to-one assignment of rows (gold) to columns (predicted): Hungarian."""
    if not scores or not scores[0]:
        return 0.0
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment([[-v for v in row] for row in scores])
    return float(sum(scores[r][c] for r, c in zip(rows, cols, strict=True)))


def score_answer(pred: Any, pred_scale: str, gold: Sequence[str], gold_scale: str, kind: str) -> tuple[float, float]:
    """(EM, F1) of one predicted answer (a string, a number or a list of spans) against gold spans."""
    if pred is None or pred == "" or pred == []:
        return 0.0, 0.0
    pred_spans = [str(p) for p in pred] if isinstance(pred, list) else [str(pred)]
    p_norm = [normalize_span(s, pred_scale) for s in pred_spans]
    g_norm = [normalize_span(s, gold_scale) for s in gold]
    em = 1.0 if sorted(p_norm) == sorted(g_norm) else 0.0
    if kind in ("arithmetic", "count"):
        return em, em
    p_bags = [set(s.split()) for s in p_norm]
    g_bags = [set(s.split()) for s in g_norm]
    scores = [[_pair_score(p, g) for p in p_bags] for g in g_bags]
    f1 = _best_alignment(scores) / max(len(g_bags), len(p_bags))
    return em, round(f1, 4)


PREDICTION_ROW = (
    '{"id" or "uid", "answer": a string, a number or a list of spans, optional "scale"} per JSONL row, '
    "a QA sample row (its answer object is read), or the official prediction file "
    "({uid: [answer, scale]})"
)


def read_json_document(path: str | Path) -> Any:
    """One JSON document from a user's file: a UTF-8 BOM is dropped; a byte that is not UTF-8 or a syntax error is
    an `InputError` naming the file, the line and the column."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise InputError(
            f"{path}:{line}: not UTF-8: byte 0x{data[exc.start]:02x} at column {column} (byte offset "
            f"{exc.start}); save the file as UTF-8"
        ) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not JSON: {exc.msg} (column {exc.colno})") from exc


def _official_prediction_file(path: Path) -> dict[str, Any] | None:
    """The official scorer's prediction file (one JSON object `{uid: [answer, scale]}`), or None for JSONL."""
    with path.open("rb") as handle:
        head = handle.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()
    if not head.startswith(b"{"):
        return None
    try:
        doc = read_json_document(path)
    except InputError:
        return None  # not one document: JSONL, read (and its errors named) row by row
    if isinstance(doc, dict) and doc and all(isinstance(v, list) and len(v) == 2 for v in doc.values()):
        return doc
    if isinstance(doc, dict) and doc and not {"id", "uid", "answer"} & set(doc):
        uid = next(k for k, v in doc.items() if not (isinstance(v, list) and len(v) == 2))
        raise InputError(
            f"{path}: {uid}: not [answer, scale] (the official prediction file maps each uid to "
            f"[answer, scale]); a prediction is {PREDICTION_ROW}"
        )
    return None


def _is_answer_value(value: Any) -> bool:
    if value is None or isinstance(value, str | int | float):
        return not isinstance(value, bool)
    return isinstance(value, list) and all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value)


def _prediction(row: dict[str, Any], where: str) -> tuple[Any, Any]:
    """A prediction row's answer and scale; an `answer` object (a QA sample's) gives its spans (or text, or value)
    and its scale unless the row has its own."""
    answer, scale = row["answer"], row.get("scale")
    if isinstance(answer, dict):
        spans = answer.get("spans")
        if isinstance(spans, list) and spans:
            answer_value: Any = spans if len(spans) > 1 else spans[0]
        elif answer.get("text") not in (None, ""):
            answer_value = answer.get("text")
        elif "value" in answer:
            answer_value = answer.get("value")
        else:
            raise InputError(
                f"{where}: 'answer' is an object with no 'spans', 'text' or 'value'; a prediction is {PREDICTION_ROW}"
            )
        answer, scale = answer_value, scale if scale is not None else answer.get("scale")
    if not _is_answer_value(answer):
        raise InputError(f"{where}: 'answer' is {type(answer).__name__}; a prediction is {PREDICTION_ROW}")
    return answer, scale or ""


def load_predictions(path: str | Path) -> dict[str, dict[str, Any]]:
    """Predictions by question id: JSONL rows (a QA sample row too) or the official `{uid: [answer, scale]}` file.
    No prediction at all is an `InputError` (an empty file would score 0 silently)."""
    path = Path(path)
    official = _official_prediction_file(path)
    if official is not None:
        rows: Iterable[tuple[str, Any]] = (
            (f"{path}: {uid}", {"uid": uid, "answer": pair[0], "scale": pair[1]}) for uid, pair in official.items()
        )
    else:
        rows = ((f"{path}:{n}", row) for n, row in json_rows(path))
    out: dict[str, dict[str, Any]] = {}
    for where, row in rows:
        key = row.get("id", row.get("uid")) if isinstance(row, dict) else None
        if key is None or "answer" not in row:
            raise InputError(f"{where}: a prediction needs 'id' (or 'uid') and 'answer': {PREDICTION_ROW}")
        if str(key) in out:
            raise InputError(f"{where}: a second prediction for {key}")
        answer, scale = _prediction(row, where)
        if scale not in SCALES:
            raise InputError(f"{where}: unknown scale {scale!r} (one of {', '.join(s for s in SCALES if s)})")
        out[str(key)] = {"answer": answer, "scale": scale}
    if not out:
        raise InputError(f"{path}: no predictions; a prediction is {PREDICTION_ROW}")
    return out


def _is_tatqa_file(path: Path) -> bool:
    if path.suffix != ".json":
        return False
    with path.open("rb") as handle:
        head = handle.read(65536).removeprefix(b"\xef\xbb\xbf").lstrip()
    return head.startswith(b"[") and b'"questions"' in head


def load_gold(path: str | Path, on_progress: ProgressHook = None) -> list[QASample]:
    """Gold QA samples: a QA JSONL (`qa import-tatqa`, `qa tables`) or a TAT-QA dataset file itself;
    `on_progress(n)` is told of the JSONL rows as they are read."""
    from pydantic import ValidationError

    path = Path(path)
    if _is_tatqa_file(path):
        rows, _ = import_tatqa(path)
    else:
        rows = []
        for n, row in ticking(json_rows(path), on_progress):
            try:
                rows.append(QASample.model_validate(row))
            except ValidationError as exc:
                raise InputError(
                    f"{path}:{n}: not a QA sample (`finsynth qa import-tatqa` writes them): "
                    f"{exc.error_count()} error(s), first: {exc.errors()[0]['msg']}"
                ) from exc
    if not rows:
        raise InputError(f"{path}: no gold QA samples")
    return rows


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


METRICS = ("official", "lenient")


def score_questions(
    predictions: dict[str, dict[str, Any]], gold: Iterable[QASample], metric: str = "official"
) -> list[dict[str, Any]]:
    """One row per gold question: its official EM and F1 (`finsynth.qa.tatqa_official`, as TAT-QA's
    `tatqa_eval.py` scores it) and, with `metric="lenient"`, this module's lenient EM and F1 beside them; a
    missing prediction scores 0."""
    from finsynth.qa import tatqa_official

    if metric not in METRICS:
        raise ConfigError(f"metric {metric}: one of {', '.join(METRICS)}", setting="metric")
    rows = []
    for sample in gold:
        pred = predictions.get(sample.id)
        answer, scale = (pred["answer"], pred["scale"]) if pred is not None else (None, None)
        spans = tatqa_official.gold_spans(sample.kind, sample.answer.spans, sample.answer.value)
        em, f1 = tatqa_official.score(answer, scale or "", spans, sample.answer.scale, sample.kind)
        row: dict[str, Any] = {
            "id": sample.id,
            "kind": sample.kind,
            "scale": sample.answer.scale,
            "answer_from": sample.grounding.answer_from,
            "predicted": pred is not None,
            "pred_answer": answer,
            "pred_scale": scale,
            # the official "Scale score": a non-empty prediction whose scale is the gold one
            "scale_correct": bool(answer) and scale == sample.answer.scale,
            "em": em,
            "f1": f1,
        }
        if metric == "lenient":
            row["lenient_em"], row["lenient_f1"] = (
                score_answer(answer, scale or "", sample.answer.spans, sample.answer.scale, sample.kind)
                if pred is not None
                else (0.0, 0.0)
            )
        rows.append(row)
    return rows


def evaluate(
    predictions: dict[str, dict[str, Any]], gold: Iterable[QASample], metric: str = "official"
) -> dict[str, Any]:
    """EM and F1 overall, per answer type, per gold scale and per answer source: the official TAT-QA metric, and
    with `metric="lenient"` the lenient one beside it (`lenient_em`, `lenient_f1`)."""
    questions = score_questions(predictions, gold, metric)
    fields = ["em", "f1", "lenient_em", "lenient_f1"] if metric == "lenient" else ["em", "f1"]
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for q in questions:
        for key in (
            "overall",
            f"kind:{q['kind']}",
            f"scale:{q['scale'] or 'none'}",
            f"from:{q['answer_from'] or 'unknown'}",
        ):
            groups[key].append(q)

    def block(key: str) -> dict[str, Any]:
        members = groups[key]
        out: dict[str, Any] = {"n": len(members)}
        out.update({name: _mean([float(q[name]) for q in members]) for name in fields})
        out["scale_accuracy"] = _mean([1.0 if q["scale_correct"] else 0.0 for q in members])
        return out

    def by(prefix: str) -> dict[str, Any]:
        return {k.split(":", 1)[1]: block(k) for k in sorted(groups) if k.startswith(prefix)}

    gold_ids = {q["id"] for q in questions}
    return {
        "metric": metric,
        "metric_note": (
            "em, f1: the official TAT-QA metric (tatqa_eval.py); lenient_em, lenient_f1: scale "
            "mismatches rescaled, spans aligned as separate bags"
        )
        if metric == "lenient"
        else "em, f1: the official TAT-QA metric (tatqa_eval.py)",
        "gold": len(gold_ids),
        "predictions": len(predictions),
        "missing": sum(1 for q in questions if not q["predicted"]),
        "unmatched_predictions": len(set(predictions) - gold_ids),
        "overall": block("overall"),
        "by_kind": by("kind:"),
        "by_scale": by("scale:"),
        "by_answer_from": by("from:"),
    }


def render_eval_text(report: dict[str, Any]) -> str:
    from finsynth.markdown import markdown_table

    lenient = report["metric"] == "lenient"

    def cells(v: dict[str, Any]) -> list[Any]:
        return [v["n"], v["em"], v["f1"], *([v["lenient_em"], v["lenient_f1"]] if lenient else [])]

    rows = [["overall", *cells(report["overall"])]]
    rows += [[f"type {k}", *cells(v)] for k, v in report["by_kind"].items()]
    rows += [[f"scale {k}", *cells(v)] for k, v in report["by_scale"].items()]
    rows += [[f"from {k}", *cells(v)] for k, v in report["by_answer_from"].items()]
    head = (
        f"{report['gold']} gold, {report['predictions']} predictions, {report['missing']} missing, "
        f"{report['unmatched_predictions']} not in gold; scale accuracy {report['overall']['scale_accuracy']}\n"
        f"EM, F1: the official TAT-QA metric (tatqa_eval.py)"
        + ("; lenient: scale mismatches rescaled, spans aligned as separate bags" if lenient else "")
        + "\n\n"
    )
    header = ["group", "n", "EM", "F1", *(["lenient EM", "lenient F1"] if lenient else [])]
    return head + markdown_table(header, rows) + "\n"
