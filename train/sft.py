"""QLoRA SFT on `data/built`: trl's SFTTrainer + peft LoRA + a bitsandbytes-quantised base.

What is ours is the wiring: conversational prompt-completion rows (loss on the assistant reply only),
thinking off from the build's own prompt, lengths measured before training with a clear error instead of
truncation, no `prepare_model_for_kbit_training` (its fp32 upcasts cost memory and speed; trl enables
input gradients for checkpointing and keeps the adapter in bf16), per-epoch checkpoints and validation loss,
`--resume`, a guard that stops at the first non-finite loss or gradient, and a JSON log of the run.
Multi-GPU: `accelerate launch -m train sft ...` (DDP).

NaN on padded bf16 batches through sdpa (issue 11): root cause and decision
---------------------------------------------------------------------------
Symptom (H200, Qwen2.5-Coder-0.5B-Instruct, `--quant none`, the old defaults: sdpa, bf16, micro-batch 4):
finite losses for 8 optimiser steps, NaN from step 9 (logged as 0.0: transformers' `logging_nan_inf_filter`
replaces a NaN loss by the running mean, which had just been reset), NaN eval loss, an adapter saved anyway and
`!!!!` at inference. Finite with micro-batch 1, with fp32, with eager attention.

What the collation does (checked on CPU with the tokenizer, tests/test_train_collation.py): trl pads each
micro-batch on the right with the pad token and labels the pads -100. The labels come from the completion mask
built at tokenisation, not from the pad id, so pad == eos could not hide the reply's `<|im_end|>` (here they
differ anyway: `<|endoftext|>` vs `<|im_end|>`), and the reply end stays in the loss. Right padding under a
causal mask leaves no fully masked query row (a pad query still sees the real tokens before it), so the known
"fully masked rows give NaN in SDPA" failure (pytorch#103749, #110213: left padding) is not this one. What
padding changes is the attention call itself: an unpadded micro-batch reaches `scaled_dot_product_attention`
with `attn_mask=None, is_causal=True`; a padded one with an explicit boolean mask.

Root cause (most probable; confirmed or refuted on the GPU by `python -m train nan-check`, which replays every
first-epoch micro-batch through each SDPA backend): with torch >= 2.11 on H100/H200, SDPA sends bf16/fp16
attention with an explicit mask to its cuDNN backend by default, and that backward kernel has known NaN bugs
for query rows whose log-sum-exp is below ln(FLT_MAX) ~ -88.7 next to the padded tail of a key tile
(pytorch#196678, cudnn-frontend#1072; trl#7181 bisected a Qwen2.5-0.5B NaN to one of its "massive activation"
heads; EFFICIENT and MATH are clean on the same inputs, and so is cuDNN with `is_causal=True` and no mask).
Forward and loss stay finite; the NaN gradient goes through clipping into the weights, so the next step and
every later eval are NaN. It fits every observation: micro-batch 1 has no mask, fp32 never uses cuDNN
attention, eager does not call SDPA, gradient checkpointing does not matter. And the timing: replaying the
sampler on CPU (`finsynth build` of data/raw: 116 training rows; Qwen tokenizer, seed 42, group_by_length) gives 29
micro-batches = 8 optimiser steps an epoch, step 8 being the epoch's single leftover micro-batch, the most
padded of all (lengths 520/502/392/355, 311 pad tokens of 2080): its loss is the last finite one logged, and
the NaN appears at step 9 and in the epoch-end eval. (Its padded length, 520, is not the 64-mod-128 shape of
pytorch#196678's repro, so the exact kernel condition is not pinned down on CPU.)

Decision: training runs SDPA with its cuDNN backend disabled (`sdpa_cudnn=False`; `--sdpa-cudnn` is the old
behaviour), so masked micro-batches take the memory-efficient kernel and unmasked ones flash. Padding-free
batches (`--padding-free`, trl's flattened row with position ids) are not the fix on sdpa: transformers turns
packed position ids back into an explicit block-diagonal mask, so cuDNN would still be reached, and attention
then costs FLOPs quadratic in the micro-batch's total tokens; they are kept as a flag for flash_attention_2.
The non-finite guard (`NonFiniteGuard`) makes any recurrence a clean stop at the step that produced it.

Throughput knobs: gradient checkpointing is `auto` (off when a conservative activation-memory estimate fits in
60% of the GPU: on for a Qwen3-14B-sized model at micro-batch 4 on an H200, off for a 0.5B one), and `auto_batch` \
(on by default) grows
the micro-batch at the same effective batch while the estimate fits; the run log records the plan. A 0.5B model
is launch-bound, not FLOP-bound: 16 x 1 instead of 4 x 4 gave 3.5x the tokens/s with the same loss curve (H200,
benchmarks/train_throughput.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trl.trainer.model_config import ModelConfig

from finsynth.io import write_json_atomic

from .config import QUANT_CHOICES, SFTArguments, UnavailableError, has_activation_checkpointing, sft_record
from .data import (
    data_fingerprint,
    load_split,
    measure,
    resolve_max_length,
    row_weights,
    split_path,
    trl_rows,
    weight_summary,
)
from .runlog import TrainingDivergedError, close_progress_bars, finite, make_guard, run_log

RUN_LOG = "run_log.json"
GPU_MEMORY_SHARE = 0.6  # the share of the GPU the memory estimate may plan for (fragmentation, estimate error)


def _has_bitsandbytes() -> bool:
    import importlib.util

    return importlib.util.find_spec("bitsandbytes") is not None


@contextlib.contextmanager
def sdpa_backends(allow_cudnn: bool) -> Iterator[None]:
    """Training-time SDPA backends: without cuDNN unless `allow_cudnn` (see the module docstring); restored after."""
    import torch

    before = torch.backends.cuda.cudnn_sdp_enabled()
    if not allow_cudnn:
        torch.backends.cuda.enable_cudnn_sdp(False)
    try:
        yield
    finally:
        torch.backends.cuda.enable_cudnn_sdp(before)


def has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _model_args(quant: str) -> ModelConfig:
    """trl's `ModelConfig` for a `--quant` value alone (`train grpo`, `train infer`): our 4-bit is nf4 with double
    quantisation in bf16."""
    if quant not in QUANT_CHOICES:
        raise ValueError(f"unknown quant {quant!r}")
    return ModelConfig(
        load_in_8bit=quant == "8bit", load_in_4bit=quant == "4bit", dtype="bfloat16", use_bnb_nested_quant=True
    )


def quant_name(quant: str | ModelConfig) -> str:
    if isinstance(quant, str):
        return quant
    return "4bit" if quant.load_in_4bit else "8bit" if quant.load_in_8bit else "none"


def quantization_config(quant: str | ModelConfig, llm_int8_threshold: float = 6.0):
    """bitsandbytes settings from trl's `get_quantization_config`: int8 (LLM.int8 with outlier threshold, which
    trl does not set) or nf4 with double quantisation; None for `none`."""
    from trl import get_quantization_config

    qc = get_quantization_config(_model_args(quant) if isinstance(quant, str) else quant)
    if qc is not None and qc.load_in_8bit:
        qc.llm_int8_threshold = llm_int8_threshold
    return qc


def load_base_model(
    path: str,
    quant: str | ModelConfig,
    *,
    bf16: bool = True,
    llm_int8_threshold: float = 6.0,
    attn_implementation: str = "sdpa",
):
    """The base model, quantised on load when asked (`quant`: a `--quant` value, or trl's `ModelConfig`, whose
    `load_in_8bit` / `load_in_4bit` say it); one device per process (DDP-safe device map)."""
    import torch
    from accelerate import PartialState
    from transformers import AutoModelForCausalLM

    cuda = torch.cuda.is_available()
    if quant_name(quant) != "none" and not cuda:
        raise UnavailableError(
            f"--quant {quant_name(quant)} needs a CUDA GPU (bitsandbytes int8/nf4); use --quant none on CPU"
        )
    kwargs: dict[str, Any] = {
        "dtype": torch.bfloat16 if (cuda and bf16) else torch.float32,
        "attn_implementation": attn_implementation,
    }
    qc = quantization_config(quant, llm_int8_threshold)
    if qc is not None:
        kwargs["quantization_config"] = qc
        kwargs["device_map"] = {"": PartialState().local_process_index}
    return AutoModelForCausalLM.from_pretrained(path, **kwargs)


def lora_config(ours: ModelConfig):
    """peft's LoRA settings of `ours` (`LoraModelArguments`: `train sft`'s and `train grpo`'s), from trl's
    `get_peft_config`."""
    from trl import get_peft_config

    return get_peft_config(ours)


def sft_arguments(ours: SFTArguments, config, max_length: int, has_eval: bool, plan: dict[str, Any] | None = None):
    """The trl SFTConfig the trainer gets: the parsed `config` with what only the run knows.

    - `plan` (from `memory_plan`) sets the micro-batch, accumulation and gradient checkpointing; without one, the
      configured micro-batch, and checkpointing `auto` means on (the safe side);
    - the 8-bit/paged optimisers need bitsandbytes and a GPU: without them a plain (fused on CUDA) AdamW, said aloud;
    - bf16 on CUDA only (fp32 on CPU), and a CPU run says so (`use_cpu`);
    - `max_length` is the longest measured sample (`config.max_length` was the cap; none with padding-free, which
      cannot truncate anyway), `completion_only_loss` follows `--loss`, no eval without a validation split.
    """
    cuda = has_cuda()
    optim = str(getattr(config.optim, "value", config.optim))
    if ("paged" in optim or "8bit" in optim) and not (cuda and _has_bitsandbytes()):
        # the 8-bit/paged optimisers live in bitsandbytes: without it (or a GPU) a plain AdamW, said aloud,
        # rather than a crash at the first step (seen on the device with --quant none and no bitsandbytes)
        import sys

        fallback = "adamw_torch_fused" if cuda else "adamw_torch"
        print(f"notice: optimiser {optim} needs bitsandbytes and a GPU; using {fallback}", file=sys.stderr)
        optim = fallback
    micro = plan["micro_batch"] if plan else config.per_device_train_batch_size
    accumulation = plan["gradient_accumulation_steps"] if plan else config.gradient_accumulation_steps
    checkpointing = plan["gradient_checkpointing"] if plan else ours.gradient_checkpointing != "off"
    kwargs = config.gradient_checkpointing_kwargs or {"use_reentrant": False}
    changes: dict[str, Any] = {
        "per_device_train_batch_size": micro,
        "gradient_accumulation_steps": accumulation,
        "gradient_checkpointing": checkpointing,
        "gradient_checkpointing_kwargs": kwargs if checkpointing else None,
        "optim": optim,
        "bf16": bool(cuda and config.bf16),
        "use_cpu": not cuda,
        "max_length": None if config.padding_free else max_length,
        "completion_only_loss": ours.loss == "completion",
    }
    if has_activation_checkpointing(config):  # newer transformers' name; gradient_checkpointing mirrors it there
        changes["activation_checkpointing"] = checkpointing
        changes["activation_checkpointing_kwargs"] = kwargs if checkpointing else None
    if not has_eval:
        changes["eval_strategy"] = "no"
    return dataclasses.replace(config, **changes)


def activation_bytes_per_token(model_config, checkpointing: bool) -> float:
    """A conservative estimate of the training memory one token costs (bf16 LoRA, backward included).

    Without checkpointing each decoder layer keeps ~16 hidden-sized tensors (norm inputs/outputs, q/k/v before
    and after rope, attention output, LoRA-dropout copies of every adapted input) and ~6 intermediate-sized ones
    (gate, up, activation, product, the down-projection input and its dropout copy); with checkpointing one
    hidden state per layer plus one layer recomputed. The logits cost ~12 bytes x vocabulary (bf16 logits, the
    fp32 upcast of the loss and its gradient).
    """
    config = model_config.get_text_config() if hasattr(model_config, "get_text_config") else model_config
    hidden = config.hidden_size
    inter = getattr(config, "intermediate_size", 4 * hidden)
    layers = config.num_hidden_layers
    per_layer = 2 * (16 * hidden + 6 * inter)
    stored = layers * 2 * hidden + per_layer if checkpointing else layers * per_layer
    return stored + 12 * config.vocab_size


def memory_plan(ours: SFTArguments, config, model, max_length: int, device_bytes: int | None) -> dict[str, Any]:
    """Micro-batch, accumulation and gradient checkpointing for this model, data and GPU.

    `device_bytes` is the memory this process may use on its GPU (None: no GPU; then checkpointing `auto` is off
    and the micro-batch is the configured one). A configuration fits when weights + adapter states + 1.3 x tokens
    x `activation_bytes_per_token` is within `GPU_MEMORY_SHARE` of it; the worst micro-batch is taken to be
    `micro x max_length` tokens (a conservative bound: measured peaks are lower; the run log has both). `auto` \
checkpointing prefers off; `auto_batch` grows the micro-batch (never below
    the configured one) over divisors of the effective batch, so the optimisation is unchanged.
    """
    weights = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    # LoRA (added by peft later) trains well under 1% of the parameters; fp32 weights, gradients, AdamW states
    adapter_states = 16 * sum(p.numel() for p in model.parameters()) // 100
    effective = config.per_device_train_batch_size * config.gradient_accumulation_steps
    micro0 = config.per_device_train_batch_size
    mode = ours.gradient_checkpointing
    modes = {"on": [True], "off": [False], "auto": [False, True]}[mode]
    micros = [m for m in range(effective, micro0 - 1, -1) if effective % m == 0] if ours.auto_batch else [micro0]

    def estimate(micro: int, checkpointing: bool) -> float:
        tokens = micro * max_length
        return weights + adapter_states + 1.3 * tokens * activation_bytes_per_token(model.config, checkpointing)

    plan: dict[str, Any] = {
        "micro_batch": micro0,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "gradient_checkpointing": mode != "off",
        "weights_gib": round(weights / 2**30, 3),
        "max_length": max_length,
        "setting": {"gradient_checkpointing": mode, "auto_batch": ours.auto_batch},
    }
    if device_bytes is None:
        plan["gradient_checkpointing"] = mode == "on"
        plan["reason"] = "no GPU: the configured micro-batch" + (", checkpointing off" if mode == "auto" else "")
        return plan
    budget = GPU_MEMORY_SHARE * device_bytes
    plan["budget_gib"] = round(budget / 2**30, 2)
    for checkpointing in modes:
        for micro in micros:
            need = estimate(micro, checkpointing)
            if need <= budget:
                plan.update(
                    micro_batch=micro,
                    gradient_accumulation_steps=effective // micro,
                    gradient_checkpointing=checkpointing,
                    estimate_gib=round(need / 2**30, 2),
                    reason=f"fits the estimate ({need / 2**30:.1f} of {budget / 2**30:.1f} GiB)",
                )
                return plan
    plan["estimate_gib"] = round(estimate(micro0, plan["gradient_checkpointing"]) / 2**30, 2)
    plan["reason"] = "nothing fits the estimate: the configured micro-batch" + (
        ", checkpointing on" if mode == "auto" else ""
    )
    return plan


def _device_bytes() -> int | None:
    """Memory this process may plan for on its GPU: free now plus what it already holds; None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    from accelerate import PartialState

    index = PartialState().local_process_index if torch.cuda.device_count() > 1 else 0
    free, _total = torch.cuda.mem_get_info(index)
    return int(free + torch.cuda.memory_allocated(index))


def one_gpu_per_process(args) -> None:
    """A single (non-distributed) process that sees several GPUs trains on the first one.

    transformers would wrap the model in `nn.DataParallel`, which trl refuses and which is slow with a
    quantised base; several GPUs are used through `accelerate launch` (DDP) instead.
    """
    if args.n_gpu > 1:
        args._n_gpu = 1


def build_trainer(ours: SFTArguments, config):
    """Load data, measure lengths, load the model and tokenizer, and assemble the SFTTrainer.

    Returns (trainer, info) where info records lengths, max_length and the data fingerprint.
    """
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import SFTTrainer

    ours.check_paths()
    train_rows = load_split(ours.data, "train")
    # rows of a `mode: weight` build carry a loss weight: checked before any model loads (train/weighting.py)
    weights = row_weights(train_rows, split_path(ours.data, "train"))
    trainer_class = SFTTrainer
    if weights is not None:
        from .weighting import WeightedSFTTrainer

        trainer_class = WeightedSFTTrainer
    val_rows = load_split(ours.data, "val", required=False) if ours.eval else []
    tokenizer = AutoTokenizer.from_pretrained(ours.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    lengths = {"train": measure(tokenizer, train_rows)}
    if val_rows:
        lengths["val"] = measure(tokenizer, val_rows)
    max_length = resolve_max_length(lengths, config.max_length)
    model = load_base_model(
        ours.model,
        ours,
        bf16=bool(config.bf16),
        llm_int8_threshold=ours.llm_int8_threshold,
        attn_implementation=ours.attn_implementation or "sdpa",
    )
    plan = memory_plan(ours, config, model, max_length, _device_bytes())
    args = sft_arguments(ours, config, max_length, has_eval=bool(val_rows), plan=plan)
    one_gpu_per_process(args)
    guard = make_guard()
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(trl_rows(train_rows, weights)),
        eval_dataset=Dataset.from_list(trl_rows(val_rows)) if val_rows else None,
        processing_class=tokenizer,
        peft_config=lora_config(ours),
        callbacks=[guard],
    )
    guard.attach(trainer)
    info = {
        "data": data_fingerprint(ours.data),
        "rows": {"train": len(train_rows), "val": len(val_rows)},
        "weighting": weight_summary(weights),
        "lengths": {k: v.summary() for k, v in lengths.items()},
        "max_length": max_length,
        "optim": str(getattr(args.optim, "value", args.optim)),
        "bf16": args.bf16,
        "memory_plan": plan,
        "batching": {
            "micro_batch": args.per_device_train_batch_size,
            "gradient_accumulation_steps": args.gradient_accumulation_steps,
            "gradient_checkpointing": bool(args.gradient_checkpointing),
            "padding_free": bool(args.padding_free),
            "group_by_length": args.train_sampling_strategy == "group_by_length",
            "padding_side": "none" if args.padding_free else "right",
        },
        "attention": {"implementation": ours.attn_implementation, "sdpa_cudnn": ours.sdpa_cudnn},
    }
    return trainer, info


def _last_checkpoint(out: str) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(out) if Path(out).is_dir() else None


def run_sft(ours: SFTArguments, config) -> dict[str, Any]:
    """Train, save the adapter to `OUT/adapter`, and write `OUT/run_log.json` (OUT: `config.output_dir`);
    returns the log. `ours, config` are what `train.config.parse_sft` returns.

    A non-finite loss, gradient norm or eval loss raises `TrainingDivergedError` after writing a run log with
    status "failed" (the step, the reason, the losses so far, the last finite checkpoint): no adapter is saved.
    """
    import torch

    started = time.time()
    out = str(config.output_dir)
    record = sft_record(ours, config)
    resume = None
    if ours.resume:
        resume = _last_checkpoint(out)
        if resume is None:
            raise FileNotFoundError(f"--resume: no checkpoint-* under {out}")
    trainer, info = build_trainer(ours, config)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    try:
        with sdpa_backends(ours.sdpa_cudnn):
            result = trainer.train(resume_from_checkpoint=resume)
            final_eval = trainer.evaluate() if trainer.eval_dataset is not None else {}
    except TrainingDivergedError as exc:
        close_progress_bars(trainer)
        exc.last_checkpoint = _last_checkpoint(out)
        log = run_log(record, info, trainer, resume, started)
        log.update(
            status="failed",
            failed_step=exc.step,
            reason=str(exc),
            failure={"what": exc.what, "value": exc.value, "step": exc.step},
            last_checkpoint=exc.last_checkpoint,
            adapter=None,
        )
        if trainer.is_world_process_zero():
            exc.run_log = str(Path(out) / RUN_LOG)
            write_json_atomic(exc.run_log, finite(log))
        raise
    adapter_dir = Path(out) / "adapter"
    trainer.save_model(str(adapter_dir))
    log = run_log(record, info, trainer, resume, started, result.metrics)
    log.update(final_eval_loss=final_eval.get("eval_loss"), adapter=str(adapter_dir))
    if trainer.is_world_process_zero():
        trainer.processing_class.save_pretrained(str(adapter_dir))
        write_json_atomic(Path(out) / RUN_LOG, finite(log))
    return log
