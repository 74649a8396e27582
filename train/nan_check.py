"""`python -m train nan-check`: on the GPU, confirm the padded-bf16-sdpa NaN (issue 11) and its fix.

Each part runs in its own process (clean memory and SDPA flags) and prints one JSON row; the last line is
one JSON document with all of them.

  kernel   pytorch#196678's torch-only repro (an explicit mask, a row log-sum-exp below -88.7) through each SDPA
           backend, the default dispatch, and the default dispatch with cuDNN off (what training now uses)
  batches  the real model with fresh LoRA: forward + backward of every micro-batch of the first epoch as the
           old defaults collate them (right-padded, 4 per micro-batch), once per SDPA backend; lists the
           micro-batches whose gradients are non-finite, with their padded lengths
  old      training as the old defaults did: sdpa with cuDNN allowed, padded micro-batches, checkpointing on
  fix      the old defaults with cuDNN SDPA off: the fix alone (same data order and checkpointing as old)
  new      training with the current defaults (cuDNN SDPA off, checkpointing auto)
  padfree  the current defaults + --padding-free
  eager    eager attention (the control that stayed finite)

A training row has the per-step loss and gradient norm, `finite`, the step and reason where the NaN guard stopped
it, each step's micro-batch padded lengths (flagging 64 mod 128), non-pad tokens/s (steps after the first)
and peak memory. `--steps 20` covers the first NaN of the report (step 9: 116 training rows are 8 steps).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finsynth.errors import ConfigError

CONFIGS: dict[str, dict[str, Any]] = {
    "old": {"sdpa_cudnn": True, "gradient_checkpointing": "on"},
    "fix": {"gradient_checkpointing": "on"},  # old + cuDNN SDPA off: the fix alone
    "new": {},
    "padfree": {"padding_free": True},
    "eager": {"attn_implementation": "eager"},
}
PARTS = ["kernel", "batches", "old", "fix", "new", "padfree"]
BACKENDS = ("CUDNN_ATTENTION", "EFFICIENT_ATTENTION", "MATH")


@dataclass
class NanCheckConfig:
    """`python -m train nan-check` settings (trl's `TrlParser`, as `train sft`: flags, or keys of a `--config`
    YAML)."""

    model: str = field(metadata={"help": "local model directory (e.g. Qwen2.5-Coder-0.5B-Instruct)"})
    data: str = field(default="data/built", metadata={"help": "built data directory (default: data/built)"})
    steps: int = field(default=20, metadata={"help": "optimiser steps per training configuration (default: 20)"})
    quant: str = field(default="none", metadata={"help": "base weights, one of: 8bit, 4bit, none (default: none)"})
    parts: list[str] = field(
        default_factory=lambda: list(PARTS),
        metadata={
            "help": f"what to run, any of: kernel, batches, {', '.join(CONFIGS)} (default: {' '.join(PARTS)})",
            "metavar": "PART",
        },
    )
    work_dir: str = field(
        default="/tmp/finsynth-nan-check", metadata={"help": "run directories (default: /tmp/finsynth-nan-check)"}
    )
    child_timeout: int = field(default=600, metadata={"help": "seconds allowed per part (default: 600)"})
    one: str | None = field(default=None, metadata={"help": argparse.SUPPRESS})  # a child process: one part


def parser():
    from .config import make_parser

    return make_parser((NanCheckConfig,), prog="python -m train nan-check", description=__doc__.split("\n\n")[0])


def parse(argv: list[str]) -> NanCheckConfig:
    from .config import parse_settings

    (cfg,) = parse_settings(parser(), argv)
    return cfg


def _cfg(name: str, args: NanCheckConfig, **extra: Any):
    """(SFTArguments, SFTConfig) of configuration `name`: the `train sft` defaults plus its changes."""
    from .config import parse_sft

    return parse_sft(
        data=args.data,
        model=args.model,
        output_dir=str(Path(args.work_dir) / name),
        quant=args.quant,
        max_steps=args.steps,
        logging_steps=1,
        eval=False,
        save_total_limit=1,
        **{**CONFIGS.get(name, {}), **extra},
    )


def _nonfinite(values) -> int:
    import torch

    return int(sum((~torch.isfinite(v)).sum().item() for v in values if v is not None))


def kernel_probe() -> dict[str, Any]:
    """pytorch#196678: bf16 SDPA backward with an explicit mask and every row's log-sum-exp near -120."""
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from .sft import sdpa_backends

    def once(length: int, backend: str | None, allow_cudnn: bool = True) -> int | str:
        torch.manual_seed(0)
        d = 64
        q = torch.randn(1, 1, length, d, device="cuda", dtype=torch.bfloat16) * 0.1
        k = torch.randn(1, 1, length, d, device="cuda", dtype=torch.bfloat16) * 0.1
        v = torch.randn(1, 1, length, d, device="cuda", dtype=torch.bfloat16)
        q[..., 0], k[..., 0] = 1.0, -120 * math.sqrt(d)
        q.requires_grad_()
        mask = torch.ones(length, length, dtype=torch.bool, device="cuda").tril()[None, None]
        try:
            with sdpa_backends(allow_cudnn):
                if backend is None:
                    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
                else:
                    with sdpa_kernel([getattr(SDPBackend, backend)]):
                        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
                out.backward(torch.randn_like(out))
        except RuntimeError as exc:
            return f"unavailable: {str(exc).splitlines()[0][:120]}"
        return _nonfinite([q.grad])

    rows = {}
    for length in (640, 704, 520):
        row: dict[str, Any] = {b: once(length, b) for b in BACKENDS}
        row["default"] = once(length, None)
        row["default_without_cudnn"] = once(length, None, allow_cudnn=False)
        rows[f"L{length}"] = row
    return {
        "part": "kernel",
        "nonfinite_grad_q": rows,
        "cudnn_sdp_enabled_by_default": torch.backends.cuda.cudnn_sdp_enabled(),
    }


def batch_probe(args: NanCheckConfig) -> dict[str, Any]:
    """Every first-epoch micro-batch of the old collation, forward + backward per SDPA backend (fresh LoRA)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from .sft import build_trainer

    trainer, _info = build_trainer(*_cfg("old", args, gradient_checkpointing="off"))
    model = trainer.model.to(trainer.args.device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    bad: dict[str, list[dict[str, Any]]] = {b: [] for b in BACKENDS}
    shapes = []
    for index, batch in enumerate(trainer.get_train_dataloader()):
        batch = {
            k: v.to(trainer.args.device) for k, v in batch.items() if k in ("input_ids", "attention_mask", "labels")
        }
        length = int(batch["input_ids"].shape[1])
        shapes.append(length)
        for backend in BACKENDS:
            model.zero_grad(set_to_none=True)
            try:
                with sdpa_kernel([getattr(SDPBackend, backend)]):
                    loss = model(**batch).loss
                    loss.backward()
            except RuntimeError as exc:
                bad[backend].append({"micro_batch": index, "error": str(exc).splitlines()[0][:120]})
                continue
            n = _nonfinite([p.grad for p in params])
            if n or not math.isfinite(loss.item()):
                bad[backend].append(
                    {
                        "micro_batch": index,
                        "length": length,
                        "mod128": length % 128,
                        "rows": int(batch["input_ids"].shape[0]),
                        "pad_tokens": int((batch["attention_mask"] == 0).sum()),
                        "loss": loss.item(),
                        "nonfinite_grads": n,
                    }
                )
    return {"part": "batches", "micro_batches": len(shapes), "padded_lengths": shapes, "nonfinite": bad}


def train_probe(name: str, args: NanCheckConfig) -> dict[str, Any]:
    """`args.steps` optimiser steps of the sft trainer under configuration `name`."""
    import torch
    from transformers import TrainerCallback
    from transformers.trainer_utils import SaveStrategy

    from .runlog import TrainingDivergedError
    from .sft import build_trainer, sdpa_backends

    ours, config = _cfg(name, args)
    trainer, info = build_trainer(ours, config)
    trainer.args.save_strategy = SaveStrategy.NO
    cuda = torch.cuda.is_available()
    micro_batches: list[tuple[int, int]] = []  # (padded length, non-pad tokens) in collation order
    collate = trainer.data_collator

    def recording_collator(examples):
        batch = collate(examples)
        mask = batch.get("attention_mask")
        micro_batches.append(
            (int(batch["input_ids"].shape[1]), int(mask.sum()) if mask is not None else int(batch["input_ids"].numel()))
        )
        return batch

    trainer.data_collator = recording_collator
    steps: dict[int, dict[str, Any]] = {}

    class Recorder(TrainerCallback):
        def on_step_end(self, targs, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            steps.setdefault(state.global_step, {})["end"] = time.perf_counter()

        def on_log(self, targs, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                steps.setdefault(state.global_step, {}).update(loss=logs["loss"], grad_norm=logs.get("grad_norm"))

    trainer.add_callback(Recorder())
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    failure = None
    started = time.perf_counter()
    try:
        with sdpa_backends(ours.sdpa_cudnn):
            trainer.train()
    except TrainingDivergedError as exc:
        failure = {"step": exc.step, "reason": str(exc)}
    per_epoch = math.ceil(len(trainer.train_dataset) / trainer.args.per_device_train_batch_size)
    for step, group in enumerate(_group_by_step(micro_batches, per_epoch, trainer.args.gradient_accumulation_steps), 1):
        row = steps.setdefault(step, {})
        row["lengths"] = [n for n, _ in group]
        row["tokens"] = sum(t for _, t in group)
    rows = [
        {
            "step": k,
            **{f: v for f, v in steps[k].items() if f != "end"},
            "mod128_64": [n for n in steps[k].get("lengths", []) if n % 128 == 64],
        }
        for k in sorted(steps)
        if k > 0
    ]
    ends = [(k, steps[k]["end"]) for k in sorted(steps) if "end" in steps[k]]
    timed = [(k, t) for k, t in ends if k > 1]
    tokens_per_s = None
    if timed and len(ends) > 1:
        tokens_per_s = round(sum(steps[k].get("tokens", 0) for k, _ in timed) / (timed[-1][1] - ends[0][1]), 1)
    losses = [r.get("loss") for r in rows if "loss" in r]
    return {
        "part": name,
        "settings": {**CONFIGS[name], **info["batching"], **info["attention"]},
        "finite": failure is None and all(isinstance(x, float) and math.isfinite(x) for x in losses),
        "failure": failure,
        "steps_done": trainer.state.global_step,
        "steps": rows,
        "nonpad_tokens_per_s": tokens_per_s,
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else None,
        "wall_s": round(time.perf_counter() - started, 1),
        "memory_plan": info["memory_plan"],
    }


def _group_by_step(items: list, per_epoch: int, accumulation: int) -> list[list]:
    """Items in collation order, grouped by optimiser step as the Trainer consumes them: `accumulation` per step,
    the last step of an epoch taking what is left. (Collation order, not timing: the dataloader reads ahead.)"""
    groups: list[list] = []
    for start in range(0, len(items), per_epoch):
        epoch = items[start : start + per_epoch]
        groups.extend(epoch[i : i + accumulation] for i in range(0, len(epoch), accumulation))
    return groups


def _environment() -> dict[str, Any]:
    import torch

    env = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
    }
    try:
        import transformers
        import trl

        env.update(transformers=transformers.__version__, trl=trl.__version__)
    except ImportError:
        pass
    return env


def run_one(part: str, args: NanCheckConfig) -> dict[str, Any]:
    if part == "kernel":
        import torch

        if not torch.cuda.is_available():
            return {"part": "kernel", "skipped": "needs CUDA"}
        return kernel_probe()
    if part == "batches":
        return batch_probe(args)
    if part in CONFIGS:
        return train_probe(part, args)
    raise ConfigError(f"unknown part {part!r}: one of kernel, batches, {', '.join(CONFIGS)}")


def main(args: NanCheckConfig) -> int:
    """Each part in a fresh process; one JSON row per part, then the summary as the last line."""
    if args.one:
        print("NAN_CHECK_ROW " + json.dumps(run_one(args.one, args)), flush=True)
        return 0
    for part in args.parts:
        if part not in ("kernel", "batches", *CONFIGS):
            raise ConfigError(f"--parts: unknown part {part!r}; one of kernel, batches, {', '.join(CONFIGS)}")
    rows = []
    for part in args.parts:
        cmd = [
            sys.executable,
            "-m",
            __package__ or "train",  # `finsynth_train` when installed from the wheel
            "nan-check",
            "--one",
            part,
            "--model",
            args.model,
            "--data",
            args.data,
            "--steps",
            str(args.steps),
            "--quant",
            args.quant,
            "--work-dir",
            args.work_dir,
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.setdefault("CUDA_VISIBLE_DEVICES", "0")
        started = time.time()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.child_timeout, check=False)
            out, err, rc = proc.stdout, proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:
            out, err, rc = str(exc.stdout or ""), str(exc.stderr or "") + "\ntimed out", 124
        found = [ln for ln in out.splitlines() if ln.startswith("NAN_CHECK_ROW ")]
        if rc == 0 and found:
            row = json.loads(found[-1][len("NAN_CHECK_ROW ") :])
        else:
            row = {"part": part, "error": " | ".join((err or out).strip().splitlines()[-4:])[-1000:]}
        row["child_wall_s"] = round(time.time() - started, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    trained = {r["part"]: r for r in rows if r["part"] in CONFIGS and "error" not in r}
    summary = {
        "environment": _environment(),
        "verdict": {
            name: {
                "finite": r["finite"],
                "failed_step": (r["failure"] or {}).get("step"),
                "nonpad_tokens_per_s": r["nonpad_tokens_per_s"],
                "peak_gpu_memory_gib": r["peak_gpu_memory_gib"],
            }
            for name, r in trained.items()
        },
        "parts": rows,
    }
    print(json.dumps(summary))
    return 0 if all("error" not in r for r in rows) else 1
