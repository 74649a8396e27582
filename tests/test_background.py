"""0-metric background samples from the corpus's own B rows (issue 23, item 4's candidates): every sentence comes
from the source paragraph, every number is one the labeller called industry/macro data, and lint is quiet."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finsynth.audit.lint import lint_sample
from finsynth.eval.ablation import load_recipe, prepare_variant
from finsynth.io import load_file
from finsynth.schema import Extraction, Metric, ParagraphInput, Sample
from finsynth.synth.background import MACRO, background_sample, background_samples
from finsynth.text.mentions import numbers_in
from finsynth.text.style import exclusion_items

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def type_b(corpus_dir):
    return [r.item for r in load_file(corpus_dir / "type_b.jsonl").records]


def test_background_samples_from_the_corpus_are_grounded_and_lint_clean(type_b) -> None:
    made = background_samples(type_b)
    assert len(made) >= 40  # the corpus has 27 zero-metric rows of 700; this roughly triples them
    sources = {s.id: s for s in type_b}
    for sample in made:
        source = sources[sample.id.removesuffix("~bg")]
        assert sample.type == "B" and sample.output.metrics == []
        position = 0  # every sentence is the source's own, in the source's order
        for sentence in re.findall(r"[^。！？；;]+", sample.input.paragraph):
            position = source.input.paragraph.index(sentence, position) + len(sentence)
        assert not [f for f in lint_sample(sample) if f.severity == "error" or f.rule == "exclusion-coverage"]
        macro = {i.name: i for i in exclusion_items(source.output.analysis) if i.category == MACRO}
        items = exclusion_items(sample.output.analysis)
        assert items and all(i.category == MACRO and macro[i.name].reason.rstrip("。") == i.reason for i in items)
        names = [m.metric_name for m in source.output.metrics]
        assert not any(n in sample.input.paragraph for n in names), sample.id  # no core metric named


def _b_row(paragraph: str, analysis: str, metrics: list[str]) -> Sample:
    return Sample(
        type="B",
        input=ParagraphInput(chapter_title="行业", paragraph=paragraph),
        output=Extraction(
            analysis=analysis, metrics=[Metric(metric_name=m, metric_type="financial", score=0.9) for m in metrics]
        ),
    )


@settings(max_examples=60, deadline=None)
@given(st.integers(10, 999), st.integers(10, 999), st.booleans())
def test_a_sentence_with_a_company_number_never_becomes_background(macro_value, own_value, mixed) -> None:
    """A sentence is taken only when every number in it is a macro item's: one company figure keeps it out."""
    macro_sentence = f"行业规模持续扩张，全球市场空间达到约{macro_value}亿元，需求保持旺盛。"
    own = f"公司营业收入{own_value}亿元" + ("，行业规模同期持续扩张" if mixed else "") + "。"
    sample = _b_row(
        macro_sentence + own,
        f"本段核心分析对象是营业收入（{own_value}亿元）。逐项排除：全球市场空间（约{macro_value}亿元）："
        f"{MACRO}——是行业整体数据，不是公司指标。",
        ["营业收入"],
    )
    made = background_sample(sample)
    assert made is not None and made.input.paragraph == macro_sentence
    assert float(own_value) not in numbers_in(made.input.paragraph + made.output.analysis) or own_value == macro_value


def test_the_background_variant_adds_rows_to_training_only(corpus_dir, tmp_path) -> None:
    recipe = load_recipe(REPO / "data" / "recipes" / "candidates.yaml")
    base = prepare_variant("corpus", recipe, corpus_dir, tmp_path / "corpus")
    info = prepare_variant("background", recipe, corpus_dir, tmp_path / "bg")
    added = info["augmented"]["background"]
    assert added > 0 and info["counts"]["train"] == base["counts"]["train"] + added
    val = (tmp_path / "bg" / "val.jsonl").read_bytes()
    assert val == (tmp_path / "corpus" / "val.jsonl").read_bytes() and b"~bg" not in val
    train = [json.loads(ln) for ln in (tmp_path / "bg" / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sum(r["sample"]["id"].endswith("~bg") for r in train) == added
