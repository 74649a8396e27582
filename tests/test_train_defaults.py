"""Defaults that follow the run: `infer --quant auto` from the adapter's run log (none without CUDA),
`--max-new-tokens` from measured reply lengths, gradient checkpointing / micro-batch from a memory estimate, and
help text for every flag with its choices. CPU, tiny model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

import torch
from train_helpers import train_cfg

from finsynth.io import read_jsonl
from train.config import ConfigError, InferConfig, parse_sft
from train.data import full_ids, load_split, prompt_ids
from train.infer import FALLBACK_MAX_NEW_TOKENS, resolve_max_new_tokens, resolve_quant


@pytest.fixture(scope="module")
def run(tmp_path_factory, built, tiny) -> Path:
    from train.sft import run_sft

    out = tmp_path_factory.mktemp("run")
    run_sft(*train_cfg(built, tiny, out, max_steps=1, eval=True))
    return out


def _adapter_with_log(root: Path, log: dict | None) -> str:
    adapter = root / "adapter"
    adapter.mkdir(parents=True)
    if log is not None:
        (root / "run_log.json").write_text(json.dumps(log), encoding="utf-8")
    return str(adapter)


@pytest.mark.parametrize(
    "quant, cuda, log, adapter, expected",
    [
        ("auto", False, {"config": {"quant": "4bit"}}, True, "none"),  # no CUDA: always none
        ("auto", True, {"config": {"quant": "4bit"}}, True, "4bit"),  # the quant it trained with
        ("auto", True, None, True, "8bit"),  # no run log: the training default
        ("auto", True, None, False, "none"),  # the bare base model
        ("8bit", False, None, True, "8bit"),  # given: kept (load_base_model then refuses it without CUDA)
    ],
)
def test_quant_auto(tmp_path, quant, cuda, log, adapter, expected):
    path = _adapter_with_log(tmp_path, log) if adapter else None
    got, why = resolve_quant(InferConfig(model="m", adapter=path, quant=quant), cuda)
    assert got == expected and why


def test_max_new_tokens_from_the_run_log_then_the_test_gold(run, built, tiny, tmp_path):
    from transformers import AutoTokenizer

    log = json.loads((run / "run_log.json").read_text(encoding="utf-8"))
    tok = AutoTokenizer.from_pretrained(tiny)
    replies = {
        s: [len(full_ids(tok, r)) - len(prompt_ids(tok, r)) for r in load_split(built, s)] for s in ("train", "val")
    }
    assert {s: log["lengths"][s]["reply_max"] for s in replies} == {s: max(v) for s, v in replies.items()}
    rows = read_jsonl(built / "test.jsonl")
    longest = max(max(v) for v in replies.values())
    n, why = resolve_max_new_tokens(InferConfig(model="m", adapter=str(run / "adapter")), None, rows)
    assert n == math.ceil(1.25 * longest) and "run_log.json" in why
    gold = max(len(full_ids(tok, r)) - len(prompt_ids(tok, r)) for r in rows)
    n, why = resolve_max_new_tokens(InferConfig(model="m", test="t.jsonl"), tok, rows)
    assert n == math.ceil(1.25 * gold) and "gold" in why
    assert resolve_max_new_tokens(InferConfig(model="m", max_new_tokens=7), tok, rows)[0] == 7
    assert resolve_max_new_tokens(InferConfig(model="m"), None, rows)[0] == FALLBACK_MAX_NEW_TOKENS
    with pytest.raises(ConfigError):
        InferConfig(model="m", max_new_tokens=0).validate()


@pytest.mark.slow
def test_infer_defaults_end_to_end_with_notices(run, built, tiny, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("CPU check: without CUDA, --quant auto is none")
    from train.cli import main

    out = tmp_path / "preds.jsonl"
    assert (
        main(
            [
                "infer",
                "--model",
                str(tiny),
                "--adapter",
                str(run / "adapter"),
                "--test",
                str(built / "test.jsonl"),
                "--out",
                str(out),
                "--limit",
                "1",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "notice: --quant auto -> none: no CUDA GPU" in err
    assert "notice: --max-new-tokens" in err and "run_log.json" in err
    log = json.loads(Path(str(out) + ".log.json").read_text(encoding="utf-8"))
    assert log["config"]["quant"] == "none" and log["config"]["max_new_tokens"] > 0
    assert "run_log.json" in log["resolved"]["max_new_tokens"]
    assert len(read_jsonl(out)) == 1


def _meta_model(kind: str):
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM

    if kind == "14b":
        config = Qwen3Config(
            hidden_size=5120,
            num_hidden_layers=40,
            num_attention_heads=40,
            num_key_value_heads=8,
            head_dim=128,
            intermediate_size=17408,
            vocab_size=151936,
            tie_word_embeddings=False,
        )
        cls = Qwen3ForCausalLM
    else:  # Qwen2.5-0.5B's shape
        config = Qwen2Config(
            hidden_size=896,
            num_hidden_layers=24,
            num_attention_heads=14,
            num_key_value_heads=2,
            intermediate_size=4864,
            vocab_size=151936,
            tie_word_embeddings=True,
        )
        cls = Qwen2ForCausalLM
    with torch.device("meta"):
        return cls(config).to(torch.bfloat16)


def test_memory_plan_decides_checkpointing_and_micro_batch():
    from train.sft import memory_plan

    gib = 2**30
    small, big = _meta_model("0.5b"), _meta_model("14b")
    fixed = {"model": "m", "auto_batch": False}
    plan = memory_plan(*parse_sft(**fixed), small, 800, 141 * gib)
    assert (plan["micro_batch"], plan["gradient_accumulation_steps"], plan["gradient_checkpointing"]) == (4, 4, False)
    plan = memory_plan(*parse_sft(**fixed), big, 800, 141 * gib)
    assert plan["gradient_checkpointing"] is True and plan["micro_batch"] == 4  # 14B bf16: too big without it
    plan = memory_plan(*parse_sft(model="m"), small, 800, 141 * gib)  # auto_batch is the default
    assert plan["micro_batch"] * plan["gradient_accumulation_steps"] == 16 and plan["micro_batch"] > 4
    assert plan["gradient_checkpointing"] is False
    assert plan["estimate_gib"] <= plan["budget_gib"]
    for setting, expected in (("on", True), ("off", False), (True, True), (False, False)):
        ours, config = parse_sft(model="m", gradient_checkpointing=setting)  # YAML booleans are accepted
        assert memory_plan(ours, config, small, 800, 141 * gib)["gradient_checkpointing"] is expected
    for flags, expected in (
        (["--gradient-checkpointing", "on"], "on"),
        (["--gradient_checkpointing", "false"], "off"),
        (["--no-gradient-checkpointing"], "off"),
        (["--gradient-checkpointing"], "on"),
        ([], "auto"),
    ):
        assert parse_sft(["--model", "m", *flags])[0].gradient_checkpointing == expected, flags
    plan = memory_plan(*parse_sft(model="m"), small, 800, None)  # no GPU: the configured micro-batch
    assert plan["gradient_checkpointing"] is False and plan["micro_batch"] == 4 and "no GPU" in plan["reason"]
    with pytest.raises(ConfigError, match="gradient_checkpointing"):
        parse_sft(model="m", gradient_checkpointing="sometimes")
    with pytest.raises(ConfigError, match="gradient_checkpointing"):
        parse_sft(["--model", "m", "--gradient-checkpointing", "sometimes"])


def test_infer_settings_are_validated():
    ok = InferConfig(model="m").validate()
    assert ok.merge_adapter is True and ok.batch_size >= 50 and ok.cache_implementation == "dynamic"
    with pytest.raises(ConfigError, match="cache_implementation"):
        InferConfig(model="m", cache_implementation="paged").validate()
    with pytest.raises(ConfigError, match="batch_size"):
        InferConfig(model="m", batch_size=0).validate()


def test_every_flag_has_help_and_choices_are_listed():
    import argparse
    import dataclasses

    from train.cli import build_parser
    from train.config import InferConfig, SFTArguments, infer_parser, sft_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {"sft", "infer", "tiny-model", "lengths", "bench", "nan-check"} <= set(sub.choices)
    for name in ("tiny-model", "lengths", "bench", "nan-check"):
        for action in sub.choices[name]._actions:
            if action.help != argparse.SUPPRESS:
                assert action.help and len(action.help) > 8, (name, action.dest)
    # sft and infer: their TrlParser; every flag of ours (and every alias of an old spelling) has help
    sft, infer = sft_parser(), infer_parser()
    ours = {f.name for f in dataclasses.fields(SFTArguments)} | {f.name for f in dataclasses.fields(InferConfig)}
    for p in (sft, infer):
        for action in p._actions:
            if action.dest in ours or action.default == argparse.SUPPRESS:
                assert action.help and len(action.help) > 8, action.option_strings
    sft_help = sft.format_help()
    for text in (
        "{8bit,4bit,none}",
        "{completion,full}",
        "{auto,on,off}",
        "--sdpa-cudnn",
        "--padding-free",
        "--auto-batch",
        "--no-eval",
        "--learning-rate",
        "--out ",
        "--no-bf16",
        "--no-group-by-length",
    ):
        assert text in sft_help, text
    infer_help = infer.format_help()
    assert "{auto,8bit,4bit,none}" in infer_help and "{transformers,vllm}" in infer_help
    assert "--no-merge-adapter" in infer_help and "--max-new-tokens" in infer_help


@pytest.mark.slow
def test_nan_check_cpu_smoke(built, tiny, tmp_path, capsys):
    """The GPU check's code path end to end on the tiny model (the kernel probe needs CUDA and says so)."""
    from train.cli import main
    from train.nan_check import _group_by_step

    assert _group_by_step(list(range(10)), 5, 2) == [[0, 1], [2, 3], [4], [5, 6], [7, 8], [9]]
    rc = main(
        [
            "nan-check",
            "--model",
            str(tiny),
            "--data",
            str(built),
            "--steps",
            "2",
            "--parts",
            "kernel",
            "new",
            "--work-dir",
            str(tmp_path / "w"),
        ]
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0, summary
    assert summary["verdict"]["new"]["finite"] is True and summary["verdict"]["new"]["nonpad_tokens_per_s"]
    new = next(p for p in summary["parts"] if p["part"] == "new")
    assert [s["step"] for s in new["steps"]][:2] == [1, 2] and all("loss" in s for s in new["steps"][:2])
    assert new["settings"]["sdpa_cudnn"] is False and new["settings"]["padding_side"] == "right"
    kernel = next(p for p in summary["parts"] if p["part"] == "kernel")
    assert ("skipped" in kernel) != torch.cuda.is_available()


LORA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def test_trl_model_config_flags_and_the_old_spellings(tmp_path):
    """`SFTArguments` is trl's `ModelConfig`: its flags work, and the old spellings land on the same fields."""
    from train.sft import lora_config

    ours, _ = parse_sft(["--model_name_or_path", "m", "--lora_target_modules", "q_proj", "--load_in_4bit", "true"])
    assert (ours.model, ours.quant, ours.target_modules) == ("m", "4bit", ["q_proj"])
    assert lora_config(ours).target_modules == {"q_proj"}  # a set of names, not trl's one-string regex
    ours, _ = parse_sft(["--model", "m", "--target-modules", "q_proj", "v_proj", "--quant", "none"])
    assert (ours.target_modules, ours.load_in_8bit, ours.load_in_4bit) == (["q_proj", "v_proj"], False, False)
    yml = tmp_path / "c.yaml"
    yml.write_text("target_modules: [o_proj]\ngroup_by_length: false\n", encoding="utf-8")
    ours, config = parse_sft(["--model", "m", f"--config={yml}"])
    assert ours.target_modules == ["o_proj"] and config.train_sampling_strategy == "random"
    with pytest.raises(ConfigError, match="use_peft"):
        parse_sft(["--model", "m", "--use_peft", "false"])
    # the run log's `config` keeps every key it had before trl's ModelConfig (readers: infer's quant auto, reports)
    from train.config import sft_record

    before = {"data", "model", "quant", "llm_int8_threshold", "lora_r", "lora_alpha", "lora_dropout", "target_modules"}
    before |= {"auto_batch", "loss", "eval", "resume", "attn_implementation", "sdpa_cudnn", "gradient_checkpointing"}
    record = sft_record(*parse_sft(model="m"))
    assert before <= set(record) and record["target_modules"] == list(LORA_MODULES) and record["quant"] == "8bit"


def test_trl_helpers_build_the_reference_quantisation_and_lora(monkeypatch, tmp_path):
    """`get_quantization_config` / `get_peft_config` give exactly the settings written out by hand before."""
    import os

    from peft import LoraConfig
    from transformers import BitsAndBytesConfig

    from train.sft import lora_config, quantization_config

    ours, _ = parse_sft(model="m", llm_int8_threshold=5.0)
    assert quantization_config(ours, ours.llm_int8_threshold).to_dict() == (
        BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=5.0).to_dict()
    )
    nf4 = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    ).to_dict()
    assert quantization_config(parse_sft(model="m", quant="4bit")[0]).to_dict() == nf4
    assert quantization_config("4bit").to_dict() == nf4 and quantization_config("none") is None
    modules = list(LORA_MODULES)
    reference = LoraConfig(
        r=16, lora_alpha=32, lora_dropout=0.05, target_modules=modules, bias="none", task_type="CAUSAL_LM"
    )
    assert lora_config(ours).to_dict() == reference.to_dict()

    from train.grpo import GRPOArguments

    assert lora_config(GRPOArguments(model="m")).to_dict() == reference.to_dict()  # train grpo's: the same
    # trl's `--config` reads the YAML's `env:` mapping into the environment
    monkeypatch.delenv("FINSYNTH_TRAINKIT_PROBE", raising=False)
    yml = tmp_path / "env.yaml"
    yml.write_text("env:\n  FINSYNTH_TRAINKIT_PROBE: on\nlora_r: 4\n", encoding="utf-8")
    assert parse_sft(["--model", "m", "--config", str(yml)])[0].lora_r == 4
    assert os.environ.pop("FINSYNTH_TRAINKIT_PROBE") == "True"  # YAML `on` is a boolean, as trl writes it


def test_bench_and_nan_check_settings_are_typed_on_trls_parser(tmp_path):
    """`train bench` / `train nan-check` parse dataclasses with the same TrlParser as `train sft` (flags, YAML)."""
    import argparse

    from train import bench, nan_check

    cfg = bench.parse(["--configs", "a", "d", "--max-length", "512", "--work_dir", "w", "--shape", "tiny"])
    assert isinstance(cfg, bench.BenchConfig)
    assert (cfg.configs, cfg.max_length, cfg.work_dir, cfg.shape, cfg.steps) == (["a", "d"], 512, "w", "tiny", 4)
    yml = tmp_path / "n.yaml"
    yml.write_text("model: m\nparts: [kernel, new]\nsteps: 3\n", encoding="utf-8")
    check = nan_check.parse(["--config", str(yml), "--steps", "2"])
    assert isinstance(check, nan_check.NanCheckConfig) and (check.model, check.parts, check.steps) == (
        "m",
        ["kernel", "new"],
        2,
    )
    with pytest.raises(ConfigError, match="--model"):
        nan_check.parse([])
    with pytest.raises(ConfigError, match="shape"):
        bench.parse(["--shape", "huge"])
    for parser in (bench.parser(), nan_check.parser()):
        for action in parser._actions:
            if action.help != argparse.SUPPRESS:
                assert action.help and len(action.help) > 8, action.option_strings
    assert "--one" not in bench.parser().format_help() and "{qwen3-14b,tiny}" in bench.parser().format_help()
