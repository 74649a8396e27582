"""`python -m train grpo` on CPU with the tiny local Qwen3: trl's parser, the rows, the reward curves, a run.

The rewards themselves are tested in test_rewards.py; here a few GRPO steps run end to end (from a fresh
LoRA and from an SFT adapter) and write the same run log as `sft` plus the per-component reward curves.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

from train_helpers import train_cfg

from finsynth.io import read_jsonl, write_jsonl_atomic
from train.config import ConfigError
from train.grpo import GRPO_DEFAULTS, grpo_rows, paragraph_of, parse, reward_curves

REPO = Path(__file__).resolve().parents[1]


def _tiny_grpo_argv(built: Path, tiny: Path, out: Path, *extra: str) -> list[str]:
    return ["--data", str(built), "--model", str(tiny), "--output_dir", str(out), "--max_steps", "2",
            "--num_generations", "2", "--per_device_train_batch_size", "4", "--max_completion_length", "12",
            "--learning_rate", "1e-3", *extra]


def test_rows_carry_the_reward_columns(built):
    rows = read_jsonl(built / "train.jsonl")
    out = grpo_rows(rows, "extraction")
    assert len(out) == len(rows)
    first = out[0]
    assert first["prompt"] == rows[0]["prompt"] and first["sample_type"] == rows[0]["type"]
    assert json.loads(first["gold"]) == json.loads(rows[0]["completion"][-1]["content"])
    # the paragraph is the user turn's text after 【段落内容】, exactly as the build rendered it
    user = rows[0]["prompt"][-1]["content"]
    assert first["paragraph"] == user.split("【段落内容】", 1)[1]
    assert paragraph_of([{"role": "user", "content": "no marker"}]) == "no marker"
    qa = grpo_rows([{"prompt": [{"role": "user", "content": "q"}], "answer": 12.5, "scale": "million"}], "qa")
    assert qa == [{"prompt": [{"role": "user", "content": "q"}], "answer": "12.5", "scale": "million", "kind": None}]
    spans = grpo_rows([{"prompt": [], "answer": ["a", "b"], "kind": "multi-span"}], "qa")[0]
    assert (spans["answer"], spans["kind"]) == ('["a", "b"]', "multi-span")


def test_rows_missing_the_reward_column_name_the_row(built):
    from finsynth.io import InputError

    with pytest.raises(InputError, match=r"row 1 .*no `answer`"):
        grpo_rows(read_jsonl(built / "train.jsonl"), "qa")
    with pytest.raises(InputError, match=r"row 1 .*no `completion`"):
        grpo_rows([{"id": "x", "prompt": [], "answer": "1"}], "extraction")


def test_reward_curves_per_component_and_total():
    history = [
        {"step": 1, "reward": 0.5, "reward_std": 0.1, "rewards/name_f1/mean": 0.4, "rewards/name_f1/std": 0.2,
         "rewards/json_valid/mean": 1.0, "loss": 0.01},
        {"step": 2, "reward": 0.7, "rewards/name_f1/mean": 0.6, "rewards/json_valid/mean": 1.0},
        {"step": 2, "train_runtime": 3.0},
    ]
    curves = reward_curves(history)
    assert set(curves) == {"total", "name_f1", "json_valid"}
    assert curves["total"] == [{"step": 1, "mean": 0.5, "std": 0.1}, {"step": 2, "mean": 0.7}]
    assert curves["name_f1"][0] == {"step": 1, "mean": 0.4, "std": 0.2}
    assert [p["mean"] for p in curves["json_valid"]] == [1.0, 1.0]


def test_parse_uses_trl_flags_yaml_and_our_defaults(built, tiny, tmp_path):
    ours, config = parse(["--data", str(built), "--model", str(tiny)])
    assert config.num_generations == GRPO_DEFAULTS["num_generations"]
    assert config.max_completion_length == GRPO_DEFAULTS["max_completion_length"]
    assert config.chat_template_kwargs == {"enable_thinking": False}
    assert ours.reward == "extraction" and ours.adapter is None
    yaml = tmp_path / "grpo.yaml"
    yaml.write_text("learning_rate: 3.0e-6\nnum_generations: 4\nreward: qa\n", encoding="utf-8")
    qa_dir = tmp_path / "qa"
    write_jsonl_atomic(qa_dir / "train.jsonl", [{"prompt": [{"role": "user", "content": "q"}], "answer": "1"}])
    ours, config = parse(["--config", str(yaml), "--data", str(qa_dir), "--model", str(tiny),
                          "--num-generations", "2"])  # a flag beats the YAML; dashes work as trl allows
    assert (config.learning_rate, config.num_generations, ours.reward) == (3e-6, 2, "qa")


@pytest.mark.parametrize(("argv", "message"), [
    (["--data", "{built}"], "--model is required"),
    (["--data", "{built}", "--model", "{tiny}", "--reward", "chat"], "--reward must be one of"),
    (["--data", "{tmp}", "--model", "{tiny}"], "no train.jsonl there"),
    (["--data", "{built}", "--model", "{tiny}", "--adapter", "{tmp}/none"], "--adapter"),
])
def test_bad_arguments_are_user_errors(built, tiny, tmp_path, argv, message):
    from finsynth.io import UserError

    argv = [a.format(built=built, tiny=tiny, tmp=tmp_path) for a in argv]
    with pytest.raises((ConfigError, UserError), match=message):
        parse(argv)


def test_cli_error_is_one_line_exit_2(built, tmp_path):
    done = subprocess.run([sys.executable, "-m", "train", "grpo", "--data", str(built), "--model",
                           str(tmp_path / "missing")], capture_output=True, text=True, cwd=REPO, check=False)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--model" in errors[0] and "no such directory" in errors[0]
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_grpo_from_fresh_lora_and_from_sft_adapter(built, tiny, tmp_path):
    from train import sft
    from train.cli import main
    from train.grpo import run_grpo

    ours, config = parse(_tiny_grpo_argv(built, tiny, tmp_path / "fresh"))
    log = run_grpo(ours, config)
    assert log["status"] == "ok" and log["global_steps"] == 2
    saved = json.loads((tmp_path / "fresh" / "run_log.json").read_text(encoding="utf-8"))
    assert saved["reward_functions"] == log["reward_functions"] and len(saved["reward_functions"]) >= 4
    # one curve per reward component plus the weighted total, a point per optimiser step
    assert set(saved["reward_curves"]) == {*saved["reward_functions"], "total"}
    assert all(len(points) == 2 for points in saved["reward_curves"].values())
    assert len(saved["config"]["reward_weights"]) == len(saved["reward_functions"])
    assert (tmp_path / "fresh" / "adapter" / "adapter_config.json").is_file()
    assert saved["train_loss"] and all(p["loss"] is not None for p in saved["train_loss"])

    sft.run_sft(*train_cfg(built, tiny, tmp_path / "sft", max_steps=1, eval=False))
    adapter = tmp_path / "sft" / "adapter"
    assert main(["grpo", *_tiny_grpo_argv(built, tiny, tmp_path / "cont", "--adapter", str(adapter))]) == 0
    cont = json.loads((tmp_path / "cont" / "run_log.json").read_text(encoding="utf-8"))
    assert cont["started_from"] == str(adapter)
    # The continued adapter starts from the SFT weights, not a fresh LoRA (whose B matrices are zero). The random
    # tiny model earns the same reward on every completion, so every advantage is 0 and GRPO must leave the
    # weights exactly where SFT put them (Adam with zero gradients and no weight decay does not move them).
    from safetensors.torch import load_file

    sft_weights = load_file(str(adapter / "adapter_model.safetensors"))
    continued = load_file(str(tmp_path / "cont" / "adapter" / "adapter_model.safetensors"))
    fresh = load_file(str(tmp_path / "fresh" / "adapter" / "adapter_model.safetensors"))
    assert set(sft_weights) == set(continued) == set(fresh)
    lora_b = [k for k in sft_weights if "lora_B" in k]
    assert lora_b and any(bool(sft_weights[k].abs().sum() > 0) for k in lora_b)
    assert all(bool((sft_weights[k] == continued[k]).all()) for k in sft_weights)
    assert all(bool((fresh[k] == 0).all()) for k in lora_b)


@pytest.mark.slow
def test_grpo_on_verified_table_qa_rows(tiny, tmp_path):
    """`--reward qa` end to end: the offline table generator's samples -> `qa judge`'s GRPO rows -> GRPO steps."""
    from finsynth.qa.export import grpo_row
    from finsynth.qa.schema import Source, Table
    from finsynth.qa.tables import table_questions
    from train.grpo import run_grpo

    table = Table.from_rows([["", "2024", "2023"], ["Revenue", "1,250", "1,000"], ["Cost", "(800)", "(700)"]],
                            id="t1")
    samples, _ = table_questions(table, source=Source(file="inline"), languages=("en",), id_prefix="t1")
    assert samples
    data = tmp_path / "grpo"
    write_jsonl_atomic(data / "train.jsonl", [grpo_row(s) for s in samples])
    ours, config = parse(_tiny_grpo_argv(data, tiny, tmp_path / "qa-run", "--reward", "qa"))
    log = run_grpo(ours, config)
    assert log["status"] == "ok" and log["reward_functions"] == ["qa_exact"]
    assert set(log["reward_curves"]) == {"qa_exact", "total"}
    assert log["rows"] == {"train": len(samples)}
