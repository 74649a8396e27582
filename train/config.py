"""Training and inference settings, parsed with trl's `TrlParser` (as `python -m train grpo` is).

`python -m train sft` parses two dataclasses: `SFTArguments` (trl's `ModelConfig`: the LoRA adapter, the
quantisation, attention, with our defaults; and what trl lacks: the data, the model directory, `--quant`,
auto-batch, the loss, eval, resume) and trl's own `SFTConfig` (every
optimisation, logging and saving setting under trl's names: `--learning_rate` or `--learning-rate`,
`--num_train_epochs`, `--max_steps`, `--seed`, `--bf16 false`, ...). Its defaults are the reference run
(`finsynth/reference.yaml`, which the LLaMA-Factory export reads too) with the departures of `SFT_DEFAULTS`.
`python -m train infer` parses `InferConfig` the same way. One `TrlParser.parse_args_and_config` call per command
(trl reads `--config FILE` and its `env:` mapping): defaults < YAML file (any field as a key) < flags; an unknown
YAML key is an error.

A bad setting raises `ConfigError`, a missing path `finsynth.io.InputError` (`check_paths`; for `sft` run by
`precheck_sft` before trl's `SFTConfig`, and so torch, is imported): both are `finsynth.io.UserError`s, one line
and exit 2 from `python -m train`.
"""

from __future__ import annotations

import argparse
import dataclasses
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# a plain dataclass: importing it loads neither torch nor transformers (`precheck_sft` runs before either)
from trl.trainer.model_config import ModelConfig

from finsynth.errors import ConfigError as ConfigError  # re-exported: the taxonomy lives in finsynth.errors
from finsynth.errors import UnavailableError as UnavailableError
from finsynth.export import LORA, TRAINING
from finsynth.io import InputError

from .paths import check_file, check_model_dir

QUANT_CHOICES = ("8bit", "4bit", "none")
INFER_QUANT_CHOICES = ("auto", *QUANT_CHOICES)
CHECKPOINTING_CHOICES = ("auto", "on", "off")
LOSS_CHOICES = ("completion", "full")
BACKEND_CHOICES = ("transformers", "vllm")
CACHE_CHOICES = ("dynamic", "static")
ATTN_CHOICES = ("sdpa", "eager", "flash_attention_2", "flash_attention_3", "flex_attention")


def _choice(value: str, name: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {choices}, got {value!r}")


# --- python -m train sft -------------------------------------------------------------------------------------

# trl SFTConfig defaults of `train sft`: the reference run (finsynth/reference.yaml `training`), then where we
# depart from it and what the run needs from trl.
SFT_DEFAULTS: dict[str, Any] = {
    **TRAINING,
    # The reference's effective batch of 16 (2 x 8) as micro-batch 4 x accumulation 4: same optimisation, half the
    # int8 weight dequantisations per sample. On an H200 (Qwen3-14B shape, `python -m train bench`) 2.5x the
    # reference's samples/s at 0.86x its peak memory; micro-batch 8 is 3.3x but 1.24x the memory. `auto_batch`
    # grows the micro-batch further where the memory estimate allows, at the same effective batch.
    "per_device_train_batch_size": 4,
    "gradient_accumulation_steps": 4,
    # auto | on | off (trl's bool flag, widened): auto = off when the activation-memory estimate fits
    "gradient_checkpointing": "auto",
    "output_dir": "runs/sft",
    "train_sampling_strategy": "group_by_length",  # fewer pad tokens per micro-batch; `random` = plain order
    "eval_strategy": "epoch",  # validation loss each epoch when val.jsonl exists (and `--eval`); `no` without
    "logging_first_step": True,
    "logging_nan_inf_filter": False,  # a NaN loss is logged as NaN, not as the running mean (which read 0.0)
    "report_to": "none",
    "ddp_find_unused_parameters": False,
    "dataloader_num_workers": 0,
}
# Old names of trl settings, still accepted as flags and YAML keys
RENAMED = {"out": "output_dir", "warmup_ratio": "warmup_steps", "target_modules": "lora_target_modules"}


def _help(text: str, **more: Any) -> dict[str, Any]:
    return {"help": text, **more}


@dataclass
class LoraModelArguments(ModelConfig):
    """trl's `ModelConfig` (the LoRA adapter, the quantisation, attention: trl's flags) with our defaults, the
    base of `SFTArguments` and `train grpo`'s `GRPOArguments`.

    `--model` names the local base model (trl's `--model_name_or_path` too), and `--quant` is the one quantisation
    switch: it sets trl's `load_in_8bit` / `load_in_4bit` (given themselves, they win), so `get_quantization_config`
    and `get_peft_config` build the bitsandbytes and LoRA settings."""

    # trl ModelConfig fields, with our defaults (finsynth/reference.yaml, shared with the LLaMA-Factory export)
    model_name_or_path: str | None = field(default=None, metadata=_help("trl's spelling of --model"))
    load_in_8bit: bool = field(default=False, metadata=_help("trl's spelling of --quant 8bit"))
    load_in_4bit: bool = field(default=False, metadata=_help("trl's spelling of --quant 4bit"))
    dtype: str | None = field(
        default="bfloat16",
        metadata=_help("compute dtype of a 4-bit base (trl's ModelConfig.dtype)", choices=["bfloat16", "float16"]),
    )
    attn_implementation: str | None = field(
        default="sdpa", metadata=_help("attention kernel family of transformers", choices=ATTN_CHOICES)
    )
    use_peft: bool = field(default=True, metadata=_help("train a LoRA adapter (always on: `train sft` is LoRA SFT)"))
    lora_r: int = field(default=LORA["r"], metadata=_help("LoRA rank"))
    lora_alpha: int = field(default=LORA["alpha"], metadata=_help("LoRA alpha (scale = alpha / r)"))
    lora_dropout: float = field(default=LORA["dropout"], metadata=_help("dropout on the LoRA input"))
    lora_target_modules: list[str] | None = field(
        default_factory=lambda: list(LORA["target_modules"]),
        metadata=_help("modules that get LoRA adapters (old spelling: --target_modules)"),
    )
    use_bnb_nested_quant: bool = field(
        default=True, metadata=_help("double quantisation of a 4-bit base (nf4 QLoRA; trl's default is off)")
    )
    # ours
    model: str = field(
        default="",
        metadata=_help("local base model directory (required; nothing is fetched from a hub; = --model_name_or_path)"),
    )
    quant: str = field(
        default="8bit",
        metadata=_help(
            "base weights: 8bit (LLM.int8, the reference), 4bit (nf4 QLoRA) or none (bf16 LoRA); 8bit/4bit need a "
            "CUDA GPU",
            choices=QUANT_CHOICES,
        ),
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        # trl turns a one-module list into a string, which peft reads as a regex of the whole module name
        if isinstance(self.lora_target_modules, str):
            self.lora_target_modules = [self.lora_target_modules]

    @property
    def target_modules(self) -> list[str]:
        """The old name of `lora_target_modules` (what the run log and the LLaMA-Factory export call it)."""
        return list(self.lora_target_modules or ())

    def validate_model(self) -> None:
        """`--model` / `--model_name_or_path` and `--quant` / `load_in_*` agree; a setting outside its choices, no
        model or no LoRA is a `ConfigError`."""
        self.model = self.model or self.model_name_or_path or ""
        self.model_name_or_path = self.model or None
        if self.load_in_4bit or self.load_in_8bit:  # trl's spellings of --quant
            self.quant = "4bit" if self.load_in_4bit else "8bit"
        _choice(self.quant, "quant", QUANT_CHOICES)
        self.load_in_8bit, self.load_in_4bit = self.quant == "8bit", self.quant == "4bit"
        _choice(str(self.attn_implementation), "attn_implementation", ATTN_CHOICES)
        if not self.use_peft:
            raise ConfigError("use_peft must stay true: `python -m train` trains a LoRA adapter")
        if not self.model:
            raise ConfigError("--model is required (a local model directory, e.g. Qwen3-14B)")


@dataclass
class SFTArguments(LoraModelArguments):
    """`LoraModelArguments` (trl's `ModelConfig`) and what trl's `SFTConfig` does not cover (everything else is
    trl's flag, with the defaults of `SFT_DEFAULTS`)."""

    data: str = field(
        default="data/built",
        metadata=_help("built data directory (`python -m finsynth build` output: train.jsonl, optional val.jsonl)"),
    )
    llm_int8_threshold: float = field(default=6.0, metadata=_help("outlier threshold of 8-bit quantisation"))
    auto_batch: bool = field(
        default=True,
        metadata=_help(
            "pick the largest micro-batch that divides micro x accumulation (keeping the effective batch) and fits the "
            "GPU memory estimate; the run log records the plan (--no-auto-batch: the configured micro-batch)"
        ),
    )
    loss: str = field(
        default="completion",
        metadata=_help(
            "completion = loss on the assistant reply only; full = the whole sequence (the reference); sets trl's "
            "completion_only_loss",
            choices=LOSS_CHOICES,
        ),
    )
    eval: bool = field(
        default=True, metadata=_help("validation loss each epoch when val.jsonl exists (--no-eval: no validation)")
    )
    resume: bool = field(default=False, metadata=_help("continue from the last checkpoint-* under --output_dir"))
    # cuDNN's SDPA backward NaNs with an explicit mask on H100/H200 (see train/sft.py): off in training
    sdpa_cudnn: bool = field(
        default=False,
        metadata=_help(
            "let SDPA use its cuDNN backend in training (the old behaviour; off by default because its backward "
            "returns NaN with a padding mask on H100/H200, see train/sft.py)"
        ),
    )
    # Not a flag of ours: trl's --gradient_checkpointing (widened to auto|on|off) lands here, see `parse_sft`
    gradient_checkpointing: str = field(default="auto", init=False)

    def validate(self) -> SFTArguments:
        self.validate_model()
        _choice(self.loss, "loss", LOSS_CHOICES)
        _choice(self.gradient_checkpointing, "gradient_checkpointing", CHECKPOINTING_CHOICES)
        return self

    def check_paths(self) -> SFTArguments:
        """The model directory and the built training split exist (cheap: before any heavy import)."""
        self.validate()
        check_model_dir(self.model)
        if not (Path(self.data) / "train.jsonl").is_file():
            raise InputError(
                f"--data {self.data}: no train.jsonl there; pass a `python -m finsynth build` "
                f"output directory (default data/built)"
            )
        return self


def checkpointing_mode(value: Any) -> str:
    """auto | on | off from a flag, a YAML value (booleans too) or trl's bool."""
    text = str(value).strip().lower()
    if text in CHECKPOINTING_CHOICES:
        return text
    if text in ("true", "yes", "y", "t", "1"):
        return "on"
    if text in ("false", "no", "n", "f", "0"):
        return "off"
    raise argparse.ArgumentTypeError(f"expected one of auto, on, off (or a boolean), got {value!r}")


def _renamed(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings under their current names: the old ones (`RENAMED`, `group_by_length`) still work as keys."""
    out = {RENAMED.get(k, k): v for k, v in settings.items()}
    if "group_by_length" in out:
        out["train_sampling_strategy"] = "group_by_length" if out.pop("group_by_length") else "random"
    return out


def make_parser(dataclass_types: Iterable[type], **kwargs: Any):
    """trl's `TrlParser` whose errors are `ConfigError`s (one line, exit 2) instead of usage + `SystemExit`, and
    whose settings (the `--config` YAML keys, `parse_settings`' values) take the old names too."""
    from trl import TrlParser

    class Parser(TrlParser):
        source = "settings"  # what a settings error names: the YAML file, or the caller's values
        strict = True  # an unknown setting is an error (off in `precheck_sft`'s look at our fields only)

        def error(self, message: str):  # raises instead of exiting (argparse prints usage, exits)
            raise ConfigError(message)

        def set_defaults_with_config(self, **settings: Any) -> list[str]:
            settings = _renamed(settings)
            dests = {action.dest for action in self._actions}
            unknown = sorted(set(settings) - dests)
            if unknown and self.strict:
                raise ConfigError(f"{self.source}: unknown settings {unknown}")
            return super().set_defaults_with_config(**settings)

        def parse_args_into_dataclasses(self, *args: Any, **kw: Any) -> Any:
            # never a `<script>.args` file next to sys.argv[0] (HfArgumentParser's default): flags and YAML only
            return super().parse_args_into_dataclasses(*args, **{**kw, "look_for_args_file": False})

    return Parser(dataclass_types, allow_abbrev=False, **kwargs)


def _action(parser: argparse.ArgumentParser, dest: str) -> argparse.Action:
    return next(a for a in parser._actions if a.dest == dest and a.option_strings[0] == f"--{dest}")


def add_target_modules_alias(parser: argparse.ArgumentParser) -> None:
    """`--target-modules`, the old spelling of trl's `--lora_target_modules` (`LoraModelArguments`)."""
    parser.add_argument(
        "--target-modules",
        "--target_modules",
        dest="lora_target_modules",
        nargs="+",
        default=argparse.SUPPRESS,
        metavar="MODULE",
        help="alias of --lora_target_modules: the modules that get LoRA adapters",
    )


def sft_parser():
    """`TrlParser((SFTArguments, SFTConfig))` with `SFT_DEFAULTS`, the old flag spellings and auto|on|off
    gradient checkpointing. Imports trl's `SFTConfig` (and so torch)."""
    from trl import SFTConfig

    parser = make_parser(
        (SFTArguments, SFTConfig),
        prog="python -m train sft",
        description="QLoRA SFT on a built data directory: our arguments and trl's SFTConfig; "
        "`--config FILE.yaml` takes any of them as keys (flags override it)",
    )
    suppress = argparse.SUPPRESS
    # the old spellings (before trl's parser): aliases writing the same settings
    parser.add_argument(
        "--out",
        dest="output_dir",
        default=suppress,
        help="alias of --output_dir: the run directory (checkpoint-*/, adapter/, run_log.json)",
    )
    parser.add_argument(
        "--warmup-ratio",
        "--warmup_ratio",
        dest="warmup_steps",
        type=float,
        default=suppress,
        metavar="RATIO",
        help="alias of --warmup_steps (a value below 1 is a share of the total steps)",
    )
    add_target_modules_alias(parser)
    parser.add_argument(
        "--no-bf16",
        "--no_bf16",
        dest="bf16",
        action="store_false",
        default=suppress,
        help="fp32 compute (alias of --bf16 false; CPU runs are fp32 regardless)",
    )
    parser.add_argument(
        "--group-by-length",
        "--group_by_length",
        dest="train_sampling_strategy",
        action="store_const",
        const="group_by_length",
        default=suppress,
        help="alias of --train_sampling_strategy group_by_length (the default)",
    )
    parser.add_argument(
        "--no-group-by-length",
        "--no_group_by_length",
        dest="train_sampling_strategy",
        action="store_const",
        const="random",
        default=suppress,
        help="alias of --train_sampling_strategy random (plain random order)",
    )
    checkpointing = _action(parser, "gradient_checkpointing")
    checkpointing.type = checkpointing_mode
    checkpointing.metavar = "{" + ",".join(CHECKPOINTING_CHOICES) + "}"
    checkpointing.help = (
        "recompute activations in backward: auto = off when the activation-memory estimate fits "
        "in 60%% of the GPU (always off on CPU), on, or off (true/false too)"
    )
    _action(parser, "max_length").help = (
        "longest allowed sample in tokens: a cap, the run uses the longest "
        "measured sample; a longer one is an error naming it, never truncated"
    )
    import torch

    # transformers refuses bf16 at construction on a machine without a GPU unless use_cpu says it is a CPU run
    # (bf16 then stays the setting; `train.sft.sft_arguments` computes in fp32 on CPU)
    parser.set_defaults(**SFT_DEFAULTS, use_cpu=not torch.cuda.is_available())
    return parser


def _config_file(argv: list[str]) -> str | None:
    """The `--config FILE` of `argv` (checked to exist), with `--config=FILE` split for trl's parser in place."""
    for i, arg in enumerate(argv):
        if arg.startswith("--config="):
            argv[i : i + 1] = ["--config", arg.split("=", 1)[1]]
        if argv[i] == "--config":
            if i + 1 >= len(argv):
                raise ConfigError("--config needs a YAML file")
            check_file(argv[i + 1], "--config")
            return argv[i + 1]
    return None


def parse_settings(
    parser, argv: Iterable[str] = (), values: Mapping[str, Any] | None = None, *, known_only: bool = False
) -> tuple[Any, ...]:
    """`parser`'s dataclasses through trl's `TrlParser.parse_args_and_config`: defaults < `values` < the
    `--config` YAML < the flags in `argv`.

    `values` and the YAML keys become parser defaults (trl's `set_defaults_with_config`), so they are converted like
    flags; an unknown key is a `ConfigError`, and so is any parsing error. An `env:` mapping in the YAML sets
    environment variables (trl's). `known_only`: flags and keys the parser does not know are ignored (the cheap
    look of `precheck_sft`)."""
    import yaml

    argv = list(argv)
    path = _config_file(argv)
    parser.strict = not known_only
    if values:
        parser.source = "settings"
        parser.set_defaults_with_config(**values)
    parser.source = path or "settings"
    try:
        with warnings.catch_warnings():
            # trl's SFTConfig defaults the deprecated alias gradient_checkpointing (transformers 5): not ours to fix
            warnings.filterwarnings(
                "ignore", message=".*gradient_checkpointing.* is deprecated", category=FutureWarning
            )
            parsed = parser.parse_args_and_config(argv, return_remaining_strings=known_only)
    except ConfigError:
        raise
    except yaml.YAMLError as exc:
        raise ConfigError(f"--config {path}: not valid YAML: " + " ".join(str(exc).split())) from exc
    except ValueError as exc:  # a YAML file that is not a mapping, unused flags, a dataclass refusing a combination
        raise ConfigError(" ".join(str(exc).split())) from exc
    return tuple(parsed[:-1]) if known_only else tuple(parsed)


def precheck_sft(argv: Iterable[str]) -> SFTArguments:
    """Our arguments from the flags and the YAML (trl's are skipped), validated, paths checked: before trl's
    `SFTConfig` and torch are imported, so a mistyped path costs no import time."""
    (ours,) = parse_settings(make_parser((SFTArguments,), add_help=False), argv, known_only=True)
    return ours.check_paths()


def has_activation_checkpointing(config: Any) -> bool:
    """Whether this transformers' TrainingArguments has `activation_checkpointing` (the newer name of
    `gradient_checkpointing`); 5.17, the device image's, does not."""
    return any(f.name == "activation_checkpointing" for f in dataclasses.fields(config))


def parse_sft(argv: Iterable[str] = (), **values: Any) -> tuple[SFTArguments, Any]:
    """(SFTArguments, trl SFTConfig) from flags (`argv`) and/or settings (`values`, the YAML keys); validated,
    paths not checked (`SFTArguments.check_paths`).

    The gradient checkpointing setting (auto | on | off) moves to `SFTArguments.gradient_checkpointing`; the
    SFTConfig holds a provisional bool until `train.sft.sft_arguments` applies the memory plan."""
    ours, config = parse_settings(sft_parser(), argv, values)
    # newer transformers (5.2x) resolve the alias into activation_checkpointing, which wins when given itself; the
    # device image's 5.17 has only gradient_checkpointing (issue 23: the device path must run on it)
    renamed = has_activation_checkpointing(config)
    ours.gradient_checkpointing = checkpointing_mode(
        config.activation_checkpointing if renamed else config.gradient_checkpointing
    )
    config.gradient_checkpointing = ours.gradient_checkpointing == "on"
    if renamed:
        config.activation_checkpointing = config.gradient_checkpointing
    ours.validate()
    for name in ("per_device_train_batch_size", "gradient_accumulation_steps", "per_device_eval_batch_size"):
        if getattr(config, name) < 1:
            raise ConfigError(f"{name} must be at least 1")
    if config.max_length is None or config.max_length <= 0:
        raise ConfigError("max_length must be positive")
    return ours, config


def sft_record(ours: SFTArguments, config: Any) -> dict[str, Any]:
    """The run log's `config`: every setting as parsed (trl's SFTConfig, then ours), before the run's adjustments
    (the memory plan, the optimiser fallback, the measured max_length: the run log records those separately)."""
    record = {k: v for k, v in config.to_dict().items() if k not in ("activation_checkpointing",)}
    return {**record, **dataclasses.asdict(ours), "target_modules": ours.target_modules}


# --- python -m train infer -----------------------------------------------------------------------------------


@dataclass
class InferConfig:
    """`python -m train infer` settings (none of them trl's: a plain dataclass on `TrlParser`)."""

    model: str = field(default="", metadata=_help("local base model directory (required)"))
    adapter: str | None = field(
        default=None,
        metadata=_help("LoRA adapter directory written by `python -m train sft` (RUN/adapter); none = the base model"),
    )
    test: str = field(default="data/built/test.jsonl", metadata=_help("built test split to generate for"))
    out: str = field(default="preds.jsonl", metadata=_help("predictions JSONL to write (plus OUT.log.json)"))
    quant: str = field(
        default="auto",
        metadata=_help(
            "base weights: auto = the quant the adapter was trained with (its run_log.json; 8bit when the log is "
            "missing, none without an adapter), none on a machine without CUDA; or 8bit, 4bit, none",
            choices=INFER_QUANT_CHOICES,
        ),
    )
    # One generate call holds the whole batch until its longest reply ends: on one GPU the 50 test prompts go
    # together (prompt-length sorted, so little left padding); a smaller batch costs a full decode per batch.
    batch_size: int = field(
        default=64, metadata=_help("prompts per generate call (left padded, sorted by prompt length)")
    )
    merge_adapter: bool = field(
        default=True,
        metadata=_help(
            "fold the LoRA adapter into the base weights before generating (bf16 base, --quant none only; a quantised "
            "base keeps the adapter separate); --no-merge-adapter keeps peft's layers"
        ),
    )
    cache_implementation: str = field(
        default="dynamic",
        metadata=_help(
            "KV cache of generate: dynamic, or static (fixed shapes; transformers compiles the decoding step, which "
            "pays off on long runs and costs a compile first)",
            choices=CACHE_CHOICES,
        ),
    )
    max_new_tokens: int | None = field(
        default=None,
        metadata=_help(
            "generation cap; default 1.25 x the longest reply measured with the tokenizer (the adapter's "
            "run_log.json, else the --test split's gold replies)"
        ),
    )
    limit: int | None = field(default=None, metadata=_help("only the first N test rows (a quick look; default all)"))
    backend: str = field(
        default="transformers",
        metadata=_help("transformers (always) or vllm (when installed)", choices=BACKEND_CHOICES),
    )
    do_sample: bool = field(default=False, metadata=_help("sample instead of greedy decoding"))
    temperature: float = field(default=0.7, metadata=_help("sampling temperature (with --do-sample)"))
    top_p: float = field(default=0.9, metadata=_help("nucleus sampling mass (with --do-sample)"))
    seed: int = field(default=42, metadata=_help("sampling seed"))
    exact: bool = field(
        default=False,
        metadata=_help(
            "float32 weights and matmuls (TF32 off), --quant none only: greedy outputs are then byte-identical "
            "whatever the batch size, padding or adapter merge (bf16 rounds differently per batch shape; on the H200 "
            "16/16 outputs matched the unbatched, unmerged path in float32); about 2x the bf16 memory"
        ),
    )
    attn_implementation: str = field(
        default="sdpa", metadata=_help("attention kernel family of transformers", choices=ATTN_CHOICES)
    )

    def validate(self) -> InferConfig:
        _choice(self.quant, "quant", INFER_QUANT_CHOICES)
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ConfigError("max_new_tokens must be at least 1")
        _choice(self.backend, "backend", BACKEND_CHOICES)
        _choice(self.cache_implementation, "cache_implementation", CACHE_CHOICES)
        _choice(self.attn_implementation, "attn_implementation", ATTN_CHOICES)
        if self.batch_size < 1:
            raise ConfigError("batch_size must be at least 1")
        if self.exact and self.quant in ("8bit", "4bit"):
            raise ConfigError(f"--exact needs full-precision weights; drop --quant {self.quant} (or pass --quant none)")
        if not self.model:
            raise ConfigError("--model is required (a local model directory)")
        return self

    def check_paths(self) -> InferConfig:
        """The model, the adapter (when given) and the test file exist (before any heavy import)."""
        self.validate()
        check_model_dir(self.model)
        if self.adapter:
            check_model_dir(
                self.adapter, "--adapter", "pass the adapter directory `python -m train sft` wrote (RUN/adapter)"
            )
        check_file(self.test, "--test", "pass a built test split, e.g. data/built/test.jsonl")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def infer_parser():
    return make_parser(
        (InferConfig,),
        prog="python -m train infer",
        description="batched generation on the test split -> predictions JSONL; `--config "
        "FILE.yaml` takes any of these settings as keys (flags override it)",
    )


def parse_infer(argv: Iterable[str] = (), **values: Any) -> InferConfig:
    (cfg,) = parse_settings(infer_parser(), argv, values)
    return cfg.validate()
