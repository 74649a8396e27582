"""Per-row loss weights in `python -m train sft` (train/weighting.py), on CPU with the tiny model.

* the rows of a `mode: weight` build (`sample.provenance.compose.weight`) are found, all or none, and a weight
  that is not a finite number >= 0 is a one-line error with exit 2, before any model loads;
* the weight survives trl's dataset preparation and `remove_unused_columns` into the batch, laid out per token
  like the labels (padded and padding-free);
* the loss: a weight-0 row contributes nothing (the summed loss equals the remaining rows' loss, whatever the
  weight-0 row's targets are), and a weight-2 row counts exactly as two copies of it;
* a short weighted run trains and its run log says how the rows were weighed.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

import torch
from train_helpers import train_cfg

from finsynth.io import read_jsonl, write_jsonl_atomic
from train.cli import main as train_main
from train.data import WEIGHT, WeightError, row_weights
from train.sft import build_trainer, run_sft
from train.weighting import TOKEN_WEIGHTS, WeightedSFTTrainer

WEIGHTS = [1.0, 0.0, 2.0, 1.0, 0.5, 1.5, 1.0, 1.0]  # one per row of the `built` fixture's train.jsonl


def _weighted(src: Path, dest: Path, weights: list) -> Path:
    """A copy of the built directory whose training rows carry `weights` where a `mode: weight` build puts them."""
    shutil.copytree(src, dest)
    rows = read_jsonl(dest / "train.jsonl")
    for row, weight in zip(rows, weights, strict=True):
        if weight is not None:
            row["sample"]["provenance"]["compose"] = {"weight": weight}
    write_jsonl_atomic(dest / "train.jsonl", rows)
    return dest


@pytest.fixture(scope="module")
def weighted(built, tmp_path_factory) -> Path:
    return _weighted(built, tmp_path_factory.mktemp("w") / "built", WEIGHTS)


def test_weights_are_read_all_or_none(built, weighted):
    assert row_weights(read_jsonl(built / "train.jsonl"), "train.jsonl") is None
    assert row_weights(read_jsonl(weighted / "train.jsonl"), "train.jsonl") == WEIGHTS


@pytest.mark.parametrize(
    ("weight", "said"),
    [(math.nan, "nan"), (math.inf, "inf"), (-1.0, "-1.0"), ("2", "'2'"), (True, "True"), (None, "missing")],
)
def test_a_bad_weight_is_one_line_and_exit_2(built, tiny, tmp_path, capsys, weight, said):
    data = _weighted(built, tmp_path / "built", [1.0, weight, *WEIGHTS[2:]])
    code = train_main(
        ["sft", "--data", str(data), "--model", str(tiny), "--output_dir", str(tmp_path / "run"), "--quant", "none"]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert "train.jsonl: row 2" in err and "provenance.compose.weight" in err and said in err, err
    assert not (tmp_path / "run").exists()  # refused before anything was trained or written


def test_all_zero_weights_are_refused(built, tmp_path):
    data = _weighted(built, tmp_path / "built", [0.0] * len(WEIGHTS))
    with pytest.raises(WeightError, match="every row's weight"):
        row_weights(read_jsonl(data / "train.jsonl"), data / "train.jsonl")


@pytest.mark.parametrize("padding_free", [False, True])
def test_the_weight_reaches_the_batch_per_token(weighted, tiny, tmp_path, padding_free):
    ours, config = train_cfg(weighted, tiny, tmp_path / "run", padding_free=padding_free)
    trainer, info = build_trainer(ours, config)
    assert isinstance(trainer, WeightedSFTTrainer)
    assert info["weighting"]["mode"] == "loss" and info["weighting"]["zero_rows"] == 1
    assert info["weighting"]["mean"] == pytest.approx(sum(WEIGHTS) / len(WEIGHTS))
    # through trl's preparation and the dataloader's `remove_unused_columns` (which drops unknown columns)
    batch = next(iter(trainer.get_train_dataloader()))
    assert WEIGHT not in batch and batch[TOKEN_WEIGHTS].shape == batch["labels"].shape
    examples = [{k: e[k] for k in ("input_ids", "labels", WEIGHT)} for e in list(trainer.train_dataset)[:3]]
    batch = trainer.data_collator(examples)
    token_weights = batch[TOKEN_WEIGHTS]
    lengths = [len(e["input_ids"]) for e in examples]
    if padding_free:
        expected = [e[WEIGHT] for e, n in zip(examples, lengths, strict=True) for _ in range(n)]
        assert token_weights[0, : sum(lengths)].tolist() == expected
    else:
        for i, (e, n) in enumerate(zip(examples, lengths, strict=True)):
            assert token_weights[i, :n].tolist() == [e[WEIGHT]] * n
            assert (token_weights[i, n:] == 0).all()  # padding weighs nothing
    # validation rows carry no weight: their batches are trl's own
    val = [{k: e[k] for k in ("input_ids", "labels")} for e in list(trainer.eval_dataset)[:2]]
    assert TOKEN_WEIGHTS not in trainer.data_collator(val)


def _summed_loss(trainer, examples) -> float:
    """The loss of one batch of `examples`, summed over its target tokens (num_items_in_batch = 1), no dropout."""
    batch = trainer.data_collator(examples)
    with torch.no_grad():
        return float(trainer.compute_loss(trainer.model, batch, num_items_in_batch=torch.tensor(1)))


def test_weight_zero_adds_nothing_and_weight_two_is_two_copies(weighted, tiny, tmp_path):
    ours, config = train_cfg(weighted, tiny, tmp_path / "run")
    trainer, _info = build_trainer(ours, config)
    trainer.model.eval()
    rows = [{k: e[k] for k in ("input_ids", "labels")} for e in list(trainer.train_dataset)]
    a, b = rows[0], next(r for r in rows[1:] if r["input_ids"] != rows[0]["input_ids"])
    vocab = trainer.model.config.vocab_size
    b_other = dict(b, labels=[t if t == -100 else (t + 7) % vocab for t in b["labels"]])  # other targets

    def w(row, weight):
        return {**row, WEIGHT: weight}

    alone = _summed_loss(trainer, [w(a, 1.0)])
    with_zero = _summed_loss(trainer, [w(a, 1.0), w(b, 0.0)])
    assert with_zero == pytest.approx(alone, rel=1e-5)  # the weight-0 row adds nothing ...
    assert _summed_loss(trainer, [w(a, 1.0), w(b_other, 0.0)]) == pytest.approx(with_zero, rel=1e-6)  # ... whatever
    assert _summed_loss(trainer, [w(a, 1.0), w(b_other, 1.0)]) != pytest.approx(  # it says; at weight 1 it counts
        _summed_loss(trainer, [w(a, 1.0), w(b, 1.0)]), rel=1e-3
    )
    twice = _summed_loss(trainer, [w(a, 2.0), w(b, 1.0)])
    assert twice == pytest.approx(_summed_loss(trainer, [w(a, 1.0), w(a, 1.0), w(b, 1.0)]), rel=1e-5)
    assert twice != pytest.approx(_summed_loss(trainer, [w(a, 1.0), w(b, 1.0)]), rel=1e-3)


def test_weights_refuse_packing(weighted, tiny, tmp_path):
    from train.config import ConfigError

    ours, config = train_cfg(weighted, tiny, tmp_path / "run", packing=True)
    with pytest.raises(ConfigError, match="packing"):
        build_trainer(ours, config)


@pytest.mark.slow
def test_a_weighted_run_trains_and_logs_its_weighting(weighted, built, tiny, tmp_path):
    log = run_sft(*train_cfg(weighted, tiny, tmp_path / "run", max_steps=2, eval_strategy="no"))
    assert log["status"] == "ok" and log["weighting"]["mode"] == "loss" and log["weighting"]["rows"] == 8
    losses = [h["loss"] for h in log.get("log_history", []) if "loss" in h]
    assert all(math.isfinite(x) for x in losses)
    written = json.loads((tmp_path / "run" / "run_log.json").read_text(encoding="utf-8"))
    assert written["weighting"] == log["weighting"] and (tmp_path / "run" / "adapter").is_dir()
    plain = run_sft(*train_cfg(built, tiny, tmp_path / "plain", max_steps=1, eval_strategy="no"))
    assert plain["weighting"]["mode"] == "none"
