"""The train/ module on CPU with a tiny local Qwen3: SFT labels, adapter round trip, inference, resume.

The 8-bit and 4-bit paths need CUDA (bitsandbytes int8/nf4) and skip here with that reason; they ran on
the device machine. Nothing here needs `../shared`: the data are a few inline samples built with
`finsynth.prompts.chat_row`, exactly the rows `finsynth build` writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

import torch
from train_helpers import train_cfg as _cfg

from finsynth.io import read_jsonl, write_jsonl_atomic
from train.config import ConfigError, InferConfig, SFTArguments, parse_sft
from train.data import SampleTooLongError, full_ids, load_split, prompt_ids


def test_tiny_model_template_and_shape(tiny):
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(tiny)
    assert config.model_type == "qwen3" and config.head_dim == 16 and not config.tie_word_embeddings
    tok = AutoTokenizer.from_pretrained(tiny)
    for special in ("<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>"):
        ids = tok.encode(special, add_special_tokens=False)
        assert len(ids) == 1, special
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    off = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False, enable_thinking=False)
    on = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False, enable_thinking=True)
    assert off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert on.endswith("<|im_start|>assistant\n")
    full = tok.apply_chat_template([*msgs, {"role": "assistant", "content": "{}"}], tokenize=False)
    assert full.startswith(off) and full.endswith("{}<|im_end|>\n")


def test_config_yaml_and_flag_precedence(tmp_path):
    """trl's TrlParser over (SFTArguments, SFTConfig): defaults < YAML < flags, old spellings still work."""
    yml = tmp_path / "c.yaml"
    yml.write_text(
        "lora_r: 8\nlearning_rate: 0.001\nquant: 4bit\nnum_train_epochs: 2\nout: runs/yaml\n", encoding="utf-8"
    )
    ours, config = parse_sft(
        ["--model", "m", "--config", str(yml), "--learning-rate", "0.01", "--no-group-by-length", "--max_steps", "7"]
    )
    assert (ours.lora_r, config.learning_rate, ours.quant, config.train_sampling_strategy) == (
        8,
        0.01,
        "4bit",
        "random",
    )
    assert (config.num_train_epochs, config.max_steps, config.output_dir) == (2, 7, "runs/yaml")
    ours, config = parse_sft(
        [
            "--model",
            "m",
            "--out",
            "runs/x",
            "--no-eval",
            "--seed",
            "3",
            "--num-train-epochs",
            "1",
            "--max-steps",
            "2",
            "--quant",
            "none",
            "--attn-implementation",
            "eager",
            "--gradient-checkpointing",
            "off",
            "--no-bf16",
            "--warmup-ratio",
            "0.1",
        ]
    )
    assert (config.output_dir, ours.eval, config.seed, config.num_train_epochs, config.max_steps) == (
        "runs/x",
        False,
        3,
        1,
        2,
    )
    assert (ours.quant, ours.attn_implementation, ours.gradient_checkpointing, config.bf16, config.warmup_steps) == (
        "none",
        "eager",
        "off",
        False,
        0.1,
    )
    # the defaults: the reference run (finsynth/reference.yaml) with micro-batch 4 x accumulation 4
    ref, config = parse_sft(model="m")
    assert (ref.lora_r, ref.lora_alpha, ref.lora_dropout, config.learning_rate, config.max_grad_norm) == (
        16,
        32,
        0.05,
        2e-4,
        0.3,
    )
    assert ref.quant == "8bit" and config.optim == "paged_adamw_8bit" and config.num_train_epochs == 5
    assert config.per_device_train_batch_size * config.gradient_accumulation_steps == 16  # the reference's 2 x 8
    assert (config.output_dir, config.max_length, ref.gradient_checkpointing) == ("runs/sft", 2048, "auto")
    assert set(ref.target_modules) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("lora_rank: 8\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown settings"):
        parse_sft(["--model", "m", "--config", str(bad)])
    with pytest.raises(ConfigError, match="quant"):
        parse_sft(model="m", quant="3bit")
    with pytest.raises(ConfigError, match="quant"):
        parse_sft(["--model", "m", "--quant", "3bit"])
    with pytest.raises(ConfigError, match="--no-such-flag"):
        parse_sft(["--model", "m", "--no-such-flag"])


@pytest.mark.parametrize("loss", ["completion", "full"])
def test_labels_mask_prompt_and_keep_reply(built, tiny, tmp_path, loss):
    from transformers import AutoTokenizer

    from train.sft import build_trainer

    trainer, info = build_trainer(*_cfg(built, tiny, tmp_path / "run", loss=loss))
    tok = AutoTokenizer.from_pretrained(tiny)
    rows = load_split(built, "train")
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert len(trainer.train_dataset) == len(rows)
    for row, ex in zip(rows, trainer.train_dataset, strict=True):
        p, f = prompt_ids(tok, row), full_ids(tok, row)
        assert f[: len(p)] == p  # the inference prompt is a prefix of the training text
        assert ex["input_ids"] == f  # nothing truncated
        labels = ex["labels"]
        if loss == "completion":
            assert all(label == -100 for label in labels[: len(p)]), "a prompt token is in the loss"
        else:
            assert labels[: len(p)] == f[: len(p)]
        assert labels[len(p) :] == f[len(p) :], "a reply token is missing from the loss"
        assert im_end in labels[len(p) :]  # the model is taught to stop
        reply = tok.decode(f[len(p) :])
        assert reply.startswith(row["completion"][0]["content"])
    # the collated batch keeps the masks and masks the padding
    batch = next(iter(trainer.get_train_dataloader()))
    assert ((batch["labels"] == -100) | (batch["labels"] == batch["input_ids"])).all()
    assert (batch["labels"][batch["attention_mask"] == 0] == -100).all()
    assert info["max_length"] == max(len(full_ids(tok, r)) for r in rows + load_split(built, "val"))


def test_over_long_sample_is_an_error_not_a_truncation(built, tiny, tmp_path):
    from train.sft import build_trainer

    with pytest.raises(SampleTooLongError, match=r"exceed max_length=40 .*train:"):
        build_trainer(*_cfg(built, tiny, tmp_path / "run", max_length=40))


@pytest.mark.slow
def test_sft_adapter_reload_infer_resume(built, tiny, tmp_path):
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from train.infer import generate_transformers, load_for_inference, run_infer
    from train.sft import RUN_LOG, run_sft

    out = tmp_path / "run"
    log = run_sft(*_cfg(built, tiny, out, max_steps=3))
    saved = json.loads((out / RUN_LOG).read_text(encoding="utf-8"))
    assert saved["data"]["manifest_hash"] == "test-hash-123"
    assert saved["global_steps"] == 3 and len(saved["train_loss"]) >= 3
    assert saved["eval_loss"] and saved["final_eval_loss"] is not None
    assert saved["tokens_per_second"] > 0 and saved["config"]["lora_r"] == 16
    # the settings as parsed: ours and trl's SFTConfig, before the run's adjustments (recorded apart)
    assert (saved["config"]["learning_rate"], saved["config"]["max_steps"], saved["config"]["quant"]) == (
        5e-3,
        3,
        "none",
    )
    assert saved["config"]["gradient_checkpointing"] == "auto" and saved["config"]["output_dir"] == str(out)
    json.dumps(saved["config"])
    assert saved["lengths"]["train"]["n"] == 8 and saved["max_length"] > 0
    assert 0 < saved["parameters"]["trainable"] < saved["parameters"]["total"]
    assert (out / "checkpoint-3").is_dir()

    adapter = Path(log["adapter"])
    weights = load_file(adapter / "adapter_model.safetensors")
    lora_b = [v for k, v in weights.items() if "lora_B" in k]
    assert len(lora_b) == 2 * 7 and any(v.abs().sum() > 0 for v in lora_b), "adapter did not train"
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["r"] == 16 and config["lora_alpha"] == 32
    assert set(config["target_modules"]) == set(SFTArguments().target_modules)

    # reload: the adapter changes the base model's logits, and the reloaded model generates
    tok, model = load_for_inference(str(tiny), str(adapter), "none")
    assert isinstance(model, PeftModel)
    loaded = model.get_base_model()  # bf16 on the GPU where there is one: compare like with like
    base = AutoModelForCausalLM.from_pretrained(tiny).to(device=loaded.device, dtype=loaded.dtype)
    ids = torch.tensor([tok.encode("毛利率同比提升", add_special_tokens=False)], device=loaded.device)
    with torch.no_grad():
        assert not torch.allclose(model(input_ids=ids).logits.float(), base(input_ids=ids).logits.float())
    rows = read_jsonl(built / "test.jsonl")
    # batched left-padded greedy generation equals one-by-one generation; on a GPU compared in float32,
    # since bf16 kernels for padded and unpadded batches round differently (not a wiring difference)
    if loaded.device.type == "cuda":
        model = model.float()
    texts = generate_transformers(tok, model, rows[:2], InferConfig(model=str(tiny), max_new_tokens=8, batch_size=2))
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
    single = [
        generate_transformers(tok, model, [r], InferConfig(model=str(tiny), max_new_tokens=8))[0] for r in rows[:2]
    ]
    assert texts == single
    # the merged adapter (the default for a bf16/fp32 base) is the same function as peft's unmerged layers:
    # equal logits in float32 and the same greedy text; a merged model has no peft layers left
    _, merged = load_for_inference(str(tiny), str(adapter), "none", merge_adapter=True)
    assert not isinstance(merged, PeftModel)
    merged = merged.float()
    with torch.no_grad():
        torch.testing.assert_close(
            merged(input_ids=ids.to(merged.device)).logits,
            model.float()(input_ids=ids.to(merged.device)).logits,
            rtol=1e-4,
            atol=1e-4,
        )
    assert (
        generate_transformers(tok, merged, rows[:2], InferConfig(model=str(tiny), max_new_tokens=8, batch_size=2))
        == texts
    )

    preds = tmp_path / "preds.jsonl"
    result = run_infer(
        InferConfig(
            model=str(tiny),
            adapter=str(adapter),
            test=str(built / "test.jsonl"),
            out=str(preds),
            quant="none",
            max_new_tokens=16,
            batch_size=3,
        )
    )
    written = read_jsonl(preds)
    assert [p["id"] for p in written] == [r["id"] for r in rows]
    assert [p["index"] for p in written] == list(range(len(rows)))
    assert all(isinstance(p["output"], str) for p in written) and result["rows"] == len(rows)
    assert result["merged_adapter"] is True and result["generate_seconds"] <= result["seconds"]
    limited = run_infer(
        InferConfig(
            model=str(tiny),
            adapter=str(adapter),
            test=str(built / "test.jsonl"),
            out=str(tmp_path / "p2.jsonl"),
            quant="none",
            max_new_tokens=4,
            limit=1,
        )
    )
    assert limited["rows"] == 1 and len(read_jsonl(tmp_path / "p2.jsonl")) == 1
    # --exact: float32, and greedy outputs the same at batch 1 unmerged as at batch 3 merged
    exact_one = run_infer(
        InferConfig(
            model=str(tiny),
            adapter=str(adapter),
            test=str(built / "test.jsonl"),
            out=str(tmp_path / "e1.jsonl"),
            quant="none",
            max_new_tokens=16,
            batch_size=1,
            merge_adapter=False,
            exact=True,
        )
    )
    exact_all = run_infer(
        InferConfig(
            model=str(tiny),
            adapter=str(adapter),
            test=str(built / "test.jsonl"),
            out=str(tmp_path / "e3.jsonl"),
            quant="none",
            max_new_tokens=16,
            batch_size=3,
            exact=True,
        )
    )
    assert exact_one["dtype"] == exact_all["dtype"] == "float32" and exact_all["merged_adapter"] is True
    assert [p["output"] for p in read_jsonl(tmp_path / "e1.jsonl")] == [
        p["output"] for p in read_jsonl(tmp_path / "e3.jsonl")
    ]
    with pytest.raises(ConfigError, match="--exact needs full-precision weights"):
        InferConfig(model=str(tiny), quant="8bit", exact=True).validate()

    # finsynth eval consumes the predictions (gold: the structured test cases of the built rows)
    evaluate = pytest.importorskip("finsynth.eval.scoring")
    gold = tmp_path / "gold.jsonl"
    write_jsonl_atomic(gold, [r["sample"] for r in rows])
    report = evaluate.evaluate_files(preds, gold, "reference")
    assert report.overall.n == len(rows)

    # resume from the last checkpoint and continue to step 5
    resumed = run_sft(*_cfg(built, tiny, out, max_steps=5, resume=True))
    assert resumed["resumed_from"].endswith("checkpoint-3") and resumed["global_steps"] == 5


def test_resume_without_checkpoint_is_an_error(built, tiny, tmp_path):
    from train.sft import run_sft

    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        run_sft(*_cfg(built, tiny, tmp_path / "empty", max_steps=1, resume=True))


def test_quantised_load_needs_cuda_on_cpu(tiny):
    from train.sft import load_base_model

    if torch.cuda.is_available():
        pytest.skip("CPU-only check")
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        load_base_model(str(tiny), "8bit")


@pytest.mark.parametrize("quant", ["8bit", "4bit"])
def test_quantised_sft_and_infer_on_gpu(built, tiny, tmp_path, quant):
    if not torch.cuda.is_available():
        pytest.skip(f"{quant} (bitsandbytes) needs a CUDA GPU; ran on the device machine")
    pytest.importorskip("bitsandbytes")
    from train.infer import run_infer
    from train.sft import run_sft

    log = run_sft(*_cfg(built, tiny, tmp_path / "run", quant=quant, max_steps=2))
    assert log["global_steps"] == 2 and log["peak_gpu_memory_gib"] > 0
    assert all(e["loss"] == e["loss"] for e in log["train_loss"])  # no NaN
    result = run_infer(
        InferConfig(
            model=str(tiny),
            adapter=log["adapter"],
            test=str(built / "test.jsonl"),
            out=str(tmp_path / "preds.jsonl"),
            quant=quant,
            max_new_tokens=8,
        )
    )
    assert result["rows"] == 4


def test_bench_estimates_and_presets(built):
    from train.bench import estimate_tokens, estimated_pairs, preset

    assert estimate_tokens("毛利率") == 3 and estimate_tokens("2025") == 4
    pairs = estimated_pairs(load_split(built, "train"))
    assert all(0 < p < t for p, t in pairs)
    assert preset("a")["reference"] and preset("a")["loss"] == "full"
    assert preset("b-mb4") == {"per_device_train_batch_size": 4, "gradient_accumulation_steps": 4}
    with pytest.raises(ValueError):
        preset("z")


@pytest.mark.slow
def test_bench_cpu_smoke(built, tmp_path):
    """The benchmark's code path end to end on a tiny shape (the real run needs the GPU)."""
    from train.cli import main

    lengths = tmp_path / "lengths.json"
    lengths.write_text(json.dumps({"tokenizer": "test", "prompt_total": [[20, 60], [30, 90], [25, 50]]}))
    assert (
        main(
            [
                "bench",
                "--shape",
                "tiny",
                "--lengths",
                str(lengths),
                "--configs",
                "a",
                "d",
                "--warmup",
                "1",
                "--steps",
                "1",
                "--work-dir",
                str(tmp_path / "w"),
            ]
        )
        == 0
    )


def test_lengths_command_measures_with_the_tokenizer(built, tiny, tmp_path):
    from transformers import AutoTokenizer

    from train.cli import main

    out = tmp_path / "lengths.json"
    assert main(["lengths", "--data", str(built), "--tokenizer", str(tiny), "--out", str(out)]) == 0
    pairs = json.loads(out.read_text(encoding="utf-8"))["prompt_total"]
    tok = AutoTokenizer.from_pretrained(tiny)
    rows = load_split(built, "train")
    assert pairs == [[len(prompt_ids(tok, r)), len(full_ids(tok, r))] for r in rows]
