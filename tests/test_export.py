"""`finsynth export`: every format loads back to exactly the built rows; LLaMA-Factory files are complete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from train_helpers import write_built

from finsynth.cli import main
from finsynth.export import FORMATS, built_texts, export, from_format, load_back, to_format
from finsynth.io import read_jsonl


@pytest.fixture()
def built(tmp_path):
    return write_built(tmp_path / "built")


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_loads_back_to_built_rows(built, tmp_path, fmt):
    result = export(built, fmt, tmp_path / fmt)
    assert set(result["files"]) == {"train", "val", "test"}
    back = load_back(tmp_path / fmt, fmt)
    expected = built_texts(built)
    assert back == expected
    # the texts really are the built prompt: system prompt, 【章节标题】 user turn, JSON reply
    for _id, system, user, assistant in back["train"]:
        assert system.startswith("你是一位金融研报指标提取专家")
        assert user.startswith("【章节标题】") and "【段落内容】" in user
        assert list(json.loads(assistant)) == ["analysis", "metrics"]


def test_formats_have_their_fields(built):
    row = read_jsonl(built / "train.jsonl")[0]
    assert [m["role"] for m in to_format(row, "messages")["messages"]] == ["system", "user", "assistant"]
    alpaca = to_format(row, "alpaca")
    assert set(alpaca) == {"id", "instruction", "input", "output", "system"}
    share = to_format(row, "sharegpt")
    assert [t["from"] for t in share["conversations"]] == ["human", "gpt"]
    for fmt in ("messages", "alpaca", "sharegpt"):
        assert from_format(to_format(row, fmt), fmt)[0] == row["id"]
    with pytest.raises(ValueError, match="unknown export format"):
        to_format(row, "csv")


def test_llamafactory_setup(built, tmp_path):
    out = tmp_path / "lf"
    assert main(["export", str(built), "--to", "llamafactory", "--out", str(out), "--model", "/models/Qwen3-14B"]) == 0
    info = json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))
    assert set(info) == {"finsynth_train", "finsynth_val", "finsynth_test"}
    for entry in info.values():
        assert (out / entry["file_name"]).is_file()
        assert entry["formatting"] == "sharegpt" and entry["columns"] == {"messages": "messages"}
        assert entry["tags"]["system_tag"] == "system"
    cfg = yaml.safe_load((out / "qwen3_lora_sft_8bit.yaml").read_text(encoding="utf-8"))
    assert cfg["model_name_or_path"] == "/models/Qwen3-14B"
    assert cfg["template"] == "qwen3" and cfg["enable_thinking"] is False and cfg["train_on_prompt"] is False
    assert cfg["quantization_bit"] == 8 and cfg["quantization_method"] == "bnb"
    assert (cfg["lora_rank"], cfg["lora_alpha"], cfg["lora_dropout"]) == (16, 32, 0.05)
    # one source: the shipped finsynth/reference.yaml, which train sft's defaults read too
    pytest.importorskip("trl")
    from train.config import parse_sft

    ref, _ = parse_sft(model="m")
    assert (ref.lora_r, ref.lora_alpha, ref.lora_dropout) == (cfg["lora_rank"], cfg["lora_alpha"], cfg["lora_dropout"])
    assert ",".join(ref.target_modules) == cfg["lora_target"]
    assert set(cfg["lora_target"].split(",")) == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }
    assert cfg["dataset"] == "finsynth_train" and cfg["eval_dataset"] == "finsynth_val"
    assert (
        cfg["dataset"] in info and cfg["dataset_dir"] == str(out.resolve()) and Path(cfg["dataset_dir"]).is_absolute()
    )
    assert cfg["trust_remote_code"] is False
    assert (cfg["per_device_train_batch_size"], cfg["gradient_accumulation_steps"]) == (2, 8)
    assert cfg["optim"] == "paged_adamw_8bit" and cfg["num_train_epochs"] == 5


def test_train_sft_defaults_agree_with_the_llamafactory_yaml(built, tmp_path):
    """Every reference hyperparameter: the same in `train sft`'s defaults and the exported YAML; the only
    departures are `train sft`'s micro-batch split (same effective batch) and its `auto` checkpointing."""
    pytest.importorskip("trl")
    from finsynth.export import LF_TRAINING_NAMES, TRAINING
    from train.config import parse_sft

    out = tmp_path / "lf"
    export(built, "llamafactory", out)
    cfg = yaml.safe_load((out / "qwen3_lora_sft_8bit.yaml").read_text(encoding="utf-8"))
    ours, sft = parse_sft(model="m")
    assert {
        "learning_rate",
        "num_train_epochs",
        "lr_scheduler_type",
        "warmup_steps",
        "max_grad_norm",
        "optim",
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "bf16",
        "seed",
    } <= set(TRAINING)
    departures = {"per_device_train_batch_size", "gradient_accumulation_steps", "gradient_checkpointing"}
    for key, value in TRAINING.items():
        assert cfg[LF_TRAINING_NAMES.get(key, key)] == value, key
        if key not in departures:
            got = getattr(sft, key)
            assert getattr(got, "value", got) == value, key
    assert (
        sft.per_device_train_batch_size * sft.gradient_accumulation_steps
        == cfg["per_device_train_batch_size"] * cfg["gradient_accumulation_steps"]
    )
    assert ours.gradient_checkpointing == "auto" and cfg["gradient_checkpointing"] is True


def test_export_default_dir_and_missing_data(built, tmp_path):
    result = export(built, "messages")
    assert result["out"] == str(built / "export" / "messages")
    assert main(["export", str(tmp_path / "nothing"), "--to", "alpaca"]) == 2
