"""The non-finite guard of `python -m train sft`: a poisoned loss, gradient or eval loss stops the run at that
step, keeps the last finite checkpoint, writes no adapter and a run log with status "failed", and the CLI exits 1
with one line. Also: the SDPA cuDNN backend is off while training unless `--sdpa-cudnn`. CPU, tiny model.
"""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

import torch
from train_helpers import train_cfg

from train import sft


def _poison(monkeypatch, kind: str, at_step: int) -> list:
    """Wrap `build_trainer` so that from optimiser step `at_step` on the training loss (NaN embeddings in a
    training forward), a LoRA gradient, or the eval loss (an eval forward) is NaN. Returns the trainers built."""
    built_trainers: list = []
    original = sft.build_trainer

    def build(ours, config):
        trainer, info = original(ours, config)
        built_trainers.append(trainer)
        model = trainer.model

        def step() -> int:
            return trainer.state.global_step + 1

        def poison_embeddings(module, inputs, output):
            # NaN hidden states: the loss (trl computes it from a fused lm head) and everything after are NaN
            train_bad = kind == "loss" and model.training and step() >= at_step
            eval_bad = kind == "eval" and not model.training
            return output * float("nan") if train_bad or eval_bad else output

        model.get_input_embeddings().register_forward_hook(poison_embeddings)
        if kind == "grad":
            param = next(p for n, p in model.named_parameters() if "lora_B" in n and p.requires_grad)
            param.register_hook(lambda g: g * float("nan") if step() >= at_step else g)
        return trainer, info

    monkeypatch.setattr(sft, "build_trainer", build)
    return built_trainers


@pytest.mark.parametrize(
    "kind, at_step, what, failed_step, kept",
    [
        ("loss", 6, "training loss", 6, "checkpoint-4"),  # epoch 1 (steps 1-4) saved, epoch 2 stops at step 6
        ("grad", 2, "gradient norm", 2, None),
        ("eval", 1, "eval loss", 4, None),  # the first eval (end of epoch 1) runs before its checkpoint is saved
    ],
)
@pytest.mark.slow
def test_guard_stops_names_the_step_and_keeps_the_last_finite_checkpoint(
    built, tiny, tmp_path, monkeypatch, kind, at_step, what, failed_step, kept
):
    _poison(monkeypatch, kind, at_step)
    out = tmp_path / "run"
    with pytest.raises(sft.TrainingDivergedError) as info:
        sft.run_sft(*train_cfg(built, tiny, out, max_steps=8))
    exc = info.value
    assert (exc.step, exc.what) == (failed_step, what)
    assert f"at optimiser step {failed_step} of 8" in str(exc) and "nan" in str(exc)

    log = json.loads((out / sft.RUN_LOG).read_text(encoding="utf-8"))
    assert log["status"] == "failed" and log["failed_step"] == failed_step
    assert log["failure"] == {"what": what, "value": "nan", "step": failed_step}
    assert f"step {failed_step}" in log["reason"] and log["adapter"] is None
    assert not (out / "adapter").exists(), "a diverged run must not write an adapter"
    # a bad training step's update is never applied; an eval follows its step's update
    assert log["global_steps"] == (failed_step if kind == "eval" else failed_step - 1)
    assert all(e["loss"] is not None and math.isfinite(e["loss"]) for e in log["train_loss"])
    checkpoints = sorted(p.name for p in out.glob("checkpoint-*"))
    if kept:
        assert log["last_checkpoint"].endswith(kept) and checkpoints == [kept]
        from safetensors.torch import load_file

        weights = load_file(out / kept / "adapter_model.safetensors")
        assert all(torch.isfinite(v).all() for v in weights.values())
    else:
        assert log["last_checkpoint"] is None and checkpoints == []


def test_cli_exit_1_with_one_line(built, tiny, tmp_path, monkeypatch, capsys):
    from train.cli import main

    _poison(monkeypatch, "loss", 2)
    out = tmp_path / "run"
    rc = main(
        [
            "sft",
            "--data",
            str(built),
            "--model",
            str(tiny),
            "--out",
            str(out),
            "--quant",
            "none",
            "--per-device-train-batch-size",
            "2",
            "--gradient-accumulation-steps",
            "1",
            "--max-steps",
            "3",
            "--no-eval",
        ]
    )
    assert rc == 1
    captured = capsys.readouterr()
    lines = [ln for ln in captured.err.splitlines() if "error:" in ln]
    assert len(lines) == 1 and lines[0].startswith("error: "), repr(captured.err[-1500:])
    assert "training diverged" in lines[0] and "optimiser step 2" in lines[0] and "run_log.json" in lines[0]
    assert "Traceback" not in captured.err
    assert '"adapter"' not in captured.out  # no success summary
    assert json.loads((out / sft.RUN_LOG).read_text(encoding="utf-8"))["status"] == "failed"


@pytest.mark.slow
def test_finished_run_log_says_ok_and_training_runs_without_cudnn_sdpa(built, tiny, tmp_path, monkeypatch):
    """Default: cuDNN SDPA off during train and evaluate, restored after; `sdpa_cudnn=True` leaves it on."""
    from transformers import TrainerCallback

    seen: list[bool] = []

    class Probe(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            seen.append(torch.backends.cuda.cudnn_sdp_enabled())

        def on_evaluate(self, args, state, control, **kwargs):
            seen.append(torch.backends.cuda.cudnn_sdp_enabled())

    original = sft.build_trainer

    def build(ours, config):
        trainer, info = original(ours, config)
        trainer.add_callback(Probe())
        return trainer, info

    monkeypatch.setattr(sft, "build_trainer", build)
    assert torch.backends.cuda.cudnn_sdp_enabled()
    log = sft.run_sft(*train_cfg(built, tiny, tmp_path / "run", max_steps=2))
    assert seen and not any(seen), seen
    assert torch.backends.cuda.cudnn_sdp_enabled(), "the global SDPA setting must be restored"
    assert log["status"] == "ok" and log["attention"] == {"implementation": "sdpa", "sdpa_cudnn": False}
    assert json.loads((tmp_path / "run" / sft.RUN_LOG).read_text())["status"] == "ok"
    assert all(math.isfinite(e["loss"]) for e in log["train_loss"]) and log["train_loss"][0]["grad_norm"] is not None

    seen.clear()
    sft.run_sft(*train_cfg(built, tiny, tmp_path / "old", max_steps=1, eval=False, sdpa_cudnn=True))
    assert seen and all(seen)
