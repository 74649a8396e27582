"""Inline built-data fixtures for the train/ and export tests (no ../shared needed)."""

from __future__ import annotations

from pathlib import Path

from finsynth.io import write_json_atomic, write_jsonl_atomic
from finsynth.prompts import chat_row
from finsynth.schema import Extraction, Metric, ParagraphInput, Sample, TestCase

PARAGRAPHS = [
    (
        "农业板块分析",
        "牧原股份2025H1生猪出栏量3,260万头，同比增长12.5%。完全成本约为14.8元/公斤，较去年同期下降1.2元/公斤。",
        [("完全成本", "business", 1.0)],
    ),
    (
        "通信设备行业",
        "中兴通讯2025H1实现营收623亿元，同比增长11.3%。毛利率为41.2%，较上年提升1.5个百分点。",
        [("毛利率", "financial", 0.95), ("营业收入", "financial", 0.8)],
    ),
    ("宏观背景", "今年以来行业整体景气度回升，政策面持续发力，市场情绪有所改善。", []),
    (
        "半导体设备",
        "北方华创国产替代验证通过率达到78%，较上年同期提升12个百分点，在手订单超过210亿元。",
        [("验证通过率", "business", 0.95)],
    ),
    (
        "银行业",
        "招商银行净息差为1.98%，同比收窄17个基点；不良贷款率0.95%，拨备覆盖率430%。",
        [("净息差", "financial", 1.0), ("不良贷款率", "financial", 0.7)],
    ),
    (
        "新能源汽车",
        "比亚迪单季销量突破100万辆，海外销量占比提升至18%，单车利润约0.9万元。",
        [("销量", "business", 0.9), ("海外销量占比", "business", 0.8), ("单车利润", "financial", 0.7)],
    ),
]
SCENARIOS = [
    "single_metric",
    "multi_metric",
    "empty_output_background",
    "single_metric",
    "multi_metric",
    "mixed_financial_business",
]


def _extraction(metrics) -> Extraction:
    names = "、".join(m[0] for m in metrics) or "无"
    return Extraction(
        analysis=f"段落深度分析的核心指标是{names}，其余数字是规模背景或历史参照。",
        metrics=[Metric(metric_name=n, metric_type=t, score=s, reason=f"{n}是段落分析的重点") for n, t, s in metrics],
    )


def write_built(root: Path) -> Path:
    """A built data directory: train/val/test JSONL rows from `chat_row` and a manifest."""
    samples = [
        Sample(type="ABCD"[i % 4], input=ParagraphInput(chapter_title=t, paragraph=p), output=_extraction(m))
        for i, (t, p, m) in enumerate(PARAGRAPHS)
    ]
    tests = [
        TestCase(
            scenario=SCENARIOS[i],
            input=ParagraphInput(chapter_title=t + "（测试）", paragraph=p),
            output=_extraction(m),
        )
        for i, (t, p, m) in enumerate(PARAGRAPHS[:4])
    ]
    rows = [chat_row(s) for s in samples]
    write_jsonl_atomic(root / "train.jsonl", rows[:4] + rows[:4])
    write_jsonl_atomic(root / "val.jsonl", rows[4:])
    write_jsonl_atomic(root / "test.jsonl", [chat_row(t) for t in tests])
    write_json_atomic(root / "manifest.json", {"content_hash": "test-hash-123"})
    return root


def tiny_model(root: Path, built: Path) -> Path:
    """The tiny random Qwen3 with a tokenizer trained on the built rows (as test_train.py builds it)."""
    from train.tiny import build_tiny_model, corpus_texts

    return build_tiny_model(root, corpus_texts([built]), vocab_size=1200)


def train_cfg(built: Path, tiny: Path, out: Path, **kw):
    """Fast CPU `train sft` settings, (SFTArguments, SFTConfig) as `train.config.parse_sft` returns them:
    micro-batch 2, no accumulation, logging every step (8 rows = 4 steps an epoch)."""
    from train.config import parse_sft

    base = {
        "data": str(built),
        "model": str(tiny),
        "output_dir": str(out),
        "quant": "none",
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 1,
        "logging_steps": 1,
        "learning_rate": 5e-3,
        "warmup_steps": 0.0,
    }
    base.update(kw)
    return parse_sft(**base)
