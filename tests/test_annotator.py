"""The offline rules annotator: B-style exclusion analyses that pass the style and coverage rules."""

from __future__ import annotations

from pathlib import Path

from finsynth.annotators.rules import annotate, classify_mention
from finsynth.io import load_paths
from finsynth.lint import lint_sample
from finsynth.mentions import QUANTITY_KINDS, extract_mentions
from finsynth.relabel import relabel
from finsynth.schema import Extraction, Metric, ParagraphInput, Sample
from finsynth.style import classify_analysis, exclusion_items

REPO = Path(__file__).resolve().parents[1]


def b_sample(paragraph: str, *names: str) -> Sample:
    metrics = [Metric(metric_name=n, metric_type="financial", score=1.0 - 0.1 * i) for i, n in enumerate(names)]
    return Sample(type="B", input=ParagraphInput(chapter_title="测试", paragraph=paragraph),
                  output=Extraction(analysis="旧", metrics=metrics))


def categories(sample: Sample) -> dict[str, str]:
    analysis = annotate(sample).analysis
    return {item.name: item.category for item in exclusion_items(analysis)}


def test_whole_corpus_b_passes_style_and_coverage(corpus_dir):
    loaded = load_paths([corpus_dir / "type_b.jsonl"])
    samples = loaded.samples
    assert len(samples) == 202
    failing = []
    for sample in samples:
        relabelled = sample.model_copy(update={"output": annotate(sample)})
        findings = [f for f in lint_sample(relabelled)
                    if f.rule in ("style-mismatch", "exclusion-coverage") or f.severity == "error"]
        if findings:
            failing.append((sample.id, [f.message for f in findings]))
        assert relabelled.output.metrics == sample.output.metrics
        assert classify_analysis(relabelled.output.analysis) == "exclusion"
    assert failing == []


def test_categories_from_cues_and_position():
    sample = b_sample(
        "受益于原材料价格下降，公司2025H1毛利率提升至31.2%，同比改善4.6个百分点。叶腊石采购价同比下降22%。"
        "据行业协会统计，全国玻纤产量约700万吨。其中粗纱收入占比约60%。净利率从上年的9.5%提升至12.1%。"
        "公司员工总数约1.2万人。管理层表示，成本管控策略成效显著。",
        "毛利率",
    )
    found = categories(sample)
    assert found["叶腊石采购价"] == "归因项"
    assert found["全国玻纤产量"] == "行业/宏观数据"
    assert found["粗纱收入占比"] == "子项拆分"
    assert found["净利率"] == "归因项"  # "从9.5%提升至12.1%": one item, the current value's category
    assert found.get("公司员工总数", found.get("员工总数")) == "规模背景", found
    assert any(category == "定性无数值" for category in found.values())
    analysis = annotate(sample).analysis
    assert analysis.startswith("本段核心分析对象是毛利率（31.2%，4.6个百分点）")
    assert "9.5%" in analysis and "12.1%" in analysis


def test_historical_value_and_breakdown_of_the_core():
    paragraph = "公司上网电价为0.398元/千瓦时，其中火电上网电价0.412元/千瓦时。上年同期的上网电价为0.405元/千瓦时。"
    mentions = [m for m in extract_mentions(paragraph) if m.kind in QUANTITY_KINDS]
    fire = next(m for m in mentions if m.text.startswith("0.412"))
    assert classify_mention(paragraph, fire, ["上网电价"], paragraph) == "子项拆分"
    last = next(m for m in mentions if m.text.startswith("0.405"))
    assert classify_mention(paragraph, last, ["上网电价"], paragraph, previous_end=fire.end) == "历史参照"


def test_background_paragraph_without_core_metrics():
    sample = b_sample("全国社会消费品零售总额约23.6万亿元，同比增长4.2%。行业门店总数约12万家。")
    extraction = annotate(sample)
    assert extraction.metrics == []
    assert extraction.analysis.startswith("本段是背景介绍")
    assert not [f for f in lint_sample(sample.model_copy(update={"output": extraction})) if f.severity == "error"]


def test_deterministic_and_through_relabel():
    samples = [b_sample(f"受益于成本下降，公司毛利率提升至{20 + i}.5%。天然气价格同比下降{10 + i}%。", "毛利率")
               for i in range(5)]
    first = relabel(samples, llm="rules", progress=False)
    second = relabel(samples, llm="rules", progress=False)
    assert [s.model_dump() for s in first.samples] == [s.model_dump() for s in second.samples]
    assert [s.id for s in first.samples] == [s.id for s in samples]
    assert all(s.provenance.annotator == "rules" and len(s.provenance.template_hash) == 64 for s in first.samples)
    assert first.stats.template_hashes and first.reconciles()


def test_rendered_through_user_templates(tmp_path):
    for path in (REPO / "templates").glob("*.j2"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    source = (tmp_path / "rules_b.j2").read_text(encoding="utf-8")
    (tmp_path / "rules_b.j2").write_text(source.replace("逐项排除：", "逐项排除（规则标注）："), encoding="utf-8")
    sample = b_sample("受益于成本下降，公司毛利率提升至31.5%。天然气价格同比下降18%。", "毛利率")
    shipped = relabel([sample], llm="rules", progress=False)
    custom = relabel([sample], llm="rules", progress=False, template_dir=tmp_path)
    assert "逐项排除（规则标注）：" in custom.samples[0].output.analysis
    assert shipped.samples[0].provenance.template_hash != custom.samples[0].provenance.template_hash


def test_rules_output_that_fails_lint_is_quarantined():
    # every number belongs to the core metric: no exclusion list can be written, so no B style
    sample = b_sample("公司毛利率为31.2%，同比提升4.6个百分点。", "毛利率")
    result = relabel([sample], llm="rules", progress=False)
    assert not result.samples and result.reconciles()
    row = result.quarantined[0]
    assert row.stage == "relabel" and "style-mismatch" in row.reason and "毛利率" in row.raw


def test_categories_agree_with_the_human_labels_often(corpus_dir):
    """Against the corpus' hand-written B exclusions: for each human item the rules annotator also
    lists (same or contained name), how often is the category the same? A floor, not a target: the
    cue-word rules sit at ~0.56; a change that drops this below 0.5 made the classifier worse."""
    from finsynth.matching import bigram_jaccard

    agree = total = 0
    for sample in load_paths([corpus_dir / "type_b.jsonl"]).samples:
        mine = exclusion_items(annotate(sample).analysis)
        for gold in exclusion_items(sample.output.analysis):
            if gold.category == "定性无数值" or not mine:
                continue
            best = max(mine, key=lambda m: (gold.name in m.name or m.name in gold.name, bigram_jaccard(gold.name, m.name)))
            if gold.name in best.name or best.name in gold.name or bigram_jaccard(gold.name, best.name) >= 0.4:
                total += 1
                agree += best.category == gold.category
    assert total > 800
    assert agree / total >= 0.5
