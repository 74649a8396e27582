"""Per-row loss weights in `python -m train sft` (`finsynth build --compose` with `mode: weight`).

A weighted build keeps every training row once and gives it the weight of its type x count cell (target share
over natural share, mean 1; finsynth/synth/compose.py). Training multiplies each row's per-token loss by it:
a row of weight 2 counts as two copies of it would, a row of weight 0 adds nothing, and no row is dropped.

Why a weighted loss and not per-epoch weighted sampling (read against trl 1.16's `SFTTrainer`):

- trl builds the labels (-100 outside the completion) at tokenisation and its loss is
  `-log_probs.sum() / num_items_in_batch`, with `log_probs` per token from its fused LM head: scaling the
  log-probs of each row's tokens by the row's weight is the whole change. The normalisation (the label-token
  count of the optimiser step, across accumulation and devices), the metrics and the MoE aux loss stay trl's.
- A `WeightedRandomSampler` would replace the length-grouped sampler (`group_by_length`, the default: fewer pad
  tokens) and draw with replacement: each epoch repeats some rows and misses others (a weight-1 row is missed
  with probability about 1/e), the copies-and-drops variance again, re-drawn each epoch. The loss weight is
  deterministic and every row is seen every epoch.
- The denominator stays the step's unweighted label-token count, so a step of low-weight rows moves the model
  less, as fewer copies would; with weights of mean 1 the loss keeps its scale.

The `weight` column must survive trl's `remove_unused_columns`: its signature columns are `input_ids`, `labels`
and `seq_lengths`, so `WeightedSFTTrainer` adds `weight`; the tokenising maps keep extra columns. The collator is
wrapped (`TokenWeights`) to turn each row's weight into a per-token tensor laid out like the labels, padded or
padding-free. Packing selects only `input_ids` and `labels` (the weight would be lost), and `loss_type: dft`,
label smoothing and a `compute_loss_func` compute the loss elsewhere: those are refused with weights.
Validation rows carry no weight: the eval loss stays the plain one, comparable across builds.
"""

from __future__ import annotations

from typing import Any

import torch
from trl import SFTTrainer

from .config import ConfigError
from .data import WEIGHT

TOKEN_WEIGHTS = "token_weights"  # the batch key: one weight per input token, laid out like `labels`


class TokenWeights:
    """Wraps trl's collator: takes each row's `weight` out before collation and adds `token_weights`, the row's
    weight on every token of its own (0 on padding), in the labels' layout (one flattened row when padding-free).
    Rows without a weight (validation) collate as before."""

    def __init__(self, collate: Any) -> None:
        self.collate = collate

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        if not examples or WEIGHT not in examples[0]:
            return self.collate(examples)
        weights = [float(e[WEIGHT]) for e in examples]
        batch = self.collate([{k: v for k, v in e.items() if k != WEIGHT} for e in examples])
        labels = batch["labels"]
        out = torch.zeros(labels.shape, dtype=torch.float32)
        lengths = [len(e["input_ids"]) for e in examples]
        if getattr(self.collate, "padding_free", False):
            start = 0
            for n, w in zip(lengths, weights, strict=True):
                out[0, start : start + n] = w
                start += n
        else:
            for i, (n, w) in enumerate(zip(lengths, weights, strict=True)):
                out[i, :n] = w
        batch[TOKEN_WEIGHTS] = out
        return batch


class _WeightedLogProbs:
    """The model as trl's `compute_loss` calls it, with each target token's log-probability multiplied by its row's
    weight (the fused LM head's `log_probs[:, t]` scores `labels[:, t + 1]`). Everything else passes through."""

    def __init__(self, model: Any, token_weights: torch.Tensor) -> None:
        self._model = model
        self._weights = token_weights

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        outputs = self._model(*args, **kwargs)
        if kwargs.get("fused_lm_head"):
            log_probs = outputs.log_probs
            weights = self._weights.to(device=log_probs.device, dtype=log_probs.dtype)
            if weights.shape[-1] == log_probs.shape[-1] + 1:  # shifted: the first token is never a target
                weights = weights[..., 1:]
            outputs.log_probs = log_probs * weights
        return outputs

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


class WeightedSFTTrainer(SFTTrainer):
    """trl's SFTTrainer whose training loss weighs each row by its `weight` column (see the module docstring)."""

    def __init__(self, *, args: Any, compute_loss_func: Any = None, **kwargs: Any) -> None:
        # before trl prepares the data: packing would drop the weight column there
        refused = [
            name
            for name, on in (
                ("packing", bool(args.packing)),
                (f"loss_type {args.loss_type}", args.loss_type != "nll"),
                ("label_smoothing_factor", args.label_smoothing_factor > 0),
                ("compute_loss_func", compute_loss_func is not None),
            )
            if on
        ]
        if refused:
            raise ConfigError(
                f"the training rows carry loss weights ({WEIGHT}); {', '.join(refused)} cannot apply "
                f"them: turn it off, or build without `mode: weight`"
            )
        super().__init__(args=args, compute_loss_func=compute_loss_func, **kwargs)
        trainer: Any = self  # transformers leaves these attributes unannotated (mypy: "cannot determine type")
        trainer.data_collator = TokenWeights(trainer.data_collator)

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        trainer: Any = self
        if trainer._signature_columns is not None and WEIGHT not in trainer._signature_columns:
            trainer._signature_columns = [*trainer._signature_columns, WEIGHT]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        token_weights = inputs.pop(TOKEN_WEIGHTS, None)
        if token_weights is not None:
            model = _WeightedLogProbs(model, token_weights)
        return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
