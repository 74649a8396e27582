"""GPU training-throughput benchmark: a Qwen3-14B-shaped model with random weights, built on the GPU.

Each configuration runs in its own process (clean peak-memory numbers) for `--warmup` optimiser steps
and then `--steps` measured ones, on batches whose token lengths are drawn from the built set's
distribution (`--lengths` from `python -m train lengths`, else estimated from the built rows' text).

  a      reference: 8-bit + prepare_model_for_kbit_training (fp32 upcasts), whole-sequence loss, right
         padding, random order, micro-batch 2 x accumulation 8, paged_adamw_8bit, gradient checkpointing,
         plain transformers Trainer (full logits)
  b      our default `TrainConfig` (8-bit, reply-only loss, no upcasts, trl SFTTrainer)
  b-mbN  the same with micro-batch N (accumulation 16/N)
  c      4-bit nf4 (double quantisation, bf16 compute), micro-batch 8 x 2
  d      bf16 LoRA (no quantisation), micro-batch 8 x 2

The weights are random: the base is built in bf16 directly on the GPU and quantised there with
bitsandbytes (`Int8Params`/`Params4bit`), with the attributes `from_pretrained` would set, so peft and trl
take the same code paths as with a real checkpoint. Prints one JSON document on the last line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finsynth.errors import ConfigError

QWEN3_14B = {
    "hidden_size": 5120,
    "num_hidden_layers": 40,
    "num_attention_heads": 40,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "intermediate_size": 17408,
    "vocab_size": 151936,
    "tie_word_embeddings": False,
    "max_position_embeddings": 40960,
    "rope_theta": 1_000_000.0,
    "rms_norm_eps": 1e-6,
}
TINY = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "intermediate_size": 128,
    "vocab_size": 4000,
    "tie_word_embeddings": False,
    "max_position_embeddings": 4096,
}
SHAPES: dict[str, dict[str, Any]] = {"qwen3-14b": QWEN3_14B, "tiny": TINY}
DEFAULT_CONFIGS = ["a", "b", "c", "d", "b-mb8", "b-mb2"]

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CJK_PUNCT = re.compile(r"[\u3000-\u303f\uff00-\uffef]")


def estimate_tokens(text: str) -> int:
    """Rough Qwen-tokenizer count: ~0.7 token per CJK character, one per digit (Qwen splits digits),
    ~4 ASCII letters per token, one per CJK punctuation mark, half a token per other symbol."""
    cjk = len(_CJK.findall(text))
    cjk_punct = len(_CJK_PUNCT.findall(text))
    digits = sum(c.isdigit() for c in text)
    letters = sum(c.isascii() and c.isalpha() for c in text)
    other = len(text) - cjk - cjk_punct - digits - letters
    return math.ceil(0.7 * cjk + cjk_punct + digits + letters / 4 + 0.5 * other)


def estimated_pairs(rows: list[dict[str, Any]]) -> list[list[int]]:
    """(prompt, total) token estimates for built rows: ChatML wrappers + empty think block ~ 20 tokens."""
    pairs = []
    for row in rows:
        prompt = 16 + sum(estimate_tokens(m["content"]) for m in row["prompt"])
        reply = 4 + sum(estimate_tokens(m["content"]) for m in row["completion"])
        pairs.append([prompt, prompt + reply])
    return pairs


def length_pairs(args: BenchConfig) -> tuple[list[list[int]], str]:
    """(prompt, total) pairs for the training rows and where they came from."""
    if args.lengths:
        doc = json.loads(Path(args.lengths).read_text(encoding="utf-8"))
        return doc["prompt_total"], f"{args.lengths} ({doc.get('tokenizer', 'measured')})"
    from .data import load_split

    rows = load_split(args.data, "train")
    return estimated_pairs(rows), f"{args.data}/train.jsonl (character-based estimate)"


def preset(name: str) -> dict[str, Any]:
    """TrainConfig overrides for a named configuration (plus `reference: True` for a)."""
    if name == "a":
        return {
            "reference": True,
            "quant": "8bit",
            "per_device_train_batch_size": 2,
            "gradient_accumulation_steps": 8,
            "optim": "paged_adamw_8bit",
            "loss": "full",
            "train_sampling_strategy": "random",
        }
    if name == "b":
        return {}
    if m := re.fullmatch(r"b-mb(\d+)", name):
        mb = int(m.group(1))
        return {"per_device_train_batch_size": mb, "gradient_accumulation_steps": max(1, 16 // mb)}
    if name == "c":
        return {"quant": "4bit", "per_device_train_batch_size": 8, "gradient_accumulation_steps": 2}
    if name == "d":
        return {"quant": "none", "per_device_train_batch_size": 8, "gradient_accumulation_steps": 2}
    raise ConfigError(f"unknown bench configuration {name!r}")


def build_random_model(shape: dict[str, Any], quant: str, threshold: float = 6.0, seed: int = 0):
    """Random-weight Qwen3 on the GPU (bf16), then bitsandbytes-quantised in place when asked."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen3Config

    cuda = torch.cuda.is_available()
    device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    torch.manual_seed(seed)
    config = Qwen3Config(**shape)
    with device:
        model = AutoModelForCausalLM.from_config(
            config, dtype=torch.bfloat16 if cuda else torch.float32, attn_implementation="sdpa"
        )
    if quant != "none":
        _quantize_linears(model, quant, threshold, device)
    return model


def _quantize_linears(model, quant: str, threshold: float, device) -> None:
    """Swap every nn.Linear except lm_head for its bitsandbytes int8/nf4 layer, quantising on the GPU."""
    import bitsandbytes as bnb
    import torch
    from transformers.utils.quantization_config import QuantizationMethod

    for _parent_name, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            if not isinstance(child, torch.nn.Linear) or name == "lm_head":
                continue
            bias = child.bias is not None
            if quant == "8bit":
                new = bnb.nn.Linear8bitLt(
                    child.in_features,
                    child.out_features,
                    bias=bias,
                    has_fp16_weights=False,
                    threshold=threshold,
                    device="meta",
                )
                weight = bnb.nn.Int8Params(child.weight.data, requires_grad=False, has_fp16_weights=False)
                new.weight = weight._quantize(device)
            else:
                new = bnb.nn.Linear4bit(
                    child.in_features,
                    child.out_features,
                    bias=bias,
                    compute_dtype=torch.bfloat16,
                    compress_statistics=True,
                    quant_type="nf4",
                    device="meta",
                )
                weight = bnb.nn.Params4bit(
                    child.weight.data, requires_grad=False, quant_type="nf4", compress_statistics=True, module=new
                )
                new.weight = weight._quantize(device)
            if bias:
                new.bias = torch.nn.Parameter(child.bias.data, requires_grad=False)
            setattr(parent, name, new)
            del child, weight
    torch.cuda.empty_cache()
    # What from_pretrained(quantization_config=...) sets, so peft/trl/Trainer treat it as a bnb model.
    model.is_loaded_in_8bit = quant == "8bit"
    model.is_loaded_in_4bit = quant == "4bit"
    model.quantization_method = QuantizationMethod.BITS_AND_BYTES


class _Collator:
    """Pads a batch (right) and counts its non-pad tokens for the step timer."""

    def __init__(self, inner, counter: list[int]):
        self.inner = inner
        self.counter = counter

    def __call__(self, examples):
        self.counter.append(sum(len(e["input_ids"]) for e in examples))
        return self.inner(examples)


def _reference_collate(pad_id: int):
    import torch

    def collate(examples):
        width = max(len(e["input_ids"]) for e in examples)
        ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(examples), width), dtype=torch.long)
        for i, e in enumerate(examples):
            n = len(e["input_ids"])
            ids[i, :n] = torch.tensor(e["input_ids"])
            mask[i, :n] = 1
        labels = ids.masked_fill(mask == 0, -100)  # the whole sequence is trained, padding excluded
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    return collate


def run_one(spec: str, args: BenchConfig) -> dict[str, Any]:
    """One configuration in this process: build, warm up, measure; returns the row."""
    import torch
    from datasets import Dataset
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from .config import parse_sft
    from .sft import lora_config, one_gpu_per_process, sdpa_backends, sft_arguments

    overrides = preset(spec)
    reference = overrides.pop("reference", False)
    cuda = torch.cuda.is_available()
    total_steps = args.warmup + args.steps
    common: dict[str, Any] = {
        "max_steps": total_steps,
        "logging_steps": 1,
        "save_strategy": "no",
        "eval_strategy": "no",
        "report_to": "none",
        "dataloader_num_workers": 0,
    }
    ours, cfg = parse_sft(model="random", output_dir=str(Path(args.work_dir) / spec), **common, **overrides)
    if not cuda:
        ours.quant = "none"  # CPU smoke of the code path only
    pairs, source = length_pairs(args)
    per_step = cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps
    rng = random.Random(args.seed)
    drawn = [rng.choice(pairs) for _ in range(per_step * total_steps)]
    shape = SHAPES[args.shape]
    vocab = shape["vocab_size"]
    rows = []
    for prompt_len, total in drawn:
        total = min(total, args.max_length)
        prompt_len = min(prompt_len, total - 1)
        rows.append(
            {
                "input_ids": [rng.randrange(10, vocab - 10) for _ in range(total)],
                "completion_mask": [0] * prompt_len + [1] * (total - prompt_len),
            }
        )
    dataset = Dataset.from_list(rows)

    build_start = time.time()
    model = build_random_model(shape, ours.quant, ours.llm_int8_threshold, seed=args.seed)
    build_seconds = time.time() - build_start
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()

    counter: list[int] = []
    ends: list[float] = []
    step_tokens: list[int] = []

    class Timer(TrainerCallback):
        def on_step_end(self, targs, state, control, **kw):
            if cuda:
                torch.cuda.synchronize()
            ends.append(time.perf_counter())
            step_tokens.append(sum(counter))
            counter.clear()

    if reference:
        from peft import get_peft_model, prepare_model_for_kbit_training

        if cuda:
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
        model = get_peft_model(model, lora_config(ours))
        targs = TrainingArguments(
            output_dir=cfg.output_dir,
            per_device_train_batch_size=2,
            gradient_accumulation_steps=8,
            learning_rate=cfg.learning_rate,
            lr_scheduler_type="cosine",
            warmup_steps=0.05,
            max_grad_norm=0.3,
            optim="paged_adamw_8bit" if cuda else "adamw_torch",
            bf16=cuda,
            gradient_checkpointing=True,
            remove_unused_columns=False,
            use_cpu=not cuda,
            seed=args.seed,
            **common,
        )
        one_gpu_per_process(targs)
        dataset = dataset.remove_columns(["completion_mask"])
        trainer = Trainer(
            model=model,
            args=targs,
            train_dataset=dataset,
            data_collator=_Collator(_reference_collate(0), counter),
            callbacks=[Timer()],
        )
    else:
        from trl import SFTTrainer
        from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

        from .tiny import build_tokenizer

        tokenizer = build_tokenizer(["finsynth benchmark"], vocab_size=300)
        sargs = sft_arguments(ours, cfg, max_length=args.max_length, has_eval=False)
        one_gpu_per_process(sargs)
        collator = _Collator(DataCollatorForLanguageModeling(pad_token_id=0), counter)
        trainer = SFTTrainer(
            model=model,
            args=sargs,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=lora_config(ours),
            data_collator=collator,
            callbacks=[Timer()],
        )
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    train_start = time.perf_counter()
    with sdpa_backends(ours.sdpa_cudnn):  # the training default: cuDNN's SDPA off (its backward NaNs, issue 11)
        trainer.train()
    # not strict: with no step ended, [train_start] pairs with nothing and there are no intervals
    intervals = [b - a for a, b in zip([train_start, *ends[:-1]], ends, strict=False)]
    measured = intervals[args.warmup :]
    tokens = step_tokens[args.warmup :]
    mean_len = statistics.fmean(min(t, args.max_length) for _, t in pairs)
    tok_s = sum(tokens) / sum(measured)
    row = {
        "config": spec,
        "quant": ours.quant,
        "reference": reference,
        "micro_batch": cfg.per_device_train_batch_size,
        "grad_accum": cfg.gradient_accumulation_steps,
        "loss": ours.loss,
        "group_by_length": cfg.train_sampling_strategy == "group_by_length" and not reference,
        "optim": trainer.args.optim if isinstance(trainer.args.optim, str) else trainer.args.optim.value,
        "gradient_checkpointing": True,
        "sdpa_cudnn": ours.sdpa_cudnn,
        "trainable_params": trainable,
        "steps_measured": len(measured),
        "step_time_s": round(statistics.median(measured), 3),
        "step_times_s": [round(x, 3) for x in measured],
        "samples_per_s": round(per_step * len(measured) / sum(measured), 3),
        "nonpad_tokens_per_s": round(tok_s, 1),
        "samples_per_s_at_mean_length": round(tok_s / mean_len, 3),
        "mean_sample_tokens": round(mean_len, 1),
        "peak_alloc_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 2) if cuda else None,
        "build_s": round(build_seconds, 1),
        "lengths_source": source,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
    }
    return row


@dataclass
class BenchConfig:
    """`python -m train bench` settings (trl's `TrlParser`, as `train sft`: flags, or keys of a `--config` YAML)."""

    configs: list[str] = field(
        default_factory=lambda: list(DEFAULT_CONFIGS), metadata={"help": "a b b-mbN c d (see module doc)"}
    )
    shape: str = field(
        default="qwen3-14b",
        metadata={"help": "model shape (default: qwen3-14b)", "choices": sorted(SHAPES)},
    )
    data: str = field(default="data/built", metadata={"help": "built data (lengths estimated from its text)"})
    lengths: str | None = field(default=None, metadata={"help": "JSON from `python -m train lengths --out` (measured)"})
    warmup: int = field(default=1, metadata={"help": "optimiser steps before timing"})
    steps: int = field(default=4, metadata={"help": "timed optimiser steps"})
    max_length: int = field(default=2048, metadata={"help": "cap on a drawn sample's tokens (default: 2048)"})
    seed: int = field(default=0, metadata={"help": "seed of weights, drawn lengths and token ids (default: 0)"})
    work_dir: str = field(
        default="/tmp/finsynth-bench", metadata={"help": "trainer output directories (default: /tmp/finsynth-bench)"}
    )
    log: str | None = field(default=None, metadata={"help": "append every child's full output here"})
    child_timeout: int = field(default=900, metadata={"help": "seconds allowed per configuration"})
    one: str | None = field(default=None, metadata={"help": argparse.SUPPRESS})  # a child process: one config


def parser():
    from .config import make_parser

    return make_parser((BenchConfig,), prog="python -m train bench", description=__doc__.split("\n\n")[0])


def parse(argv: list[str]) -> BenchConfig:
    from .config import parse_settings

    (cfg,) = parse_settings(parser(), argv)
    return cfg


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def main(args: BenchConfig) -> int:
    """Run each configuration in a fresh process; print the rows and a JSON summary last."""
    if args.one:
        print("BENCH_ROW " + json.dumps(run_one(args.one, args)), flush=True)
        return 0
    rows = []
    for spec in args.configs:
        preset(spec)  # fail fast on a typo
        cmd = [
            sys.executable,
            "-m",
            __package__ or "train",  # `finsynth_train` when installed from the wheel
            "bench",
            "--one",
            spec,
            "--shape",
            args.shape,
            "--data",
            args.data,
            "--warmup",
            str(args.warmup),
            "--steps",
            str(args.steps),
            "--max-length",
            str(args.max_length),
            "--seed",
            str(args.seed),
            "--work-dir",
            args.work_dir,
        ]
        if args.lengths:
            cmd += ["--lengths", args.lengths]
        started = time.time()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.setdefault("CUDA_VISIBLE_DEVICES", "0")  # one GPU per configuration, as the numbers are reported
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.child_timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            proc = subprocess.CompletedProcess(cmd, 124, _text(exc.stdout), _text(exc.stderr) + "\ntimed out")
        if args.log:
            with open(args.log, "a", encoding="utf-8") as fh:
                fh.write(f"===== {spec}: {' '.join(cmd)} (rc={proc.returncode})\n{proc.stdout}\n{proc.stderr}\n")
        found = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_ROW ")]
        if proc.returncode == 0 and found:
            row = json.loads(found[-1][len("BENCH_ROW ") :])
        else:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            row = {"config": spec, "error": " | ".join(tail)[-800:]}
        row["wall_s"] = round(time.time() - started, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary: dict[str, Any] = {"shape": args.shape, "warmup_steps": args.warmup, "steps": args.steps, "results": rows}
    by = {r["config"]: r for r in rows if "error" not in r}
    if "a" in by:
        ref = by["a"]
        summary["vs_reference"] = {
            k: {
                "speedup_samples": round(r["samples_per_s_at_mean_length"] / ref["samples_per_s_at_mean_length"], 2),
                "peak_alloc_ratio": (
                    round(r["peak_alloc_gib"] / ref["peak_alloc_gib"], 2)
                    if r.get("peak_alloc_gib") and ref.get("peak_alloc_gib")
                    else None
                ),
            }
            for k, r in by.items()
            if k != "a"
        }
    print(json.dumps(summary))
    return 0 if all("error" not in r for r in rows) else 1
