"""Benchmark (issue 16 acceptance): the QA pipeline's offline stages over the TAT-QA dev set, timed.

Stages, each timed on its own:
1. `import_tatqa`: the TAT-QA JSON -> QASample rows;
2. `generate_table_qa`: verified arithmetic QA from every table of the file (zh and en);
3. `lint_qa`: every QA lint rule over the imported and generated samples together;
4. `qa eval` on 10,000 predictions: gold QA samples (imported and generated, cycled to the size with
   distinct ids) and predictions derived from them deterministically with known perturbations are
   written as JSONL, read back as `finsynth qa eval` reads them (`load_gold`, `load_predictions`) and
   scored (`evaluate`, the lenient metric beside the official one). Each perturbation is designed to keep or
   to break the lenient exact match (a scale rewrite, `%` for the percent scale, upper case, reordered spans
   keep it; a wrong sign, an off value, a wrong scale, a dropped span, a missing prediction break it), so the
   expected lenient EM is known and checked; the official EM and F1 are reported beside it.

    python benchmarks/qa_speed.py [--predictions 10000] [--contexts N] [--seed 0]

`--contexts N` uses only the first N contexts of the dev file (the test suite's small run). A human
line per stage goes to stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CORPUS, machine_info

from finsynth.io import write_jsonl_atomic
from finsynth.qa.lint import lint_qa
from finsynth.qa.schema import QASample
from finsynth.qa.tables import generate_table_qa
from finsynth.qa.tatqa import evaluate, import_tatqa, load_gold, load_predictions, parse_number, read_tatqa

TATQA = CORPUS / "tatqa" / "tatqa_dataset_dev.json"
# a value's scale rewritten without changing the value: (gold scale, factor to multiply by, new scale)
RESCALE = {"thousand": (1e-3, "million"), "million": (1e3, "thousand"), "billion": (1e3, "million")}
WRONG_SCALE = {"": "thousand", "thousand": "million", "million": "billion", "billion": "thousand", "percent": ""}
# perturbation -> does it keep the exact match?
KEEPS = {
    "exact": True,
    "rescaled": True,
    "percent-sign": True,
    "upper-case": True,
    "reordered": True,
    "wrong-sign": False,
    "off-by-one": False,
    "wrong-scale": False,
    "dropped-span": False,
    "replaced": False,
    "missing": False,
}


def _value(sample: QASample) -> float | None:
    """The gold value when the answer is one number (the numeric perturbations apply), else None; a
    largest/smallest table question answers with a row label and carries the cell's value besides."""
    spans = sample.answer.spans
    if len(spans) != 1 or parse_number(spans[0], sample.answer.scale) is None:
        return None
    return sample.answer.value


def perturb(sample: QASample, rng: random.Random) -> tuple[str, dict[str, Any] | None]:
    """A deterministic prediction for `sample`: (perturbation, `{"answer", "scale"}` or None when missing).
    Numeric perturbations start from `answer.value` (before scale), not the text, which may carry a `%`."""
    spans, scale = sample.answer.spans, sample.answer.scale
    value = _value(sample)
    r = rng.random()
    if r < 0.05:
        return "missing", None
    if value is not None and value != 0:
        options = ["exact", "wrong-sign", "off-by-one", "wrong-scale"]
        if scale in RESCALE:
            options.append("rescaled")
        if scale == "percent":
            options.append("percent-sign")
        kind = rng.choice(options)
        if kind == "rescaled":
            factor, new_scale = RESCALE[scale]
            return kind, {"answer": repr(value * factor), "scale": new_scale}
        if kind == "percent-sign":
            return kind, {"answer": f"{value!r}%", "scale": ""}
        if kind == "wrong-sign":
            return kind, {"answer": repr(-value), "scale": scale}
        if kind == "off-by-one":
            return kind, {"answer": repr(value + 1), "scale": scale}
        if kind == "wrong-scale":
            return kind, {"answer": repr(value), "scale": WRONG_SCALE[scale]}
        return kind, {"answer": spans[0], "scale": scale}
    if len(spans) > 1:
        kind = rng.choice(["exact", "reordered", "dropped-span"])
        if kind == "reordered":
            return kind, {"answer": spans[::-1], "scale": scale}
        if kind == "dropped-span":
            return kind, {"answer": spans[:-1], "scale": scale}
        return kind, {"answer": list(spans), "scale": scale}
    kind = rng.choice(["exact", "upper-case", "replaced"])
    if kind == "upper-case":
        return kind, {"answer": f"  {spans[0].upper()} ", "scale": scale}
    if kind == "replaced":
        return kind, {"answer": "no such answer zzz", "scale": scale}
    return kind, {"answer": spans[0], "scale": scale}


def make_eval_set(pool: list[QASample], n: int, seed: int) -> tuple[list[QASample], list[dict[str, Any]], Counter]:
    """`n` gold samples (the pool cycled, ids made distinct) and their predictions (missing ones left
    out), with the count of each perturbation."""
    rng = random.Random(seed)
    gold = [
        pool[i % len(pool)].model_copy(update={"id": f"{pool[i % len(pool)].id}#{i // len(pool)}"}) for i in range(n)
    ]
    predictions: list[dict[str, Any]] = []
    kinds: Counter = Counter()
    for sample in gold:
        kind, pred = perturb(sample, rng)
        kinds[kind] += 1
        if pred is not None:
            predictions.append({"id": sample.id, **pred})
    rng.shuffle(predictions)  # matched by id, not by order
    return gold, predictions, kinds


def _trimmed(path: Path, contexts: int | None, tmp: Path) -> Path:
    if contexts is None:
        return path
    out = tmp / path.name
    out.write_text(json.dumps(read_tatqa(path)[:contexts], ensure_ascii=False), encoding="utf-8")
    return out


def _stage(name: str, seconds: float, detail: str) -> None:
    print(f"{name:18s} {seconds:7.3f}s  {detail}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=int, default=10_000)
    parser.add_argument("--contexts", type=int, default=None, help="use only the first N contexts")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not TATQA.is_file():
        print(json.dumps({"benchmark": "qa_speed", "skipped": f"TAT-QA dev file not found at {TATQA}"}))
        return 0
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        source = _trimmed(TATQA, args.contexts, tmp)

        t0 = time.perf_counter()
        imported, summary = import_tatqa(source)
        import_s = time.perf_counter() - t0
        _stage(
            "import_tatqa",
            import_s,
            f"{summary['contexts']} contexts, {summary['questions']} questions -> "
            f"{len(imported)} samples (reconciles: {summary['reconciles']})",
        )

        t0 = time.perf_counter()
        tables = generate_table_qa(source, languages=("zh", "en"))
        tables_s = time.perf_counter() - t0
        generated = list(tables.samples)
        _stage(
            "generate_table_qa",
            tables_s,
            f"{len(generated)} verified samples "
            f"({sum(s.language == 'zh' for s in generated)} zh, {sum(s.language == 'en' for s in generated)} en)",
        )

        linted = imported + generated
        t0 = time.perf_counter()
        lint = lint_qa(linted)
        lint_s = time.perf_counter() - t0
        _stage("lint_qa", lint_s, f"{len(linted)} samples: {lint.errors} errors, {lint.warnings} warnings")

        t0 = time.perf_counter()
        gold, predictions, kinds = make_eval_set(linted, args.predictions, args.seed)
        gold_path = write_jsonl_atomic(tmp / "gold.jsonl", gold)
        pred_path = write_jsonl_atomic(tmp / "pred.jsonl", predictions)
        make_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        gold_read, pred_read = load_gold(gold_path), load_predictions(pred_path)
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        # the perturbations are designed for the lenient metric (a rescaled value keeps the match); the official
        # TAT-QA figures are computed beside it (`--metric lenient` reports both)
        report = evaluate(pred_read, gold_read, metric="lenient")
        eval_s = time.perf_counter() - t0
        expected_exact = sum(n for kind, n in kinds.items() if KEEPS[kind])
        exact = round(report["overall"]["lenient_em"] * report["overall"]["n"])
        _stage("qa eval (load)", load_s, f"{len(gold_read)} gold, {len(pred_read)} predictions read")
        _stage(
            "qa eval (score)",
            eval_s,
            f"lenient EM {report['overall']['lenient_em']} F1 "
            f"{report['overall']['lenient_f1']}; {exact} exact, {expected_exact} expected; official EM "
            f"{report['overall']['em']} F1 {report['overall']['f1']}; {report['missing']} missing",
        )
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    payload = {
        "benchmark": "qa_speed",
        "contexts": summary["contexts"],
        "questions": summary["questions"],
        "imported": len(imported),
        "import_reconciles": summary["reconciles"],
        "generated": len(generated),
        "generated_by_language": dict(sorted(Counter(str(s.language) for s in generated).items())),
        "table_skips": dict(sorted(tables.skipped.items())) if hasattr(tables, "skipped") else None,
        "linted": len(linted),
        "lint_errors": lint.errors,
        "lint_warnings": lint.warnings,
        "lint_by_rule": {k: v for k, v in lint.by_rule.items() if v},
        "eval_gold": len(gold_read),
        "eval_predictions": len(pred_read),
        "eval_missing": report["missing"],
        "perturbations": dict(sorted(kinds.items())),
        "eval_exact": exact,
        "eval_expected_exact": expected_exact,
        "eval_em": report["overall"]["lenient_em"],
        "eval_f1": report["overall"]["lenient_f1"],
        "eval_official_em": report["overall"]["em"],
        "eval_official_f1": report["overall"]["f1"],
        "seconds": {
            "import_tatqa": round(import_s, 3),
            "generate_table_qa": round(tables_s, 3),
            "lint_qa": round(lint_s, 3),
            "make_eval_set": round(make_s, 3),
            "qa_eval_load": round(load_s, 3),
            "qa_eval_score": round(eval_s, 3),
            "total": round(import_s + tables_s + lint_s + load_s + eval_s, 3),
        },
        "predictions_per_s": round(len(pred_read) / eval_s) if eval_s else None,
        "peak_rss_mib": round(peak_rss_mib, 1),
        "machine": machine_info(),
    }
    print(json.dumps(payload, ensure_ascii=False))
    return 0 if exact == expected_exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
