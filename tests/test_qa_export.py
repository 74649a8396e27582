"""QA exports: the SFT formats load back to the same texts, dataset_info names real files and columns, and the
GRPO rows have exactly the columns trl and the QA reward read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finsynth.export import from_format
from finsynth.io import read_jsonl
from finsynth.qa.export import (
    QA_SYSTEM,
    SFT_FORMATS,
    assistant_reply,
    export_qa,
    grpo_row,
    input_text,
    instruction_text,
    load_back_sft,
    prompt_messages,
    qa_dataset_info,
    reference_answer,
    sft_texts,
    to_sft_format,
)
from finsynth.qa.schema import Answer, Context, Grounding, Paragraph, QASample, Reasoning, Source
from finsynth.qa.tatqa import import_tatqa

TATQA = Path("/work/shared/corpus/tatqa/tatqa_dataset_dev.json")
GRPO_COLUMNS = ["prompt", "answer", "scale", "kind", "id"]


@pytest.fixture(scope="module")
def tatqa() -> list[QASample]:
    if not TATQA.is_file():
        pytest.skip(f"TAT-QA dev set not found at {TATQA}")
    return import_tatqa(TATQA)[0][:60]


def chinese_sample() -> QASample:
    paragraph = "招商银行2024年实现营业收入3,375亿元，同比下降0.5%；净利润1,484亿元，同比增长1.2%。"
    return QASample(
        id="zh-1",
        context=Context(paragraphs=[Paragraph(id="p1", order=1, text=paragraph)]),
        question="招商银行2024年的净利润是多少？",
        answer=Answer(text="1,484亿元", spans=["1,484亿元"], value=1484.0, unit="亿元"),
        reasoning=Reasoning(analysis="问题问净利润，段落直接写出。", steps=[], answer="1,484亿元"),
        kind="span",
        source=Source(file="zh.jsonl"),
        grounding=Grounding(paragraphs=["p1"], answer_from="text"),
        language="zh",
    )


def test_every_format_round_trips_the_same_texts(tatqa):
    samples = [*tatqa, chinese_sample()]
    for fmt in SFT_FORMATS:
        for sample in samples:
            assert from_format(to_sft_format(sample, fmt), fmt) == sft_texts(sample), (fmt, sample.id)


def test_alpaca_keeps_instruction_and_context_apart(tatqa):
    sample = next(s for s in tatqa if s.context.table is not None and s.context.paragraphs)
    row = to_sft_format(sample, "alpaca")
    assert set(row) == {"id", "instruction", "input", "output", "system"}
    assert sample.question in row["instruction"] and sample.question not in row["input"]
    assert sample.context.table is not None and sample.context.table.markdown in row["input"]
    assert sample.context.paragraphs[0].text in row["input"]
    assert row["system"] == QA_SYSTEM["en"]
    assert instruction_text(sample) + "\n" + input_text(sample) == prompt_messages(sample)[1]["content"]


def test_chinese_sample_gets_the_chinese_prompts():
    sample = chinese_sample()
    system, user = prompt_messages(sample)
    assert system == {"role": "system", "content": QA_SYSTEM["zh"]}
    assert (
        user["content"].startswith("根据下面的段落和表格回答问题。\n【问题】招商银行") and "【段落】" in user["content"]
    )


def test_reply_is_json_with_the_analysis_first_and_the_reward_scores_it_one(tatqa):
    from finsynth.eval.rewards import qa_exact

    for sample in tatqa:
        reply = assistant_reply(sample)
        data = json.loads(reply)
        assert list(data) == ["analysis", "steps", "answer", "scale"]
        assert data["analysis"] == sample.reasoning.analysis and data["steps"] == sample.reasoning.steps
        row = grpo_row(sample)
        # the SFT demonstration is a perfect reply under the GRPO reward over the same reference
        assert qa_exact(reply, row["answer"], row["scale"], sample.kind) == 1.0, sample.id


def test_reference_answer_forms(tatqa):
    arithmetic = next(s for s in tatqa if s.kind == "arithmetic" and s.answer.value is not None)
    assert reference_answer(arithmetic) == (
        str(int(arithmetic.answer.value)) if arithmetic.answer.value.is_integer() else repr(arithmetic.answer.value)
    )
    multi = next(s for s in tatqa if s.kind == "multi-span")
    assert json.loads(reference_answer(multi)) == multi.answer.spans
    span = next(s for s in tatqa if s.kind == "span" and s.answer.value is None)
    assert reference_answer(span) == span.answer.text


def test_export_writes_loadable_files_and_dataset_info(tatqa, tmp_path):
    sft, rl = tatqa[:30], [s for s in tatqa[30:] if s.answer.value is not None]
    files = export_qa(sft, rl, tmp_path)
    assert files["grpo/train.jsonl"] == len(rl)
    for fmt in SFT_FORMATS:
        assert load_back_sft(tmp_path, fmt) == [sft_texts(s) for s in sft], fmt
    info = json.loads((tmp_path / "export" / "dataset_info.json").read_text(encoding="utf-8"))
    assert info == qa_dataset_info()
    for name, entry in info.items():
        rows = read_jsonl(tmp_path / "export" / entry["file_name"])
        assert len(rows) == len(sft), name
        for column in entry["columns"].values():  # every column LLaMA-Factory is told to read is there
            assert column in rows[0], (name, column)
    messages = read_jsonl(tmp_path / "export" / info["finsynth_qa_sft_messages"]["file_name"])[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]


def test_grpo_rows_have_exactly_trls_columns(tatqa, tmp_path):
    rl = [s for s in tatqa if s.answer.value is not None]
    export_qa([], rl, tmp_path)
    rows = read_jsonl(tmp_path / "grpo" / "train.jsonl")
    assert [list(r) for r in rows] == [GRPO_COLUMNS] * len(rl)
    for row, sample in zip(rows, rl, strict=True):
        assert row["prompt"] == prompt_messages(sample) and row["id"] == sample.id
        assert isinstance(row["answer"], str) and row["scale"] == sample.answer.scale


def test_grpo_rows_load_with_datasets_and_train_grpo_reads_them(tatqa, tmp_path):
    datasets = pytest.importorskip("datasets")
    rl = [s for s in tatqa if s.answer.value is not None]
    export_qa([], rl, tmp_path)
    path = tmp_path / "grpo" / "train.jsonl"
    dataset = datasets.load_dataset("json", data_files=str(path), split="train")
    assert dataset.column_names == GRPO_COLUMNS and len(dataset) == len(rl)
    assert dataset[0]["prompt"] == prompt_messages(rl[0])
    from train.grpo import grpo_rows

    assert grpo_rows(read_jsonl(path), "qa")[0] == {
        "prompt": prompt_messages(rl[0]),
        "answer": reference_answer(rl[0]),
        "scale": rl[0].answer.scale,
        "kind": rl[0].kind,
    }


def test_unknown_format_is_an_error(tatqa):
    with pytest.raises(ValueError, match="unknown QA export format"):
        to_sft_format(tatqa[0], "llamafactory-yaml")
