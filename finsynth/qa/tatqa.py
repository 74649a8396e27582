"""TAT-QA: the dataset's JSON -> `QASample` rows, and its published metrics (EM and numeracy-focused F1).

The metrics follow the TAT-QA paper (Zhu et al., 2021), which takes DROP's (Dua et al., 2019):
- an answer is a bag of spans; each span is normalised (lower case, punctuation and articles dropped,
  white space collapsed) and a span that is a number becomes its value after scale and sign
  normalisation (`1,234` / `(1,234)` negative / `12%` = 0.12 / a `thousand|million|billion` word, and
  the answer's `scale` field, percent = 0.01), rounded to 4 decimals;
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

from finsynth.io import InputError, json_rows
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
    return [(i, j) for i, row in enumerate(rows) for j, cell in enumerate(row)
            if cell.strip() and normalize_span(cell) in wanted]


def read_tatqa(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not JSON: {exc}") from exc
    if not isinstance(data, list) or not all(isinstance(c, dict) and "questions" in c for c in data):
        raise InputError(f"{path}: not a TAT-QA file (a JSON list of contexts with 'questions')")
    return data


def import_tatqa(path: str | Path) -> tuple[list[QASample], dict[str, Any]]:
    """Every question of a TAT-QA file as a `QASample`, in file order; a summary whose counts reconcile
    (`questions = imported + sum(skipped)`)."""
    contexts = read_tatqa(path)
    name = Path(path).name
    samples: list[QASample] = []
    skipped: dict[str, int] = defaultdict(int)
    seen: set[str] = set()
    questions = 0
    for context in contexts:
        rows = [[str(c) for c in r] for r in (context.get("table") or {}).get("table") or []]
        table = Table.from_rows(rows, id=(context.get("table") or {}).get("uid")) if rows else None
        paragraphs = [Paragraph(id=str(p["uid"]), order=int(p["order"]), text=str(p["text"]))
                      for p in sorted(context.get("paragraphs") or [], key=lambda p: p["order"])]
        by_order = {str(p.order): p.id for p in paragraphs}
        for q in sorted(context["questions"], key=lambda q: q.get("order", 0)):
            questions += 1
            uid = str(q.get("uid", ""))
            raw = q.get("answer")
            if not uid or uid in seen:
                skipped["missing or duplicate uid"] += 1
                continue
            if raw in (None, "", []) or q.get("answer_type") not in KINDS:
                skipped["no answer or unknown answer type"] += 1
                continue
            scale = q.get("scale") or ""
            if scale not in SCALES:
                skipped[f"unknown scale {scale!r}"] += 1
                continue
            seen.add(uid)
            value = _number(raw)
            spans = [str(s) for s in raw] if isinstance(raw, list) else [_format(value) if value is not None
                                                                           else str(raw)]
            text = ", ".join(spans) if len(spans) > 1 else spans[0]
            derivation = str(q.get("derivation") or "")
            answer_from = q.get("answer_from")
            rel = [str(r) for r in q.get("rel_paragraphs") or []]
            where = {"text": "the text", "table": "the table", "table-text": "the table and the text"}
            analysis = f"A {q['answer_type']} question answered from {where.get(answer_from, 'the context')}"
            if rel:
                analysis += f" (paragraph {', '.join(rel)})"
            shown = text + (f" {scale}" if scale and scale != "percent" else "%" if scale else "")
            samples.append(QASample(
                id=uid,
                context=Context(paragraphs=paragraphs, table=table),
                question=str(q["question"]),
                answer=Answer(text=text, spans=spans, value=value, scale=cast(Scale, scale),
                              unit="%" if scale == "percent" else None),
                reasoning=Reasoning(analysis=analysis + ".", steps=[derivation] if derivation else [],
                                    answer=shown),
                kind=q["answer_type"],
                source=Source(file=name, chunk_id=table.id if table else None),
                grounding=Grounding(paragraphs=[by_order.get(r, r) for r in rel],
                                    cells=_cells(rows, spans) if answer_from != "text" else [],
                                    answer_from=answer_from),
            ))
    kinds: dict[str, int] = defaultdict(int)
    scales: dict[str, int] = defaultdict(int)
    for s in samples:
        kinds[s.kind] += 1
        scales[s.answer.scale or "none"] += 1
    summary = {"file": str(path), "contexts": len(contexts), "questions": questions,
               "imported": len(samples), "skipped": dict(sorted(skipped.items())),
               "by_kind": dict(sorted(kinds.items())), "by_scale": dict(sorted(scales.items()))}
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


def score_answer(pred: Any, pred_scale: str, gold: Sequence[str], gold_scale: str,
                 kind: str) -> tuple[float, float]:
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


def load_predictions(path: str | Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for n, row in json_rows(path):
        key = row.get("id", row.get("uid")) if isinstance(row, dict) else None
        if key is None or "answer" not in row:
            raise InputError(f"{path}:{n}: a prediction needs 'id' (or 'uid') and 'answer'")
        if str(key) in out:
            raise InputError(f"{path}:{n}: a second prediction for {key}")
        scale = row.get("scale") or ""
        if scale not in SCALES:
            raise InputError(f"{path}:{n}: unknown scale {scale!r} (one of {', '.join(s for s in SCALES if s)})")
        out[str(key)] = {"answer": row["answer"], "scale": scale}
    return out


def load_gold(path: str | Path) -> list[QASample]:
    from pydantic import ValidationError

    rows = []
    for n, row in json_rows(path):
        try:
            rows.append(QASample.model_validate(row))
        except ValidationError as exc:
            raise InputError(f"{path}:{n}: not a QA sample (`finsynth qa import-tatqa` writes them): "
                             f"{exc.error_count()} error(s), first: {exc.errors()[0]['msg']}") from exc
    if not rows:
        raise InputError(f"{path}: no gold QA samples")
    return rows


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def evaluate(predictions: dict[str, dict[str, Any]], gold: Iterable[QASample]) -> dict[str, Any]:
    """EM and F1 overall, per answer type and per gold scale; a missing prediction scores 0."""
    groups: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"em": [], "f1": [], "scale": []})
    missing = 0
    gold_ids: set[str] = set()
    for sample in gold:
        gold_ids.add(sample.id)
        pred = predictions.get(sample.id)
        if pred is None:
            missing += 1
            em = f1 = 0.0
            scale_ok = 0.0
        else:
            em, f1 = score_answer(pred["answer"], pred["scale"], sample.answer.spans, sample.answer.scale,
                                  sample.kind)
            scale_ok = 1.0 if pred["scale"] == sample.answer.scale else 0.0
        for key in ("overall", f"kind:{sample.kind}", f"scale:{sample.answer.scale or 'none'}"):
            groups[key]["em"].append(em)
            groups[key]["f1"].append(f1)
            groups[key]["scale"].append(scale_ok)

    def block(key: str) -> dict[str, Any]:
        g = groups[key]
        return {"n": len(g["em"]), "em": _mean(g["em"]), "f1": _mean(g["f1"]),
                "scale_accuracy": _mean(g["scale"])}

    return {
        "gold": len(gold_ids), "predictions": len(predictions), "missing": missing,
        "unmatched_predictions": len(set(predictions) - gold_ids),
        "overall": block("overall"),
        "by_kind": {k.split(":", 1)[1]: block(k) for k in sorted(groups) if k.startswith("kind:")},
        "by_scale": {k.split(":", 1)[1]: block(k) for k in sorted(groups) if k.startswith("scale:")},
    }


def render_eval_text(report: dict[str, Any]) -> str:
    from finsynth.markdown import markdown_table

    rows = [["overall", report["overall"]["n"], report["overall"]["em"], report["overall"]["f1"]]]
    rows += [[f"type {k}", v["n"], v["em"], v["f1"]] for k, v in report["by_kind"].items()]
    rows += [[f"scale {k}", v["n"], v["em"], v["f1"]] for k, v in report["by_scale"].items()]
    head = (f"{report['gold']} gold, {report['predictions']} predictions, {report['missing']} missing, "
            f"{report['unmatched_predictions']} not in gold\n\n")
    return head + markdown_table(["group", "n", "EM", "F1"], rows) + "\n"
