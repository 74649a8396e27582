"""Diagnosis: failure modes, causes against a training set (OOD, label conflict, hard example), the
data plan, and the v11 acceptance (over-extraction leads, tied to the count distribution)."""

from __future__ import annotations

import json
import random

import pytest

from finsynth.cli import main
from finsynth.eval.diagnose import diagnose, failure_modes, render_markdown
from finsynth.eval.scoring import evaluate, evaluate_files, load_gold, parse_prediction
from finsynth.io import InputError, load_paths
from finsynth.schema import Sample, TestCase
from finsynth.text.names import get_matcher

POOL = "营收利润增长毛率市场份额公司产品业务同比提升下降季度年度客户订单产能规模海外国内价格成本费用现金流资产负债"


def _paragraph(rng: random.Random, n: int = 160) -> str:
    return "".join(rng.choice(POOL) for _ in range(n))


def _mutate(rng: random.Random, text: str, share: float) -> str:
    chars = list(text)
    for i in rng.sample(range(len(chars)), int(share * len(chars))):
        chars[i] = rng.choice("甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥")
    return "".join(chars)


def _extraction(names: list[tuple[str, str]]) -> dict:
    return {
        "analysis": "分析。",
        "metrics": [{"metric_name": n, "metric_type": t, "score": 0.9, "reason": ""} for n, t in names],
    }


def _sample(i: int, paragraph: str, names, kind: str = "A") -> Sample:
    return Sample.model_validate(
        {
            "type": kind,
            "input": {"chapter_title": f"章节{i}", "paragraph": paragraph},
            "output": _extraction(names),
            "provenance": {"source": "train.jsonl", "line": i + 1},
        }
    )


def _test(title: str, paragraph: str, scenario: str, names) -> TestCase:
    return TestCase.model_validate(
        {"scenario": scenario, "input": {"chapter_title": title, "paragraph": paragraph}, "output": _extraction(names)}
    )


@pytest.fixture(scope="module")
def world():
    """Training pairs of sibling paragraphs (so 'near' has a scale) and test cases built against them."""
    rng = random.Random(7)
    samples: list[Sample] = []
    bases = []
    for i in range(20):
        base = _paragraph(rng)
        bases.append(base)
        labels = (
            [("订单增速", "business"), ("毛利率", "financial"), ("净利率", "financial")]
            if i == 0
            else [(f"指标{i}", "business")]
        )
        samples.append(_sample(2 * i, base, labels, "A" if i % 2 else "B"))
        samples.append(_sample(2 * i + 1, _mutate(rng, base, 0.08), labels, "A" if i % 2 else "B"))
    gold = [
        # 0: label conflict: a near copy of training paragraph 0, whose label has 3 metrics, gold 1
        _test("章节0", _mutate(rng, bases[0], 0.02), "boundary_many_numbers_one_core", [("订单增速", "business")]),
        # 1: out of distribution: nothing like it in training
        _test(
            "别的",
            "".join(rng.choice("天地玄黄宇宙洪荒日月盈昃辰宿列张寒来暑往秋收冬藏") for _ in range(160)),
            "single_metric",
            [("渗透率", "business")],
        ),
        # 2: hard example: a sibling of training paragraph 3, labelled the same way, but the model missed it
        _test("章节6", _mutate(rng, bases[3], 0.08), "single_metric", [("指标3", "business")]),
        # 3: background paragraph, model extracted something
        _test("章节8", _mutate(rng, bases[4], 0.08), "empty_output_background", []),
        # 4: invalid JSON
        _test("章节10", _mutate(rng, bases[5], 0.08), "single_metric", [("指标5", "business")]),
        # 5: strict by names, wrong type
        _test("章节12", _mutate(rng, bases[6], 0.08), "financial_vs_business_classification", [("指标6", "business")]),
        # 6: correct
        _test("章节14", _mutate(rng, bases[7], 0.08), "single_metric", [("指标7", "business")]),
    ]
    preds = [
        {
            "output": json.dumps(
                _extraction([("订单增速", "business"), ("毛利率", "financial"), ("净利率", "financial")]),
                ensure_ascii=False,
            )
        },
        {"output": json.dumps(_extraction([("营收", "financial")]), ensure_ascii=False)},
        {"output": json.dumps(_extraction([("指标九十九", "business")]), ensure_ascii=False)},
        {"output": json.dumps(_extraction([("营收", "financial")]), ensure_ascii=False)},
        {"output": '{"analysis": "截断'},
        {"output": json.dumps(_extraction([("指标6", "financial")]), ensure_ascii=False)},
        {"output": json.dumps(_extraction([("指标7", "business")]), ensure_ascii=False)},
    ]
    report = evaluate([parse_prediction(p) for p in preds], gold, get_matcher("fuzzy"))
    return samples, gold, report


def test_modes_and_causes(world):
    samples, gold, report = world
    diag = diagnose(report, gold, samples, get_matcher("fuzzy"))
    by_index = {d.index: d for d in diag.cases}
    assert sorted(by_index) == [1, 2, 3, 4, 5, 6]  # case 7 is correct
    assert by_index[1].primary == "over_extraction" and by_index[1].cause == "label_conflict"
    assert by_index[1].conflicts[0].count == 3 and by_index[1].conflicts[0].source == "train.jsonl:1"
    assert by_index[2].cause == "out_of_distribution" and by_index[2].primary == "wrong_metric"
    assert by_index[3].cause == "hard_example" and by_index[3].primary == "wrong_metric"
    assert by_index[4].primary == "background_extraction"
    assert by_index[5].primary == "invalid_json" and by_index[5].verdict == "fail"
    assert by_index[6].primary == "type_error" and by_index[6].verdict == "strict"
    assert diag.n_bad == 6 and sum(diag.modes.values()) == 6 and sum(diag.causes.values()) == 6
    assert 0 < diag.ood_threshold <= diag.similar_threshold < 1
    # the plan fixes the conflicting sample and adds type B for background extraction
    fix = [p for p in diag.plan if p.action == "fix"]
    assert fix and any("train.jsonl:1" in s for s in fix[0].samples) and fix[0].cases == [1]
    assert any(p.action == "add" and p.sample_type == "B" and 4 in p.cases for p in diag.plan)
    assert any(p.action == "add" and p.sample_type == "D" and 6 in p.cases for p in diag.plan)
    assert "Data plan" in render_markdown(diag)


def test_failure_modes_order(world):
    _, _, report = world
    assert failure_modes(report.cases[0]) == ["over_extraction"]
    assert failure_modes(report.cases[4])[0] == "invalid_json"
    assert failure_modes(report.cases[6]) == []


def test_needs_training_samples(world):
    _, gold, report = world
    with pytest.raises(InputError, match="no training samples"):
        diagnose(report, gold, [], get_matcher("fuzzy"))


@pytest.mark.slow
def test_v11_over_extraction_leads_and_is_tied_to_counts(corpus_dir):
    pred, gold_path = corpus_dir / "predictions_v11.json", corpus_dir / "test_cases.jsonl"
    report = evaluate_files(pred, gold_path, "reference")
    samples = load_paths([corpus_dir / f"type_{t}.jsonl" for t in "abcd"]).samples
    diag = diagnose(report, load_gold(gold_path), samples, get_matcher("fuzzy"))
    assert diag.leading_mode == "over_extraction"
    assert diag.modes["over_extraction"] == max(diag.modes.values())
    assert diag.modes_fail_only["over_extraction"] == max(diag.modes_fail_only.values())
    assert (diag.predicted_metrics, diag.gold_metrics) == (100, 72)
    tie = diag.count_tie
    assert tie.train_n == 700 and tie.train_mean == pytest.approx(2.129, abs=1e-3)
    assert tie.test_mean == pytest.approx(1.44) and tie.pred_mean == pytest.approx(2.0)
    assert tie.train_share_at_most_1 < 0.25 and tie.test_share_at_most_1 > 0.5
    assert "following the training prior" in tie.sentence
    assert diag.n_bad == 35 and all(d.cause for d in diag.cases)
    # boundary over-extraction -> more type B; and a rebalance sized from the distributions
    boundary = [p for p in diag.plan if p.action == "add" and p.sample_type == "B"]
    assert boundary and 22 in boundary[0].cases and boundary[0].count > 0
    rebalance = [p for p in diag.plan if p.action == "rebalance"]
    assert rebalance and rebalance[0].count > 0 and "2.13" in rebalance[0].reason
    # lesson 4: the plan never asks for exclusion-style analyses in A or C samples
    for item in diag.plan:
        if item.action == "add" and item.sample_type in ("A", "C"):
            assert "per-item exclusion" not in item.reason, item.reason
    assert "per-item exclusion" in boundary[0].reason
    top_extra = next(iter(diag.extra_metric_names))
    assert top_extra == "毛利率" and diag.extra_metric_names[top_extra]["training_samples"] > 100


def test_cli_diagnose_json_skips_gold_and_pred_in_train_dir(corpus_dir, capsys):
    code = main(
        [
            "diagnose",
            "--pred",
            str(corpus_dir / "predictions_v11.json"),
            "--gold",
            str(corpus_dir / "test_cases.jsonl"),
            "--train",
            str(corpus_dir),
            "--matcher",
            "reference",
            "--format",
            "json",
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["leading_mode"] == "over_extraction" and doc["count_tie"]["train_n"] == 700
    assert "predictions_v11" not in captured.err  # not treated as training data
    assert {"plan", "cases", "modes", "causes"} <= set(doc)


def test_cli_diagnose_text(corpus_dir, capsys):
    code = main(
        [
            "diagnose",
            "--pred",
            str(corpus_dir / "predictions_v11.json"),
            "--gold",
            str(corpus_dir / "test_cases.jsonl"),
            "--train",
            *[str(corpus_dir / f"type_{t}.jsonl") for t in "abcd"],
            "--format",
            "md",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "Leading failure mode: **over-extraction**" in out and "### Data plan" in out
