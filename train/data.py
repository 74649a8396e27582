"""Built data in, trainer-ready rows out: load `data/built/*.jsonl`, measure token lengths, refuse overflows.

The rows keep the build's conversational prompt/completion form (system + user prompt, assistant reply),
so the loss covers the reply only and the prompt is the one the build rendered. Every row carries
`chat_template_kwargs={"enable_thinking": False}`: trl renders training text with it, and inference passes
the same switch, so Qwen3's thinking mode is off in both.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finsynth.errors import InvalidInputError
from finsynth.errors import SampleTooLongError as SampleTooLongError  # re-exported
from finsynth.io import SPLITS, UserError, read_jsonl

CHAT_TEMPLATE_KWARGS = {"enable_thinking": False}
WEIGHT = "weight"  # the trl row's column holding the row's loss weight (train/weighting.py)
WEIGHT_SOURCE = "sample.provenance.compose.weight"  # where a built row carries it (`finsynth build`, mode: weight)


def split_path(data_dir: str | os.PathLike[str], split: str) -> Path:
    return Path(data_dir) / f"{split}.jsonl"


def load_split(
    data_dir: str | os.PathLike[str],
    split: str,
    required: bool = True,
    columns: tuple[str, ...] = ("prompt", "completion"),
) -> list[dict[str, Any]]:
    """Rows of `<data_dir>/<split>.jsonl`, each with the conversational `columns` (GRPO's QA rows have a
    `prompt` and no `completion`); [] for a missing optional split."""
    path = split_path(data_dir, split)
    if not path.is_file():
        if required:
            raise FileNotFoundError(f"{path} not found: run `python -m finsynth build` first")
        return []
    rows = read_jsonl(path)
    for i, row in enumerate(rows, 1):
        if not all(isinstance(row.get(column), list) for column in columns):
            needs = " and ".join(f"'{c}'" for c in columns)
            raise InvalidInputError(f"{path}:{i}: not a built row (needs conversational {needs})")
    return rows


def data_fingerprint(data_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest's content hash when the build wrote one, plus sha256 of each split file present."""
    data_dir = Path(data_dir)
    out: dict[str, Any] = {"dir": str(data_dir)}
    manifest = data_dir / "manifest.json"
    if manifest.is_file():
        try:
            doc = json.loads(manifest.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            doc = {}
        for key in ("content_hash", "hash", "sha256", "data_hash"):
            if isinstance(doc, dict) and key in doc:
                out["manifest_hash"] = doc[key]
                break
        out["manifest_sha256"] = hashlib.sha256(manifest.read_bytes()).hexdigest()
    for split in SPLITS:
        path = split_path(data_dir, split)
        if path.is_file():
            out[f"{split}_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


class WeightError(UserError, ValueError):
    """A row's loss weight is missing (where other rows have one), not a number, not finite or negative."""


def _row_weight(row: dict[str, Any]) -> Any:
    """The row's `provenance.compose.weight`, or None when it has none."""
    sample = row.get("sample")
    provenance = sample.get("provenance") if isinstance(sample, dict) else None
    compose = provenance.get("compose") if isinstance(provenance, dict) else None
    return compose.get("weight") if isinstance(compose, dict) else None


def row_weights(rows: list[dict[str, Any]], path: str | os.PathLike[str]) -> list[float] | None:
    """The rows' loss weights (`finsynth build --compose` with `mode: weight` writes them into each training row's
    sample, at `provenance.compose.weight`), or None when no row carries one: then every row weighs 1.

    All or none: a weighted file with one row missing its weight is an error, as is a weight that is not a finite
    number >= 0 (NaN would turn the loss into NaN at that row's first step), or a file whose weights are all 0."""
    found = [_row_weight(r) for r in rows]
    if all(w is None for w in found):
        return None
    weights = []
    for i, (row, value) in enumerate(zip(rows, found, strict=True), 1):
        where = f"{path}: row {i} (id {row.get('id', '?')}), field {WEIGHT_SOURCE}"
        if value is None:
            raise WeightError(
                f"{where}: missing, while other rows carry one; rebuild with `finsynth build "
                f"--compose FILE` (mode: weight) so that every training row has its weight"
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise WeightError(f"{where}: {value!r} is not a finite number >= 0; rebuild the data or fix the row")
        weights.append(float(value))
    if not any(weights):
        raise WeightError(f"{path}: every row's weight ({WEIGHT_SOURCE}) is 0: nothing would be trained")
    return weights


def weight_summary(weights: list[float] | None) -> dict[str, Any]:
    """The run log's `weighting`: how the loss weighs the rows."""
    if weights is None:
        return {"mode": "none", "reason": f"no training row carries {WEIGHT_SOURCE}: every row weighs 1"}
    return {
        "mode": "loss",
        "source": WEIGHT_SOURCE,
        "rows": len(weights),
        "mean": round(statistics.fmean(weights), 6),
        "min": min(weights),
        "max": max(weights),
        "zero_rows": sum(w == 0 for w in weights),
    }


def trl_rows(rows: list[dict[str, Any]], weights: list[float] | None = None) -> list[dict[str, Any]]:
    """Conversational prompt-completion rows as trl's SFTTrainer reads them (thinking off per row), each with its
    loss `weight` when `weights` are given."""
    out = [
        {
            "id": r.get("id", str(i)),
            "prompt": r["prompt"],
            "completion": r["completion"],
            "chat_template_kwargs": dict(CHAT_TEMPLATE_KWARGS),
        }
        for i, r in enumerate(rows)
    ]
    if weights is not None:
        for row, weight in zip(out, weights, strict=True):
            row[WEIGHT] = weight
    return out


def _ids(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool) -> list[int]:
    out = tokenizer.apply_chat_template(
        messages,
        add_generation_prompt=add_generation_prompt,
        tokenize=True,
        return_dict=True,
        **CHAT_TEMPLATE_KWARGS,
    )
    return list(out["input_ids"])


def prompt_ids(tokenizer, row: dict[str, Any]) -> list[int]:
    """Token ids of the prompt as rendered for generation (the inference prompt)."""
    return _ids(tokenizer, row["prompt"], add_generation_prompt=True)


def full_ids(tokenizer, row: dict[str, Any]) -> list[int]:
    """Token ids of prompt + reply as rendered for training."""
    return _ids(tokenizer, row["prompt"] + row["completion"], add_generation_prompt=False)


@dataclass
class Lengths:
    """Per-row prompt and total token counts for one split."""

    ids: list[str]
    prompt: list[int]
    total: list[int]

    def summary(self) -> dict[str, Any]:
        if not self.total:
            return {"n": 0}
        ordered = sorted(self.total)
        return {
            "n": len(ordered),
            "min": ordered[0],
            "mean": round(statistics.fmean(ordered), 1),
            "p50": ordered[len(ordered) // 2],
            "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
            "max": ordered[-1],
            "prompt_mean": round(statistics.fmean(self.prompt), 1),
            "reply_mean": round(statistics.fmean(t - p for t, p in zip(self.total, self.prompt, strict=True)), 1),
            "reply_max": max(self.reply),
        }

    @property
    def reply(self) -> list[int]:
        """Reply tokens per row: the training text past the inference prompt (end-of-turn tokens included)."""
        return [t - p for t, p in zip(self.total, self.prompt, strict=True)]


def measure(tokenizer, rows: list[dict[str, Any]]) -> Lengths:
    """Token lengths with the model's own tokenizer and chat template (thinking off)."""
    ids, prompt, total = [], [], []
    for i, row in enumerate(rows):
        ids.append(str(row.get("id", i)))
        prompt.append(len(prompt_ids(tokenizer, row)))
        total.append(len(full_ids(tokenizer, row)))
    return Lengths(ids, prompt, total)


def resolve_max_length(lengths: dict[str, Lengths], cap: int) -> int:
    """The longest measured training/validation sample; error listing every sample over `cap`.

    Nothing is silently truncated: a sample whose reply would lose its JSON's end fails the run here.
    """
    over = [
        f"{split}:{rid} ({n} tokens)"
        for split, ls in lengths.items()
        for rid, n in zip(ls.ids, ls.total, strict=True)
        if n > cap
    ]
    if over:
        shown = ", ".join(over[:10]) + (f" and {len(over) - 10} more" if len(over) > 10 else "")
        raise SampleTooLongError(
            f"{len(over)} sample(s) exceed max_length={cap} and would be truncated: {shown}. "
            "Raise --max-length or shorten/drop these samples in the build."
        )
    longest = max((max(ls.total) for ls in lengths.values() if ls.total), default=0)
    if longest == 0:
        raise InvalidInputError("no samples to train on")
    return longest
