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
  `reward_curves` (per component, per logged step), `validation` (the guard's scores, step 0 first), `guard`
  (what it kept and why) and `samples` (sampled completions with their rewards at `--sample_steps`).

Why the defaults are what they are (issue 25; the run they answer is in docs/benchmarks.md, issue 17: lr 2e-5, no
KL term, 8 prompts a step, the test score fell from 23 to 4 in 12 steps while the sampled reward rose):

- `beta` 0.04, a KL term against the starting policy (the value of DeepSeekMath's GRPO, and trl's default in
  its first GRPO releases). With `--adapter` the reference is the SFT policy, not the base: trl (1.16 with
  peft >= 0.20) copies a `PeftModel`'s trained adapter into a frozen "ref" adapter and computes the reference
  log-probabilities through it; `run_grpo` checks that the copy exists and refuses to run otherwise (`kl_reference`
  in the run log says which it is). Under a fresh LoRA the reference is the base with the adapter disabled, which
  is the starting policy too.
- `learning_rate` 5e-6, a quarter of the rate that collapsed: trl's 1e-6 is a full fine-tuning rate and LoRA
  needs about ten times the full-model rate for the same change (Schulman et al., "LoRA Without Regret", 2025),
  while SFT's 2e-4 is for supervised targets, not noisy advantages of 8 prompts.
- `warmup_steps` 0.1 (a tenth of the run, linear) then `cosine` decay to 0: Adam's first updates are
  sign-like (every weight moves by about the learning rate however small its gradient), so the first steps on
  the noisiest advantages are the most dangerous; the decay makes late steps, where the best checkpoint is
  usually already behind, small. The SFT reference configuration (GUIDE section 5) is cosine with warmup too.
  (transformers' warmup starts from 0: the first step samples and logs but moves nothing.)
- 64 completions an optimiser step (`per_device_train_batch_size` 16 x `gradient_accumulation_steps` 4, trl
  samples them in one generation batch): 8 prompts of 8 completions, the issue-17 run's batch; each step's
  advantages average over 8 prompts rather than the 2 of one 16-completion micro-batch.
- `disable_dropout`: the KL term and the importance ratio compare the policy with itself and the reference;
  LoRA dropout would make a zero divergence look positive (and the step-0 KL is then exactly 0).
- the validation guard (`train/validation.py`): `--val_steps 5`, `--val_patience 3`: the collapse took 7-12
  steps, so an evaluation every 5 catches it within 5 steps, and 3 falls in a row tolerate the noise of a
  ~70-row validation split (one case is worth a point) while wasting at most 15 steps.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from finsynth.io import InputError, write_json_atomic

from .config import QUANT_CHOICES, ConfigError, LoraModelArguments, UnavailableError, check_model_dir, parse_settings
from .data import CHAT_TEMPLATE_KWARGS, load_split
from .validation import MATCHERS

RUN_LOG = "run_log.json"
REWARDS = ("extraction", "qa")
PARAGRAPH_MARK = "【段落内容】"
# GRPOConfig defaults for this task (any of them can be overridden by a flag or the YAML file): a 0.5B-14B
# model, replies of ~250 tokens (measured with the Qwen3 tokenizer: `python -m train lengths`), 8 samples
# per prompt, the task's own rewards logged per component; the KL anchor, the learning rate and its schedule and
# dropout off are explained in the module docstring
GRPO_DEFAULTS: dict[str, Any] = {
    "output_dir": "runs/grpo",
    "learning_rate": 5e-6,
    "lr_scheduler_type": "cosine",
    "warmup_steps": 0.1,
    "beta": 0.04,
    "disable_dropout": True,
    "num_generations": 8,
    "per_device_train_batch_size": 16,
    "gradient_accumulation_steps": 4,
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
STATUS_KEPT_START = "kept_start"  # the guard found nothing better than the starting adapter: OUT/adapter is it


@dataclass
class GRPOArguments(LoraModelArguments):
    """What trl's `GRPOConfig` does not cover: the data, the reward and the adapter, and the model, LoRA and
    quantisation as trl's `ModelConfig` (`LoraModelArguments`, shared with `train sft`)."""

    data: str = field(
        default="data/built",
        metadata={
            "help": "a `finsynth build` output directory (extraction) or a `finsynth qa judge` `grpo/` directory (qa)"
        },
    )
    adapter: str | None = field(default=None, metadata={"help": "an SFT adapter to continue (else a fresh LoRA)"})
    reward: str = field(default="extraction", metadata={"help": "extraction | qa"})
    split: str = field(default="train", metadata={"help": "which split's prompts to train on"})
    limit: int | None = field(default=None, metadata={"help": "use only the first N prompts"})
    quant: str = field(
        default="none", metadata={"help": "base weights: 8bit, 4bit or none (bf16 LoRA)", "choices": QUANT_CHOICES}
    )
    sdpa_cudnn: bool = False  # cuDNN's SDPA backward NaNs with an explicit mask on H100/H200 (train/sft.py)
    bf16_model: bool = field(default=True, metadata={"help": "load the base in bf16 on a GPU"})
    time_budget_s: float | None = field(
        default=None,
        metadata={
            "help": "stop after the optimiser step that passes this many seconds of training (the adapter and the "
            "run log are written as for a finished run; the log says why it stopped)"
        },
    )
    prompts: str | None = field(
        default=None,
        metadata={
            "help": "the directory whose --split holds the GRPO prompts (default --data), e.g. a `finsynth build "
            "--compose` output composed to the test prior; validation still reads --data, and a prompt whose "
            "paragraph (near-)duplicates a validation paragraph is dropped"
        },
    )
    val_split: str = field(default="val", metadata={"help": "the split of --data the validation guard decodes"})
    val_steps: int = field(
        default=5,
        metadata={
            "help": "score the policy on the validation split every N optimiser steps (and at step 0 and the end); "
            "0 = no guard (the last step's adapter is kept, whatever it scores)"
        },
    )
    val_patience: int = field(
        default=3, metadata={"help": "stop after this many evaluations in a row below the best so far"}
    )
    val_matcher: str = field(
        default="reference",
        metadata={"help": "extraction validation matcher: reference (the outcome benchmark's headline) | fuzzy"},
    )
    val_limit: int | None = field(default=None, metadata={"help": "decode only the first N validation rows"})
    val_batch_size: int = field(default=64, metadata={"help": "validation prompts per generate call"})
    sample_steps: list[int] = field(
        default_factory=lambda: [1, 5, 10],
        metadata={"help": "record sampled completions (with every reward component) at these optimiser steps"},
    )
    samples_per_step: int = field(default=4, metadata={"help": "completions recorded per sample step (one a prompt)"})

    def check(self) -> GRPOArguments:
        self.validate_model()
        if self.reward not in REWARDS:
            raise ConfigError(f"--reward must be one of {REWARDS}, got {self.reward!r}")
        check_model_dir(self.model)
        if self.adapter:
            check_model_dir(self.adapter, "--adapter", "pass the `adapter` directory a `python -m train sft` run wrote")
        if not (Path(self.data) / f"{self.split}.jsonl").is_file() and not self.prompts:
            raise InputError(
                f"--data {self.data}: no {self.split}.jsonl there; pass a `python -m finsynth build` "
                "output directory (extraction) or a `finsynth qa judge` grpo/ directory (qa)"
            )
        if self.prompts and not (Path(self.prompts) / f"{self.split}.jsonl").is_file():
            raise InputError(
                f"--prompts {self.prompts}: no {self.split}.jsonl there; pass a `python -m finsynth "
                "build` output directory (e.g. one built with --compose)"
            )
        if self.val_matcher not in MATCHERS:
            raise ConfigError(f"--val_matcher must be one of {MATCHERS}, got {self.val_matcher!r}")
        for name in ("val_steps", "val_patience", "samples_per_step", "val_batch_size"):
            least = 0 if name in ("val_steps", "samples_per_step") else 1
            if getattr(self, name) < least:
                raise ConfigError(f"--{name} must be at least {least}, got {getattr(self, name)}")
        return self

    @property
    def prompt_file(self) -> Path:
        return Path(self.prompts or self.data) / f"{self.split}.jsonl"


def parse(argv: list[str]) -> tuple[GRPOArguments, Any]:
    """Our arguments and trl's `GRPOConfig` from flags and an optional `--config` YAML (trl's TrlParser, through
    `train.config.parse_settings` as `train sft`: a bad flag, key or value is one `ConfigError` line)."""
    from trl import GRPOConfig

    from .config import add_target_modules_alias, make_parser
    from .sft import has_cuda

    parser = make_parser((GRPOArguments, GRPOConfig), prog="python -m train grpo")
    add_target_modules_alias(parser)
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
                raise InputError(
                    f"row {i + 1} ({row.get('id', '?')}): no `completion`; extraction GRPO needs a "
                    "`finsynth build` split (prompt + gold completion)"
                )
            out.append(
                {
                    "prompt": row["prompt"],
                    "gold": row["completion"][-1]["content"],
                    "sample_type": row.get("type"),
                    "paragraph": paragraph_of(row["prompt"]),
                }
            )
        else:
            if "answer" not in row:
                raise InputError(
                    f"row {i + 1} ({row.get('id', '?')}): no `answer`; QA GRPO needs the `grpo/` "
                    "rows `finsynth qa judge` writes (prompt + answer)"
                )
            answer = row["answer"]
            out.append(
                {
                    "prompt": row["prompt"],
                    "scale": row.get("scale") or "",
                    "kind": row.get("kind"),
                    "answer": json.dumps(answer, ensure_ascii=False) if isinstance(answer, list) else str(answer),
                }
            )
    return out


def dataset_rows(rows: list[dict[str, Any]], reward: str) -> list[dict[str, Any]]:
    """`grpo_rows` plus each row's `id` (trl hands it to the reward functions, so recorded samples name their
    row)."""
    return [
        {**columns, "id": str(row.get("id") or f"row-{i + 1}")}
        for i, (row, columns) in enumerate(zip(rows, grpo_rows(rows, reward), strict=True))
    ]


def _columns(reward: str) -> tuple[str, ...]:
    return ("prompt", "completion") if reward == "extraction" else ("prompt",)


def _split_rows(directory: str, split: str, reward: str) -> list[dict[str, Any]]:
    try:
        return load_split(directory, split, required=False, columns=_columns(reward))
    except ValueError as exc:  # a row that is not a built row: the user's file, named by load_split
        raise InputError(
            f"{exc}; pass a `python -m finsynth build` output (extraction) or the `grpo/` rows "
            "`finsynth qa judge` writes (qa)"
        ) from exc


def load_prompts(ours: GRPOArguments) -> list[dict[str, Any]]:
    """The GRPO prompt rows (`--prompts` or `--data`, `--split`, `--limit`); none is the user's error, one line
    naming the file (a run on no prompts used to exit 0 with `status: ok` and `global_steps: 0`)."""
    path = ours.prompt_file
    all_rows = _split_rows(str(path.parent), ours.split, ours.reward)
    rows = all_rows[: ours.limit]
    if not rows:
        why = f"--limit {ours.limit} of {len(all_rows)} rows" if all_rows else "the file has 0 rows"
        hint = (
            "`finsynth qa judge` wrote an empty RL split: run it with --rl-include-sft (the verifiable SFT "
            "samples that pass --rl-min go to RL too) or a lower --rl-min"
            if ours.reward == "qa"
            else "pass a `python -m finsynth build` output whose split has training rows"
        )
        raise InputError(f"{path}: no usable prompts for GRPO ({why}); {hint}")
    return rows


def drop_validation_leaks(
    prompts: list[dict[str, Any]],
    validation: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[str]]:
    """The prompts whose paragraph is not a (near-)duplicate (the build's Jaccard >= 0.8) of a validation
    paragraph, and the ids of those dropped: the guard must judge on paragraphs GRPO never saw (a `--prompts`
    build with another split, or the corpus rendered without dedupe, can hold validation paragraphs)."""
    from finsynth.text.similarity import NearDupIndex

    if not validation:
        return prompts, []
    index = NearDupIndex([paragraph_of(r["prompt"]) for r in validation])
    kept, dropped = [], []
    for i, row in enumerate(prompts):
        if index.query(paragraph_of(row["prompt"])):
            dropped.append(str(row.get("id") or f"row-{i + 1}"))
        else:
            kept.append(row)
    return kept, dropped


def reward_curves(history: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per reward component (and the weighted total `reward`), its mean and std at every logged step."""
    curves: dict[str, list[dict[str, Any]]] = {}
    for entry in history:
        step = entry.get("step")
        for key, value in entry.items():
            if key == "reward" or (key.startswith("rewards/") and key.endswith("/mean")):
                name = "total" if key == "reward" else key[len("rewards/") : -len("/mean")]
                std_key = "reward_std" if key == "reward" else key[: -len("/mean")] + "/std"
                curves.setdefault(name, []).append(
                    {"step": step, "mean": value, **({"std": entry[std_key]} if std_key in entry else {})}
                )
    return curves


def policy_curve(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per logged step: the KL to the reference, the mean completion length and the share cut at the cap."""
    keys = {
        "kl": "kl",
        "completions/mean_length": "mean_length",
        "completions/clipped_ratio": "clipped_ratio",
        "learning_rate": "learning_rate",
    }
    return [
        {"step": h.get("step"), **{short: h[key] for key, short in keys.items() if key in h}}
        for h in history
        if "reward" in h
    ]


def completion_tokens_per_second(
    history: list[dict[str, Any]], completions_per_step: int, seconds: float
) -> float | None:
    """Completion tokens sampled per second of training (validation excluded): the generation-bound rate."""
    tokens = sum(
        h["completions/mean_length"] * completions_per_step
        for h in history
        if isinstance(h.get("completions/mean_length"), int | float)
    )
    return round(tokens / seconds, 1) if tokens and seconds > 0 else None


class SampleRecorder:
    """Keeps a few sampled completions, with every reward component, at chosen optimiser steps (issue 25: look at
    what the policy learns to do). It sees them by wrapping one reward function: trl passes every reward function
    the prompts, the completions, the dataset columns and `trainer_state`, whose `global_step` at sampling time
    is the step about to be taken, minus one."""

    def __init__(self, task: str, steps: list[int], per_step: int, names: list[str], weights: list[float]) -> None:
        self.task, self.steps, self.per_step = task, set(steps), per_step
        self.weights = dict(zip(names, weights, strict=True))
        self.records: list[dict[str, Any]] = []
        self._seen: set[int] = set()

    def wrap(self, func):
        return _RecordingReward(func, self)

    def observe(self, prompts: list[Any], completions: list[Any], columns: dict[str, Any]) -> None:
        from finsynth.eval.rewards import completion_text, reward_breakdown

        state = columns.get("trainer_state")
        step = (state.global_step + 1) if state is not None else None
        if step not in self.steps or step in self._seen:
            return
        self._seen.add(step)
        n = len(completions)
        lists = {k: v for k, v in columns.items() if isinstance(v, list | tuple) and len(v) == n}
        firsts = [i for i in range(n) if i == 0 or prompts[i] != prompts[i - 1]][: self.per_step]
        kept = []
        for i in firsts:
            row = {k: v[i] for k, v in lists.items()}
            parts = reward_breakdown(self.task, completions[i], **row)  # type: ignore[arg-type]
            parts.pop("total", None)
            total = sum(self.weights.get(k, 0.0) * v for k, v in parts.items())
            kept.append(
                {
                    "id": row.get("id"),
                    "type": row.get("sample_type"),
                    "completion": completion_text(completions[i]),
                    "rewards": parts,
                    "total": round(total, 4),
                }
            )
        self.records.append({"step": step, "completions": kept})


class _RecordingReward:
    """A reward function that also hands its batch to a `SampleRecorder`; trl logs it under the wrapped name."""

    def __init__(self, func, recorder: SampleRecorder) -> None:
        self.func, self.recorder = func, recorder
        self.__name__ = func.__name__

    def __call__(self, prompts=None, completions=(), **columns: Any) -> list[float]:
        self.recorder.observe(list(prompts or []), list(completions), columns)
        return self.func(prompts, completions, **columns)


def _config_record(ours: GRPOArguments, config: Any, weights: list[float], names: list[str]) -> dict[str, Any]:
    """What the run log records as `config`: our arguments and trl's settings that matter for a rerun."""
    keep = (
        "learning_rate",
        "num_generations",
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "max_completion_length",
        "temperature",
        "max_steps",
        "num_train_epochs",
        "beta",
        "loss_type",
        "scale_rewards",
        "seed",
        "max_grad_norm",
        "lr_scheduler_type",
        "warmup_steps",
        "disable_dropout",
        "bf16",
    )
    return {
        **asdict(ours),
        "target_modules": ours.target_modules,  # the run log's name before trl's ModelConfig
        **{k: getattr(config, k) for k in keep},
        "reward_functions": names,
        "reward_weights": weights,
    }


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


def _progress(message: str) -> None:
    print(f"grpo: {message}", file=sys.stderr, flush=True)


def check_reference(trainer, ours: GRPOArguments, beta: float) -> str:
    """What the KL term's reference is; a continued adapter must have trl's frozen "ref" copy of it, else the
    reference would be the base model (adapters disabled), which is not the policy GRPO starts from."""
    if not beta:
        return "none (beta 0: no KL term)"
    if not ours.adapter:
        return "the base model with the fresh LoRA disabled (= the starting policy)"
    from accelerate.utils import extract_model_from_parallel

    model = extract_model_from_parallel(trainer.model)
    if "ref" not in getattr(model, "peft_config", {}):
        raise UnavailableError(
            f"--beta {beta} with --adapter {ours.adapter}: this trl/peft pair computes the KL term against the base "
            "model, not the SFT adapter (no frozen 'ref' copy); install peft >= 0.20, or pass --beta 0"
        )
    return f"the SFT adapter {ours.adapter} (trl's frozen 'ref' copy)"


def _decision(guard, ours: GRPOArguments, kept_start: bool) -> str:
    start, best = guard.start, guard.best
    later = [e.score for e in guard.evaluations[1:]]
    what = "the SFT adapter" if ours.adapter else "the starting policy (fresh LoRA, = the base)"
    if kept_start:
        tried = f"best GRPO evaluation {max(later):g}" if later else "no GRPO evaluation"
        return (
            f"GRPO found nothing better than {what} on validation ({start.score:g} at step 0; {tried}): "
            f"the output adapter is {what}"
        )
    return f"kept step {best.step}: validation {best.score:g} against {start.score:g} at step 0"


def run_grpo(ours: GRPOArguments, config: Any) -> dict[str, Any]:
    """Train, keep the best validated adapter in `OUT/adapter`, write `OUT/run_log.json` (status, losses, rewards
    per component, validation, samples); return it."""
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import GRPOTrainer

    from finsynth.eval.rewards import trl_reward_functions

    from .runlog import TrainingDivergedError, close_progress_bars, finite, make_guard, run_log
    from .sft import has_cuda, load_base_model, lora_config, sdpa_backends
    from .validation import copy_adapter, make_validation_guard, require_rows, save_adapter

    started = time.time()
    rows = load_prompts(ours)
    val_path = Path(ours.data) / f"{ours.val_split}.jsonl"
    val_rows: list[dict[str, Any]] = []
    guard_note = None
    if ours.val_steps:
        val_rows = _split_rows(ours.data, ours.val_split, ours.reward)[: ours.val_limit]
        if not val_rows and ours.reward == "qa":  # `qa judge` writes no validation split of its own
            guard_note = f"{val_path}: no validation rows; the validation guard is off"
            print(f"notice: {guard_note}", file=sys.stderr)
        else:
            require_rows(val_rows, val_path)
    if val_rows and config.world_size > 1:
        # every process would decode and decide on its own; one that stopped while another went on would hang DDP
        raise ConfigError(
            f"the validation guard runs in one process, not {config.world_size}: train GRPO on one GPU, "
            "or pass --val_steps 0 to train unguarded under accelerate launch"
        )
    rows, dropped = drop_validation_leaks(rows, val_rows)
    if not rows:
        raise InputError(
            f"{ours.prompt_file}: no usable prompts for GRPO: all {len(dropped)} (near-)duplicate a "
            f"paragraph of {val_path}; pass prompts from another split or build"
        )
    dataset = Dataset.from_list(dataset_rows(rows, ours.reward))
    funcs, weights = trl_reward_functions(ours.reward)  # type: ignore[arg-type]
    if config.reward_weights is None:
        config.reward_weights = weights
    elif len(config.reward_weights) != len(funcs):
        listed = ", ".join(f.__name__ for f in funcs)
        raise ConfigError(f"--reward_weights needs {len(funcs)} weights, one per reward function ({listed})")
    names = [f.__name__ for f in funcs]
    recorder = SampleRecorder(ours.reward, ours.sample_steps, ours.samples_per_step, names, list(config.reward_weights))
    if ours.sample_steps and ours.samples_per_step:
        funcs = [recorder.wrap(funcs[0]), *funcs[1:]]
    cuda = has_cuda()
    if not cuda and ("paged" in config.optim or "8bit" in config.optim):
        config.optim = "adamw_torch"
    tokenizer_source = (
        ours.adapter if ours.adapter and (Path(ours.adapter) / "tokenizer_config.json").is_file() else ours.model
    )
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_source, padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = load_base_model(
        ours.model, ours, bf16=ours.bf16_model, attn_implementation=ours.attn_implementation or "sdpa"
    )
    peft_config = None
    if ours.adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, ours.adapter, is_trainable=True)
    else:
        peft_config = lora_config(ours)
    out = Path(config.output_dir)
    guard = make_guard()
    budget = _budget_callback(ours.time_budget_s) if ours.time_budget_s else None
    validation = None
    if val_rows:
        validation = make_validation_guard(
            val_rows,
            task=ours.reward,
            every=ours.val_steps,
            patience=ours.val_patience,
            matcher=ours.val_matcher,
            max_new_tokens=config.max_completion_length,
            batch_size=ours.val_batch_size,
            best_dir=out / "best",
            start_adapter=Path(ours.adapter) if ours.adapter else None,
            progress=_progress,
        )
    callbacks = [guard] + ([budget] if budget else []) + ([validation] if validation else [])  # budget first
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=funcs,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
    guard.attach(trainer)
    if validation is not None:
        validation.attach(trainer)
    reference = check_reference(trainer, ours, config.beta)
    info = {
        "rows": {ours.split: len(rows), "validation": len(val_rows), "dropped_validation_leaks": len(dropped)},
        "reward": ours.reward,
        "reward_functions": names,
        "prompts_from": str(ours.prompt_file),
        "started_from": ours.adapter or "base model (fresh LoRA)",
        "kl_reference": reference,
    }
    log_config = _config_record(ours, config, list(config.reward_weights), names)
    if cuda:
        torch.cuda.reset_peak_memory_stats()

    def curves(log: dict[str, Any]) -> None:
        history = trainer.state.log_history
        log.update(
            reward_curves=reward_curves(history),
            policy_curve=policy_curve(history),
            validation=[e.record() for e in validation.evaluations] if validation else [],
            guard=validation.summary() if validation else {"enabled": False, "reason": guard_note or "--val_steps 0"},
            samples=recorder.records,
        )

    try:
        with sdpa_backends(ours.sdpa_cudnn):
            result = trainer.train()
    except TrainingDivergedError as exc:
        close_progress_bars(trainer)
        log = run_log(log_config, info, trainer, None, started)
        log.update(
            status="failed",
            failed_step=exc.step,
            reason=str(exc),
            adapter=None,
            failure={"what": exc.what, "value": exc.value, "step": exc.step},
        )
        curves(log)
        if validation is not None and validation.best is not None:  # written before the bad step, so finite
            log["guard"]["best_adapter"] = str(validation.best_source())
        exc.run_log = str(out / RUN_LOG)
        write_json_atomic(exc.run_log, finite(log))
        raise
    adapter_dir = out / "adapter"
    kept_start = False
    if validation is not None:
        kept_start = validation.kept_start()
        source = validation.best_source()
        copy_adapter(source, adapter_dir)
        if source != adapter_dir and source == out / "best":
            import shutil

            shutil.rmtree(source)  # OUT/adapter is the best checkpoint now
    else:
        save_adapter(trainer.model, adapter_dir, tokenizer)
    log = run_log(log_config, info, trainer, None, started, result.metrics)
    curves(log)
    stopped = None
    if budget is not None and budget.stopped_at is not None:
        stopped = f"time budget of {ours.time_budget_s:.0f} s reached after step {budget.stopped_at}"
    elif validation is not None and validation.stopped_at is not None:
        stopped = (
            f"validation fell {ours.val_patience} evaluations in a row below its best (step "
            f"{validation.best.step}): stopped after step {validation.stopped_at}"
        )
    val_seconds = log["guard"].get("seconds", 0.0) if validation else 0.0
    per_step = config.per_device_train_batch_size * config.gradient_accumulation_steps * trainer.args.world_size
    runtime = (result.metrics or {}).get("train_runtime") or (time.time() - started)
    log.update(
        status=STATUS_KEPT_START if kept_start else "ok",
        adapter=str(adapter_dir),
        stopped_early=stopped,
        completion_tokens_per_second=completion_tokens_per_second(
            trainer.state.log_history, per_step, runtime - val_seconds
        ),
    )
    if validation is not None:
        log["guard"]["decision"] = _decision(validation, ours, kept_start)
        _progress(log["guard"]["decision"])
    write_json_atomic(out / RUN_LOG, finite(log))
    return log


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """`grpo` leaves the rest of the command line to trl's parser (so `--help` shows trl's own flags)."""
    return sub.add_parser("grpo", add_help=False, help="GRPO on finsynth's rewards (trl GRPOTrainer; trl's flags)")
