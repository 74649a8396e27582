"""The GRPO validation guard: greedy decoding of the validation split, scored as `finsynth eval` scores.

`train grpo` improved its sampled training reward while the test score fell from 23 to 4 (docs/benchmarks.md,
issue 17): the reward was gamed. The guard measures what the reward stands for instead, on rows GRPO never
trains on, and decides what the run keeps:

- at step 0 (`on_train_begin`) it scores the starting policy (the SFT adapter, or the base under a fresh LoRA),
  then every `every` optimiser steps and at the last step;
- extraction replies are parsed and scored by `finsynth.eval.scoring` (strict + loose = `total`, as the
  outcome benchmark reports it; the reference matcher by default, the one the issue's numbers use), F1
  breaking ties; QA replies by `finsynth.eval.rewards.qa_exact` (TAT-QA's exact match with scale, F1 for spans);
- a better score (strictly: a tie keeps the earlier adapter, so the start wins ties) becomes the best
  checkpoint, written to `OUT/best` at once (a crash later still leaves it);
- an evaluation below the best so far is a fall; `patience` falls in a row stop the run;
- after training, `OUT/adapter` is a copy of the best: the starting adapter's own files when nothing beat it.

Decoding runs under `torch.random.fork_rng`, so evaluating does not change the sampling of later steps (a
guarded and an unguarded run of one seed train alike up to the stop).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finsynth.io import InputError

MATCHERS = ("reference", "fuzzy")
REPLY_KEEP = 600  # characters of a reply kept in the run log's worst-case examples


@dataclass
class Evaluation:
    """One validation measurement of the policy at `step`."""

    step: int
    score: float  # extraction: strict + loose cases; qa: the summed qa_exact
    tiebreak: float  # extraction: F1 over names; qa: exact matches
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def key(self) -> tuple[float, float]:
        return (self.score, self.tiebreak)

    def record(self) -> dict[str, Any]:
        return {"step": self.step, "score": self.score, **self.details, "seconds": round(self.seconds, 2)}


# --- scoring replies --------------------------------------------------------------------------------------


def _test_case(row: dict[str, Any], index: int):
    """A validation row as the `TestCase` evaluation scores against: its id, input and gold extraction. The
    scenario is a label only (validation rows are training-type samples): by the gold count."""
    from finsynth.eval.rewards import gold_extraction
    from finsynth.schema import ParagraphInput, Scenario, TestCase

    rid = str(row.get("id") or f"val-{index + 1}")
    gold = gold_extraction(row["completion"][-1]["content"], f"validation row {index + 1} ({rid})")
    sample: dict[str, Any] = row["sample"] if isinstance(row.get("sample"), dict) else {}
    given = sample.get("input") or {}
    paragraph = ParagraphInput.model_construct(
        chapter_title=str(given.get("chapter_title", "")), paragraph=str(given.get("paragraph", ""))
    )
    count = len(gold.metrics)
    scenario = (
        Scenario.empty_output_background
        if count == 0
        else Scenario.single_metric
        if count == 1
        else Scenario.multi_metric
    )
    return TestCase.model_construct(id=rid, type="test", scenario=scenario, input=paragraph, output=gold)


def score_extraction(
    rows: list[dict[str, Any]],
    replies: list[str],
    matcher: str = "reference",
) -> tuple[float, float, dict[str, Any]]:
    """(total, F1, details) of greedy replies against the rows' gold, by `finsynth.eval.scoring`: the summary
    numbers `finsynth eval` prints, overall and per sample type (is one type's style or count giving way?)."""
    from finsynth.eval.scoring import evaluate, parse_prediction, summarize
    from finsynth.text.names import get_matcher

    cases = [_test_case(row, i) for i, row in enumerate(rows)]
    preds = [parse_prediction({"id": case.id, "output": reply}) for case, reply in zip(cases, replies, strict=True)]
    report = evaluate(preds, cases, get_matcher(matcher))
    overall = report.overall
    by_type: dict[str, dict[str, Any]] = {}
    for kind in sorted({str(row.get("type") or "?") for row in rows}):
        picked = [c for c, row in zip(report.cases, rows, strict=True) if str(row.get("type") or "?") == kind]
        s = summarize(picked)
        by_type[kind] = {
            "n": s.n,
            "total": s.total,
            "mean_pred_count": s.mean_pred_count,
            "mean_gold_count": s.mean_gold_count,
        }
    mp, mg = overall.mean_pred_count, overall.mean_gold_count
    details = {
        "n": overall.n,
        "strict": overall.strict,
        "loose": overall.loose,
        "total": overall.total,
        "f1": overall.f1,
        "json_valid": overall.json_valid,
        "mean_pred_count": mp,
        "mean_gold_count": mg,
        "count_ratio": round(mp / mg, 3) if mp is not None and mg else None,
        "matcher": matcher,
        "by_type": by_type,
    }
    return float(overall.total), float(overall.f1 or 0.0), details


def score_qa(rows: list[dict[str, Any]], replies: list[str]) -> tuple[float, float, dict[str, Any]]:
    """(summed qa_exact, exact matches, details) of greedy replies against the rows' answers."""
    from finsynth.eval.rewards import qa_exact

    scores = [
        qa_exact(reply, row.get("answer"), row.get("scale") or "", row.get("kind"))
        for row, reply in zip(rows, replies, strict=True)
    ]
    exact = sum(s == 1.0 for s in scores)
    details = {
        "n": len(rows),
        "qa_exact_sum": round(sum(scores), 4),
        "exact": exact,
        "qa_exact_mean": round(sum(scores) / len(scores), 4) if scores else None,
    }
    return float(round(sum(scores), 4)), float(exact), details


# --- decoding -------------------------------------------------------------------------------------------


def greedy_replies(model, tokenizer, rows: list[dict[str, Any]], max_new_tokens: int, batch_size: int) -> list[str]:
    """Greedy replies of `model` (a training model: put in eval mode for the call, restored after) to the rows'
    prompts, through `train infer`'s batched generation; the global RNG state is restored after."""
    import torch

    from .config import InferConfig
    from .infer import generate_transformers

    cfg = InferConfig(model="(training model)", max_new_tokens=max_new_tokens, batch_size=batch_size)
    was_training = model.training
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    model.eval()
    try:
        with torch.random.fork_rng(devices=devices):
            return generate_transformers(tokenizer, model, rows, cfg)
    finally:
        if was_training:
            model.train()


def evaluate_policy(
    model,
    tokenizer,
    rows: list[dict[str, Any]],
    *,
    task: str,
    matcher: str,
    max_new_tokens: int,
    batch_size: int,
    step: int,
) -> Evaluation:
    """Decode the validation rows greedily and score them (the guard's one measurement)."""
    started = time.time()
    replies = greedy_replies(model, tokenizer, rows, max_new_tokens, batch_size)
    if task == "extraction":
        score, tiebreak, details = score_extraction(rows, replies, matcher)
    else:
        score, tiebreak, details = score_qa(rows, replies)
    return Evaluation(step=step, score=score, tiebreak=tiebreak, details=details, seconds=time.time() - started)


# --- the guard ------------------------------------------------------------------------------------------


def save_adapter(model, directory: Path, tokenizer=None) -> None:
    """The trainable ("default") adapter only, written to a sibling temp directory then moved into place: trl
    adds a frozen "ref" copy of a continued adapter for the KL term, which is not part of the result."""
    from accelerate.utils import extract_model_from_parallel

    unwrapped = extract_model_from_parallel(model)
    tmp = directory.with_name(directory.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    selected = ["default"] if "default" in getattr(unwrapped, "peft_config", {}) else None
    unwrapped.save_pretrained(str(tmp), selected_adapters=selected)
    if tokenizer is not None:
        tokenizer.save_pretrained(str(tmp))
    if directory.exists():
        shutil.rmtree(directory)
    tmp.rename(directory)


def copy_adapter(source: Path, target: Path) -> None:
    """`target` becomes a file-for-file copy of the adapter directory `source`."""
    tmp = target.with_name(target.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(source, tmp)
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)


def make_validation_guard(
    rows: list[dict[str, Any]],
    *,
    task: str,
    every: int,
    patience: int,
    matcher: str,
    max_new_tokens: int,
    batch_size: int,
    best_dir: Path,
    start_adapter: Path | None,
    progress: Callable[[str], None] | None = None,
):
    """The `ValidationGuard` callback (defined lazily: transformers is imported only for training)."""
    from transformers import TrainerCallback

    class ValidationGuard(TrainerCallback):
        """Scores the policy on the validation split at step 0, every `every` steps and at the end; keeps the best
        adapter in `best_dir`; stops after `patience` evaluations in a row below the best."""

        def __init__(self) -> None:
            self.trainer = None
            self.evaluations: list[Evaluation] = []
            self.best: Evaluation | None = None
            self.falls = 0
            self.stopped_at: int | None = None

        def attach(self, trainer) -> ValidationGuard:
            self.trainer = trainer
            return self

        @property
        def start(self) -> Evaluation | None:
            return self.evaluations[0] if self.evaluations else None

        def _evaluate(self, step: int) -> Evaluation:
            trainer = self.trainer
            assert trainer is not None, "attach(trainer) before training"
            found = evaluate_policy(
                trainer.model,
                trainer.processing_class,
                rows,
                task=task,
                matcher=matcher,
                max_new_tokens=max_new_tokens,
                batch_size=batch_size,
                step=step,
            )
            self.evaluations.append(found)
            if self.best is None or found.key > self.best.key:
                self.best = found
                self.falls = 0
                if step > 0 or start_adapter is None:  # the start's own files are the step-0 checkpoint
                    save_adapter(trainer.model, best_dir, trainer.processing_class)
            elif found.key < self.best.key:
                self.falls += 1
            else:
                self.falls = 0
            if progress is not None:
                progress(
                    f"validation at step {step}: {found.score:g} (best {self.best.score:g} at step "
                    f"{self.best.step}; {self.falls} fall(s) in a row) [{found.seconds:.0f} s]"
                )
            return found

        def on_train_begin(self, args, state, control, **kwargs):
            if not self.evaluations:
                self._evaluate(0)

        def on_step_end(self, args, state, control, **kwargs):
            step = state.global_step
            last = step >= state.max_steps or control.should_training_stop
            if step % every and not last:
                return
            self._evaluate(step)
            if self.falls >= patience and step < state.max_steps:
                control.should_training_stop = True
                self.stopped_at = step

        def kept_start(self) -> bool:
            return self.best is None or self.best.step == 0

        def best_source(self) -> Path:
            """Where the adapter to keep lies: the starting adapter's directory, or `best_dir`."""
            if self.kept_start() and start_adapter is not None:
                return start_adapter
            return best_dir

        def summary(self) -> dict[str, Any]:
            start, best = self.start, self.best
            return {
                "enabled": True,
                "every": every,
                "patience": patience,
                "rows": len(rows),
                "task": task,
                "matcher": matcher if task == "extraction" else None,
                "start": start.record() if start else None,
                "best_step": best.step if best else None,
                "best": best.record() if best else None,
                "kept_start": self.kept_start(),
                "stopped_at": self.stopped_at,
                "seconds": round(sum(e.seconds for e in self.evaluations), 2),
            }

    return ValidationGuard()


def require_rows(rows: list[dict[str, Any]], path: Path) -> None:
    if not rows:
        raise InputError(
            f"{path}: no validation rows for the guard; pass a `finsynth build` output (its val.jsonl), "
            "--val_split another split, or --val_steps 0 to train unguarded"
        )
