"""How `python -m train sft` collates, and what reaches attention (the issue-11 NaN investigation, on CPU).

* the default (padded) collation: right padding, pads labelled -100, the prompt masked and the reply with its
  `<|im_end|>` in the loss, also with the real Qwen3 tokenizer (pad `<|endoftext|>` != eos `<|im_end|>`);
* right padding leaves no fully masked query row; a padded micro-batch reaches SDPA with an explicit mask, an
  unpadded one with `is_causal=True` and no mask (the cuDNN-backward NaN needs the mask: see train/sft.py);
* `--padding-free`: one flattened row, no pad tokens, the same reply-only labels; on sdpa transformers still
  builds an explicit (block-diagonal) mask from the position ids, which is why it is not the NaN fix there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

import torch
from train_helpers import train_cfg

from train.data import full_ids, load_split, prompt_ids
from train.sft import build_trainer


@pytest.fixture(scope="module")
def qwen3_model(tmp_path_factory, tiny, qwen3_tokenizer_dir) -> Path:
    """The tiny model's weights with the real Qwen3 tokenizer (enough to build the trainer and collate;
    never run forward: the vocabularies differ)."""
    root = tmp_path_factory.mktemp("qwen3tok")
    for f in tiny.iterdir():
        if not f.name.startswith(("tokenizer", "special_tokens", "vocab", "merges", "chat_template")):
            shutil.copy(f, root / f.name)
    for f in Path(qwen3_tokenizer_dir).iterdir():
        shutil.copy(f, root / f.name)
    return root


def _check_labels(trainer, tok, rows, padding_free: bool) -> None:
    """Per example: the prompt masked, the reply (with <|im_end|>) in the loss; then the same in a batch."""
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    examples = list(trainer.train_dataset)
    for row, ex in zip(rows, examples, strict=True):
        p, f = prompt_ids(tok, row), full_ids(tok, row)
        assert f[: len(p)] == p and ex["input_ids"] == f
        assert all(label == -100 for label in ex["labels"][: len(p)]), "a prompt token is in the loss"
        assert ex["labels"][len(p) :] == f[len(p) :] and im_end in ex["labels"][len(p) :]
    batch = trainer.data_collator(examples[:3])
    if padding_free:
        assert "attention_mask" not in batch and batch["input_ids"].shape[0] == 1
        assert batch["input_ids"].shape[1] == sum(len(e["input_ids"]) for e in examples[:3])  # no pad token
        starts = (batch["position_ids"][0] == 0).nonzero().flatten().tolist()
        assert starts == [
            0,
            len(examples[0]["input_ids"]),
            len(examples[0]["input_ids"]) + len(examples[1]["input_ids"]),
        ]
        flat = [label for e in examples[:3] for label in [-100, *e["labels"][1:]]]  # first token: never a target
        assert batch["labels"][0].tolist() == flat
    else:
        mask = batch["attention_mask"]
        lengths = [len(e["input_ids"]) for e in examples[:3]]
        assert mask.sum(1).tolist() == lengths and (mask[:, 0] == 1).all(), "padding must be on the right"
        assert (batch["labels"][mask == 0] == -100).all() and (batch["input_ids"][mask == 0] == tok.pad_token_id).all()
        for i, e in enumerate(examples[:3]):
            assert batch["labels"][i, : lengths[i]].tolist() == e["labels"]


@pytest.mark.parametrize("padding_free", [False, True])
def test_reply_only_loss_under_both_collations(built, tiny, tmp_path, padding_free):
    from transformers import AutoTokenizer

    trainer, info = build_trainer(*train_cfg(built, tiny, tmp_path / "run", padding_free=padding_free))
    assert info["batching"]["padding_free"] is padding_free
    _check_labels(trainer, AutoTokenizer.from_pretrained(tiny), load_split(built, "train"), padding_free)


@pytest.mark.parametrize("padding_free", [False, True])
@pytest.mark.slow
def test_reply_only_loss_with_the_real_qwen3_tokenizer(built, qwen3_model, tmp_path, padding_free):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(qwen3_model)
    assert tok.pad_token == "<|endoftext|>" and tok.eos_token == "<|im_end|>"  # pad != eos: no masking clash
    trainer, _ = build_trainer(*train_cfg(built, qwen3_model, tmp_path / "run", padding_free=padding_free))
    _check_labels(trainer, tok, load_split(built, "train"), padding_free)


def _sdpa_calls(monkeypatch) -> list[dict]:
    calls: list[dict] = []
    original = torch.nn.functional.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, **kwargs):
        calls.append(
            {
                "shape": tuple(q.shape),
                "is_causal": kwargs.get("is_causal"),
                "mask": None if attn_mask is None else attn_mask.detach().clone(),
            }
        )
        return original(q, k, v, attn_mask=attn_mask, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    return calls


def _forward(trainer, batch) -> None:
    keys = ("input_ids", "attention_mask", "position_ids", "labels")
    with torch.no_grad():
        trainer.model(**{k: v for k, v in batch.items() if k in keys})


def test_what_sdpa_receives(built, tiny, tmp_path, monkeypatch):
    trainer, _ = build_trainer(*train_cfg(built, tiny, tmp_path / "run"))
    examples = list(trainer.train_dataset)
    calls = _sdpa_calls(monkeypatch)

    padded = trainer.data_collator(examples[:3])
    assert (padded["attention_mask"] == 0).any()
    _forward(trainer, padded)
    mask = calls[0]["mask"]
    assert mask is not None and mask.dtype == torch.bool and calls[0]["is_causal"] is False
    assert mask.any(-1).all(), "right padding + causal mask: every query row sees at least one key"
    lengths = padded["attention_mask"].sum(1)
    for i, n in enumerate(lengths.tolist()):
        assert not mask[i, 0, :, n:].any(), "no query attends to a pad key"

    calls.clear()
    _forward(trainer, trainer.data_collator(examples[:1]))  # no padding in the micro-batch
    assert calls[0]["mask"] is None and calls[0]["is_causal"] is True

    calls.clear()
    flat, _ = build_trainer(*train_cfg(built, tiny, tmp_path / "flat", padding_free=True))
    batch = flat.data_collator(list(flat.train_dataset)[:3])
    _forward(flat, batch)
    mask = calls[0]["mask"]
    assert mask is not None and mask.shape[-1] == batch["input_ids"].shape[1]  # explicit, block-diagonal
    first = len(examples[0]["input_ids"])
    assert not mask[0, 0, first:, :first].any(), "a packed sequence must not see the one before it"


def test_padding_free_training_runs_and_is_logged(built, tiny, tmp_path):
    from train.sft import run_sft

    log = run_sft(*train_cfg(built, tiny, tmp_path / "run", max_steps=2, padding_free=True, eval=False))
    assert log["status"] == "ok" and log["batching"]["padding_free"] and log["batching"]["padding_side"] == "none"
    assert all(e["loss"] == e["loss"] for e in log["train_loss"])
