"""Export the built splits for other trainers: messages, alpaca, sharegpt, or a ready LLaMA-Factory setup.

Every format carries the same three texts as the built row (system prompt, user turn, assistant JSON) and
the row id, so exports load back to exactly the built rows (`load_back`). `llamafactory` writes the
OpenAI-style messages files plus `dataset_info.json` and a training YAML matching the reference
configuration (qwen3 template with thinking off, 8-bit bitsandbytes, LoRA r=16/alpha=32/dropout 0.05 on
q/k/v/o/gate/up/down), so `llamafactory-cli train <yaml>` starts in one step.

A build composed with `--compose` (finsynth.synth.compose) needs no mixing settings in LLaMA-Factory: the
composed `train.jsonl` already is the mixture (cells down/up-sampled, whole-row copies, replay rows), so
the YAML says so in a comment and keeps `mix_strategy: concat` with one training dataset. The other
translations would not be faithful: LLaMA-Factory's `num_samples` (dataset_info) redraws one dataset
at random (numpy permutation, then sampling with replacement) and `interleave_probs` (only with
`mix_strategy: interleave_under|interleave_over`) samples datasets stochastically until the first or
every one is exhausted; either would re-mix the composition with another generator and cannot
express per type x count cells; interleaving also needs as many eval datasets as probabilities.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from finsynth.errors import ConfigError, InvalidInputError
from finsynth.io import (
    SPLITS,
    UserError,
    read_jsonl,
    read_manifest,
    write_json_atomic,
    write_jsonl_atomic,
    write_text_atomic,
)

FORMATS = ("messages", "alpaca", "sharegpt", "llamafactory")
# The reference run, shipped beside this module: `lora` (the adapter) and `training` (the hyperparameters, under
# trl's SFTConfig names); `python -m train sft` takes both as its defaults (train/config.py).
REFERENCE: dict[str, Any] = yaml.safe_load((Path(__file__).parent / "reference.yaml").read_text(encoding="utf-8"))
LORA: dict[str, Any] = REFERENCE["lora"]
TRAINING: dict[str, Any] = REFERENCE["training"]
# reference.yaml's training keys that LLaMA-Factory spells differently (the rest are the same names)
LF_TRAINING_NAMES = {"warmup_steps": "warmup_ratio", "max_length": "cutoff_len"}
LF_TAGS = {
    "role_tag": "role",
    "content_tag": "content",
    "user_tag": "user",
    "assistant_tag": "assistant",
    "system_tag": "system",
}


def _texts(row: dict[str, Any]) -> tuple[str, str, str]:
    """(system, user, assistant) of a built row."""
    by_role = {m["role"]: m["content"] for m in row["prompt"]}
    if "user" not in by_role or not row.get("completion"):
        raise InvalidInputError(f"row {row.get('id')!r}: not a built row (needs user prompt and completion)")
    return by_role.get("system", ""), by_role["user"], row["completion"][0]["content"]


def to_format(row: dict[str, Any], fmt: str) -> dict[str, Any]:
    """One built row in an export format (the id is kept in every format)."""
    system, user, assistant = _texts(row)
    if fmt in ("messages", "llamafactory"):
        msgs = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": user},
            {"role": "assistant", "content": assistant},
        ]
        return {"id": row["id"], "messages": msgs}
    if fmt == "alpaca":
        return {"id": row["id"], "instruction": user, "input": "", "output": assistant, "system": system}
    if fmt == "sharegpt":
        return {
            "id": row["id"],
            "system": system,
            "conversations": [{"from": "human", "value": user}, {"from": "gpt", "value": assistant}],
        }
    raise ConfigError(f"unknown export format {fmt!r}; choose from {FORMATS}")


def from_format(row: dict[str, Any], fmt: str) -> tuple[str, str, str, str]:
    """(id, system, user, assistant) read back from an exported row."""
    if fmt in ("messages", "llamafactory"):
        by_role = {m["role"]: m["content"] for m in row["messages"]}
        return row["id"], by_role.get("system", ""), by_role["user"], by_role["assistant"]
    if fmt == "alpaca":
        user = row["instruction"] + (("\n" + row["input"]) if row.get("input") else "")
        return row["id"], row.get("system", ""), user, row["output"]
    if fmt == "sharegpt":
        turns = {t["from"]: t["value"] for t in row["conversations"]}
        return row["id"], row.get("system", ""), turns["human"], turns["gpt"]
    raise ConfigError(f"unknown export format {fmt!r}")


def _file_name(split: str, fmt: str) -> str:
    return f"finsynth_{split}.jsonl" if fmt == "llamafactory" else f"{split}.jsonl"


def messages_dataset(file_name: str) -> dict[str, Any]:
    """A LLaMA-Factory `dataset_info.json` entry for a file of OpenAI-style `messages` rows."""
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "messages"},
        "tags": dict(LF_TAGS),
    }


def dataset_info(splits: list[str]) -> dict[str, Any]:
    """LLaMA-Factory `dataset_info.json`: sharegpt formatting with OpenAI-style role/content tags."""
    return {f"finsynth_{split}": messages_dataset(_file_name(split, "llamafactory")) for split in splits}


def llamafactory_yaml(model: str, dataset_dir: str, splits: list[str], output_dir: str) -> dict[str, Any]:
    """The reference configuration (GUIDE section 5) in LLaMA-Factory's keys; reply-only loss, thinking off."""
    cfg: dict[str, Any] = {
        "model_name_or_path": model,
        "trust_remote_code": False,  # Qwen3 is in transformers: never run code shipped with a checkpoint
        "stage": "sft",
        "do_train": True,
        "finetuning_type": "lora",
        "lora_rank": LORA["r"],
        "lora_alpha": LORA["alpha"],
        "lora_dropout": LORA["dropout"],
        "lora_target": ",".join(LORA["target_modules"]),
        "quantization_bit": 8,
        "quantization_method": "bnb",
        "dataset_dir": dataset_dir,
        "dataset": "finsynth_train",
        "template": "qwen3",
        "enable_thinking": False,
        "train_on_prompt": False,
        "preprocessing_num_workers": 4,
        "output_dir": output_dir,
        "plot_loss": True,
        "overwrite_output_dir": False,
        # the reference hyperparameters (reference.yaml's `training`, the defaults of `python -m train sft`)
        **{LF_TRAINING_NAMES.get(k, k): v for k, v in TRAINING.items() if k != "per_device_eval_batch_size"},
        "report_to": "none",
    }
    if "val" in splits:
        cfg.update(
            {
                "eval_dataset": "finsynth_val",
                "eval_strategy": "epoch",
                "per_device_eval_batch_size": TRAINING["per_device_eval_batch_size"],
            }
        )
    return cfg


def _composition(data_dir: Path) -> dict[str, Any] | None:
    """The `composition` section of the build's manifest, when the build composed its training split."""
    composition = (read_manifest(data_dir) or {}).get("composition")
    return composition if isinstance(composition, dict) else None


def composition_comment(composition: dict[str, Any]) -> str:
    """YAML comment lines saying that finsynth_train already is the composed mixture, and why no
    interleave_probs / num_samples are set."""
    counts = (composition.get("target") or {}).get("counts") or {}
    target = ", ".join(f"{c}: {float(v):.0%}" for c, v in sorted(counts.items()) if float(v))
    source = (composition.get("target") or {}).get("source", "explicit")
    after = ((composition.get("after") or {}).get("all")) or {}
    rows = sum(after.values())
    ratio = (composition.get("mean_ratio") or {}).get("after")
    name = (composition.get("file") or {}).get("name", "?")
    sha = str(composition.get("config_sha256", ""))[:12]
    lines = [
        (
            f"composition: finsynth_train is already the composed mixture (finsynth build --compose {name}, "
            f"config sha256 {sha}...)"
        ),
        f"  target metric counts ({'match: test' if source == 'test' else 'explicit'}): {target}; "
        f"{rows} rows" + (f", mean-count ratio against the test set {ratio:.2f}" if ratio is not None else ""),
        "  no interleave_probs / num_samples on purpose: LLaMA-Factory's num_samples redraws a dataset at random",
        "  and interleave_probs samples datasets stochastically; either would re-mix it. Keep mix_strategy concat",
        "  and the single training dataset; finsynth_val keeps the natural (uncomposed) distribution.",
    ]
    return "".join(f"# {line}\n" for line in lines)


def export(
    data_dir: str | os.PathLike[str],
    fmt: str,
    out_dir: str | os.PathLike[str] | None = None,
    model: str = "Qwen/Qwen3-14B",
) -> dict[str, Any]:
    """Write every built split present in `fmt` under `out_dir` (default `<data_dir>/export/<fmt>`)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose from {FORMATS}")
    data_dir = Path(data_dir)
    composition = _composition(data_dir) or {}
    if (composition.get("config") or {}).get("mode") == "weight":
        # the other tools read rows, not finsynth's per-row loss weights: they would train the set unweighted
        raise UserError(
            f"{data_dir} was composed with mode: weight; its loss weights live in each row's "
            "sample.provenance.compose.weight and only `python -m train sft` reads them, so an export "
            "would train it unweighted: rebuild with a copies compose file (mode: copies) to export"
        )
    out = Path(out_dir) if out_dir else data_dir / "export" / fmt
    written: dict[str, Any] = {"format": fmt, "out": str(out), "files": {}}
    splits = []
    for split in SPLITS:
        path = data_dir / f"{split}.jsonl"
        if not path.is_file():
            continue
        rows = read_jsonl(path)
        target = out / _file_name(split, fmt)
        write_jsonl_atomic(target, [to_format(r, fmt) for r in rows])
        written["files"][split] = {"path": str(target), "rows": len(rows)}
        splits.append(split)
    if not splits:
        raise FileNotFoundError(f"{data_dir}: no train/val/test.jsonl (run `finsynth build` first)")
    if fmt == "llamafactory":
        info_path = out / "dataset_info.json"
        write_json_atomic(info_path, dataset_info(splits))
        yaml_path = out / "qwen3_lora_sft_8bit.yaml"
        # absolute: LLaMA-Factory resolves dataset_dir against its own working directory, not this file
        doc = llamafactory_yaml(model, str(out.resolve()), [s for s in splits if s != "test"], str(out / "saves"))
        header = "# llamafactory-cli train " + yaml_path.name + "\n"
        if composition:
            doc["mix_strategy"] = "concat"  # LLaMA-Factory's default, written out: the file is the mixture
            header += composition_comment(composition)
            written["composition"] = {
                "config_sha256": composition.get("config_sha256"),
                "translation": "the composed train split is the mixture; no interleave_probs or num_samples",
            }
        write_text_atomic(yaml_path, header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
        written["dataset_info"] = str(info_path)
        written["train_yaml"] = str(yaml_path)
    return written


def load_back(out_dir: str | os.PathLike[str], fmt: str) -> dict[str, list[tuple[str, str, str, str]]]:
    """Read an export back: split -> [(id, system, user, assistant)] (what the tests compare)."""
    out = Path(out_dir)
    result = {}
    for split in SPLITS:
        path = out / _file_name(split, fmt)
        if path.is_file():
            result[split] = [from_format(r, fmt) for r in read_jsonl(path)]
    return result


def built_texts(data_dir: str | os.PathLike[str]) -> dict[str, list[tuple[str, str, str, str]]]:
    """The built rows as (id, system, user, assistant), split by split."""
    result = {}
    for split in SPLITS:
        path = Path(data_dir) / f"{split}.jsonl"
        if path.is_file():
            result[split] = [(r["id"], *_texts(r)) for r in read_jsonl(path)]
    return result
