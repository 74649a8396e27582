"""The outcome benchmark: data variants trained and scored end to end on a real model.

Variants come from a recipe (`--recipe FILE`, YAML; `finsynth.eval.ablation` says what a variant may set: the
corpus as it is, or a `finsynth build` with chosen autofixes, quarantine policy, relabel and annotator, compose
file and extra rows; default `data/recipes/baseline.yaml`, the five variants this benchmark always had). Per
variant x seed: the variant's data -> `python -m train sft` -> `python -m train infer` -> `finsynth eval --format
json` (reference matcher, the GUIDE's definitions; the fuzzy total rides along). The last line printed is ONE JSON
object: a row per variant x seed (strict, loose, total, P/R/F1, mean predicted and gold count, JSON validity,
training tokens/s, inference rows/s, wall seconds), a per-variant summary over seeds (mean, min, max), and a
paired comparison of every variant with the recipe's baseline: Δ total and Δ strict with a bootstrap interval
over seeds x cases.

Stages (`--stage`): `prepare` writes every variant's data to DATA (default OUT/data; needs finsynth's full
dependencies, polars included: run it where `finsynth build` runs), `run` trains/infers/scores from DATA
(needs only train's and eval's packages: what the device gets), `all` (default) both. A finished cell
(`OUT/runs/VARIANT/seedN/result.json`) is kept unless `--force`, so a sequence of calls fills the table
(resumable); the table always covers every requested cell found under OUT. A failing step is recorded in its row
(`status: failed`, the step and the error's last line; logs in the cell's folder), never fatal. `--parallel N`
runs N cells at once (each its own processes: a 0.5B cell uses ~20 GiB of an 80 GiB GPU). `--write-evidence
[FILE]` records the comparisons of the variants that say what they `measure` in the evidence file
(`finsynth/audit/evidence.json` by default), which lint and the build's defaults read.

    python benchmarks/outcome.py --stage prepare --recipe data/recipes/count_anchor.yaml --out .outcome   # CPU
    python benchmarks/outcome.py --stage run --recipe data/recipes/count_anchor.yaml --out .outcome \
        --model /tmp/model --parallel 3 --write-evidence                                          # the device
    python benchmarks/outcome.py --model /tmp/tiny --limit 2 --max-steps 1 --out /tmp/smoke   # CPU smoke
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python benchmarks/outcome.py` from anywhere: finsynth is this checkout's
    sys.path.insert(0, str(REPO))
DEFAULT_RECIPE = REPO / "data" / "recipes" / "baseline.yaml"


def _write_json(path: Path, obj: Any) -> None:
    from finsynth.io import write_json_atomic

    write_json_atomic(path, obj)


def log(msg: str) -> None:
    print(f"[outcome] {msg}", file=sys.stderr, flush=True)


def default_corpus() -> Path:
    local = REPO / ".corpus"
    if local.is_dir() and any(local.glob("*.jsonl")):
        return local
    return Path(os.environ.get("FINSYNTH_SHARED", REPO.parent / "shared")) / "corpus"


def env_with_repo() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH", ""), str(REPO)) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def run_step(name: str, cmd: list[str], cell: Path, timeout: float | None) -> tuple[int, str, float]:
    """Run one step, stdout/stderr to `cell/NAME.log`; returns (exit code, last stdout line, seconds)."""
    cell.mkdir(parents=True, exist_ok=True)
    started = time.time()
    log(f"{cell.parent.name}/{cell.name} {name}: {shlex.join(cmd)}")
    logfile = cell / f"{name}.log"
    with logfile.open("w", encoding="utf-8") as fh:
        fh.write("$ " + shlex.join(cmd) + "\n")
        fh.flush()
        try:
            proc = subprocess.run(
                cmd,
                cwd=REPO,
                env=env_with_repo(),
                stdout=subprocess.PIPE,
                stderr=fh,
                text=True,
                timeout=timeout,
                check=False,
            )
            code, out = proc.returncode, proc.stdout
        except subprocess.TimeoutExpired as exc:
            code, out = 124, (exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or "")
            fh.write(f"\n[outcome] timed out after {timeout:.0f} s\n")
        fh.write("\n--- stdout ---\n" + (out or ""))
    lines = [ln for ln in (out or "").splitlines() if ln.strip()]
    return code, (lines[-1] if lines else ""), time.time() - started


def call_step(name: str, module: str, argv: list[str], cell: Path, args: argparse.Namespace) -> tuple[int, float]:
    """One step as `python -m MODULE ARGV`: a subprocess, or (`--mode inprocess`) the module's own CLI
    `main(argv)` in this process, which pays the torch/transformers/trl imports once instead of per step.
    Either way its output goes to `cell/NAME.log` and the exit code follows the CLI's convention."""
    if args.mode == "subprocess":
        code, _, secs = run_step(name, [args.python, "-m", module, *argv], cell, args.step_timeout)
        return code, secs
    import contextlib
    import importlib
    import io
    import traceback

    cell.mkdir(parents=True, exist_ok=True)
    log(f"{cell.parent.name}/{cell.name} {name}: python -m {module} {shlex.join(argv)} (in process)")
    started = time.time()
    out = io.StringIO()
    with (cell / f"{name}.log").open("w", encoding="utf-8") as fh:
        fh.write(f"$ python -m {module} {shlex.join(argv)}\n")
        fh.flush()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(fh):
            try:
                code = int(importlib.import_module(f"{module}.cli").main(argv) or 0)
            except SystemExit as exc:  # argparse errors
                code = exc.code if isinstance(exc.code, int) else 2
            except Exception:  # noqa: BLE001 - a bug in the step is its row's failure; the traceback is logged
                traceback.print_exc(file=fh)
                code = 1
        fh.write("\n--- stdout ---\n" + out.getvalue())
    _release_memory()
    return code, time.time() - started


def _release_memory() -> None:
    import gc

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def last_error(cell: Path, name: str) -> str:
    text = (cell / f"{name}.log").read_text(encoding="utf-8", errors="replace").split("\n--- stdout ---")[0]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("$ ")]
    for ln in reversed(lines):  # the one-line `error: ...` of our CLIs, else the traceback's last line
        if ln.startswith("error:"):
            return ln[:400]
    return (lines[-1] if lines else "no output")[:400]


# --- data variants (stage prepare) -------------------------------------------------------------


def prepare(recipe, args: argparse.Namespace, data: Path) -> dict[str, Any]:
    """Every variant's data under DATA/VARIANT (a zero-shot variant reads its `data_from` variant's test split)."""
    from finsynth.eval.ablation import prepare_variant

    corpus = Path(args.corpus) if args.corpus else default_corpus()
    done: dict[str, Any] = {}
    for name in args.variants:
        if recipe.variants[name].source == "zero-shot":
            continue
        try:
            done[name] = prepare_variant(name, recipe, corpus, data / name)
            log(f"data/{name}: {json.dumps(done[name], ensure_ascii=False)}")
        except Exception as exc:  # noqa: BLE001 - one variant's failure is its row's, not the benchmark's
            done[name] = {"error": f"{type(exc).__name__}: {exc}"}
            log(f"data/{name} FAILED: {exc}")
    return done


# --- runs (stage run) ---------------------------------------------------------------------------


def data_dir(data: Path, variant: str, recipe) -> Path:
    spec = recipe.variants[variant]
    return data / (spec.data_from if spec.source == "zero-shot" else variant)


def gold_for(cell: Path, test: Path, limit: int | None) -> Path:
    """The gold test rows scored: all of them, or the first `limit` (what `infer --limit` predicted)."""
    if limit is None:
        return test
    lines = [ln for ln in test.read_text(encoding="utf-8").splitlines() if ln.strip()][:limit]
    gold = cell / "gold.jsonl"
    gold.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return gold


def limited_data(ddir: Path, cell: Path, n: int) -> Path:
    """A copy of the variant's data with the first `n` train and val rows (smoke runs)."""
    out = cell / "data"
    out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "val", "test"):
        src = ddir / f"{split}.jsonl"
        if src.is_file():
            lines = [ln for ln in src.read_text(encoding="utf-8").splitlines() if ln.strip()]
            (out / src.name).write_text("\n".join(lines if split == "test" else lines[:n]) + "\n", encoding="utf-8")
    return out


def _num(d: dict, key: str):
    v = d.get(key)
    return v if isinstance(v, (int, float)) else None


def run_cell(variant: str, seed: int, args: argparse.Namespace, data: Path, runs: Path, recipe) -> dict[str, Any]:
    cell = runs / variant / f"seed{seed}"
    started = time.time()
    row: dict[str, Any] = {"variant": variant, "seed": seed, "status": "ok"}
    zero_shot = recipe.variants[variant].source == "zero-shot"
    ddir = data_dir(data, variant, recipe)
    test = ddir / "test.jsonl"
    if not test.is_file() or (not zero_shot and not (ddir / "train.jsonl").is_file()):
        return {**row, "status": "failed", "step": "data", "error": f"{ddir}: no built data (stage prepare)"}
    adapter = None
    if not zero_shot:
        sft_out = cell / "sft"
        train_dir = limited_data(ddir, cell, args.train_limit) if args.train_limit else ddir
        cmd = [
            "sft",
            "--data",
            str(train_dir),
            "--model",
            args.model,
            "--out",
            str(sft_out),
            "--quant",
            args.quant,
            "--seed",
            str(seed),
            "--num-train-epochs",
            str(args.epochs),
        ]
        if args.max_steps is not None:
            cmd += ["--max-steps", str(args.max_steps)]
        cmd += shlex.split(args.sft_args)
        code, secs = call_step("sft", "train", cmd, cell, args)
        row["train_seconds"] = round(secs, 1)
        run_log = sft_out / "run_log.json"
        if code != 0 or not (sft_out / "adapter").is_dir():
            return {
                **row,
                "status": "failed",
                "step": "sft",
                "exit": code,
                "error": last_error(cell, "sft"),
                "wall_seconds": round(time.time() - started, 1),
            }
        if run_log.is_file():
            rl = json.loads(run_log.read_text(encoding="utf-8"))
            row["train_tokens_per_s"] = rl.get("tokens_per_second")
            row["train_tokens"] = rl.get("train_tokens")
            row["global_steps"] = rl.get("global_steps")
            row["final_eval_loss"] = rl.get("final_eval_loss")
            losses = [x.get("loss") for x in rl.get("train_loss", [])]
            row["last_train_loss"] = losses[-1] if losses else None
            row["peak_gpu_memory_gib"] = rl.get("peak_gpu_memory_gib")
        adapter = sft_out / "adapter"
    row = infer_and_score(cell, adapter, test, seed, args, row, started)
    if row["status"] == "ok":
        row["wall_seconds"] = round(time.time() - started, 1)
    return row


def infer_and_score(
    cell: Path,
    adapter: Path | None,
    test: Path,
    seed: int,
    args: argparse.Namespace,
    row: dict[str, Any],
    started: float,
) -> dict[str, Any]:
    """`train infer` on the test split with `adapter` (None: the base), then `finsynth eval` with the reference
    and the fuzzy matcher; the row gains the scores (or status failed with the step and its error)."""
    preds = cell / "preds.jsonl"
    cmd = [
        "infer",
        "--model",
        args.model,
        "--test",
        str(test),
        "--out",
        str(preds),
        "--quant",
        args.quant,
        "--seed",
        str(seed),
    ]
    if adapter is not None:
        cmd += ["--adapter", str(adapter)]
    if args.limit is not None:
        cmd += ["--limit", str(args.limit)]
    if args.max_new_tokens is not None:
        cmd += ["--max-new-tokens", str(args.max_new_tokens)]
    if args.batch_size is not None:
        cmd += ["--batch-size", str(args.batch_size)]
    cmd += shlex.split(args.infer_args)
    code, secs = call_step("infer", "train", cmd, cell, args)
    row["infer_seconds"] = round(secs, 1)
    if code != 0 or not preds.is_file():
        return {
            **row,
            "status": "failed",
            "step": "infer",
            "exit": code,
            "error": last_error(cell, "infer"),
            "wall_seconds": round(time.time() - started, 1),
        }
    ilog = Path(str(preds) + ".log.json")
    if ilog.is_file():
        il = json.loads(ilog.read_text(encoding="utf-8"))
        row["infer_rows_per_s"] = il.get("rows_per_second")
        row["infer_rows"] = il.get("rows")
    gold = gold_for(cell, test, args.limit)
    for matcher in ("reference", "fuzzy"):
        out_json = cell / f"eval_{matcher}.json"
        cmd = [
            "eval",
            "--pred",
            str(preds),
            "--gold",
            str(gold),
            "--matcher",
            matcher,
            "--format",
            "json",
            "--out",
            str(out_json),
        ]
        code, _ = call_step(f"eval_{matcher}", "finsynth", cmd, cell, args)
        if code not in (0, 1) or not out_json.is_file():
            return {
                **row,
                "status": "failed",
                "step": f"eval_{matcher}",
                "exit": code,
                "error": last_error(cell, f"eval_{matcher}"),
                "wall_seconds": round(time.time() - started, 1),
            }
        overall = json.loads(out_json.read_text(encoding="utf-8"))["overall"]
        if matcher == "reference":
            for key in (
                "n",
                "strict",
                "loose",
                "total",
                "total_rate",
                "precision",
                "recall",
                "f1",
                "type_accuracy",
                "mean_pred_count",
                "mean_gold_count",
                "json_valid",
                "json_valid_rate",
            ):
                row[key] = overall.get(key)
            mp, mg = _num(overall, "mean_pred_count"), _num(overall, "mean_gold_count")
            row["count_ratio"] = round(mp / mg, 3) if mp is not None and mg else None
        else:
            row["fuzzy_total"] = overall.get("total")
            row["fuzzy_f1"] = overall.get("f1")
    return row


SUMMARY_KEYS = (
    "total",
    "strict",
    "loose",
    "f1",
    "mean_pred_count",
    "count_ratio",
    "json_valid",
    "train_tokens_per_s",
    "infer_rows_per_s",
    "wall_seconds",
)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for variant in dict.fromkeys(r["variant"] for r in rows):
        ok = [r for r in rows if r["variant"] == variant and r.get("status") == "ok"]
        s: dict[str, Any] = {
            "seeds_ok": [r["seed"] for r in ok],
            "failed": [r["seed"] for r in rows if r["variant"] == variant and r.get("status") != "ok"],
        }
        for key in SUMMARY_KEYS:
            vals = [r[key] for r in ok if isinstance(r.get(key), (int, float))]
            if vals:
                s[key] = {"mean": round(sum(vals) / len(vals), 3), "min": min(vals), "max": max(vals)}
        out[variant] = s
    return out


def comparisons(recipe, rows: list[dict[str, Any]], runs: Path, n_boot: int) -> dict[str, Any]:
    """Every variant against the recipe's baseline: paired by seed and case, from the cells' reference evals."""
    from finsynth.eval.ablation import case_scores, paired_bootstrap

    def per_seed(variant: str) -> dict[int, dict[str, tuple[int, int]]]:
        out = {}
        for r in rows:
            report = runs / variant / f"seed{r['seed']}" / "eval_reference.json"
            if r["variant"] == variant and r.get("status") == "ok" and report.is_file():
                out[r["seed"]] = case_scores(json.loads(report.read_text(encoding="utf-8")))
        return out

    base = per_seed(recipe.baseline)
    found: dict[str, Any] = {}
    for variant in dict.fromkeys(r["variant"] for r in rows):
        if variant == recipe.baseline or not base:
            continue
        mine = per_seed(variant)
        if recipe.variants[variant].source == "zero-shot" and mine:  # greedy and untrained: one run stands for all
            mine = dict.fromkeys(base, next(iter(mine.values())))
        try:
            found[variant] = paired_bootstrap(
                mine, base, variant_name=variant, baseline_name=recipe.baseline, n_boot=n_boot
            ).model_dump(mode="json")
        except ValueError as exc:  # no common seed or case yet
            found[variant] = {"error": str(exc)}
    return found


def cell_settings(args: argparse.Namespace, recipe, variant: str) -> dict[str, Any]:
    """What a cell's result depends on besides its seed: a kept result must match it (the variant's recipe
    settings included, so an edited variant is re-run)."""
    keys = (
        "model",
        "epochs",
        "max_steps",
        "limit",
        "train_limit",
        "quant",
        "max_new_tokens",
        "batch_size",
        "sft_args",
        "infer_args",
    )
    spec = recipe.variants[variant].model_dump(mode="json", exclude={"description", "measures"})
    return {**{k: getattr(args, k) for k in keys}, "build_seed": recipe.build_seed, "variant": spec}


def cells(recipe, args: argparse.Namespace, run_order: bool = False) -> list[tuple[str, int]]:
    """Every requested (variant, seed): zero-shot for the first seed only (greedy and untrained, every seed
    would give the same predictions). `run_order`: seed-major, the baseline first, so a call cut short still has
    every variant's first seed; else the table's order (the recipe's, then seed)."""
    names = [v for v in recipe.variants if v in args.variants]

    def wanted(v: str, i: int) -> bool:
        return recipe.variants[v].source != "zero-shot" or i == 0

    if run_order:
        names = sorted(names, key=lambda v: (v != recipe.baseline, recipe.variants[v].source == "zero-shot"))
        return [(v, seed) for i, seed in enumerate(args.seeds) for v in names if wanted(v, i)]
    return [(v, seed) for v in names for i, seed in enumerate(args.seeds) if wanted(v, i)]


def run_cells(recipe, args: argparse.Namespace, data: Path, runs: Path, started: float) -> None:
    """Run every requested cell that has no kept result, `args.parallel` at a time."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    pending = []
    for variant, seed in cells(recipe, args, run_order=True):
        result = runs / variant / f"seed{seed}" / "result.json"
        if result.is_file() and not args.force:
            kept = json.loads(result.read_text(encoding="utf-8"))
            if kept.get("settings") == cell_settings(args, recipe, variant) and kept.get("status") == "ok":
                log(f"{variant}/seed{seed}: kept ({result})")
                continue
            log(f"{variant}/seed{seed}: re-run (earlier result {kept.get('status')} or other settings)")
        pending.append((variant, seed))
    longest = 0.0
    total = len(pending)

    def one(variant: str, seed: int) -> float:
        cell_started = time.time()
        try:
            row = run_cell(variant, seed, args, data, runs, recipe)
        except Exception as exc:  # noqa: BLE001 - a bug in one cell is that cell's row
            row = {
                "variant": variant,
                "seed": seed,
                "status": "failed",
                "step": "outcome",
                "error": f"{type(exc).__name__}: {exc}",
            }
        row["settings"] = cell_settings(args, recipe, variant)
        result = runs / variant / f"seed{seed}" / "result.json"
        result.parent.mkdir(parents=True, exist_ok=True)
        _write_json(result, row)
        log(
            f"{variant}/seed{seed}: {row.get('status')} total={row.get('total')} "
            f"mean_pred={row.get('mean_pred_count')} wall={row.get('wall_seconds')}s"
        )
        return time.time() - cell_started

    done = 0
    with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        running: dict[Any, tuple[str, int]] = {}
        while pending or running:
            while pending and len(running) < max(1, args.parallel):
                variant, seed = pending[0]
                if args.budget_s is not None and time.time() - started + longest > args.budget_s:
                    log(
                        f"{variant}/seed{seed} and {len(pending) - 1} more: skipped (the budget of "
                        f"{args.budget_s:.0f} s would not hold a cell as long as the longest so far, {longest:.0f} s)"
                    )
                    pending = []
                    break
                pending.pop(0)
                running[pool.submit(one, variant, seed)] = (variant, seed)
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                running.pop(future)
                longest = max(longest, future.result())
                done += 1
                elapsed = time.time() - started
                eta = elapsed / done * (total - done)
                log(f"progress: {done}/{total} cell(s), {elapsed:.0f} s elapsed, ETA {eta:.0f} s")


def main(argv: list[str] | None = None) -> int:
    from finsynth.eval.ablation import load_recipe

    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    ap.add_argument("--stage", choices=["all", "prepare", "run"], default="all")
    ap.add_argument(
        "--recipe", default=str(DEFAULT_RECIPE), help="the variants (YAML; default data/recipes/baseline.yaml)"
    )
    ap.add_argument("--variants", nargs="+", default=None, help="a subset of the recipe's variants")
    ap.add_argument("--seeds", nargs="+", type=int, default=None, help="training seeds (default: the recipe's)")
    ap.add_argument("--model", help="a local HF model directory (python -m train convert-gguf output)")
    ap.add_argument("--out", default=str(REPO / "runs" / "outcome"), help="runs and table (default runs/outcome)")
    ap.add_argument("--data", default=None, help="variant data (default OUT/data)")
    ap.add_argument(
        "--corpus",
        default=None,
        help="corpus directory (default .corpus/ if present, else $FINSYNTH_SHARED/corpus or ../shared/corpus)",
    )
    ap.add_argument("--epochs", type=float, default=3.0)
    ap.add_argument("--max-steps", type=int, default=None, help="cap training steps (smoke runs)")
    ap.add_argument("--limit", type=int, default=None, help="first N test rows only (smoke runs)")
    ap.add_argument("--quant", default="none", help="sft/infer --quant (default none: bf16 LoRA)")
    ap.add_argument("--max-new-tokens", type=int, default=None, help="infer --max-new-tokens (default: infer's)")
    ap.add_argument("--batch-size", type=int, default=None, help="infer --batch-size (default: infer's)")
    ap.add_argument("--sft-args", default="", help='extra `train sft` flags, one string: --sft-args="--flag value"')
    ap.add_argument(
        "--infer-args", default="", help='extra `train infer` flags, one string: --infer-args="--flag value"'
    )
    ap.add_argument("--train-limit", type=int, default=None, help="first N train/val rows only (smoke runs)")
    ap.add_argument(
        "--mode",
        choices=["inprocess", "subprocess"],
        default="inprocess",
        help="steps as the CLIs' main() in this process (default: imports paid once) or as "
        "subprocesses (isolated; --step-timeout applies; always with --parallel > 1)",
    )
    ap.add_argument("--parallel", type=int, default=1, help="cells at once (each its own processes)")
    ap.add_argument(
        "--step-timeout", type=float, default=None, help="seconds before a step is killed (--mode subprocess)"
    )
    ap.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help="start a cell only while elapsed + the longest cell so far stays within this many "
        "seconds (the cells left are 'skipped'; a later call with the same --out runs them)",
    )
    ap.add_argument("--bootstrap", type=int, default=4000, help="bootstrap resamples of the paired comparison")
    ap.add_argument(
        "--write-evidence",
        nargs="?",
        const=str(REPO / "finsynth" / "audit" / "evidence.json"),
        default=None,
        metavar="FILE",
        help="record the comparisons of the variants that say what they measure (default file: "
        "finsynth/audit/evidence.json)",
    )
    ap.add_argument("--device-name", default=None, help="the accelerator, for the evidence (default: torch's name)")
    ap.add_argument("--force", action="store_true", help="re-run cells that already have a result")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the steps")
    args = ap.parse_args(argv)

    try:
        recipe = load_recipe(args.recipe)
    except Exception as exc:  # noqa: BLE001 - a user's recipe error is one line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    unknown = [v for v in (args.variants or []) if v not in recipe.variants]
    if unknown:
        print(
            f"error: --variants: {', '.join(unknown)} not in {args.recipe} ({', '.join(recipe.variants)})",
            file=sys.stderr,
        )
        return 2
    args.variants = args.variants or list(recipe.variants)
    if recipe.baseline not in args.variants:
        args.variants.insert(0, recipe.baseline)  # every comparison needs it
    for name in list(args.variants):  # a zero-shot variant reads its data_from variant's test split
        source = recipe.variants[name]
        if source.source == "zero-shot" and source.data_from not in args.variants:
            args.variants.append(source.data_from)
    args.seeds = args.seeds or recipe.seeds
    if args.parallel > 1:
        args.mode = "subprocess"  # in-process steps share one interpreter: cells would step on each other
    started = time.time()
    out = Path(args.out).resolve()
    data = Path(args.data).resolve() if args.data else out / "data"
    runs = out / "runs"
    table: dict[str, Any] = {
        "benchmark": "outcome",
        "recipe": str(args.recipe),
        "baseline": recipe.baseline,
        "model": args.model,
        "out": str(out),
        "epochs": args.epochs,
        "max_steps": args.max_steps,
        "limit": args.limit,
        "train_limit": args.train_limit,
        "mode": args.mode,
        "parallel": args.parallel,
        "matcher": "reference",
    }
    if args.stage in ("all", "prepare"):
        table["data"] = prepare(recipe, args, data)
    if args.stage in ("all", "run"):
        if not args.model:
            ap.error("--model is required for --stage run/all")
        run_cells(recipe, args, data, runs, started)
        rows = []
        for variant, seed in cells(recipe, args):
            result = runs / variant / f"seed{seed}" / "result.json"
            rows.append(
                json.loads(result.read_text(encoding="utf-8"))
                if result.is_file()
                else {"variant": variant, "seed": seed, "status": "skipped"}
            )
        table["rows"] = rows
        table["summary"] = summarise(rows)
        table["comparison"] = comparisons(recipe, rows, runs, args.bootstrap)
        if args.write_evidence:
            table["evidence"] = record_evidence(recipe, table, args)
    table["wall_seconds"] = round(time.time() - started, 1)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "table.json", table)
    print(json.dumps(compact(table), ensure_ascii=False))
    return 0


def record_evidence(recipe, table: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Write the measured variants' comparisons to the evidence file; returns what was written."""
    import datetime

    from finsynth.eval.ablation import Comparison, measurement, write_evidence

    device = args.device_name
    versions = ""
    try:
        import torch
        import transformers

        device = device or (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")
        versions = f"torch {torch.__version__}, transformers {transformers.__version__}"
    except ImportError:
        device = device or "unknown"
    ratios = {v: (s.get("count_ratio") or {}).get("mean") for v, s in table["summary"].items()}
    new = []
    for variant, comp in table["comparison"].items():
        if "error" in comp or recipe.variants[variant].measures is None:
            continue
        new.append(
            measurement(
                recipe,
                Comparison.model_validate(comp),
                model=f"{args.model} ({args.epochs:g} epochs)",
                device=device,
                versions=versions,
                date=datetime.date.today().isoformat(),
                count_ratio=(ratios.get(recipe.baseline), ratios.get(variant)),
            )
        )
    path = Path(args.write_evidence)
    write_evidence(path, new)
    return {"file": str(path), "written": [m.change for m in new]}


PRINTED_KEYS = (
    "variant",
    "seed",
    "status",
    "n",
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
    "train_tokens_per_s",
    "infer_rows_per_s",
    "train_seconds",
    "infer_seconds",
    "wall_seconds",
    "final_eval_loss",
    "step",
    "error",
)


def compact(table: dict[str, Any]) -> dict[str, Any]:
    """The printed line: the table's rows with the headline keys (a device call returns only the last 12k
    characters of output); everything else is in OUT/table.json and each cell's result.json."""
    out = {k: v for k, v in table.items() if k not in ("rows", "summary", "data", "comparison")}
    if "data" in table:
        out["data"] = {
            v: {k: d.get(k) for k in ("mean_train_count", "train", "counts", "error") if k in d}
            for v, d in table["data"].items()
        }
    if "rows" in table:
        out["rows"] = [{k: r[k] for k in PRINTED_KEYS if r.get(k) is not None} for r in table["rows"]]
        out["summary"] = {
            v: {k: (x["mean"] if isinstance(x, dict) else x) for k, x in s.items()} for v, s in table["summary"].items()
        }
        out["comparison"] = {
            v: ({k: c[k] for k in ("delta_total", "interval", "delta_strict", "seeds")} if "error" not in c else c)
            for v, c in table["comparison"].items()
        }
    return out


if __name__ == "__main__":
    sys.exit(main())
