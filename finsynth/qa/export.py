"""QA samples as training rows: the SFT chat turns (alpaca, sharegpt, messages + LLaMA-Factory's
`dataset_info.json`) and the RL rows in trl's GRPO format.

The SFT row of a sample is three texts, the same in every format (what `finsynth.export` does for the
extraction task, whose `to_format` / `from_format` / `load_back` are reused here):

- system: the QA system prompt, in the sample's language (`QA_SYSTEM`);
- user: the instruction (what to do, then the question) and, after one newline, the input (the context:
  paragraphs in order, then the table as Markdown). Alpaca keeps the two apart as `instruction` and
  `input`; the chat formats hold `instruction + "\\n" + input`, which is what alpaca loads back to;
- assistant: one JSON object with the reasoning first, as the extraction task puts `analysis` first:
  `{"analysis", "steps", "answer", "scale"}`. `answer` is the answer text (a list of spans for a
  multi-span answer); the GRPO reward (`finsynth.eval.rewards.qa_answer`) reads exactly these keys.

The GRPO row is `{"prompt": [system, user], "answer": reference, "scale": scale, "id": id}`: trl's
GRPOTrainer takes `prompt` as chat messages and passes the other columns to the reward functions
(`train/grpo.py` reads `answer` and `scale`). The reference is the numeric value as written (before
scale) for a numeric answer, the spans as a JSON list for a multi-span one, else the answer text.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from finsynth.errors import ConfigError
from finsynth.export import load_back, messages_dataset, to_format
from finsynth.io import write_json_atomic, write_jsonl_atomic
from finsynth.qa.schema import Language, QASample

SFT_FORMATS = ("alpaca", "sharegpt", "messages")
SFT_SPLIT = "train"  # the SFT set is written as the `train` split, the name `finsynth.export.load_back` reads
DATASET_PREFIX = "finsynth_qa_sft"
_CJK = re.compile(r"[\u4e00-\u9fff]")

QA_SYSTEM: dict[str, str] = {
    "zh": (
        "你是一位金融文档问答专家。只依据给定的段落和表格回答问题，不使用任何外部信息。输出 JSON："
        "先在 analysis 中说明问题要求什么、答案在哪里，再在 steps 中逐步推理（计算写出代入数值的算式），"
        '最后给出 answer 和 scale（""、thousand、million、billion、percent 之一）。'
    ),
    "en": (
        "You are an expert in question answering over financial documents. Answer from the given "
        "paragraphs and table only, never from outside knowledge. Reply with JSON: first the analysis "
        "(what the question asks and where the answer is), then the steps (the reasoning; a calculation "
        'writes its expression with the values), then the answer and its scale (one of "", thousand, '
        "million, billion, percent)."
    ),
}
_INSTRUCTION = {
    "zh": "根据下面的段落和表格回答问题。\n【问题】{question}",
    "en": "Answer the question from the paragraphs and the table below.\nQuestion: {question}",
}
_PARAGRAPHS = {"zh": "【段落】", "en": "Paragraphs:"}
_TABLE = {"zh": "【表格】", "en": "Table:"}


def sample_language(sample: QASample) -> Language:
    """The sample's `language`, else zh when its question has Chinese characters, else en."""
    if sample.language is not None:
        return sample.language
    return "zh" if _CJK.search(sample.question) else "en"


def instruction_text(sample: QASample) -> str:
    """What to do, then the question (alpaca's `instruction`)."""
    return _INSTRUCTION[sample_language(sample)].format(question=sample.question.strip())


def input_text(sample: QASample) -> str:
    """The context: its paragraphs in order, then its table as Markdown (alpaca's `input`)."""
    language = sample_language(sample)
    parts = []
    paragraphs = [p.text.strip() for p in sorted(sample.context.paragraphs, key=lambda p: p.order) if p.text.strip()]
    if paragraphs:
        parts.append(_PARAGRAPHS[language] + "\n" + "\n".join(paragraphs))
    table = sample.context.table
    if table is not None and table.markdown.strip():
        parts.append(_TABLE[language] + "\n" + table.markdown.strip())
    return "\n\n".join(parts)


def user_prompt(sample: QASample) -> str:
    """The user turn: instruction, a newline, the context (what alpaca's `instruction` + `input` load back to)."""
    context = input_text(sample)
    return instruction_text(sample) + ("\n" + context if context else "")


def assistant_reply(sample: QASample) -> str:
    """The assistant turn: `{"analysis", "steps", "answer", "scale"}` as one canonical JSON line."""
    answer: Any = (
        sample.answer.spans if sample.kind == "multi-span" and len(sample.answer.spans) > 1 else sample.answer.text
    )
    reply = {
        "analysis": sample.reasoning.analysis,
        "steps": list(sample.reasoning.steps),
        "answer": answer,
        "scale": sample.answer.scale,
    }
    return json.dumps(reply, ensure_ascii=False, separators=(",", ":"))


def prompt_messages(sample: QASample) -> list[dict[str, str]]:
    """System + user messages of a sample (the SFT prompt and the GRPO `prompt` alike)."""
    return [
        {"role": "system", "content": QA_SYSTEM[sample_language(sample)]},
        {"role": "user", "content": user_prompt(sample)},
    ]


def chat_row(sample: QASample) -> dict[str, Any]:
    """The sample as a built row (`finsynth.prompts.chat_row`'s shape: prompt, completion, the sample)."""
    return {
        "id": sample.id,
        "kind": sample.kind,
        "prompt": prompt_messages(sample),
        "completion": [{"role": "assistant", "content": assistant_reply(sample)}],
        "sample": sample.model_dump(mode="json"),
    }


def to_sft_format(sample: QASample, fmt: str) -> dict[str, Any]:
    """One SFT row in an export format; alpaca keeps the instruction and the context apart."""
    if fmt == "alpaca":
        return {
            "id": sample.id,
            "instruction": instruction_text(sample),
            "input": input_text(sample),
            "output": assistant_reply(sample),
            "system": QA_SYSTEM[sample_language(sample)],
        }
    if fmt not in SFT_FORMATS:
        raise ConfigError(f"unknown QA export format {fmt!r}; choose from {SFT_FORMATS}")
    return to_format(chat_row(sample), fmt)


def sft_texts(sample: QASample) -> tuple[str, str, str, str]:
    """(id, system, user, assistant): what every format loads back to (`finsynth.export.from_format`)."""
    return sample.id, QA_SYSTEM[sample_language(sample)], user_prompt(sample), assistant_reply(sample)


def reference_answer(sample: QASample) -> str:
    """The GRPO reference: the value as written for a numeric answer, the spans as JSON for a multi-span
    answer, else the answer text (a largest/smallest table question answers with a row label: its `value`
    is the winning cell, not the answer)."""
    answer = sample.answer
    if answer.value is not None and sample.kind in ("arithmetic", "count"):
        value = answer.value
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if sample.kind == "multi-span" and len(answer.spans) > 1:
        return json.dumps(answer.spans, ensure_ascii=False)
    return answer.text


def grpo_row(sample: QASample) -> dict[str, Any]:
    """trl's GRPO row: `prompt` (chat messages), `answer`, `scale` and `kind` (the reward's columns: a span that
    looks like a number, such as a year, is scored by F1, not by closeness), `id`."""
    return {
        "prompt": prompt_messages(sample),
        "answer": reference_answer(sample),
        "scale": sample.answer.scale,
        "kind": sample.kind,
        "id": sample.id,
    }


def _file(fmt: str) -> str:
    return f"{fmt}/{SFT_SPLIT}.jsonl"


def qa_dataset_info() -> dict[str, Any]:
    """LLaMA-Factory `dataset_info.json` for the three SFT exports (file names relative to the export folder):
    alpaca's columns, sharegpt's default from/value tags, and the messages files' OpenAI role/content tags."""
    return {
        f"{DATASET_PREFIX}_alpaca": {
            "file_name": _file("alpaca"),
            "formatting": "alpaca",
            "columns": {"prompt": "instruction", "query": "input", "response": "output", "system": "system"},
        },
        f"{DATASET_PREFIX}_sharegpt": {
            "file_name": _file("sharegpt"),
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "system": "system"},
        },
        f"{DATASET_PREFIX}_messages": messages_dataset(_file("messages")),
    }


def export_qa(sft: Sequence[QASample], rl: Sequence[QASample], out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Write `OUT/export/{alpaca,sharegpt,messages}/train.jsonl` + `OUT/export/dataset_info.json` (the SFT
    set) and `OUT/grpo/train.jsonl` (the RL set); return the files written with their row counts."""
    out = Path(out_dir)
    files: dict[str, Any] = {}
    for fmt in SFT_FORMATS:
        write_jsonl_atomic(out / "export" / _file(fmt), [to_sft_format(s, fmt) for s in sft])
        files[f"export/{_file(fmt)}"] = len(sft)
    write_json_atomic(out / "export" / "dataset_info.json", qa_dataset_info())
    files["export/dataset_info.json"] = len(SFT_FORMATS)
    write_jsonl_atomic(out / "grpo" / "train.jsonl", [grpo_row(s) for s in rl])
    files["grpo/train.jsonl"] = len(rl)
    return files


def load_back_sft(out_dir: str | os.PathLike[str], fmt: str) -> list[tuple[str, str, str, str]]:
    """An SFT export read back as (id, system, user, assistant) rows (what the round-trip tests compare)."""
    return load_back(Path(out_dir) / "export" / fmt, fmt).get(SFT_SPLIT, [])
