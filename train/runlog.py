"""What SFT and GRPO runs share: the non-finite guard that stops a diverging run at the step that
produced it (`make_guard`, `TrainingDivergedError`), and the JSON run log (`run_log`, `finite`, `dumps`)
that `python -m train` writes for a finished and a failed run alike."""

from __future__ import annotations

import contextlib
import json
import math
import platform
import resource
import time
from typing import Any

from finsynth.errors import Failure


class TrainingDivergedError(Failure, RuntimeError):
    """A non-finite training loss, gradient norm or eval loss: the run stops at that optimiser step."""

    def __init__(self, step: int, what: str, value: str, detail: str = ""):
        self.step, self.what, self.value, self.detail = step, what, value, detail
        self.run_log: str | None = None
        self.last_checkpoint: str | None = None
        super().__init__(f"non-finite {what} ({value}) at optimiser step {step}{detail}")

    def describe(self) -> str:
        """The one-line CLI message: what, where, what was kept."""
        kept = f"last finite checkpoint {self.last_checkpoint}" if self.last_checkpoint else "no checkpoint yet"
        log = f"; run log {self.run_log} (status failed)" if self.run_log else ""
        return (
            f"training diverged: {self}; stopped before the update, no adapter written; {kept}{log}. "
            "Try --attn-implementation eager or --no-bf16 to isolate it"
        )


def _as_float(value: Any) -> float:
    return float(value.item() if hasattr(value, "item") else value)


def make_guard():
    """`NonFiniteGuard`, defined lazily so this module imports without transformers."""
    from transformers import TrainerCallback

    class NonFiniteGuard(TrainerCallback):
        """Stops training at the first non-finite loss, gradient norm or eval loss, naming the step.

        Checked once per optimiser step in `on_pre_optimizer_step`, i.e. after backward and clipping but before the
        optimiser applies the update, so the weights (and any checkpoint saved later) never hold the bad step; one
        device sync per optimiser step. The micro-batch losses come from `trainer.training_step`, wrapped by
        `attach`. An eval loss is checked in `on_evaluate`, which runs before that epoch's checkpoint is saved.
        """

        def __init__(self) -> None:
            self.losses: list[Any] = []
            self.max_steps = 0

        def attach(self, trainer) -> NonFiniteGuard:
            original = trainer.training_step

            def training_step(*args: Any, **kwargs: Any):
                loss = original(*args, **kwargs)
                self.losses.append(loss.detach())
                return loss

            trainer.training_step = training_step
            return self

        def on_train_begin(self, args, state, control, **kwargs):
            self.max_steps = state.max_steps
            self.losses.clear()

        def _raise(self, step: int, what: str, value: float) -> None:
            of = f" of {self.max_steps}" if self.max_steps else ""
            raise TrainingDivergedError(step, what, repr(value).strip("'"), of)

        def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
            import torch

            step = state.global_step + 1
            losses, self.losses = self.losses, []
            if losses:
                stacked = torch.stack([loss.float().reshape(()) for loss in losses])
                if not bool(torch.isfinite(stacked).all()):
                    bad = stacked[~torch.isfinite(stacked)][0]
                    self._raise(step, "training loss", _as_float(bad))
            if model is not None:
                grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
                if grads:
                    norm = torch.linalg.vector_norm(
                        torch.stack([torch.linalg.vector_norm(g.float()).to(grads[0].device) for g in grads])
                    )
                    if not bool(torch.isfinite(norm)):
                        self._raise(step, "gradient norm", _as_float(norm))

        def on_log(self, args, state, control, logs=None, **kwargs):
            for key in ("loss", "grad_norm"):
                value = (logs or {}).get(key)
                if isinstance(value, (int, float)) and not math.isfinite(value):
                    self._raise(state.global_step, "logged " + key, value)

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            for key, value in (metrics or {}).items():
                if key.endswith("_loss") and isinstance(value, (int, float)) and not math.isfinite(value):
                    self._raise(state.global_step, key.replace("_", " "), value)

    return NonFiniteGuard()


def _trainable(model) -> dict[str, int | float]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable": trainable, "total": total, "percent": round(100 * trainable / max(total, 1), 4)}


def close_progress_bars(trainer) -> None:
    """End the trainer's tqdm bars (an exception leaves them open, and the error line would follow one)."""
    for callback in trainer.callback_handler.callbacks:
        for name in ("training_bar", "prediction_bar"):
            bar = getattr(callback, name, None)
            if bar is not None:
                bar.close()
                setattr(callback, name, None)


def run_log(
    config: dict[str, Any],
    info: dict[str, Any],
    trainer,
    resume: str | None,
    started: float,
    metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The run log's common part (a finished and a failed run alike); `config`: the settings as parsed."""
    import torch

    history = trainer.state.log_history
    tokens = max((h.get("num_tokens", 0) for h in history), default=0)
    runtime = (metrics or {}).get("train_runtime") or (time.time() - started)
    return {
        "status": "ok",
        "config": config,
        **info,
        "parameters": _trainable(trainer.model),
        "resumed_from": resume,
        "world_size": trainer.args.world_size,
        "global_steps": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "train_loss": [
            {"step": h["step"], "epoch": h.get("epoch"), "loss": h["loss"], "grad_norm": h.get("grad_norm")}
            for h in history
            if "loss" in h
        ],
        "eval_loss": [
            {"step": h["step"], "epoch": h.get("epoch"), "loss": h["eval_loss"]} for h in history if "eval_loss" in h
        ],
        "final_eval_loss": None,
        "train_metrics": metrics or {},
        "train_tokens": tokens,
        "tokens_per_second": round(tokens / runtime, 2) if runtime and tokens else None,
        "peak_gpu_memory_gib": (
            round(torch.cuda.max_memory_allocated() / 2**30, 3) if torch.cuda.is_available() else None
        ),
        "peak_host_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor() or "cpu",
        "versions": _versions(),
        "adapter": None,
        "wall_seconds": round(time.time() - started, 2),
    }


def finite(obj: Any) -> Any:
    """JSON-safe: NaN/inf become None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite(v) for v in obj]
    return obj


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for name in ("torch", "transformers", "trl", "peft", "bitsandbytes", "accelerate", "datasets"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[name] = md.version(name)
    try:
        import torch

        if torch.backends.cudnn.is_available():
            out["cudnn"] = str(torch.backends.cudnn.version())
        if torch.version.cuda:
            out["cuda"] = torch.version.cuda
    except ImportError:
        pass
    return out


def dumps(log: dict[str, Any]) -> str:
    return json.dumps(finite(log), ensure_ascii=False)
