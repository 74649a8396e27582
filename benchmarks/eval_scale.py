"""Benchmark: evaluating 10,000 cases with the fuzzy matcher (and the reference one for scale).

Gold cases are drawn from the shared corpus (training samples and test cases, paragraphs reused, metric
names made distinct per case so the name caches do not flatter the timing); predictions are raw model
text derived from the gold with realistic noise: synonyms (营收/营业收入, 市占率/市场份额), growth
variants, extra and dropped metrics, code fences, <think> blocks, prose around the JSON, and some
truncated (invalid) replies. Files are written to a temporary directory and read back, so loading and
parsing are timed too.

    python benchmarks/eval_scale.py [--cases 10000] [--seed 0]

The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CORPUS, machine_info

from finsynth.eval.scoring import evaluate, load_gold, load_predictions
from finsynth.text import names as matching
from finsynth.text.names import get_matcher

SCENARIOS = [
    "single_metric",
    "multi_metric",
    "boundary_many_numbers_one_core",
    "financial_vs_business_classification",
    "empty_output_background",
    "mixed_financial_business",
]
SWAPS = [
    ("营业收入", "营收"),
    ("营收", "营业收入"),
    ("市占率", "市场份额"),
    ("毛利率", "毛利润率"),
    ("净利率", "净利润率"),
    ("增速", "同比增长率"),
    ("现金流", "净现金流"),
    ("占比", "比重"),
]
PREFIXES = ["", "", "", "公司", "集团", "海外", "国内", "核心", "整体", "主营"]


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def make_files(n: int, seed: int, out: Path) -> tuple[Path, Path]:
    rng = random.Random(seed)
    pool = []
    for name in ("type_a", "type_b", "type_c", "type_d", "test_cases"):
        pool.extend(_rows(CORPUS / f"{name}.jsonl"))
    all_metrics = [m for row in pool for m in row["output"]["metrics"]]
    gold_lines, pred_lines = [], []
    for i in range(n):
        src = rng.choice(pool)
        prefix = rng.choice(PREFIXES)
        metrics = [
            dict(m, metric_name=prefix + m["metric_name"] if prefix else m["metric_name"])
            for m in src["output"]["metrics"]
        ]
        # keep names unique within a case (the schema requires it)
        seen, uniq = set(), []
        for m in metrics:
            if m["metric_name"] not in seen:
                seen.add(m["metric_name"])
                uniq.append(m)
        scenario = src.get("scenario") or ("empty_output_background" if not uniq else rng.choice(SCENARIOS[:4]))
        gold_lines.append(
            {
                "id": f"case-{i}",
                "type": "test",
                "scenario": scenario,
                "input": {"chapter_title": src["input"]["chapter_title"], "paragraph": src["input"]["paragraph"]},
                "output": {"analysis": src["output"]["analysis"], "metrics": uniq},
            }
        )
        pred = []
        for m in uniq:
            if rng.random() < 0.1:
                continue  # dropped
            name = m["metric_name"]
            if rng.random() < 0.3:
                a, b = rng.choice(SWAPS)
                name = name.replace(a, b)
            if rng.random() < 0.05:
                name += "增速"
            pred.append(
                {
                    "metric_name": name,
                    "metric_type": m["metric_type"]
                    if rng.random() > 0.05
                    else ("business" if m["metric_type"] == "financial" else "financial"),
                    "score": 0.9,
                    "reason": "",
                }
            )
        while rng.random() < 0.35 and len(pred) < 4:
            extra = rng.choice(all_metrics)
            if extra["metric_name"] not in {p["metric_name"] for p in pred}:
                pred.append(dict(extra))
        names = set()
        pred = [p for p in pred if not (p["metric_name"] in names or names.add(p["metric_name"]))]
        text = json.dumps({"analysis": src["output"]["analysis"], "metrics": pred}, ensure_ascii=False, indent=2)
        r = rng.random()
        if r < 0.1:
            text = f"```json\n{text}\n```"
        elif r < 0.15:
            text = f"<think>先看段落结构。</think>\n{text}"
        elif r < 0.2:
            text = f"分析结果如下：\n{text}\n以上。"
        elif r < 0.22:
            text = text[: len(text) // 2]
        pred_lines.append({"id": f"case-{i}", "output": text})
    rng.shuffle(pred_lines)  # aligned by id, not by order
    gold_path, pred_path = out / "gold.jsonl", out / "pred.jsonl"
    gold_path.write_text("".join(json.dumps(g, ensure_ascii=False) + "\n" for g in gold_lines), encoding="utf-8")
    pred_path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pred_lines), encoding="utf-8")
    return gold_path, pred_path


def _clear_caches() -> None:
    lexicon = matching.default_lexicon()
    lexicon.canonical.cache_clear()
    lexicon.veto_rule.cache_clear()
    matching._variants.cache_clear()
    matching._similarity_cached.cache_clear()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not (CORPUS / "type_a.jsonl").is_file():
        print(json.dumps({"benchmark": "eval_scale", "skipped": f"shared corpus not found at {CORPUS}"}))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        gold_path, pred_path = make_files(args.cases, args.seed, Path(tmp))
        t0 = time.perf_counter()
        gold = load_gold(gold_path)
        t1 = time.perf_counter()
        preds = load_predictions(pred_path)
        t2 = time.perf_counter()
        results = {}
        for name in ("fuzzy", "reference"):
            _clear_caches()
            start = time.perf_counter()
            report = evaluate(preds, gold, get_matcher(name))
            seconds = time.perf_counter() - start
            o = report.overall
            results[name] = {
                "seconds": round(seconds, 3),
                "cases_per_s": round(len(gold) / seconds),
                "total_rate": o.total_rate,
                "precision": o.precision,
                "recall": o.recall,
                "json_valid": o.json_valid,
            }
            print(
                f"{name:9s} {seconds:6.2f}s  total {o.total_rate}  P {o.precision}  R {o.recall}  "
                f"json ok {o.json_valid}/{o.n}",
                file=sys.stderr,
            )
    unique_names = len(
        {m.metric_name for c in gold for m in c.output.metrics} | {m.name for p in preds for m in p.metrics}
    )
    payload = {
        "benchmark": "eval_scale",
        "cases": len(gold),
        "unique_metric_names": unique_names,
        "load_gold_s": round(t1 - t0, 3),
        "load_predictions_s": round(t2 - t1, 3),
        "fuzzy": results["fuzzy"],
        "reference": results["reference"],
        "end_to_end_fuzzy_s": round(t2 - t0 + results["fuzzy"]["seconds"], 3),
        "machine": machine_info(),
    }
    print(json.dumps(payload, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
