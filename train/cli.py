"""`python -m train {sft,grpo,infer,tiny-model,lengths,bench,convert-gguf,nan-check}`: parse flags, call the \
module, print JSON.

Errors follow `finsynth.cli`'s convention (`run_command`): a user error (a missing --model/--data/--test/
--adapter path, a bad setting, a missing package or GPU) is one line on stderr and exit code 2, with the
traceback first under `--debug`; a bug prints its traceback and exits 70. Paths are checked before torch loads.
A training run that diverges (a non-finite loss, gradient norm or eval loss) is one line and exit code 1, after
`RUN/run_log.json` was written with status "failed".
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from finsynth.cli import add_debug_flag, print_error, run_command
from finsynth.io import SPLITS, InputError

from .paths import check_file

if TYPE_CHECKING:
    from .runlog import TrainingDivergedError

PASS_THROUGH = ("sft", "grpo", "infer", "bench", "nan-check")  # commands whose own TrlParser reads their flags

# peft imports bitsandbytes whenever it is installed; on a CPU with AVX512-BF16 its CPU backend then tries to
# fetch a 4-bit kernel from the hub's kernels-community and logs a warning when it cannot. `train` never runs
# 4-bit on the CPU (--quant needs CUDA), so that line is noise on every CPU command: drop that one record.
BNB_CPU_LOGGER = "bitsandbytes.backends.cpu.ops"


class _HubKernelNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "kernels-community" not in record.getMessage()


def quiet_bitsandbytes_cpu_kernel() -> None:
    """Drop bitsandbytes' "Failed to load CPU gemm_4bit_forward from kernels-community" warning (before the
    package loads: its module logger is this one object); every other record of that logger still shows."""
    logger = logging.getLogger(BNB_CPU_LOGGER)
    if not any(isinstance(f, _HubKernelNoise) for f in logger.filters):
        logger.addFilter(_HubKernelNoise())


def _run_sft(args: argparse.Namespace) -> int:
    from .config import parse_sft, precheck_sft

    if not {"-h", "--help"} & set(args.argv):
        precheck_sft(args.argv)  # our arguments and the paths, before trl's SFTConfig (and torch) load
    ours, config = parse_sft(args.argv)
    from .runlog import TrainingDivergedError, dumps
    from .sft import run_sft

    try:
        log = run_sft(ours.check_paths(), config)
    except TrainingDivergedError as exc:
        return _diverged(exc, args)
    summary = {
        k: log[k]
        for k in (
            "adapter",
            "global_steps",
            "final_eval_loss",
            "tokens_per_second",
            "peak_gpu_memory_gib",
            "max_length",
        )
    }
    print(dumps(summary))
    return 0


def _run_infer(args: argparse.Namespace) -> int:
    from .config import parse_infer

    cfg = parse_infer(args.argv).check_paths()
    from .infer import run_infer

    print(json.dumps(run_infer(cfg), ensure_ascii=False))
    return 0


def _run_tiny(args: argparse.Namespace) -> int:
    from .tiny import build_tiny_model, corpus_texts

    texts = corpus_texts(args.text) if args.text else None
    out = build_tiny_model(
        args.out,
        texts,
        vocab_size=args.vocab_size,
        hidden_size=args.hidden_size,
        num_hidden_layers=args.layers,
        seed=args.seed,
    )
    print(json.dumps({"model": str(out)}))
    return 0


def _run_lengths(args: argparse.Namespace) -> int:
    if not Path(args.tokenizer).exists():
        raise InputError(f"--tokenizer {args.tokenizer}: no such directory; pass a local model directory")
    check_file(str(Path(args.data) / "train.jsonl"), "--data", "pass a `python -m finsynth build` output directory")
    from transformers import AutoTokenizer

    from .data import load_split, measure

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    report = {}
    pairs = []
    for split in SPLITS:
        rows = load_split(args.data, split, required=split == "train")
        if rows:
            ls = measure(tokenizer, rows)
            report[split] = ls.summary()
            if split == "train":
                pairs = [[p, t] for p, t in zip(ls.prompt, ls.total, strict=True)]
    if args.out:
        from finsynth.io import write_json_atomic

        write_json_atomic(args.out, {"tokenizer": args.tokenizer, "prompt_total": pairs})
    print(json.dumps(report))
    return 0


def _run_convert(args: argparse.Namespace) -> int:
    from .convert import convert_gguf

    print(json.dumps(convert_gguf(args.file, args.out, dtype=args.dtype, tokenizer=args.tokenizer)))
    return 0


def _diverged(exc: TrainingDivergedError, args: argparse.Namespace) -> int:
    """A run that diverged (`TrainingDivergedError`): exit 1, not a usage error and not a bug; one line
    (`describe()`: the step, what was kept, the run log), with the traceback first under `--debug`."""
    if getattr(args, "debug", False):
        import traceback

        traceback.print_exc()
    print_error(exc.describe())
    return 1


def _run_grpo(args: argparse.Namespace) -> int:
    from .grpo import parse, run_grpo
    from .runlog import TrainingDivergedError, dumps

    ours, config = parse(list(args.argv))
    try:
        log = run_grpo(ours, config)
    except TrainingDivergedError as exc:
        return _diverged(exc, args)
    curves = log["reward_curves"].get("total", [])
    guard = log.get("guard") or {}
    print(
        dumps(
            {
                "status": log["status"],
                "adapter": log["adapter"],
                "global_steps": log["global_steps"],
                "reward_first": curves[0]["mean"] if curves else None,
                "reward_last": curves[-1]["mean"] if curves else None,
                "validation_start": (guard.get("start") or {}).get("score"),
                "validation_best": (guard.get("best") or {}).get("score"),
                "best_step": guard.get("best_step"),
                "decision": guard.get("decision"),
                "stopped_early": log.get("stopped_early"),
                "wall_seconds": log["wall_seconds"],
            }
        )
    )
    return 0


def _run_bench(args: argparse.Namespace) -> int:
    from .bench import main as bench_main
    from .bench import parse

    return bench_main(parse(args.argv))


def _run_nan_check(args: argparse.Namespace) -> int:
    from .nan_check import main as nan_check_main
    from .nan_check import parse

    return nan_check_main(parse(args.argv))


def build_parser() -> argparse.ArgumentParser:
    # `train` in the checkout, `finsynth_train` as the wheel installs it (pyproject.toml: the name is not ours alone)
    parser = argparse.ArgumentParser(prog=f"python -m {__package__ or 'train'}", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    # sft, grpo and infer leave the rest of the command line to trl's TrlParser (train/config.py), so `--help`
    # shows its flags: ours and, for sft and grpo, trl's SFTConfig / GRPOConfig
    p = sub.add_parser("sft", add_help=False, help="QLoRA SFT on data/built (trl + peft + bitsandbytes; trl's flags)")
    p.set_defaults(func=_run_sft)

    from .grpo import add_parser as add_grpo_parser

    add_grpo_parser(sub).set_defaults(func=_run_grpo)

    p = sub.add_parser("infer", add_help=False, help="batched generation on the test split -> predictions JSONL")
    p.set_defaults(func=_run_infer)

    p = sub.add_parser("tiny-model", help="write a tiny random Qwen3 + locally trained tokenizer")
    p.add_argument("out", help="directory to write the model and tokenizer to")
    p.add_argument(
        "--text",
        nargs="+",
        default=None,
        help="JSONL files/dirs to train the tokenizer on (default: data/raw, else the shared corpus)",
    )
    p.add_argument("--vocab-size", type=int, default=4000, help="tokenizer vocabulary size (default: 4000)")
    p.add_argument("--hidden-size", type=int, default=64, help="model hidden size (default: 64)")
    p.add_argument("--layers", type=int, default=2, help="decoder layers (default: 2)")
    p.add_argument("--seed", type=int, default=0, help="weight initialisation seed (default: 0)")
    p.set_defaults(func=_run_tiny)

    p = sub.add_parser("lengths", help="token lengths of the built splits with a model's tokenizer")
    p.add_argument("--data", default="data/built", help="built data directory (default: data/built)")
    p.add_argument("--tokenizer", required=True, help="local model or tokenizer directory (required)")
    p.add_argument("--out", default=None, help="write train (prompt, total) pairs here, for `bench --lengths`")
    p.set_defaults(func=_run_lengths)

    p = sub.add_parser(
        "convert-gguf",
        help="a dense Hugging Face checkpoint (bf16 safetensors, tokenizer, chat template) from a GGUF file",
    )
    p.add_argument("file", help="the .gguf file")
    p.add_argument("out", help="directory to write the checkpoint to")
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    p.add_argument(
        "--tokenizer",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also write the GGUF's tokenizer and chat template (default: yes, when it has one)",
    )
    p.set_defaults(func=_run_convert)

    # bench and nan-check: typed settings (`BenchConfig`, `NanCheckConfig`) on the same TrlParser
    p = sub.add_parser(
        "bench", add_help=False, help="GPU training-throughput benchmark (Qwen3-14B shape, random weights)"
    )
    p.set_defaults(func=_run_bench)
    p = sub.add_parser(
        "nan-check",
        add_help=False,
        help="GPU check of the padded bf16 sdpa NaN: old vs new training defaults, "
        "per-step losses, tokens/s (JSON last line)",
    )
    p.set_defaults(func=_run_nan_check)
    add_debug_flag(parser, sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    quiet_bitsandbytes_cpu_kernel()
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command in PASS_THROUGH:  # everything else on the line is for its TrlParser
        args.argv = rest
    elif rest:
        parser.error("unrecognized arguments: " + " ".join(rest))
    return run_command(args.func, args)
