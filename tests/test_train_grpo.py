"""`python -m train grpo` on CPU with the tiny local Qwen3: trl's parser, the rows, the reward curves, a run.

The rewards themselves are tested in test_rewards.py; here a few GRPO steps run end to end (from a fresh
LoRA and from an SFT adapter) and write the same run log as `sft` plus the per-component reward curves.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

from train_helpers import train_cfg

from finsynth.io import read_jsonl, write_jsonl_atomic
from train.config import ConfigError
from train.grpo import GRPO_DEFAULTS, dataset_rows, grpo_rows, paragraph_of, parse, reward_curves

REPO = Path(__file__).resolve().parents[1]


def _tiny_grpo_argv(built: Path, tiny: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--data",
        str(built),
        "--model",
        str(tiny),
        "--output_dir",
        str(out),
        "--max_steps",
        "2",
        "--num_generations",
        "2",
        "--per_device_train_batch_size",
        "4",
        "--max_completion_length",
        "12",
        "--gradient_accumulation_steps",
        "1",
        "--learning_rate",
        "1e-3",
        *extra,
    ]


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
    # the dataset trl trains on carries each row's id too (the recorded samples name their row)
    assert [r["id"] for r in dataset_rows(rows, "extraction")] == [r["id"] for r in rows]
    assert dataset_rows([{"prompt": [], "answer": "1"}], "qa")[0]["id"] == "row-1"
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
        {
            "step": 1,
            "reward": 0.5,
            "reward_std": 0.1,
            "rewards/name_f1/mean": 0.4,
            "rewards/name_f1/std": 0.2,
            "rewards/json_valid/mean": 1.0,
            "loss": 0.01,
        },
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
    ours, config = parse(
        ["--config", str(yaml), "--data", str(qa_dir), "--model", str(tiny), "--num-generations", "2"]
    )  # a flag beats the YAML; dashes work as trl allows
    assert (config.learning_rate, config.num_generations, ours.reward) == (3e-6, 2, "qa")


def test_parse_model_lora_and_quant_are_trls_model_config(built, tiny):
    """`GRPOArguments` is trl's `ModelConfig` as `train sft`'s are: trl's flags and the old spellings."""
    from trl import ModelConfig

    ours, _ = parse(["--data", str(built), "--model", str(tiny), "--target_modules", "q_proj", "--lora-r", "8"])
    assert isinstance(ours, ModelConfig) and (ours.target_modules, ours.lora_r, ours.quant) == (["q_proj"], 8, "none")
    assert (ours.load_in_8bit, ours.load_in_4bit, ours.model_name_or_path) == (False, False, str(tiny))
    ours, _ = parse(["--data", str(built), "--model_name_or_path", str(tiny), "--quant", "4bit"])
    assert (ours.model, ours.load_in_4bit) == (str(tiny), True)
    with pytest.raises(ConfigError, match="quant"):
        parse(["--data", str(built), "--model", str(tiny), "--quant", "3bit"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--data", "{built}"], "--model is required"),
        (["--data", "{built}", "--model", "{tiny}", "--reward", "chat"], "--reward must be one of"),
        (["--data", "{tmp}", "--model", "{tiny}"], "no train.jsonl there"),
        (["--data", "{built}", "--model", "{tiny}", "--adapter", "{tmp}/none"], "--adapter"),
        (["--data", "{built}", "--model", "{tiny}", "--prompts", "{tmp}"], "--prompts .*no train.jsonl there"),
        (["--data", "{built}", "--model", "{tiny}", "--val_matcher", "embedding"], "--val_matcher must be one of"),
        (["--data", "{built}", "--model", "{tiny}", "--val_steps", "-1"], "--val_steps must be at least 0"),
        (["--data", "{built}", "--model", "{tiny}", "--val_patience", "0"], "--val_patience must be at least 1"),
    ],
)
def test_bad_arguments_are_user_errors(built, tiny, tmp_path, argv, message):
    from finsynth.io import UserError

    argv = [a.format(built=built, tiny=tiny, tmp=tmp_path) for a in argv]
    with pytest.raises((ConfigError, UserError), match=message):
        parse(argv)


def test_cli_error_is_one_line_exit_2(built, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "train", "grpo", "--data", str(built), "--model", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--model" in errors[0] and "no such directory" in errors[0]
    assert "Traceback" not in done.stderr


def test_no_usable_prompts_is_one_line_exit_2(built, tiny, tmp_path, capsys):
    """A run on no prompts used to exit 0 with `status: ok`, `global_steps: 0` and an adapter."""
    from train.cli import main

    empty = tmp_path / "empty"
    write_jsonl_atomic(empty / "train.jsonl", [])
    (empty / "val.jsonl").write_text((built / "val.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    qa = tmp_path / "qa"
    write_jsonl_atomic(qa / "train.jsonl", [])  # what `qa judge` writes when nothing reaches the RL split
    cases = [
        ([], "the file has 0 rows", "finsynth build"),
        (["--reward", "qa"], "the file has 0 rows", "--rl-include-sft"),
        (["--limit", "0"], "--limit 0 of", "finsynth build"),
    ]
    for extra, why, hint in cases:
        data = qa if "qa" in extra else (built if "--limit" in extra else empty)
        out = tmp_path / f"out{len(extra)}"
        code = main(["grpo", "--data", str(data), "--model", str(tiny), "--output_dir", str(out), *extra])
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
        assert code == 2, extra
        assert len(errors) == 1 and str(data / "train.jsonl") in errors[0], errors
        assert "no usable prompts" in errors[0] and why in errors[0] and hint in errors[0]
        assert not (out / "run_log.json").exists() and not (out / "adapter").exists()


def test_the_guard_refuses_several_processes(built, tiny, tmp_path, monkeypatch):
    from trl import GRPOConfig

    from train.grpo import run_grpo

    ours, config = parse(_tiny_grpo_argv(built, tiny, tmp_path / "ddp"))
    monkeypatch.setattr(GRPOConfig, "world_size", property(lambda self: 2))
    with pytest.raises(ConfigError, match="validation guard runs in one process, not 2"):
        run_grpo(ours, config)


def test_prompts_near_duplicating_validation_are_dropped(built):
    from train.grpo import drop_validation_leaks

    train = read_jsonl(built / "train.jsonl")
    val = read_jsonl(built / "val.jsonl")
    kept, dropped = drop_validation_leaks(train + val[:1], val)
    assert kept == train and dropped == [val[0]["id"]]
    assert drop_validation_leaks(train, []) == (train, [])


@pytest.fixture(scope="module")
def sft_adapter(built, tiny, tmp_path_factory) -> Path:
    """One SFT step on the tiny model at a high rate: an adapter whose LoRA B matrices are not zero."""
    from train import sft

    out = tmp_path_factory.mktemp("sft")
    sft.run_sft(*train_cfg(built, tiny, out, max_steps=1, eval=False))
    return out / "adapter"


def _varying_reward(monkeypatch) -> None:
    """The tiny random model earns the same finsynth reward on every completion (nothing parses), so every advantage
    is 0 and GRPO never moves the weights; a reward that tells completions apart (their length) makes it move."""
    import finsynth.eval.rewards as rewards

    def length(prompts=None, completions=(), **_):
        return [float(len(rewards.completion_text(c))) for c in completions]

    monkeypatch.setattr(rewards, "trl_reward_functions", lambda task, weights=None: ([length], [1.0]))


def _lora(model) -> dict[str, Any]:
    """The trainable adapter's tensors under the names `save_pretrained` writes."""
    return {
        name.replace(".default", ""): p.detach().clone()
        for name, p in model.named_parameters()
        if "lora_" in name and ".default." in name
    }


class ScriptedValidation:
    """Stands in for `train.validation.evaluate_policy`: the scores the test wants, in order, and the adapter's
    weights at each evaluation (what the guard may have to keep)."""

    def __init__(self, scores: list[float]) -> None:
        self.scores = scores
        self.weights: dict[int, dict[str, Any]] = {}

    def __call__(self, model, tokenizer, rows, *, task, matcher, max_new_tokens, batch_size, step):
        from train.validation import Evaluation

        self.weights[step] = _lora(model)
        return Evaluation(step=step, score=self.scores[len(self.weights) - 1], tiebreak=0.0, details={"n": len(rows)})


def _adapter_weights(directory: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(directory / "adapter_model.safetensors"))


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return set(a) == set(b) and all(bool((a[k] == b[k]).all()) for k in a)


@pytest.mark.slow
def test_grpo_from_fresh_lora_and_from_sft_adapter(built, tiny, sft_adapter, tmp_path):
    from train.cli import main
    from train.grpo import run_grpo

    ours, config = parse(_tiny_grpo_argv(built, tiny, tmp_path / "fresh"))
    log = run_grpo(ours, config)
    assert log["global_steps"] == 2
    saved = json.loads((tmp_path / "fresh" / "run_log.json").read_text(encoding="utf-8"))
    assert saved["reward_functions"] == log["reward_functions"] and len(saved["reward_functions"]) >= 4
    # one curve per reward component plus the weighted total, a point per optimiser step
    assert set(saved["reward_curves"]) == {*saved["reward_functions"], "total"}
    assert all(len(points) == 2 for points in saved["reward_curves"].values())
    assert len(saved["config"]["reward_weights"]) == len(saved["reward_functions"])
    assert (tmp_path / "fresh" / "adapter" / "adapter_config.json").is_file()
    assert saved["train_loss"] and all(p["loss"] is not None for p in saved["train_loss"])
    # the guard decoded the validation split at step 0 and at the last step, scored as `finsynth eval` scores
    assert [v["step"] for v in saved["validation"]] == [0, 2]
    first = saved["validation"][0]
    assert first["n"] == len(read_jsonl(built / "val.jsonl")) and first["matcher"] == "reference"
    assert {"strict", "loose", "total", "f1", "mean_pred_count", "by_type"} <= set(first)
    assert first["score"] == first["total"]
    # the random model scores the same at every evaluation: nothing beat the start, which the run says and keeps
    assert saved["status"] == "kept_start" and saved["guard"]["kept_start"] and saved["guard"]["best_step"] == 0
    assert "nothing better" in saved["guard"]["decision"]
    # sampled completions with every reward component, at step 1 (of --sample_steps 1 5 10)
    assert [s["step"] for s in saved["samples"]] == [1]
    sample = saved["samples"][0]["completions"][0]
    assert set(sample["rewards"]) == set(saved["reward_functions"]) and isinstance(sample["completion"], str)
    assert sample["id"] in {r["id"] for r in read_jsonl(built / "train.jsonl")}
    assert saved["completion_tokens_per_second"] > 0
    assert [p["step"] for p in saved["policy_curve"]] == [1, 2]

    assert main(["grpo", *_tiny_grpo_argv(built, tiny, tmp_path / "cont", "--adapter", str(sft_adapter))]) == 0
    cont = json.loads((tmp_path / "cont" / "run_log.json").read_text(encoding="utf-8"))
    assert cont["started_from"] == str(sft_adapter)
    # the continued run kept the SFT adapter itself: file for file
    assert cont["status"] == "kept_start"
    kept = tmp_path / "cont" / "adapter"
    assert sorted(p.name for p in kept.iterdir()) == sorted(p.name for p in sft_adapter.iterdir())
    assert all((kept / p.name).read_bytes() == p.read_bytes() for p in sft_adapter.iterdir() if p.is_file())
    fresh = _adapter_weights(tmp_path / "fresh" / "adapter")
    lora_b = [k for k in fresh if "lora_B" in k]
    assert lora_b and all(bool((fresh[k] == 0).all()) for k in lora_b)
    assert any(bool(_adapter_weights(kept)[k].abs().sum() > 0) for k in lora_b)


@pytest.mark.slow
def test_the_kl_reference_is_the_sft_policy(built, tiny, sft_adapter, tmp_path, monkeypatch):
    """With an SFT adapter the KL term anchors to the SFT policy, not to the base (what peft's 'adapters disabled'
    would give): trl's logged KL is 0 at the first step, and the reference's logits are the SFT model's."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.trainer.utils import use_adapter

    from train import grpo

    _varying_reward(monkeypatch)
    captured = {}
    check = grpo.check_reference

    def spy(trainer, ours, beta):
        captured["trainer"] = trainer
        return check(trainer, ours, beta)

    monkeypatch.setattr(grpo, "check_reference", spy)
    out = tmp_path / "kl"
    ours, config = parse(
        _tiny_grpo_argv(
            built,
            tiny,
            out,
            "--adapter",
            str(sft_adapter),
            "--learning_rate",
            "1e-2",
            "--warmup_steps",
            "0",
            "--val_steps",
            "0",
        )
    )
    assert config.beta == GRPO_DEFAULTS["beta"] > 0 and config.disable_dropout
    log = grpo.run_grpo(ours, config)
    assert log["kl_reference"].startswith("the SFT adapter")
    kl = [p["kl"] for p in log["policy_curve"]]
    assert kl[0] == pytest.approx(0.0, abs=1e-6)  # step 1: the policy is the SFT adapter, and so is the reference
    assert kl[1] > 1e-6  # step 2: the policy moved, the reference did not
    model = captured["trainer"].model
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    ids = tokenizer(["毛利率为41.2%，较上年提升1.5个百分点。"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        with use_adapter(model, "ref"):
            reference = model(input_ids=ids).logits
        policy = model(input_ids=ids).logits
        sft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny), str(sft_adapter)).eval()
        sft_logits = sft_model(input_ids=ids).logits
        base_logits = AutoModelForCausalLM.from_pretrained(tiny).eval()(input_ids=ids).logits
    assert torch.allclose(reference, sft_logits, atol=1e-5)
    assert not torch.allclose(reference, base_logits, atol=1e-3)
    assert not torch.allclose(policy, sft_logits, atol=1e-5)
    # the frozen copy is not part of the result
    assert not (out / "adapter" / "ref").exists()
    assert set(_adapter_weights(out / "adapter")) == set(_adapter_weights(sft_adapter))


@pytest.mark.slow
def test_the_guard_keeps_sft_when_grpo_makes_validation_worse(built, tiny, sft_adapter, tmp_path, monkeypatch):
    from train import validation
    from train.grpo import run_grpo

    _varying_reward(monkeypatch)
    scripted = ScriptedValidation([10, 9, 8, 7, 6, 5])
    monkeypatch.setattr(validation, "evaluate_policy", scripted)
    out = tmp_path / "worse"
    ours, config = parse(
        _tiny_grpo_argv(
            built,
            tiny,
            out,
            "--adapter",
            str(sft_adapter),
            "--max_steps",
            "6",
            "--val_steps",
            "1",
            "--learning_rate",
            "1e-2",
            "--warmup_steps",
            "0",
        )
    )
    log = run_grpo(ours, config)
    # three falls in a row below the start (--val_patience 3): stopped after step 3 of 6
    assert [v["step"] for v in log["validation"]] == [0, 1, 2, 3] and log["global_steps"] == 3
    assert "fell 3 evaluations in a row" in log["stopped_early"]
    # GRPO did move the adapter, and the run kept the SFT adapter instead, file for file, and says so
    assert not _same(scripted.weights[3], scripted.weights[0])
    assert log["status"] == "kept_start" and log["guard"]["best_step"] == 0
    assert "nothing better than the SFT adapter" in log["guard"]["decision"]
    kept = out / "adapter"
    assert all((kept / p.name).read_bytes() == p.read_bytes() for p in sft_adapter.iterdir() if p.is_file())
    assert _same(_adapter_weights(kept), _adapter_weights(sft_adapter))


@pytest.mark.slow
def test_the_guard_keeps_the_best_checkpoint_and_stops_after_k_falls(built, tiny, sft_adapter, tmp_path, monkeypatch):
    from train import validation
    from train.grpo import run_grpo

    _varying_reward(monkeypatch)
    scripted = ScriptedValidation([5, 6, 7, 7, 6, 5, 4, 9, 9, 9, 9])
    monkeypatch.setattr(validation, "evaluate_policy", scripted)
    out = tmp_path / "best"
    ours, config = parse(
        _tiny_grpo_argv(
            built,
            tiny,
            out,
            "--adapter",
            str(sft_adapter),
            "--max_steps",
            "10",
            "--val_steps",
            "1",
            "--learning_rate",
            "1e-2",
            "--warmup_steps",
            "0",
        )
    )
    log = run_grpo(ours, config)
    # a tie (step 3) is no fall and no new best; steps 4-6 fall below the best of step 2: stopped after step 6
    assert [(v["step"], v["score"]) for v in log["validation"]] == [
        (0, 5),
        (1, 6),
        (2, 7),
        (3, 7),
        (4, 6),
        (5, 5),
        (6, 4),
    ]
    assert log["global_steps"] == 6 and "stopped after step 6" in log["stopped_early"]
    assert log["status"] == "ok" and log["guard"]["best_step"] == 2 and log["guard"]["best"]["score"] == 7
    kept = _adapter_weights(out / "adapter")
    assert _same(kept, scripted.weights[2]) and not _same(kept, scripted.weights[6])
    assert not (out / "best").exists()  # OUT/adapter is the best checkpoint


@pytest.mark.slow
def test_grpo_on_verified_table_qa_rows(tiny, tmp_path):
    """`--reward qa` end to end: the offline table generator's samples -> `qa judge`'s GRPO rows -> GRPO steps."""
    from finsynth.qa.export import grpo_row
    from finsynth.qa.schema import Source, Table
    from finsynth.qa.tables import table_questions
    from train.grpo import run_grpo

    table = Table.from_rows([["", "2024", "2023"], ["Revenue", "1,250", "1,000"], ["Cost", "(800)", "(700)"]], id="t1")
    samples, _ = table_questions(table, source=Source(file="inline"), languages=("en",), id_prefix="t1")
    assert samples
    data = tmp_path / "grpo"
    write_jsonl_atomic(data / "train.jsonl", [grpo_row(s) for s in samples])
    ours, config = parse(_tiny_grpo_argv(data, tiny, tmp_path / "qa-run", "--reward", "qa"))
    log = run_grpo(ours, config)
    assert log["status"] == "ok" and log["reward_functions"] == ["qa_exact"]
    assert set(log["reward_curves"]) == {"qa_exact", "total"}
    assert log["rows"] == {"train": len(samples), "validation": 0, "dropped_validation_leaks": 0}
    # `qa judge` writes no validation split: the guard is off, and the run log says why
    assert log["guard"] == {
        "enabled": False,
        "reason": f"{data / 'val.jsonl'}: no validation rows; the validation guard is off",
    }


def test_grpo_outcome_summary_checks_the_issue_targets():
    """benchmarks/grpo_outcome.py's summary over seeds: paired differences and issue 25's three targets."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from grpo_outcome import summary

    def table(seed, sft, grpo, sft_ratio, grpo_ratio, status="ok"):
        return {
            "seed": seed,
            "rows": [
                {"total": sft, "count_ratio": sft_ratio},
                {"status": "ok", "grpo_status": status, "total": grpo, "count_ratio": grpo_ratio},
            ],
        }

    met = summary([table(0, 23, 26, 1.15, 1.0), table(1, 24, 25, 1.2, 1.2, "kept_start")])
    assert (met["sft_total_mean"], met["grpo_total_mean"], met["delta_per_seed"]) == (23.5, 25.5, [3, 1])
    assert met["targets"] == {
        "mean_at_least_sft_plus_2": True,
        "no_seed_below_sft_minus_1": True,
        "count_ratio_not_higher": True,
    }
    assert met["kept_sft_seeds"] == [1]
    missed = summary([table(0, 23, 4, 1.15, 2.0), table(1, 24, 30, 1.2, 1.1)])
    assert missed["targets"] == {
        "mean_at_least_sft_plus_2": False,
        "no_seed_below_sft_minus_1": False,
        "count_ratio_not_higher": False,
    }
    assert summary([]) == {"seeds": [], "note": "no finished seed"}


def test_validation_scores_replies_as_finsynth_eval_does(built):
    """The guard's scores: the gold replies of the validation rows are all strict, a reply with one metric more is
    loose under the reference matcher, an unreadable one fails; per type too. QA rows score by qa_exact."""
    from train.validation import score_extraction, score_qa

    rows = read_jsonl(built / "val.jsonl")
    gold = [r["completion"][-1]["content"] for r in rows]
    score, f1, details = score_extraction(rows, gold)
    assert (score, f1, details["strict"], details["n"]) == (len(rows), 1.0, len(rows), len(rows))
    assert details["count_ratio"] == 1.0 and set(details["by_type"]) == {r["type"] for r in rows}
    longer = json.loads(gold[0])
    longer["metrics"].append({"metric_name": "员工食堂满意度", "metric_type": "business", "score": 0.1, "reason": "x"})
    score, _, details = score_extraction(rows, [json.dumps(longer, ensure_ascii=False), "不是JSON"])
    assert (details["strict"], details["loose"], score) == (0, 1, 1)
    qa_rows = [
        {"prompt": [], "answer": "12.5", "scale": "million", "kind": "arithmetic"},
        {"prompt": [], "answer": "fixed-price type", "scale": "", "kind": "span"},
    ]
    score, exact, details = score_qa(qa_rows, ['{"answer": "12.5", "scale": "million"}', "cost-plus type"])
    assert (exact, details["n"]) == (1, 2) and 1.0 <= score < 2.0
