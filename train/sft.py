"""QLoRA SFT on `data/built`: trl's SFTTrainer + peft LoRA + a bitsandbytes-quantised base.

What is ours is the wiring: conversational prompt-completion rows (loss on the assistant reply only),
thinking off from the build's own prompt, lengths measured before training with a clear error instead of
truncation, no `prepare_model_for_kbit_training` (its fp32 upcasts cost memory and speed; trl enables
input gradients for checkpointing and keeps the adapter in bf16), per-epoch checkpoints and validation loss,
`--resume`, and a JSON log of the run. Multi-GPU: `accelerate launch -m train sft ...` (DDP).
"""

from __future__ import annotations

import json
import math
import platform
import resource
import time
from pathlib import Path
from typing import Any

from finsynth.io import write_json_atomic

from .config import TrainConfig, UnavailableError
from .data import data_fingerprint, load_split, measure, resolve_max_length, trl_rows

RUN_LOG = "run_log.json"


def has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def quantization_config(quant: str, llm_int8_threshold: float = 6.0):
    """bitsandbytes settings: int8 (LLM.int8 with outlier threshold) or nf4 with double quantisation."""
    if quant == "none":
        return None
    import torch
    from transformers import BitsAndBytesConfig

    if quant == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=llm_int8_threshold)
    if quant == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
    raise ValueError(f"unknown quant {quant!r}")


def load_base_model(path: str, quant: str, *, bf16: bool = True, llm_int8_threshold: float = 6.0,
                    attn_implementation: str = "sdpa"):
    """The base model, quantised on load when asked; one device per process (DDP-safe device map)."""
    import torch
    from accelerate import PartialState
    from transformers import AutoModelForCausalLM

    cuda = torch.cuda.is_available()
    if quant != "none" and not cuda:
        raise UnavailableError(f"--quant {quant} needs a CUDA GPU (bitsandbytes int8/nf4); use --quant none on CPU")
    kwargs: dict[str, Any] = {
        "dtype": torch.bfloat16 if (cuda and bf16) else torch.float32,
        "attn_implementation": attn_implementation,
    }
    qc = quantization_config(quant, llm_int8_threshold)
    if qc is not None:
        kwargs["quantization_config"] = qc
        kwargs["device_map"] = {"": PartialState().local_process_index}
    return AutoModelForCausalLM.from_pretrained(path, **kwargs)


def lora_config(cfg: TrainConfig):
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.target_modules), bias="none", task_type="CAUSAL_LM",
    )


def sft_arguments(cfg: TrainConfig, max_length: int, has_eval: bool):
    """trl SFTConfig from our config; CPU runs fall back to fp32 and a plain AdamW (paged/8-bit need CUDA)."""
    from trl import SFTConfig

    cuda = has_cuda()
    optim = cfg.optim
    if not cuda and ("paged" in optim or "8bit" in optim):
        optim = "adamw_torch"
    return SFTConfig(
        output_dir=cfg.out,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        per_device_eval_batch_size=cfg.per_device_eval_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=cfg.warmup_ratio,  # a float < 1 is a ratio of the total steps
        max_grad_norm=cfg.max_grad_norm,
        weight_decay=cfg.weight_decay,
        optim=optim,
        bf16=bool(cuda and cfg.bf16),
        gradient_checkpointing=cfg.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if cfg.gradient_checkpointing else None,
        num_train_epochs=cfg.num_train_epochs,
        max_steps=cfg.max_steps,
        save_strategy="epoch",
        save_total_limit=cfg.save_total_limit,
        eval_strategy="epoch" if has_eval else "no",
        logging_steps=cfg.logging_steps,
        logging_first_step=True,
        seed=cfg.seed,
        data_seed=cfg.seed,
        max_length=max_length,
        completion_only_loss=cfg.loss == "completion",
        packing=False,
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        report_to="none",
        ddp_find_unused_parameters=False,
        dataloader_num_workers=cfg.dataloader_num_workers,
        use_cpu=not cuda,
    )


def one_gpu_per_process(args) -> None:
    """A single (non-distributed) process that sees several GPUs trains on the first one.

    transformers would wrap the model in `nn.DataParallel`, which trl refuses and which is slow with a
    quantised base; several GPUs are used through `accelerate launch` (DDP) instead.
    """
    if args.n_gpu > 1:
        args._n_gpu = 1


def build_trainer(cfg: TrainConfig):
    """Load data, measure lengths, load the model and tokenizer, and assemble the SFTTrainer.

    Returns (trainer, info) where info records lengths, max_length and the data fingerprint.
    """
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import SFTTrainer

    cfg.check_paths()
    train_rows = load_split(cfg.data, "train")
    val_rows = load_split(cfg.data, "val", required=False) if cfg.eval else []
    tokenizer = AutoTokenizer.from_pretrained(cfg.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    lengths = {"train": measure(tokenizer, train_rows)}
    if val_rows:
        lengths["val"] = measure(tokenizer, val_rows)
    max_length = resolve_max_length(lengths, cfg.max_length)
    model = load_base_model(cfg.model, cfg.quant, bf16=cfg.bf16, llm_int8_threshold=cfg.llm_int8_threshold,
                            attn_implementation=cfg.attn_implementation)
    args = sft_arguments(cfg, max_length, has_eval=bool(val_rows))
    one_gpu_per_process(args)
    if cfg.loss == "full":
        args.completion_only_loss = False
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(trl_rows(train_rows)),
        eval_dataset=Dataset.from_list(trl_rows(val_rows)) if val_rows else None,
        processing_class=tokenizer,
        peft_config=lora_config(cfg),
    )
    info = {
        "data": data_fingerprint(cfg.data),
        "rows": {"train": len(train_rows), "val": len(val_rows)},
        "lengths": {k: v.summary() for k, v in lengths.items()},
        "max_length": max_length,
        "optim": args.optim,
        "bf16": args.bf16,
    }
    return trainer, info


def _trainable(model) -> dict[str, int | float]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable": trainable, "total": total, "percent": round(100 * trainable / max(total, 1), 4)}


def _last_checkpoint(out: str) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(out) if Path(out).is_dir() else None


def run_sft(cfg: TrainConfig) -> dict[str, Any]:
    """Train, save the adapter to `<out>/adapter`, and write `<out>/run_log.json`; returns the log."""
    import torch

    started = time.time()
    resume = None
    if cfg.resume:
        resume = _last_checkpoint(cfg.out)
        if resume is None:
            raise FileNotFoundError(f"--resume: no checkpoint-* under {cfg.out}")
    trainer, info = build_trainer(cfg)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    result = trainer.train(resume_from_checkpoint=resume)
    final_eval = trainer.evaluate() if trainer.eval_dataset is not None else {}
    adapter_dir = Path(cfg.out) / "adapter"
    trainer.save_model(str(adapter_dir))
    history = trainer.state.log_history
    tokens = max((h.get("num_tokens", 0) for h in history), default=0)
    runtime = result.metrics.get("train_runtime") or (time.time() - started)
    log = {
        "config": cfg.to_dict(),
        **info,
        "parameters": _trainable(trainer.model),
        "resumed_from": resume,
        "world_size": trainer.args.world_size,
        "global_steps": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "train_loss": [{"step": h["step"], "epoch": h.get("epoch"), "loss": h["loss"]}
                       for h in history if "loss" in h],
        "eval_loss": [{"step": h["step"], "epoch": h.get("epoch"), "loss": h["eval_loss"]}
                      for h in history if "eval_loss" in h],
        "final_eval_loss": final_eval.get("eval_loss"),
        "train_metrics": result.metrics,
        "train_tokens": tokens,
        "tokens_per_second": round(tokens / runtime, 2) if runtime and tokens else None,
        "peak_gpu_memory_gib": (round(torch.cuda.max_memory_allocated() / 2**30, 3)
                                if torch.cuda.is_available() else None),
        "peak_host_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor() or "cpu",
        "versions": _versions(),
        "adapter": str(adapter_dir),
        "wall_seconds": round(time.time() - started, 2),
    }
    if trainer.is_world_process_zero():
        trainer.processing_class.save_pretrained(str(adapter_dir))
        write_json_atomic(Path(cfg.out) / RUN_LOG, _finite(log))
    return log


def _finite(obj: Any) -> Any:
    """JSON-safe: NaN/inf become None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for name in ("torch", "transformers", "trl", "peft", "bitsandbytes", "accelerate", "datasets"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def dumps(log: dict[str, Any]) -> str:
    return json.dumps(_finite(log), ensure_ascii=False)
