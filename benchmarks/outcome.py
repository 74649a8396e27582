"""The outcome benchmark: data variants trained and scored end to end on a real model.

Per variant x seed: the variant's data (`finsynth build` or the corpus rendered as it is) -> `python -m train
sft` -> `python -m train infer` -> `finsynth eval --format json` (reference matcher, the GUIDE's definitions;
the fuzzy total rides along). The last line printed is ONE JSON object: the table, a row per variant x seed
(strict, loose, total, P/R/F1, mean predicted and gold count, JSON validity, training tokens/s, inference
rows/s, wall seconds) and a per-variant summary over seeds.

Variants (`--variants`, default all five):
  zero-shot  the base model, no adapter (greedy, so run once: the first seed only)
  corpus     the shared corpus as it is: every schema-valid row rendered with the build's prompt, split with
             the build's stratified split and seed; no lint, no dedupe, no composition
  finsynth   `finsynth build --fix --allow-errors` (count anchors cut by the autofix, remaining lint errors
             quarantined, duplicates and leaks dropped), plus
             `--compose` to the test set's count prior (`match: test`) where the build has that option
             (`--compose auto`, the default; `off`, or a YAML file of your own)
  finsynth-down  the same build, composed to the test prior by down-sampling only (`max_upsample: 1`: no
             row appears twice, so the set shrinks instead of repeating the few 0/1-metric paragraphs)
  bad-enum   the `corpus` rows with every A and C analysis rewritten as an enumeration (semicolon items
             "核心指标：X——理由；Y——理由。", or a numbered list for one metric): lesson 6's v12/v12.1 mutation

Stages (`--stage`): `prepare` writes every variant's data to DATA (default OUT/data; needs finsynth's full
dependencies, polars included: run it where `finsynth build` runs), `run` trains/infers/scores from DATA
(needs only train's and eval's packages: what the device gets), `all` (default) both. A finished cell
(`OUT/runs/VARIANT/seedN/result.json`) is kept unless `--force`, so a sequence of calls fills the table;
the table always covers every requested cell found under OUT. A failing step is recorded in its row
(`status: failed`, the step and the error's last line; logs in the cell's folder), never fatal.

    python benchmarks/outcome.py --model /tmp/model --out /tmp/outcome --seeds 0 1 --epochs 3
    python benchmarks/outcome.py --stage prepare --out .outcome          # here, on CPU: data only
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
VARIANTS = ("zero-shot", "corpus", "finsynth", "finsynth-down", "bad-enum")
# finsynth-down: the same build composed towards the test prior by down-sampling only (no row twice)
DOWN_ONLY = "match: test\nmax_upsample: 1\n"
BUILD_SEED = 13
ENUM_TYPES = ("A", "C")


def log(msg: str) -> None:
    print(f"[outcome] {msg}", file=sys.stderr, flush=True)


def default_corpus() -> Path:
    local = REPO / ".corpus"
    if local.is_dir() and any(local.glob("*.jsonl")):
        return local
    return Path(os.environ.get("FINSYNTH_SHARED", REPO.parent / "shared")) / "corpus"


def corpus_files(corpus: Path) -> list[Path]:
    """The corpus rows: type_*.jsonl and test_cases.jsonl (not the predictions or TAT-QA)."""
    files = sorted(corpus.glob("type_*.jsonl")) + sorted(corpus.glob("test_cases.jsonl"))
    if not files:
        raise SystemExit(f"error: {corpus}: no type_*.jsonl / test_cases.jsonl; pass --corpus DIR")
    return files


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
            proc = subprocess.run(cmd, cwd=REPO, env=env_with_repo(), stdout=subprocess.PIPE, stderr=fh,
                                  text=True, timeout=timeout, check=False)
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


def _write_rows(out: Path, train, val, tests, extra: dict[str, Any]) -> dict[str, Any]:
    from finsynth.io import write_json_atomic, write_jsonl_atomic
    from finsynth.prompts import chat_row

    out.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(out / "train.jsonl", [chat_row(r.item) for r in train])
    write_jsonl_atomic(out / "val.jsonl", [chat_row(r.item) for r in val])
    write_jsonl_atomic(out / "test.jsonl", [chat_row(r.item) for r in tests])
    manifest = {"counts": {"train": len(train), "val": len(val), "test": len(tests)},
                "mean_train_count": round(sum(r.item.count for r in train) / max(len(train), 1), 3), **extra}
    write_json_atomic(out / "manifest.json", manifest)
    return manifest


def load_corpus(corpus: Path):
    """Schema-valid corpus rows (training records, test records) and how many rows did not load."""
    from finsynth.io import load_file
    from finsynth.schema import Sample, TestCase

    records, bad = [], 0
    for path in corpus_files(corpus):
        loaded = load_file(path)
        records.extend(loaded.records)
        bad += len(loaded.quarantined)
    train = [r for r in records if isinstance(r.item, Sample)]
    tests = sorted((r for r in records if isinstance(r.item, TestCase)), key=lambda r: r.item.id)
    return train, tests, bad


def prepare_corpus(corpus: Path, out: Path, seed: int) -> dict[str, Any]:
    from finsynth.build import stratified_split

    records, tests, bad = load_corpus(corpus)
    train, val = stratified_split(records, 0.1, seed)
    return _write_rows(out, train, val, tests, {"variant": "corpus", "source": str(corpus), "seed": seed,
                                                "unloadable_rows": bad})


def enumerate_analysis(sample, index: int) -> str:
    """Lesson 6's bad styles: 'X——理由；Y——理由' after a lead-in (v12.1), a numbered list for one metric (v12)."""
    metrics = sample.output.metrics
    title = sample.input.chapter_title or "本段"

    def item(m) -> str:
        reason = (m.reason or "段落重点分析").rstrip("。；;")
        return f"{m.metric_name}——{reason}"

    if len(metrics) >= 2 and index % 2 == 0:
        return f"段落分析{title}。核心指标：" + "；".join(item(m) for m in metrics) + "。"
    items = [item(m) for m in metrics] + (["其余数字——规模背景或历史参照，不是分析主体"] if len(metrics) < 2 else [])
    return (
        f"段落分析{title}。核心指标："
        + "".join(f"{i}. {text}；" for i, text in enumerate(items, 1)).rstrip("；")
        + "。"
    )


def prepare_bad_enum(corpus: Path, out: Path, seed: int) -> dict[str, Any]:
    from finsynth.audit.lint import lint_sample
    from finsynth.build import stratified_split

    records, tests, bad = load_corpus(corpus)
    mutated, fired, k = [], 0, 0
    for r in records:
        item = r.item
        if item.type in ENUM_TYPES and item.output.metrics:
            output = item.output.model_copy(update={"analysis": enumerate_analysis(item, k)})
            item = item.model_copy(update={"output": output})
            k += 1
            fired += bool(lint_sample(item, rules=["numbered-list", "semicolon-enumeration"]))
        mutated.append(r.model_copy(update={"item": item}))
    train, val = stratified_split(mutated, 0.1, seed)  # ids, types and counts unchanged: the corpus split
    return _write_rows(out, train, val, tests, {"variant": "bad-enum", "source": str(corpus), "seed": seed,
                                                "unloadable_rows": bad, "mutated": k,
                                                "mutated_linted_as_enumeration": fired})


def build_supports_compose(python: str) -> bool:
    proc = subprocess.run([python, "-m", "finsynth", "build", "--help"], cwd=REPO, env=env_with_repo(),
                          capture_output=True, text=True, check=False)
    return "--compose" in proc.stdout


def prepare_finsynth(corpus: Path, out: Path, seed: int, compose: str, python: str,
                     variant: str = "finsynth") -> dict[str, Any]:
    import shutil

    raw = out.parent / f"_raw_{variant}"  # the build reads a directory: only the corpus rows, not TAT-QA
    if raw.exists():
        shutil.rmtree(raw)
    raw.mkdir(parents=True)
    for f in corpus_files(corpus):
        shutil.copyfile(f, raw / f.name)
    cmd = [python, "-m", "finsynth", "build", "--raw", str(raw), "--out", str(out), "--seed", str(seed),
           "--fix", "--allow-errors"]  # --fix keeps the 72 type C rows (their count anchors cut), not quarantined
    compose_file = None
    if variant == "finsynth-down":
        compose_file = out.parent / "compose_test_prior_down.yaml"
        compose_file.write_text(DOWN_ONLY, encoding="utf-8")
    elif compose == "auto":
        if build_supports_compose(python):
            compose_file = out.parent / "compose_test_prior.yaml"
            compose_file.write_text("match: test\n", encoding="utf-8")
        else:
            log("finsynth build has no --compose here: the finsynth variant is built without composition")
    elif compose != "off":
        compose_file = Path(compose)
    if compose_file is not None:
        cmd += ["--compose", str(compose_file)]
    log(f"data/finsynth: {shlex.join(cmd)}")
    proc = subprocess.run(cmd, cwd=REPO, env=env_with_repo(), capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not (out / "train.jsonl").is_file():
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"finsynth build exited {proc.returncode}: {tail}")
    shutil.rmtree(raw)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    train_rows = [json.loads(ln) for ln in (out / "train.jsonl").read_text(encoding="utf-8").splitlines() if ln]
    counts = [len(r["sample"]["output"]["metrics"]) for r in train_rows]
    info = {"variant": variant, "compose": str(compose_file) if compose_file else None,
            "counts": {k: manifest.get("counts", {}).get(k) for k in ("read", "quarantined")},
            "train": len(train_rows), "mean_train_count": round(sum(counts) / max(len(counts), 1), 3)}
    (out / "outcome_variant.json").write_text(json.dumps(info, ensure_ascii=False, indent=1), encoding="utf-8")
    return info


def prepare(args: argparse.Namespace, data: Path) -> dict[str, Any]:
    corpus = Path(args.corpus) if args.corpus else default_corpus()
    wanted = set(args.variants)
    if "zero-shot" in wanted:
        wanted.add("corpus")  # zero-shot reads the corpus variant's test split
    done: dict[str, Any] = {}
    for variant in ("corpus", "bad-enum", "finsynth", "finsynth-down"):
        if variant not in wanted:
            continue
        out = data / variant
        try:
            if variant == "corpus":
                done[variant] = prepare_corpus(corpus, out, args.build_seed)
            elif variant == "bad-enum":
                done[variant] = prepare_bad_enum(corpus, out, args.build_seed)
            else:
                done[variant] = prepare_finsynth(corpus, out, args.build_seed, args.compose, args.python, variant)
            log(f"data/{variant}: {json.dumps(done[variant], ensure_ascii=False)}")
        except Exception as exc:  # noqa: BLE001 - one variant's failure is its row's, not the benchmark's
            done[variant] = {"error": f"{type(exc).__name__}: {exc}"}
            log(f"data/{variant} FAILED: {exc}")
    return done


# --- runs (stage run) ---------------------------------------------------------------------------


def data_dir(data: Path, variant: str) -> Path:
    return data / ("corpus" if variant == "zero-shot" else variant)


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


def run_cell(variant: str, seed: int, args: argparse.Namespace, data: Path, runs: Path) -> dict[str, Any]:
    cell = runs / variant / f"seed{seed}"
    started = time.time()
    row: dict[str, Any] = {"variant": variant, "seed": seed, "status": "ok"}
    ddir = data_dir(data, variant)
    test = ddir / "test.jsonl"
    if not test.is_file() or (variant != "zero-shot" and not (ddir / "train.jsonl").is_file()):
        return {**row, "status": "failed", "step": "data", "error": f"{ddir}: no built data (stage prepare)"}
    adapter = None
    if variant != "zero-shot":
        sft_out = cell / "sft"
        train_dir = limited_data(ddir, cell, args.train_limit) if args.train_limit else ddir
        cmd = ["sft", "--data", str(train_dir), "--model", args.model, "--out", str(sft_out),
               "--quant", args.quant, "--seed", str(seed), "--num-train-epochs", str(args.epochs)]
        if args.max_steps is not None:
            cmd += ["--max-steps", str(args.max_steps)]
        cmd += shlex.split(args.sft_args)
        code, secs = call_step("sft", "train", cmd, cell, args)
        row["train_seconds"] = round(secs, 1)
        run_log = sft_out / "run_log.json"
        if code != 0 or not (sft_out / "adapter").is_dir():
            return {**row, "status": "failed", "step": "sft", "exit": code, "error": last_error(cell, "sft"),
                    "wall_seconds": round(time.time() - started, 1)}
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


def infer_and_score(cell: Path, adapter: Path | None, test: Path, seed: int, args: argparse.Namespace,
                    row: dict[str, Any], started: float) -> dict[str, Any]:
    """`train infer` on the test split with `adapter` (None: the base), then `finsynth eval` with the reference
    and the fuzzy matcher; the row gains the scores (or status failed with the step and its error)."""
    preds = cell / "preds.jsonl"
    cmd = ["infer", "--model", args.model, "--test", str(test), "--out", str(preds),
           "--quant", args.quant, "--seed", str(seed)]
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
        return {**row, "status": "failed", "step": "infer", "exit": code, "error": last_error(cell, "infer"),
                "wall_seconds": round(time.time() - started, 1)}
    ilog = Path(str(preds) + ".log.json")
    if ilog.is_file():
        il = json.loads(ilog.read_text(encoding="utf-8"))
        row["infer_rows_per_s"] = il.get("rows_per_second")
        row["infer_rows"] = il.get("rows")
    gold = gold_for(cell, test, args.limit)
    for matcher in ("reference", "fuzzy"):
        out_json = cell / f"eval_{matcher}.json"
        cmd = ["eval", "--pred", str(preds), "--gold", str(gold), "--matcher", matcher,
               "--format", "json", "--out", str(out_json)]
        code, _ = call_step(f"eval_{matcher}", "finsynth", cmd, cell, args)
        if code not in (0, 1) or not out_json.is_file():
            return {**row, "status": "failed", "step": f"eval_{matcher}", "exit": code,
                    "error": last_error(cell, f"eval_{matcher}"), "wall_seconds": round(time.time() - started, 1)}
        overall = json.loads(out_json.read_text(encoding="utf-8"))["overall"]
        if matcher == "reference":
            for key in ("n", "strict", "loose", "total", "total_rate", "precision", "recall", "f1",
                        "type_accuracy", "mean_pred_count", "mean_gold_count", "json_valid", "json_valid_rate"):
                row[key] = overall.get(key)
            mp, mg = _num(overall, "mean_pred_count"), _num(overall, "mean_gold_count")
            row["count_ratio"] = round(mp / mg, 3) if mp is not None and mg else None
        else:
            row["fuzzy_total"] = overall.get("total")
            row["fuzzy_f1"] = overall.get("f1")
    return row


SUMMARY_KEYS = ("total", "strict", "loose", "f1", "mean_pred_count", "count_ratio", "json_valid",
                "train_tokens_per_s", "infer_rows_per_s", "wall_seconds")


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for variant in dict.fromkeys(r["variant"] for r in rows):
        ok = [r for r in rows if r["variant"] == variant and r.get("status") == "ok"]
        s: dict[str, Any] = {"seeds_ok": [r["seed"] for r in ok],
                             "failed": [r["seed"] for r in rows if r["variant"] == variant and r.get("status") != "ok"]}
        for key in SUMMARY_KEYS:
            vals = [r[key] for r in ok if isinstance(r.get(key), (int, float))]
            if vals:
                s[key] = {"mean": round(sum(vals) / len(vals), 3), "min": min(vals), "max": max(vals)}
        out[variant] = s
    return out


def cell_settings(args: argparse.Namespace) -> dict[str, Any]:
    """What a cell's result depends on besides its variant and seed: a kept result must match it."""
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
        "build_seed",
    )
    return {k: getattr(args, k) for k in keys}


RUN_ORDER = (
    "corpus",
    "finsynth",
    "finsynth-down",
    "bad-enum",
    "zero-shot",
)  # the comparison that matters most runs first


def cells(args: argparse.Namespace, run_order: bool = False) -> list[tuple[str, int]]:
    """Every requested (variant, seed): zero-shot for the first seed only (greedy and untrained, every seed
    would give the same predictions). `run_order`: seed-major, corpus/finsynth first, so a call cut short
    still has every variant's first seed; else the table's order (VARIANTS, then seed)."""
    if run_order:
        variants = [v for v in RUN_ORDER if v in args.variants]
        return [(v, seed) for i, seed in enumerate(args.seeds) for v in variants if v != "zero-shot" or i == 0]
    variants = [v for v in VARIANTS if v in args.variants]
    return [(v, seed) for v in variants for i, seed in enumerate(args.seeds) if v != "zero-shot" or i == 0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--stage", choices=["all", "prepare", "run"], default="all")
    ap.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="training seeds (default 0 1)")
    ap.add_argument("--model", help="a local HF model directory (python -m train convert-gguf output)")
    ap.add_argument("--out", default=str(REPO / "runs" / "outcome"), help="runs and table (default runs/outcome)")
    ap.add_argument("--data", default=None, help="variant data (default OUT/data)")
    ap.add_argument("--corpus", default=None, help="corpus directory (default .corpus/ if present, else "
                                                   "$FINSYNTH_SHARED/corpus or ../shared/corpus)")
    ap.add_argument(
        "--compose",
        default="auto",
        help="finsynth variant: auto (match: test when the build has --compose), off, or a compose YAML file",
    )
    ap.add_argument("--build-seed", type=int, default=BUILD_SEED, help="split seed of every variant (13)")
    ap.add_argument("--epochs", type=float, default=3.0)
    ap.add_argument("--max-steps", type=int, default=None, help="cap training steps (smoke runs)")
    ap.add_argument("--limit", type=int, default=None, help="first N test rows only (smoke runs)")
    ap.add_argument("--quant", default="none", help="sft/infer --quant (default none: bf16 LoRA)")
    ap.add_argument("--max-new-tokens", type=int, default=None, help="infer --max-new-tokens (default: infer's)")
    ap.add_argument("--batch-size", type=int, default=None, help="infer --batch-size (default: infer's)")
    ap.add_argument("--sft-args", default="", help="extra `train sft` flags, one string: --sft-args=\"--flag value\"")
    ap.add_argument(
        "--infer-args", default="", help='extra `train infer` flags, one string: --infer-args="--flag value"'
    )
    ap.add_argument("--train-limit", type=int, default=None, help="first N train/val rows only (smoke runs)")
    ap.add_argument("--mode", choices=["inprocess", "subprocess"], default="inprocess",
                    help="steps as the CLIs' main() in this process (default: imports paid once) or as "
                         "subprocesses (isolated; --step-timeout applies)")
    ap.add_argument("--step-timeout", type=float, default=None,
                    help="seconds before a step is killed (--mode subprocess)")
    ap.add_argument("--budget-s", type=float, default=None,
                    help="start a cell only while elapsed + the longest cell so far stays within this many "
                         "seconds (the cells left are 'skipped'; a later call with the same --out runs them)")
    ap.add_argument("--force", action="store_true", help="re-run cells that already have a result")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the steps")
    args = ap.parse_args(argv)

    started = time.time()
    out = Path(args.out).resolve()
    data = Path(args.data).resolve() if args.data else out / "data"
    runs = out / "runs"
    table: dict[str, Any] = {"benchmark": "outcome", "model": args.model, "out": str(out), "epochs": args.epochs,
                             "max_steps": args.max_steps, "limit": args.limit, "train_limit": args.train_limit,
                             "mode": args.mode, "matcher": "reference"}
    if args.stage in ("all", "prepare"):
        table["data"] = prepare(args, data)
    if args.stage in ("all", "run"):
        if not args.model:
            ap.error("--model is required for --stage run/all")
        settings = cell_settings(args)
        longest = 0.0
        for variant, seed in cells(args, run_order=True):
            result = runs / variant / f"seed{seed}" / "result.json"
            if result.is_file() and not args.force:
                kept = json.loads(result.read_text(encoding="utf-8"))
                if kept.get("settings") == settings and kept.get("status") == "ok":
                    log(f"{variant}/seed{seed}: kept ({result})")
                    continue
                log(f"{variant}/seed{seed}: re-run (earlier result {kept.get('status')} or other settings)")
            if args.budget_s is not None and time.time() - started + longest > args.budget_s:
                log(f"{variant}/seed{seed}: skipped (the budget of {args.budget_s:.0f} s would not hold a cell "
                    f"as long as the longest so far, {longest:.0f} s)")
                continue
            cell_started = time.time()
            try:
                row = run_cell(variant, seed, args, data, runs)
            except Exception as exc:  # noqa: BLE001 - a bug in one cell is that cell's row
                row = {"variant": variant, "seed": seed, "status": "failed", "step": "outcome",
                       "error": f"{type(exc).__name__}: {exc}"}
            longest = max(longest, time.time() - cell_started)
            row["settings"] = settings
            result.parent.mkdir(parents=True, exist_ok=True)
            result.write_text(json.dumps(row, ensure_ascii=False, indent=1), encoding="utf-8")
            log(f"{variant}/seed{seed}: {row.get('status')} total={row.get('total')} "
                f"mean_pred={row.get('mean_pred_count')} wall={row.get('wall_seconds')}s")
        rows = []
        for variant, seed in cells(args):
            result = runs / variant / f"seed{seed}" / "result.json"
            rows.append(json.loads(result.read_text(encoding="utf-8")) if result.is_file()
                        else {"variant": variant, "seed": seed, "status": "skipped"})
        table["rows"] = rows
        table["summary"] = summarise(rows)
    table["wall_seconds"] = round(time.time() - started, 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.json").write_text(json.dumps(table, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps(compact(table), ensure_ascii=False))
    return 0


PRINTED_KEYS = ("variant", "seed", "status", "n", "strict", "loose", "total", "precision", "recall", "f1",
                "mean_pred_count", "mean_gold_count", "count_ratio", "json_valid", "fuzzy_total",
                "train_tokens_per_s", "infer_rows_per_s", "train_seconds", "infer_seconds", "wall_seconds",
                "final_eval_loss", "step", "error")


def compact(table: dict[str, Any]) -> dict[str, Any]:
    """The printed line: the table's rows with the headline keys (a device call returns only the last 12k
    characters of output); everything else is in OUT/table.json and each cell's result.json."""
    out = {k: v for k, v in table.items() if k not in ("rows", "summary", "data")}
    if "data" in table:
        out["data"] = {v: {k: d.get(k) for k in ("mean_train_count", "train", "counts", "error") if k in d}
                       for v, d in table["data"].items()}
    if "rows" in table:
        out["rows"] = [{k: r[k] for k in PRINTED_KEYS if r.get(k) is not None} for r in table["rows"]]
        out["summary"] = {v: {k: (x["mean"] if isinstance(x, dict) else x) for k, x in s.items()}
                          for v, s in table["summary"].items()}
    return out


if __name__ == "__main__":
    sys.exit(main())
