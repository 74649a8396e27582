"""Training throughput of `python -m train sft` on a real model, one process per batching setting.

Each setting trains the same data for `--max-steps` optimiser steps (effective batch 16 throughout, so the
optimisation is the same) and reports what its run log measured: real (unpadded) training tokens per
second, peak GPU memory, the micro-batch plan and the per-step losses (to compare the curves). Last line: JSON.

    python benchmarks/train_throughput.py --model /tmp/model --data DATA/corpus [--max-steps 15]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SETTINGS = {
    "mb4x4": "--no-auto-batch",  # the default before issue 11's throughput item: micro 4 x accumulation 4
    "auto": "",  # today's default: --auto-batch sizes the micro-batch to the memory estimate
    "mb16x1": "--no-auto-batch --per-device-train-batch-size 16 --gradient-accumulation-steps 1",
    "mb16x1-padding-free": "--no-auto-batch --per-device-train-batch-size 16 --gradient-accumulation-steps 1 "
    "--padding-free",
}


def run(name: str, flags: str, args: argparse.Namespace) -> dict:
    out = Path(args.out) / name
    cmd = [
        sys.executable,
        "-m",
        "train",
        "sft",
        "--model",
        args.model,
        "--data",
        args.data,
        "--out",
        str(out),
        "--quant",
        args.quant,
        "--max-steps",
        str(args.max_steps),
        "--no-eval",
        "--logging-steps",
        "1",
        "--seed",
        str(args.seed),
        *shlex.split(flags),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    log_path = out / "run_log.json"
    if proc.returncode != 0 or not log_path.is_file():
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"setting": name, "flags": flags, "status": "failed", "exit": proc.returncode, "error": tail}
    log = json.loads(log_path.read_text(encoding="utf-8"))
    return {
        "setting": name,
        "flags": flags,
        "status": log.get("status"),
        "tokens_per_second": log.get("tokens_per_second"),
        "train_tokens": log.get("train_tokens"),
        "runtime_s": (log.get("train_metrics") or {}).get("train_runtime"),
        "peak_gpu_memory_gib": log.get("peak_gpu_memory_gib"),
        "batching": log.get("batching"),
        "memory_plan": {k: (log.get("memory_plan") or {}).get(k) for k in ("estimate_gib", "budget_gib", "reason")},
        "losses": [round(h["loss"], 4) for h in log.get("train_loss", []) if h.get("loss") is not None],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", default="/tmp/train_throughput")
    ap.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    ap.add_argument("--max-steps", type=int, default=15)
    ap.add_argument("--quant", default="none")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rows = []
    for name in args.settings:
        rows.append(run(name, SETTINGS[name], args))
        print(json.dumps(rows[-1], ensure_ascii=False), file=sys.stderr, flush=True)
    base = next((r["tokens_per_second"] for r in rows if r["setting"] == "mb4x4" and r.get("tokens_per_second")), None)
    for r in rows:
        if base and r.get("tokens_per_second"):
            r["speedup_vs_mb4x4"] = round(r["tokens_per_second"] / base, 2)
    print(json.dumps({"benchmark": "train_throughput", "max_steps": args.max_steps, "rows": rows}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
