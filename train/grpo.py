"""`python -m train grpo`: GRPO (trl's `GRPOTrainer`) with rewards from finsynth's own evaluators.

The flags are trl's: `TrlParser` over `GRPOArguments` (ours: data, model, adapter, reward, LoRA) and trl's
`GRPOConfig` (every training and generation setting: `--learning_rate`, `--num_generations`,
`--max_completion_length`, `--beta`, `--reward_weights`, ...), plus `--config FILE.yaml`. This module only
sets defaults that suit the task and wires the pieces:

- the prompts are the ones `finsynth build` rendered (`train.jsonl`'s `prompt`), thinking off;
- the rewards are plain functions in `finsynth.eval.rewards` (tested without a GPU), one trl reward function
  per component, so trl logs each one (`rewards/<name>/mean`) and `reward_weights` weighs them;
- LoRA continues an SFT adapter (`--adapter`, trainable) or starts a fresh one on the base
  (`finsynth/reference.yaml`);
- the run writes `OUT/adapter` and the same `OUT/run_log.json` as `sft` (the same non-finite guard), plus
  `reward_curves` (per component, per logged step).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from finsynth.export import LORA
from finsynth.io import InputError, write_json_atomic

from .config import QUANT_CHOICES, ConfigError, check_model_dir, parse_settings
from .data import CHAT_TEMPLATE_KWARGS, load_split

RUN_LOG = "run_log.json"
REWARDS = ("extraction", "qa")
PARAGRAPH_MARK = "【段落内容】"
# GRPOConfig defaults for this task (any of them can be overridden by a flag or the YAML file): a 0.5B-14B
# model, replies of ~250 tokens (measured with the Qwen3 tokenizer: `python -m train lengths`), 8 samples
# per prompt, LoRA-sized learning rate, no KL term (trl's default; the reference would be the base, not the SFT
# model, when LoRA is switched off), the task's own rewards logged per component
GRPO_DEFAULTS: dict[str, Any] = {
    "output_dir": "runs/grpo",
    "learning_rate": 2e-5,
    "num_generations": 8,
    "per_device_train_batch_size": 16,
    "gradient_accumulation_steps": 1,
    "max_completion_length": 384,
    "temperature": 0.9,
    "max_steps": 50,
    "logging_steps": 1,
    "save_strategy": "no",
    "report_to": "none",
    "max_grad_norm": 0.3,
    "logging_nan_inf_filter": False,
    "chat_template_kwargs": dict(CHAT_TEMPLATE_KWARGS),
}


@dataclass
class GRPOArguments:
    """What trl's `GRPOConfig` does not cover: the data, the model, the reward and the adapter."""

    data: str = field(default="data/built", metadata={"help": "a `finsynth build` output directory (extraction) "
                                                               "or a `finsynth qa judge` `grpo/` directory (qa)"})
    model: str = field(default="", metadata={"help": "local base model directory (required)"})
    adapter: str | None = field(default=None, metadata={"help": "an SFT adapter to continue (else a fresh LoRA)"})
    reward: str = field(default="extraction", metadata={"help": "extraction | qa"})
    split: str = field(default="train", metadata={"help": "which split's prompts to train on"})
    limit: int | None = field(default=None, metadata={"help": "use only the first N prompts"})
    quant: str = field(default="none", metadata={"help": "8bit | 4bit | none (bf16 LoRA)"})
    lora_r: int = LORA["r"]
    lora_alpha: int = LORA["alpha"]
    lora_dropout: float = LORA["dropout"]
    target_modules: list[str] = field(default_factory=lambda: list(LORA["target_modules"]))
    attn_implementation: str = "sdpa"
    sdpa_cudnn: bool = False  # cuDNN's SDPA backward NaNs with an explicit mask on H100/H200 (train/sft.py)
    bf16_model: bool = field(default=True, metadata={"help": "load the base in bf16 on a GPU"})
    time_budget_s: float | None = field(default=None, metadata={
        "help": "stop after the optimiser step that passes this many seconds of training (the adapter and the "
                "run log are written as for a finished run; the log says why it stopped)"})

    def check(self) -> GRPOArguments:
        if not self.model:
            raise ConfigError("--model is required (a local model directory)")
        if self.reward not in REWARDS:
            raise ConfigError(f"--reward must be one of {REWARDS}, got {self.reward!r}")
        if self.quant not in QUANT_CHOICES:
            raise ConfigError(f"--quant must be one of {QUANT_CHOICES}, got {self.quant!r}")
        check_model_dir(self.model)
        if self.adapter:
            check_model_dir(self.adapter, "--adapter", "pass the `adapter` directory a `python -m train sft` run wrote")
        if not (Path(self.data) / f"{self.split}.jsonl").is_file():
            raise InputError(f"--data {self.data}: no {self.split}.jsonl there; pass a `python -m finsynth build` "
                             "output directory (extraction) or a `finsynth qa judge` grpo/ directory (qa)")
        return self


def parse(argv: list[str]) -> tuple[GRPOArguments, Any]:
    """Our arguments and trl's `GRPOConfig` from flags and an optional `--config` YAML (trl's TrlParser, through
    `train.config.parse_settings` as `train sft`: a bad flag, key or value is one `ConfigError` line)."""
    from trl import GRPOConfig

    from .config import make_parser
    from .sft import has_cuda

    parser = make_parser((GRPOArguments, GRPOConfig), prog="python -m train grpo")
    cuda = has_cuda()  # GRPOConfig refuses bf16 without a GPU at construction, before any flag could fix it
    parser.set_defaults(**GRPO_DEFAULTS, bf16=cuda, use_cpu=not cuda)
    ours, config = parse_settings(parser, argv)
    return ours.check(), config


def paragraph_of(prompt: list[dict[str, str]]) -> str:
    """The paragraph inside the rendered user turn (`templates/user.j2`), for the analysis lint rules."""
    user = next((m["content"] for m in reversed(prompt) if m["role"] == "user"), "")
    return user.split(PARAGRAPH_MARK, 1)[1] if PARAGRAPH_MARK in user else user


def grpo_rows(rows: list[dict[str, Any]], reward: str) -> list[dict[str, Any]]:
    """Rows as GRPOTrainer reads them: `prompt` (messages) plus the columns the reward functions take."""
    out = []
    for i, row in enumerate(rows):
        if reward == "extraction":
            if "completion" not in row:
                raise InputError(f"row {i + 1} ({row.get('id', '?')}): no `completion`; extraction GRPO needs a "
                                 "`finsynth build` split (prompt + gold completion)")
            out.append({"prompt": row["prompt"], "gold": row["completion"][-1]["content"],
                        "sample_type": row.get("type"), "paragraph": paragraph_of(row["prompt"])})
        else:
            if "answer" not in row:
                raise InputError(f"row {i + 1} ({row.get('id', '?')}): no `answer`; QA GRPO needs the `grpo/` "
                                 "rows `finsynth qa judge` writes (prompt + answer)")
            answer = row["answer"]
            out.append({"prompt": row["prompt"], "scale": row.get("scale") or "", "kind": row.get("kind"),
                        "answer": json.dumps(answer, ensure_ascii=False) if isinstance(answer, list) else str(answer)})
    return out


def reward_curves(history: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per reward component (and the weighted total `reward`), its mean and std at every logged step."""
    curves: dict[str, list[dict[str, Any]]] = {}
    for entry in history:
        step = entry.get("step")
        for key, value in entry.items():
            if key == "reward" or (key.startswith("rewards/") and key.endswith("/mean")):
                name = "total" if key == "reward" else key[len("rewards/"):-len("/mean")]
                std_key = "reward_std" if key == "reward" else key[:-len("/mean")] + "/std"
                curves.setdefault(name, []).append(
                    {"step": step, "mean": value, **({"std": entry[std_key]} if std_key in entry else {})})
    return curves


def _config_record(ours: GRPOArguments, config: Any, weights: list[float], names: list[str]) -> dict[str, Any]:
    """What the run log records as `config`: our arguments and trl's settings that matter for a rerun."""
    keep = ("learning_rate", "num_generations", "per_device_train_batch_size", "gradient_accumulation_steps",
            "max_completion_length", "temperature", "max_steps", "num_train_epochs", "beta", "loss_type",
            "scale_rewards", "seed", "max_grad_norm", "lr_scheduler_type", "warmup_steps", "bf16")
    return {**asdict(ours), **{k: getattr(config, k) for k in keep},
            "reward_functions": names, "reward_weights": weights}


def _budget_callback(seconds: float):
    """Ends training at the first step boundary past `seconds` (a lent GPU's call has a hard limit)."""
    from transformers import TrainerCallback

    class TimeBudget(TrainerCallback):
        def __init__(self) -> None:
            self.started = time.time()
            self.stopped_at: int | None = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.started = time.time()

        def on_step_end(self, args, state, control, **kwargs):
            if time.time() - self.started > seconds and state.global_step < state.max_steps:
                control.should_training_stop = True
                self.stopped_at = state.global_step

    return TimeBudget()


def run_grpo(ours: GRPOArguments, config: Any) -> dict[str, Any]:
    """Train, save `OUT/adapter`, write `OUT/run_log.json` (status, losses, rewards per component); return it."""
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import GRPOTrainer

    from finsynth.eval.rewards import trl_reward_functions

    from .runlog import TrainingDivergedError, close_progress_bars, finite, make_guard, run_log
    from .sft import has_cuda, load_base_model, lora_config, sdpa_backends

    started = time.time()
    columns = ("prompt", "completion") if ours.reward == "extraction" else ("prompt",)
    rows = load_split(ours.data, ours.split, columns=columns)[: ours.limit]
    dataset = Dataset.from_list(grpo_rows(rows, ours.reward))
    funcs, weights = trl_reward_functions(ours.reward)  # type: ignore[arg-type]
    if config.reward_weights is None:
        config.reward_weights = weights
    elif len(config.reward_weights) != len(funcs):
        listed = ", ".join(f.__name__ for f in funcs)
        raise ConfigError(f"--reward_weights needs {len(funcs)} weights, one per reward function ({listed})")
    cuda = has_cuda()
    if not cuda and ("paged" in config.optim or "8bit" in config.optim):
        config.optim = "adamw_torch"
    tokenizer_source = ours.adapter if ours.adapter and (Path(ours.adapter) / "tokenizer_config.json").is_file() \
        else ours.model
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_source, padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = load_base_model(ours.model, ours.quant, bf16=ours.bf16_model, attn_implementation=ours.attn_implementation)
    peft_config = None
    if ours.adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, ours.adapter, is_trainable=True)
    else:
        peft_config = lora_config(ours)  # type: ignore[arg-type]  # duck-typed: the lora_* fields
    guard = make_guard()
    budget = _budget_callback(ours.time_budget_s) if ours.time_budget_s else None
    trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=config, train_dataset=dataset,
                          processing_class=tokenizer, peft_config=peft_config,
                          callbacks=[guard] + ([budget] if budget else []))
    guard.attach(trainer)
    names = [f.__name__ for f in funcs]
    info = {"rows": {ours.split: len(rows)}, "reward": ours.reward, "reward_functions": names,
            "started_from": ours.adapter or "base model (fresh LoRA)"}
    log_config = _config_record(ours, config, list(config.reward_weights), names)
    out = Path(config.output_dir)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    try:
        with sdpa_backends(ours.sdpa_cudnn):
            result = trainer.train()
    except TrainingDivergedError as exc:
        close_progress_bars(trainer)
        log = run_log(log_config, info, trainer, None, started)
        log.update(status="failed", failed_step=exc.step, reason=str(exc), adapter=None,
                   failure={"what": exc.what, "value": exc.value, "step": exc.step},
                   reward_curves=reward_curves(trainer.state.log_history))
        exc.run_log = str(out / RUN_LOG)
        write_json_atomic(exc.run_log, finite(log))
        raise
    adapter_dir = out / "adapter"
    trainer.save_model(str(adapter_dir))
    tokenizer.save_pretrained(str(adapter_dir))
    log = run_log(log_config, info, trainer, None, started, result.metrics)
    log.update(adapter=str(adapter_dir), reward_curves=reward_curves(trainer.state.log_history),
               stopped_early=(f"time budget of {ours.time_budget_s:.0f} s reached after step {budget.stopped_at}"
                              if budget is not None and budget.stopped_at is not None else None))
    write_json_atomic(out / RUN_LOG, finite(log))
    return log


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """`grpo` leaves the rest of the command line to trl's parser (so `--help` shows trl's own flags)."""
    return sub.add_parser("grpo", add_help=False, help="GRPO on finsynth's rewards (trl GRPOTrainer; trl's flags)")

