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

import yaml

from finsynth.io import InputError, UserError

QUANT_CHOICES = ("8bit", "4bit", "none")
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


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
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: list(LORA_TARGETS))
    # The reference's effective batch of 16 (2 x 8) as micro-batch 4 x accumulation 4: same optimisation,
    # half the int8 weight dequantisations per sample. On an H200 (Qwen3-14B shape, `python -m train bench`)
    # 2.5x the reference's samples/s at 0.86x its peak memory; micro-batch 8 is 3.3x but 1.24x the memory.
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 4
    per_device_eval_batch_size: int = 4
    learning_rate: float = 2e-4
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = 0.05
    max_grad_norm: float = 0.3
    optim: str = "paged_adamw_8bit"
    weight_decay: float = 0.0
    bf16: bool = True  # ignored (fp32) when no CUDA device is present
    gradient_checkpointing: bool = True
    max_length: int = 2048  # cap: the run uses the longest measured sample, and refuses longer ones
    num_train_epochs: float = 5.0
    max_steps: int = -1
    save_total_limit: int = 3
    group_by_length: bool = True  # fewer pad tokens per micro-batch; False = plain random order
    eval: bool = True  # validation loss each epoch when val.jsonl exists
    logging_steps: int = 10
    seed: int = 42
    loss: str = "completion"  # completion (assistant reply only) | full (the reference's whole-sequence loss)
    resume: bool = False
    attn_implementation: str = "sdpa"
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
    quant: str = "8bit"  # the base the adapter was trained on; `none` (bf16) is faster
    batch_size: int = 8
    max_new_tokens: int = 1024
    limit: int | None = None
    backend: str = "transformers"  # transformers | vllm (when installed)
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.9
    seed: int = 42
    attn_implementation: str = "sdpa"

    def validate(self) -> InferConfig:
        if self.quant not in QUANT_CHOICES:
            raise ConfigError(f"quant must be one of {QUANT_CHOICES}, got {self.quant!r}")
        if self.backend not in ("transformers", "vllm"):
            raise ConfigError(f"backend must be 'transformers' or 'vllm', got {self.backend!r}")
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


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One flag per dataclass field, default None so only flags actually given override YAML/defaults."""
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        help_text = f"default: {default!r}"
        if isinstance(default, bool):
            parser.add_argument(_flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                                help=help_text)
        elif isinstance(default, list):
            parser.add_argument(_flag(f.name), dest=f.name, nargs="+", default=None, help=help_text)
        else:
            kind = type(default) if default is not None else str
            if f.name == "limit":
                kind = int
            parser.add_argument(_flag(f.name), dest=f.name, type=kind, default=None, help=help_text)
    parser.add_argument("--config", dest="config_file", default=None, help="YAML file with any of these keys")


def load_config(cls: type, yaml_path: str | os.PathLike[str] | None = None, **overrides: Any):
    """Defaults, then YAML keys, then non-None overrides; unknown YAML keys are an error."""
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    if yaml_path:
        check_file(str(yaml_path), "--config")
        try:
            loaded = yaml.safe_load(Path(yaml_path).read_text(encoding="utf-8-sig")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{yaml_path}: not valid YAML: {exc}") from exc
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
