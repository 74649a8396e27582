"""Inference speed against the plain path, with the outputs compared (issue 11, item 5).

One model + adapter, one test split, three paths in one process (the model loads once):

* `plain`: what `python -m train infer` did before: peft's unmerged LoRA layers, batches of 8, dynamic cache;
* `fast`: today's defaults: the adapter merged into the bf16 base, one batch of up to 64 prompts sorted by
  length, dynamic cache;
* `static` (with `--static`): `fast` plus `cache_implementation="static"` (transformers compiles the step; the
  first call pays the compile, so it runs twice and both times are reported).

Each path is greedy and stops on the end-of-turn ids. For every path beside `plain` it reports the seconds of
generation (model load excluded, reported once), how many outputs are byte-identical to `plain`'s, and how many
parse to the same metric names (a bf16 merge rounds W + BA once instead of adding B(Ax) per step, and a batch's
left padding changes the kernels' reduction order, so identity is measured, not assumed). Last line: JSON.

    python benchmarks/infer_speed.py --model /tmp/model --adapter RUN/adapter --test DATA/test.jsonl [--static]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from finsynth.io import read_jsonl
from finsynth.parsing import parse_reply
from train.config import InferConfig
from train.infer import generate_transformers, load_for_inference, resolve_max_new_tokens


def names(text: str) -> tuple[str, ...] | None:
    parsed = parse_reply(text)
    if parsed.extraction is None:
        return None
    return tuple(sorted(m.metric_name for m in parsed.extraction.metrics))


def timed(tokenizer, model, rows, cfg: InferConfig) -> tuple[list[str], float]:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.time()
    out = generate_transformers(tokenizer, model, rows, cfg)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, round(time.time() - started, 2)


def keep(out: str | None, name: str, outputs: list[str]) -> None:
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / f"outputs_{name}.json").write_text(json.dumps(outputs, ensure_ascii=False), encoding="utf-8")


def compare(reference: list[str], other: list[str]) -> dict[str, int]:
    return {
        "identical": sum(a == b for a, b in zip(reference, other, strict=True)),
        "same_metric_names": sum(names(a) == names(b) for a, b in zip(reference, other, strict=True)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--adapter", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--plain-batch", type=int, default=8, help="batch of the plain path (the old default 8)")
    ap.add_argument("--static", action="store_true", help="also time the static-cache path (compiles)")
    ap.add_argument("--max-new-tokens", type=int, default=None)
    ap.add_argument(
        "--fp32",
        action="store_true",
        help="run every path in float32 with TF32 off (`infer --exact`: is the bf16 non-identity only rounding?)",
    )
    ap.add_argument("--out", default=None, help="directory for each path's outputs (outputs_<path>.json)")
    args = ap.parse_args(argv)
    import torch

    rows = read_jsonl(args.test)[: args.limit]
    started = time.time()
    tokenizer, model = load_for_inference(args.model, args.adapter, "none", merge_adapter=False, exact=args.fp32)
    cfg = InferConfig(
        model=args.model, adapter=args.adapter, test=args.test, quant="none", max_new_tokens=args.max_new_tokens
    )
    max_new, why = resolve_max_new_tokens(cfg, tokenizer, rows)
    cfg = dataclasses.replace(cfg, max_new_tokens=max_new)
    load_seconds = round(time.time() - started, 2)
    result: dict = {
        "benchmark": "infer_speed",
        "rows": len(rows),
        "max_new_tokens": max_new,
        "max_new_tokens_from": why,
        "load_seconds": load_seconds,
        "dtype": str(next(model.parameters()).dtype),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
    }
    plain, result["plain_seconds"] = timed(
        tokenizer, model, rows, dataclasses.replace(cfg, batch_size=args.plain_batch)
    )
    keep(args.out, "plain", plain)
    print(f"plain: {result['plain_seconds']} s", file=sys.stderr, flush=True)
    unmerged_big, seconds = timed(tokenizer, model, rows, cfg)
    keep(args.out, "unmerged", unmerged_big)
    result["unmerged_batch64"] = {"seconds": seconds, **compare(plain, unmerged_big)}
    print(f"unmerged batch {cfg.batch_size}: {seconds} s", file=sys.stderr, flush=True)
    model = model.merge_and_unload().eval()
    fast, seconds = timed(tokenizer, model, rows, cfg)
    keep(args.out, "fast", fast)
    result["fast"] = {"seconds": seconds, **compare(plain, fast), "vs_unmerged_batch64": compare(unmerged_big, fast)}
    print(f"fast: {seconds} s", file=sys.stderr, flush=True)
    if args.static:
        static_cfg = dataclasses.replace(cfg, cache_implementation="static")
        _, first_s = timed(tokenizer, model, rows, static_cfg)
        second, second_s = timed(tokenizer, model, rows, static_cfg)
        result["static"] = {
            "first_seconds": first_s,
            "seconds": second_s,
            **compare(plain, second),
            "vs_fast": compare(fast, second),
        }
        print(f"static: {first_s} s then {second_s} s", file=sys.stderr, flush=True)
    result["speedup"] = round(result["plain_seconds"] / max(result["fast"]["seconds"], 1e-9), 2)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
