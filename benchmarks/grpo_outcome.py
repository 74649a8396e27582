"""SFT vs SFT+GRPO on a real model: does GRPO on finsynth's own rewards move the 50-case test scores?

Starts from the outcome benchmark's SFT cell (`benchmarks/outcome.py`: VARIANT/seedS under OUT/runs; run
there first, or here with `--sft`, which runs that cell the same way), continues its adapter with
`python -m train grpo` (the KL anchor to it, the validation guard on the variant's val split, the schedule: train
grpo's defaults), then infers the test split and scores it with `finsynth eval` exactly as the outcome cells are
scored. The GRPO prompts are the variant's own training prompts, or with `--prompts-variant finsynth` another
prepared variant's (the baseline recipe's `finsynth` is composed to the test set's count prior: `finsynth build
--compose data/compose/match_test.yaml`); `train grpo` drops any that near-duplicate a validation paragraph.

Prints one JSON line: this seed's two rows (strict, loose, total, mean predicted count, count ratio, ...), the
reward curve per component, the validation curve, the guard's decision, sampled completions at steps 1, 5 and 10,
completion tokens/s, and `summary` over every seed of this cell found under OUT (issue 25's targets: GRPO mean
total >= SFT + 2, no seed below SFT - 1, count ratio no higher than SFT's). Each seed's table is kept in
OUT/grpo_table_VARIANT-grpo[-PROMPTS]_seedS.json, so one device call per seed fills the summary.

    python benchmarks/grpo_outcome.py --model /tmp/model --out /tmp/outcome --variant corpus --seed 0 --sft \
        --prompts-variant finsynth --time-budget-s 300 --grpo-args="--max_steps 12 --val_steps 3"
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from outcome import DEFAULT_RECIPE, call_step, data_dir, infer_and_score, last_error, run_cell

ROW_KEYS = (
    "strict",
    "loose",
    "total",
    "precision",
    "recall",
    "f1",
    "mean_pred_count",
    "mean_gold_count",
    "count_ratio",
    "json_valid",
    "fuzzy_total",
    "type_accuracy",
)


def curve_summary(curves: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per reward component: the mean at the first and last logged step and the best over the run."""
    out = {}
    for name, points in curves.items():
        means = [p["mean"] for p in points if p.get("mean") is not None]
        if means:
            out[name] = {
                "first": round(means[0], 4),
                "last": round(means[-1], 4),
                "max": round(max(means), 4),
                "steps": len(means),
            }
    return out


VALIDATION_KEYS = (
    "step",
    "score",
    "strict",
    "loose",
    "total",
    "f1",
    "mean_pred_count",
    "count_ratio",
    "by_type",
    "seconds",
)


def summary(tables: list[dict[str, Any]]) -> dict[str, Any]:
    """Over the seeds' tables: SFT and GRPO mean totals, the paired per-seed differences and count ratios, and
    issue 25's three targets (mean >= SFT + 2; no seed below SFT - 1; count ratio no higher than SFT's)."""
    pairs = [
        (t["rows"][0], t["rows"][1])
        for t in tables
        if t["rows"][1].get("status") == "ok" and isinstance(t["rows"][0].get("total"), int | float)
    ]
    if not pairs:
        return {"seeds": [], "note": "no finished seed"}
    sft = [a["total"] for a, _ in pairs]
    grpo = [b["total"] for _, b in pairs]
    deltas = [b - a for a, b in zip(sft, grpo, strict=True)]
    ratios = [(a.get("count_ratio"), b.get("count_ratio")) for a, b in pairs]
    mean = sum(grpo) / len(grpo) - sum(sft) / len(sft)
    return {
        "seeds": [t["seed"] for t in tables if t["rows"][1].get("status") == "ok"],
        "sft_total_mean": round(sum(sft) / len(sft), 2),
        "grpo_total_mean": round(sum(grpo) / len(grpo), 2),
        "delta_per_seed": deltas,
        "count_ratio_per_seed": ratios,
        "kept_sft_seeds": [t["seed"] for t in tables if t["rows"][1].get("grpo_status") == "kept_start"],
        "targets": {
            "mean_at_least_sft_plus_2": mean >= 2,
            "no_seed_below_sft_minus_1": min(deltas) >= -1,
            "count_ratio_not_higher": all(b is not None and a is not None and b <= a for a, b in ratios),
        },
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a local HF model directory")
    ap.add_argument("--out", required=True, help="the outcome benchmark's OUT (data under OUT/data)")
    ap.add_argument("--data", default=None, help="variant data (default OUT/data)")
    ap.add_argument(
        "--recipe",
        default=str(DEFAULT_RECIPE),
        help="the outcome recipe whose variants --variant and --prompts-variant name (default "
        "data/recipes/baseline.yaml)",
    )
    ap.add_argument("--variant", default="corpus")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sft", action="store_true", help="run the SFT cell first when it has no adapter yet")
    ap.add_argument(
        "--prompts-variant",
        default=None,
        help="take the GRPO prompts from this prepared variant's train split (e.g. finsynth: composed "
        "to the test prior); default: the SFT variant's own",
    )
    ap.add_argument("--epochs", type=float, default=3.0, help="SFT epochs (with --sft)")
    ap.add_argument(
        "--grpo-args", default="", help='extra `train grpo` flags, one string: --grpo-args="--max_steps 40"'
    )
    ap.add_argument("--time-budget-s", type=float, default=None, help="`train grpo --time_budget_s`")
    ap.add_argument("--quant", default="none")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--max-new-tokens", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--infer-args", default="")
    ap.add_argument("--sft-args", default="")
    ap.add_argument("--mode", choices=["inprocess", "subprocess"], default="inprocess")
    ap.add_argument("--step-timeout", type=float, default=None)
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args(argv)
    args.max_steps, args.train_limit = None, None  # what run_cell reads for a smoke run

    started = time.time()
    out = Path(args.out).resolve()
    data = Path(args.data).resolve() if args.data else out / "data"
    runs = out / "runs"
    from finsynth.eval.ablation import load_recipe

    recipe = load_recipe(args.recipe)
    for name in filter(None, (args.variant, args.prompts_variant)):
        if name not in recipe.variants:
            print(
                json.dumps(
                    {
                        "status": "failed",
                        "step": "recipe",
                        "error": f"{args.recipe}: no variant {name!r} (it has {', '.join(recipe.variants)})",
                    }
                )
            )
            return 2
    ddir = data_dir(data, args.variant, recipe)
    sft_cell = runs / args.variant / f"seed{args.seed}"
    adapter = sft_cell / "sft" / "adapter"
    result = sft_cell / "result.json"
    if args.sft and not adapter.is_dir():
        row = run_cell(args.variant, args.seed, args, data, runs, recipe)
        result.parent.mkdir(parents=True, exist_ok=True)
        result.write_text(json.dumps(row, ensure_ascii=False, indent=1), encoding="utf-8")
    if not adapter.is_dir() or not result.is_file():
        print(
            json.dumps(
                {
                    "status": "failed",
                    "step": "sft",
                    "error": f"{adapter}: no SFT adapter (run benchmarks/outcome.py or pass --sft)",
                }
            )
        )
        return 1
    sft_row = json.loads(result.read_text(encoding="utf-8"))

    label = f"{args.variant}+grpo" + (f"[{args.prompts_variant}]" if args.prompts_variant else "")
    cell = runs / label.replace("+", "-").replace("[", "-").replace("]", "") / f"seed{args.seed}"
    grpo_out = cell / "grpo"
    cmd = [
        "grpo",
        "--data",
        str(ddir),
        "--model",
        args.model,
        "--adapter",
        str(adapter),
        "--output_dir",
        str(grpo_out),
        "--seed",
        str(args.seed),
        "--quant",
        args.quant,
    ]
    if args.prompts_variant:
        prompts = data_dir(data, args.prompts_variant, recipe)
        if not (prompts / "train.jsonl").is_file():
            print(
                json.dumps(
                    {
                        "status": "failed",
                        "step": "prompts",
                        "error": f"{prompts}: no train.jsonl (run "
                        f"benchmarks/outcome.py --stage prepare --variants {args.prompts_variant})",
                    }
                )
            )
            return 1
        cmd += ["--prompts", str(prompts)]
    if args.time_budget_s is not None:
        cmd += ["--time_budget_s", str(args.time_budget_s)]
    cmd += shlex.split(args.grpo_args)
    code, secs = call_step("grpo", "train", cmd, cell, args)
    row: dict[str, Any] = {"variant": label, "seed": args.seed, "status": "ok", "grpo_seconds": round(secs, 1)}
    run_log = grpo_out / "run_log.json"
    if code != 0 or not (grpo_out / "adapter").is_dir():
        row.update(status="failed", step="grpo", exit=code, error=last_error(cell, "grpo"))
    else:
        log = json.loads(run_log.read_text(encoding="utf-8"))
        guard = log.get("guard") or {}
        row.update(
            global_steps=log.get("global_steps"),
            stopped_early=log.get("stopped_early"),
            grpo_status=log.get("status"),
            guard_decision=guard.get("decision"),
            best_step=guard.get("best_step"),
            kl_reference=log.get("kl_reference"),
            rows=log.get("rows"),
            reward_functions=log.get("reward_functions"),
            reward_weights=log["config"].get("reward_weights"),
            rewards=curve_summary(log.get("reward_curves", {})),
            reward_curves=log.get("reward_curves"),
            policy_curve=log.get("policy_curve"),
            validation=[{k: v.get(k) for k in VALIDATION_KEYS} for v in log.get("validation", [])],
            samples=log.get("samples"),
            completion_tokens_per_second=log.get("completion_tokens_per_second"),
            validation_seconds=guard.get("seconds"),
            peak_gpu_memory_gib=log.get("peak_gpu_memory_gib"),
        )
        row = infer_and_score(cell, grpo_out / "adapter", ddir / "test.jsonl", args.seed, args, row, time.time())
    table = {
        "benchmark": "grpo_outcome",
        "model": args.model,
        "variant": args.variant,
        "prompts_variant": args.prompts_variant,
        "seed": args.seed,
        "rows": [
            {"variant": args.variant, **{k: sft_row.get(k) for k in ROW_KEYS}},
            {**{k: v for k, v in row.items() if k not in ROW_KEYS}, **{k: row.get(k) for k in ROW_KEYS}},
        ],
        "wall_seconds": round(time.time() - started, 1),
    }
    stem = f"grpo_table_{cell.parent.name}"  # the cell's folder name: no glob characters
    (out / f"{stem}_seed{args.seed}.json").write_text(json.dumps(table, ensure_ascii=False, indent=1), encoding="utf-8")
    tables = [json.loads(f.read_text(encoding="utf-8")) for f in sorted(out.glob(f"{stem}_seed*.json"))]
    table["summary"] = summary(tables)
    print(json.dumps(table, ensure_ascii=False))
    return 0 if row["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
