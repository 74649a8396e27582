"""Training and inference settings: defaults are the reference configuration (GUIDE section 5).

Precedence: dataclass defaults < YAML file (`--config`) < command-line flags. Every field of
`TrainConfig` is a flag (`--per-device-train-batch-size 4`) and a YAML key (`per_device_train_batch_size: 4`).

A bad setting raises `ConfigError`, a missing path `finsynth.io.InputError` (`check_paths`, run before
torch is imported): both are `finsynth.io.UserError`s, one line and exit 2 from `python -m train`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finsynth.export import LORA
from finsynth.io import InputError, UserError, read_yaml

QUANT_CHOICES = ("8bit", "4bit", "none")
INFER_QUANT_CHOICES = ("auto", *QUANT_CHOICES)
CHECKPOINTING_CHOICES = ("auto", "on", "off")
BACKEND_CHOICES = ("transformers", "vllm")
CACHE_CHOICES = ("dynamic", "static")
ATTN_CHOICES = ("sdpa", "eager", "flash_attention_2", "flash_attention_3", "flex_attention")


class ConfigError(UserError, ValueError):
    """A bad setting: an unknown or invalid flag, YAML key or value."""


class UnavailableError(UserError, RuntimeError):
    """The setting needs what this machine lacks (a CUDA GPU, an optional package)."""


def check_model_dir(path: str, flag: str = "--model",
                    hint: str = "pass a local model directory (e.g. a downloaded Qwen3-14B; hub ids are not fetched)",
                    ) -> None:
    """`path` must be a local directory (a model, an adapter): nothing is downloaded from a hub."""
    if not Path(path).is_dir():
        raise InputError(f"{flag} {path}: no such directory; {hint}")


def check_file(path: str, flag: str, hint: str = "") -> None:
    if not Path(path).is_file():
        raise InputError(f"{flag} {path}: no such file" + (f"; {hint}" if hint else ""))


@dataclass
class TrainConfig:
    """`python -m train sft` settings; defaults reproduce the reference run, fixed where it was sloppy."""

    data: str = "data/built"
    model: str = ""
    out: str = "runs/sft"
    quant: str = "8bit"  # 8bit (reference, default) | 4bit (nf4) | none (bf16 LoRA)
    llm_int8_threshold: float = 6.0
    lora_r: int = LORA["r"]  # the LoRA adapter: finsynth/lora.yaml, shared with the LLaMA-Factory export
    lora_alpha: int = LORA["alpha"]
    lora_dropout: float = LORA["dropout"]
    target_modules: list[str] = field(default_factory=lambda: list(LORA["target_modules"]))
    # The reference's effective batch of 16 (2 x 8) as micro-batch 4 x accumulation 4: same optimisation,
    # half the int8 weight dequantisations per sample. On an H200 (Qwen3-14B shape, `python -m train bench`)
    # 2.5x the reference's samples/s at 0.86x its peak memory; micro-batch 8 is 3.3x but 1.24x the memory.
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 4
    per_device_eval_batch_size: int = 4
    # The largest micro-batch dividing micro x accumulation that the memory estimate fits: same optimisation,
    # fewer and larger forward passes (on a 0.5B model the run is launch-bound: 16 x 1 instead of 4 x 4)
    auto_batch: bool = True
    learning_rate: float = 2e-4
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = 0.05
    max_grad_norm: float = 0.3
    optim: str = "paged_adamw_8bit"
    weight_decay: float = 0.0
    bf16: bool = True  # ignored (fp32) when no CUDA device is present
    gradient_checkpointing: str = "auto"  # auto (off when the memory estimate fits) | on | off
    max_length: int = 2048  # cap: the run uses the longest measured sample, and refuses longer ones
    num_train_epochs: float = 5.0
    max_steps: int = -1
    save_total_limit: int = 3
    group_by_length: bool = True  # fewer pad tokens per micro-batch; False = plain random order
    padding_free: bool = False  # one flattened row per micro-batch with position ids, no pad tokens
    eval: bool = True  # validation loss each epoch when val.jsonl exists
    logging_steps: int = 10
    seed: int = 42
    loss: str = "completion"  # completion (assistant reply only) | full (the reference's whole-sequence loss)
    resume: bool = False
    attn_implementation: str = "sdpa"
    # cuDNN's SDPA backward NaNs with an explicit mask on H100/H200 (see train/sft.py): off in training
    sdpa_cudnn: bool = False
    dataloader_num_workers: int = 0

    def validate(self) -> TrainConfig:
        if self.quant not in QUANT_CHOICES:
            raise ConfigError(f"quant must be one of {QUANT_CHOICES}, got {self.quant!r}")
        if self.loss not in ("completion", "full"):
            raise ConfigError(f"loss must be 'completion' or 'full', got {self.loss!r}")
        if not self.model:
            raise ConfigError("--model is required (a local model directory, e.g. Qwen3-14B)")
        if self.max_length <= 0:
            raise ConfigError("max_length must be positive")
        if isinstance(self.gradient_checkpointing, bool):  # YAML `gradient_checkpointing: true`
            self.gradient_checkpointing = "on" if self.gradient_checkpointing else "off"
        if self.gradient_checkpointing not in CHECKPOINTING_CHOICES:
            raise ConfigError(f"gradient_checkpointing must be one of {CHECKPOINTING_CHOICES}, "
                              f"got {self.gradient_checkpointing!r}")
        if self.attn_implementation not in ATTN_CHOICES:
            raise ConfigError(f"attn_implementation must be one of {ATTN_CHOICES}, got {self.attn_implementation!r}")
        for name in ("per_device_train_batch_size", "gradient_accumulation_steps", "per_device_eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        return self

    def check_paths(self) -> TrainConfig:
        """The model directory and the built training split exist (cheap: before any heavy import)."""
        self.validate()
        check_model_dir(self.model)
        if not (Path(self.data) / "train.jsonl").is_file():
            raise InputError(f"--data {self.data}: no train.jsonl there; pass a `python -m finsynth build` "
                             f"output directory (default data/built)")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class InferConfig:
    """`python -m train infer` settings."""

    model: str = ""
    adapter: str | None = None
    test: str = "data/built/test.jsonl"
    out: str = "preds.jsonl"
    quant: str = "auto"  # auto: the adapter's run_log.json quant (none without CUDA) | 8bit | 4bit | none
    # One generate call holds the whole batch until its longest reply ends: on one GPU the 50 test prompts go
    # together (prompt-length sorted, so little left padding); a smaller batch costs a full decode per batch.
    batch_size: int = 64
    merge_adapter: bool = True  # fold the LoRA deltas into the bf16 base (quant none): no adapter kernels per step
    cache_implementation: str = "dynamic"  # dynamic | static (fixed-shape KV cache; transformers compiles the step)
    max_new_tokens: int | None = None  # None: 1.25 x the longest measured reply (see train/infer.py)
    limit: int | None = None
    backend: str = "transformers"  # transformers | vllm (when installed)
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.9
    seed: int = 42
    attn_implementation: str = "sdpa"

    def validate(self) -> InferConfig:
        if self.quant not in INFER_QUANT_CHOICES:
            raise ConfigError(f"quant must be one of {INFER_QUANT_CHOICES}, got {self.quant!r}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ConfigError("max_new_tokens must be at least 1")
        if self.backend not in BACKEND_CHOICES:
            raise ConfigError(f"backend must be 'transformers' or 'vllm', got {self.backend!r}")
        if self.cache_implementation not in CACHE_CHOICES:
            raise ConfigError(f"cache_implementation must be one of {CACHE_CHOICES}, got {self.cache_implementation!r}")
        if self.batch_size < 1:
            raise ConfigError("batch_size must be at least 1")
        if not self.model:
            raise ConfigError("--model is required (a local model directory)")
        return self

    def check_paths(self) -> InferConfig:
        """The model, the adapter (when given) and the test file exist (before any heavy import)."""
        self.validate()
        check_model_dir(self.model)
        if self.adapter:
            check_model_dir(self.adapter, "--adapter", "pass the adapter directory `python -m train sft` "
                            "wrote (RUN/adapter)")
        check_file(self.test, "--test", "pass a built test split, e.g. data/built/test.jsonl")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


# Every flag's help: what it does (the default and the choices are appended by `add_config_arguments`).
TRAIN_HELP: dict[str, str] = {
    "data": "built data directory (`python -m finsynth build` output: train.jsonl, optional val.jsonl)",
    "model": "local base model directory (required; nothing is fetched from a hub)",
    "out": "run directory: checkpoint-*/, adapter/ and run_log.json are written here",
    "quant": "base weights: 8bit (LLM.int8, the reference), 4bit (nf4 QLoRA) or none (bf16 LoRA); "
             "8bit/4bit need a CUDA GPU",
    "llm_int8_threshold": "outlier threshold of 8-bit quantisation",
    "lora_r": "LoRA rank",
    "lora_alpha": "LoRA alpha (scale = alpha / r)",
    "lora_dropout": "dropout on the LoRA input",
    "target_modules": "modules that get LoRA adapters",
    "per_device_train_batch_size": "micro-batch size per GPU",
    "gradient_accumulation_steps": "micro-batches per optimiser step (effective batch = micro x this x GPUs)",
    "per_device_eval_batch_size": "validation micro-batch size",
    "auto_batch": "pick the largest micro-batch that divides micro x accumulation (keeping the effective "
                  "batch) and fits the GPU memory estimate; the run log records the plan",
    "learning_rate": "peak learning rate",
    "lr_scheduler_type": "transformers scheduler name, e.g. cosine, linear, constant_with_warmup",
    "warmup_ratio": "share of the steps spent in linear warm-up",
    "max_grad_norm": "gradient clipping norm",
    "optim": "transformers optimiser name, e.g. paged_adamw_8bit, adamw_torch (paged/8-bit fall back to "
             "adamw_torch without CUDA)",
    "weight_decay": "AdamW weight decay",
    "bf16": "bf16 compute on CUDA (fp32 on CPU regardless)",
    "gradient_checkpointing": "recompute activations in backward: auto = off when the activation-memory "
                              "estimate fits in 60%% of the GPU (always off on CPU), on, or off",
    "max_length": "longest allowed sample in tokens; a longer one is an error naming it, never truncated",
    "num_train_epochs": "training epochs",
    "max_steps": "stop after this many optimiser steps (-1: run all epochs)",
    "save_total_limit": "checkpoints kept (one saved per epoch)",
    "group_by_length": "batch samples of similar length together (fewer pad tokens); --no-group-by-length "
                       "= plain random order",
    "padding_free": "flatten each micro-batch into one row with position ids (no pad tokens, no padded "
                    "attention mask); pays off with flash_attention_2, costs attention FLOPs on sdpa/eager",
    "eval": "validation loss each epoch when val.jsonl exists",
    "logging_steps": "log loss and gradient norm every N optimiser steps (the NaN guard checks every step)",
    "seed": "seed of initialisation and data order",
    "loss": "completion = loss on the assistant reply only; full = the whole sequence (the reference)",
    "resume": "continue from the last checkpoint-* under --out",
    "attn_implementation": "attention kernel family of transformers",
    "sdpa_cudnn": "let SDPA use its cuDNN backend in training (the old behaviour; off by default because its "
                  "backward returns NaN with a padding mask on H100/H200, see train/sft.py)",
    "dataloader_num_workers": "dataloader worker processes",
}
INFER_HELP: dict[str, str] = {
    "model": "local base model directory (required)",
    "adapter": "LoRA adapter directory written by `python -m train sft` (RUN/adapter); none = the base model",
    "test": "built test split to generate for",
    "out": "predictions JSONL to write (plus OUT.log.json)",
    "quant": "base weights: auto = the quant the adapter was trained with (its run_log.json; 8bit when the "
             "log is missing, none without an adapter), none on a machine without CUDA; or 8bit, 4bit, none",
    "batch_size": "prompts per generate call (left padded, sorted by prompt length)",
    "merge_adapter": "fold the LoRA adapter into the base weights before generating (bf16 base, --quant none "
                     "only; a quantised base keeps the adapter separate); --no-merge-adapter keeps peft's layers",
    "cache_implementation": "KV cache of generate: dynamic, or static (fixed shapes; transformers compiles the "
                            "decoding step, which pays off on long runs and costs a compile first)",
    "max_new_tokens": "generation cap; default 1.25 x the longest reply measured with the tokenizer "
                      "(the adapter's run_log.json, else the --test split's gold replies)",
    "limit": "only the first N test rows (a quick look)",
    "backend": "transformers (always) or vllm (when installed)",
    "do_sample": "sample instead of greedy decoding",
    "temperature": "sampling temperature (with --do-sample)",
    "top_p": "nucleus sampling mass (with --do-sample)",
    "seed": "sampling seed",
    "attn_implementation": "attention kernel family of transformers",
}
CHOICES: dict[str, tuple[str, ...]] = {
    "loss": ("completion", "full"),
    "gradient_checkpointing": CHECKPOINTING_CHOICES,
    "attn_implementation": ATTN_CHOICES,
    "backend": BACKEND_CHOICES,
    "cache_implementation": CACHE_CHOICES,
}
_OPTIONAL_INT = {"limit", "max_new_tokens"}


def _choices(cls: type, name: str) -> tuple[str, ...] | None:
    if name == "quant":
        return INFER_QUANT_CHOICES if cls is InferConfig else QUANT_CHOICES
    return CHOICES.get(name)


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One flag per dataclass field, default None so only flags actually given override YAML/defaults.

    Choices are listed in the help (and checked by `validate`, so a bad value is one line, exit 2)."""
    helps = INFER_HELP if cls is InferConfig else TRAIN_HELP
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[operator]  # dataclasses.MISSING is checked just before
        choices = _choices(cls, f.name)
        shown = ("measured" if f.name == "max_new_tokens" else "all rows" if f.name == "limit"
                 else "none" if default in (None, "") else " ".join(default) if isinstance(default, list) else default)
        help_text = helps.get(f.name, f.name.replace("_", " "))
        help_text += (f" (one of: {', '.join(choices)}; default: {shown})" if choices
                      else f" (default: {shown})")
        metavar = "{" + ",".join(choices) + "}" if choices else None
        if isinstance(default, bool):
            parser.add_argument(_flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                                help=help_text)
        elif isinstance(default, list):
            parser.add_argument(_flag(f.name), dest=f.name, nargs="+", default=None, help=help_text)
        else:
            kind = int if f.name in _OPTIONAL_INT else type(default) if default is not None else str
            parser.add_argument(_flag(f.name), dest=f.name, type=kind, default=None, help=help_text,
                                metavar=metavar)
    parser.add_argument("--config", dest="config_file", default=None,
                        help="YAML file with any of these settings as keys (flags override it)")


def load_config(cls: type, yaml_path: str | os.PathLike[str] | None = None, **overrides: Any):
    """Defaults, then YAML keys, then non-None overrides; unknown YAML keys are an error."""
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    if yaml_path:
        check_file(str(yaml_path), "--config")
        loaded = read_yaml(yaml_path, "config", ConfigError) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{yaml_path}: expected a mapping of settings")
        unknown = sorted(set(loaded) - names)
        if unknown:
            raise ConfigError(f"{yaml_path}: unknown settings {unknown}")
        values.update(loaded)
    values.update({k: v for k, v in overrides.items() if k in names and v is not None})
    return cls(**values)


def config_from_args(cls: type, args: argparse.Namespace):
    return load_config(cls, getattr(args, "config_file", None), **vars(args))
