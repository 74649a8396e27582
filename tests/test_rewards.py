"""GRPO rewards (finsynth.eval.rewards): exact component values on real corpus and TAT-QA rows, gamed
replies losing overall, property tests on the bounds, and the trl adapters."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from finsynth.eval.rewards import (
    EXTRACTION_COMPONENTS,
    MAGNITUDE_CREDIT,
    QA_COMPONENTS,
    RewardWeights,
    count,
    fired_lint_rules,
    gold_extraction,
    gold_spans,
    json_valid,
    lint_penalty,
    magnitude_credit,
    name_f1,
    parse_completion,
    qa_answer,
    qa_exact,
    reward_breakdown,
    trl_reward_functions,
    type_accuracy,
)
from finsynth.io import InputError

TATQA = "tatqa/tatqa_dataset_dev.json"


def _rows(corpus: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (corpus / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def _metric(name: str, kind: str = "business", score: float = 0.9) -> dict[str, Any]:
    return {"metric_name": name, "metric_type": kind, "score": score, "reason": "段落核心分析对象"}


def _reply(analysis: str, metrics: list[dict[str, Any]]) -> str:
    return json.dumps({"analysis": analysis, "metrics": metrics}, ensure_ascii=False)


def _gold_text(row: dict[str, Any]) -> str:
    return json.dumps(row["output"], ensure_ascii=False)


@pytest.fixture(scope="module")
def muyuan(corpus_dir: Path) -> dict[str, Any]:
    """Type A, line 1: 牧原股份; gold 完全成本 (business) and 产能利用率 (business)."""
    row = _rows(corpus_dir, "type_a.jsonl")[0]
    assert [m["metric_name"] for m in row["output"]["metrics"]] == ["完全成本", "产能利用率"]
    return row


@pytest.fixture(scope="module")
def jushi(corpus_dir: Path) -> dict[str, Any]:
    """Type B, line 1: 中国巨石; gold 毛利率 (financial) alone, an exclusion-style analysis."""
    row = _rows(corpus_dir, "type_b.jsonl")[0]
    assert [m["metric_name"] for m in row["output"]["metrics"]] == ["毛利率"]
    return row


def _score(row: dict[str, Any], reply: Any, sample_type: str | None = "gold") -> dict[str, float]:
    kind = row["type"] if sample_type == "gold" else sample_type
    return reward_breakdown(
        "extraction", reply, gold=_gold_text(row), sample_type=kind, paragraph=row["input"]["paragraph"]
    )


# --- extraction: exact component values -------------------------------------------------------------


def test_the_gold_reply_scores_every_component_in_full(muyuan):
    assert _score(muyuan, _gold_text(muyuan)) == {
        "json_valid": 1.0,
        "name_f1": 1.0,
        "count": 1.0,
        "type_accuracy": 1.0,
        "lint_penalty": 0.0,
        "total": 2.5,
    }


def test_one_right_name_of_two(muyuan):
    reply = _reply(muyuan["output"]["analysis"], [_metric("完全成本"), _metric("出栏量")])
    # matched 1 of 2 predicted and 2 gold: F1 = 2*1/(2+2); the length is right but half the names are wrong, so
    # the count earns half (x precision 1/2); the one pair has the right type
    assert _score(muyuan, reply) == {
        "json_valid": 1.0,
        "name_f1": 0.5,
        "count": 0.5,
        "type_accuracy": 1.0,
        "lint_penalty": 0.0,
        "total": 0.5 + 0.5 + 0.25 + 0.5,
    }


def test_a_wrong_metric_type_costs_its_share_of_the_matched_pairs(muyuan):
    reply = _reply(muyuan["output"]["analysis"], [_metric("完全成本", "financial"), _metric("产能利用率")])
    scores = _score(muyuan, reply)
    assert (scores["name_f1"], scores["type_accuracy"], scores["total"]) == (1.0, 0.5, 0.5 + 1.0 + 0.5 + 0.25)


def test_count_is_one_minus_the_relative_error(jushi):
    paragraph_items = ["毛利率", "玻纤纱均价", "叶腊石采购价", "天然气价格"]
    reply = _reply(jushi["output"]["analysis"], [_metric(n, "financial") for n in paragraph_items])
    scores = _score(jushi, reply)
    # gold 1, predicted 4: 1 - 3/1 clipped to 0; F1 = 2*1/(4+1)
    assert scores["count"] == 0.0 and scores["name_f1"] == pytest.approx(0.4) and scores["type_accuracy"] == 1.0
    two = _score(
        jushi, _reply(jushi["output"]["analysis"], [_metric("毛利率", "financial"), _metric("玻纤纱均价", "business")])
    )
    assert two["count"] == 0.0  # 1 - 1/1
    gold = gold_extraction(_gold_text(jushi))
    assert count(parse_completion(_reply("x", [])), gold) == 0.0
    four_gold = gold_extraction(_reply("x", [_metric(n) for n in ("甲", "乙", "丙", "丁")]))
    assert count(parse_completion(_reply("x", [_metric("甲")])), four_gold) == 0.25  # 1 - 3/4


def test_an_empty_gold_case(corpus_dir: Path):
    case = next(r for r in _rows(corpus_dir, "test_cases.jsonl") if r["scenario"] == "empty_output_background")
    assert case["output"]["metrics"] == []
    gold = _gold_text(case)
    empty = reward_breakdown("extraction", _reply("段落是行业背景介绍，没有被深度分析的指标。", []), gold=gold)
    assert empty == {
        "json_valid": 1.0,
        "name_f1": 1.0,
        "count": 1.0,
        "type_accuracy": 1.0,
        "lint_penalty": 0.0,
        "total": 2.5,
    }
    one = reward_breakdown("extraction", _reply("段落是行业背景介绍。", [_metric("行业规模")]), gold=gold)
    assert (one["name_f1"], one["count"], one["type_accuracy"], one["total"]) == (0.0, 0.0, 0.0, 0.5)


@pytest.mark.parametrize(
    "reply",
    [
        "我无法回答这个问题。",
        '{"analysis": "段落围绕毛利率展开',  # cut off
        _reply("", [_metric("毛利率", "financial")]),  # no analysis
        _reply("段落围绕毛利率展开。", [_metric(n) for n in ("甲", "乙", "丙", "丁", "戊")]),  # five metrics
        json.dumps({"analysis": "段落围绕毛利率展开。", "metrics": [{**_metric("毛利率"), "score": "0.9"}]}),
        "",
        None,
    ],
)
def test_an_unparseable_reply_scores_nothing_and_the_full_penalty(jushi, reply):
    scores = _score(jushi, reply)
    assert scores == {
        "json_valid": 0.0,
        "name_f1": 0.0,
        "count": 0.0,
        "type_accuracy": 0.0,
        "lint_penalty": -1.0,
        "total": -0.5,
    }
    assert scores["total"] == RewardWeights().bounds("extraction")[0]


def test_a_think_block_and_a_code_fence_are_removed_before_parsing(muyuan):
    wrapped = "<think>\n先看段落的分析主体……\n</think>\n```json\n" + _gold_text(muyuan) + "\n```"
    assert _score(muyuan, wrapped)["total"] == 2.5
    assert _score(muyuan, "<think>\n\n</think>\n\n" + _gold_text(muyuan))["total"] == 2.5


def test_component_functions_directly(muyuan):
    gold = gold_extraction(_gold_text(muyuan))
    reply = parse_completion(_reply(muyuan["output"]["analysis"], [_metric("产能利用率", "financial")]))
    assert json_valid(reply) == 1.0
    assert name_f1(reply, gold) == pytest.approx(2 / 3)
    assert count(reply, gold) == 0.5
    assert type_accuracy(reply, gold) == 0.0
    assert lint_penalty(reply, "A", muyuan["input"]["paragraph"]) == 0.0


# --- lint penalty -------------------------------------------------------------------------------------


def test_each_weighted_lint_rule_costs_its_weight(muyuan, jushi, corpus_dir: Path):
    names = [_metric("完全成本"), _metric("产能利用率")]
    numbered = _reply("核心指标：1. 完全成本14.8元/公斤，同比下降1.2元；2. 产能利用率提升至88%。", names)
    semicolons = _reply(
        "段落分析养殖成本。完全成本（14.8元/公斤）——成本竞争力的直接度量；产能利用率（88%）——运营效率的核心信号。",
        names,
    )
    anchored = _reply("本段有2个核心指标。" + muyuan["output"]["analysis"], names)
    cases = [(numbered, ["numbered-list"]), (semicolons, ["semicolon-enumeration"]), (anchored, ["count-anchor"])]
    for reply, fired in cases:
        assert fired_lint_rules(gold_extraction(reply), "A") == fired
        assert _score(muyuan, reply)["lint_penalty"] == -0.5
    # type B's exclusion list written for a type A sample; a test case (no type) is not judged on style
    b_style = _gold_text(jushi)
    assert fired_lint_rules(gold_extraction(b_style), "A") == ["style-mismatch"]
    assert _score(jushi, b_style, "A")["lint_penalty"] == -0.5
    assert _score(jushi, b_style, None)["lint_penalty"] == 0.0
    assert _score(jushi, b_style, "test")["lint_penalty"] == 0.0
    # the reference corpus's type C opening announces the count: its own gold pays the count-anchor penalty
    c_row = _rows(corpus_dir, "type_c.jsonl")[0]
    assert c_row["output"]["analysis"].startswith("本段只有1个指标被深度分析")
    assert _score(c_row, _gold_text(c_row))["lint_penalty"] == -0.5


def test_the_penalty_adds_weights_and_caps_at_one(muyuan):
    both = _reply(
        "本段有2个核心指标：1. 完全成本14.8元/公斤，同比下降1.2元；2. 产能利用率提升至88%。",
        [_metric("完全成本"), _metric("产能利用率")],
    )
    fired = fired_lint_rules(gold_extraction(both), "A")
    assert {"numbered-list", "count-anchor"} <= set(fired)
    assert _score(muyuan, both)["lint_penalty"] == -1.0
    light = RewardWeights(lint_rules={"numbered-list": 0.2, "count-anchor": 0.3})
    scores = reward_breakdown("extraction", both, gold=_gold_text(muyuan), sample_type="A", weights=light)
    assert scores["lint_penalty"] == pytest.approx(-0.5)


def test_reward_weights_refuse_unknown_rules_and_bad_weights():
    with pytest.raises(ValidationError, match="unknown sample lint rule"):
        RewardWeights(lint_rules={"numbered_list": 0.5})
    with pytest.raises(ValidationError, match="must be in"):
        RewardWeights(lint_rules={"numbered-list": 1.5})
    with pytest.raises(ValidationError):
        RewardWeights(name_f1=-1.0)
    with pytest.raises(ValidationError):
        RewardWeights(nme_f1=1.0)
    assert RewardWeights().bounds("extraction") == (-0.5, 2.5)
    assert RewardWeights().bounds("qa") == (0.0, 1.0)


# --- gamed replies lose -------------------------------------------------------------------------------


def test_an_empty_list_loses_to_an_honest_imperfect_answer(muyuan):
    empty = _score(muyuan, _reply(muyuan["output"]["analysis"], []))
    honest = _score(muyuan, _reply(muyuan["output"]["analysis"], [_metric("完全成本"), _metric("出栏量")]))
    assert empty["json_valid"] == 1.0 and honest["json_valid"] == 1.0
    assert empty["total"] == 0.5 and honest["total"] == 1.75


def test_an_enumeration_with_the_right_names_loses_to_prose(muyuan):
    names = [_metric("完全成本"), _metric("产能利用率")]
    listed = _score(muyuan, _reply("核心指标：1. 完全成本14.8元/公斤，同比下降1.2元；2. 产能利用率提升至88%。", names))
    prose = _score(muyuan, _reply(muyuan["output"]["analysis"], names))
    assert listed["name_f1"] == prose["name_f1"] == 1.0
    assert listed["total"] == 2.25 < prose["total"] == 2.5


def test_listing_every_noun_loses_on_count(jushi):
    nouns = _score(
        jushi,
        _reply(
            jushi["output"]["analysis"],
            [_metric(n, "financial") for n in ("毛利率", "玻纤纱均价", "叶腊石采购价", "天然气价格")],
        ),
    )
    honest = _score(jushi, _gold_text(jushi))
    assert nouns["count"] == 0.0 and honest["count"] == 1.0
    assert nouns["total"] == pytest.approx(0.5 + 0.4 + 0.0 + 0.5) and nouns["total"] < honest["total"]
    # past four metrics the reply is not the schema at all
    every = _reply(
        jushi["output"]["analysis"],
        [_metric(n, "financial") for n in ("毛利率", "玻纤纱均价", "叶腊石采购价", "天然气价格", "综合生产成本")],
    )
    assert _score(jushi, every)["total"] == -0.5


# --- count against each row's gold (issue 25) -------------------------------------------------------------

UNRELATED = "员工食堂满意度"  # a name no corpus paragraph analyses, so no matcher pairs it with a gold metric


def _corpus_rows(corpus: Path) -> list[dict[str, Any]]:
    rows = [
        r
        for name in ("type_a.jsonl", "type_b.jsonl", "type_c.jsonl", "type_d.jsonl", "test_cases.jsonl")
        for r in _rows(corpus, name)
    ]
    assert len(rows) == 750
    return rows


def _as_dicts(metrics) -> list[dict[str, Any]]:
    return [dict(m) for m in metrics]


def test_padding_a_short_list_with_a_wrong_name_never_pays(muyuan, corpus_dir: Path):
    """The count term paid for the list's length, right names or not: one right name of two gold plus a wrong
    second one totalled 2.0 against 1.92 for the right name alone (lesson 1's pad-to-N, taught by the reward)."""
    short = _score(muyuan, _reply(muyuan["output"]["analysis"], [_metric("完全成本")]))
    padded = _score(muyuan, _reply(muyuan["output"]["analysis"], [_metric("完全成本"), _metric(UNRELATED)]))
    assert short["count"] == 0.5 and padded["count"] == 0.5  # the wrong name earns no count credit
    assert padded["total"] < short["total"]
    # every real row with two or more gold metrics: the gold list less its last metric, then padded back to the
    # gold length with a wrong name; padding always loses
    checked = 0
    for row in _corpus_rows(corpus_dir):
        metrics = _as_dicts(row["output"]["metrics"])
        if len(metrics) < 2:
            continue
        kind = row["type"] if row["type"] != "test" else None
        cut = _score(row, _reply(row["output"]["analysis"], metrics[:-1]), kind)
        pad = _score(row, _reply(row["output"]["analysis"], [*metrics[:-1], _metric(UNRELATED)]), kind)
        assert pad["total"] < cut["total"], row["input"]["paragraph"][:40]
        checked += 1
    assert checked > 400


def test_a_list_longer_than_gold_scores_below_the_exact_one(corpus_dir: Path):
    """Every real row (A-D and the 50 test cases): the gold reply plus one more metric, wrong or a repeat of a gold
    name's spelling, scores below the gold reply itself, on count and in total."""
    for row in _corpus_rows(corpus_dir):
        metrics = _as_dicts(row["output"]["metrics"])
        if len(metrics) == 4:
            continue  # a fifth metric is not the schema (tested above)
        kind = row["type"] if row["type"] != "test" else None
        exact = _score(row, _gold_text(row), kind)
        for extra in (
            _metric(UNRELATED),
            {**metrics[0], "metric_name": metrics[0]["metric_name"] + "同比"} if metrics else _metric(UNRELATED),
        ):
            longer = _score(row, _reply(row["output"]["analysis"], [*metrics, extra]), kind)
            assert longer["count"] < exact["count"] and longer["total"] < exact["total"], row["input"]["paragraph"][:40]


def test_the_count_is_per_row_against_that_rows_gold(muyuan, jushi, corpus_dir: Path):
    """One trl batch, three rows with 2, 1 and 0 gold metrics, each answered with the same two right-for-muyuan
    names: only the two-metric row earns count credit; nothing is averaged across rows."""
    background = next(r for r in _rows(corpus_dir, "test_cases.jsonl") if not r["output"]["metrics"])
    rows = [muyuan, jushi, background]
    same = _reply("段落分析成本。", _as_dicts(muyuan["output"]["metrics"]))
    funcs, _ = trl_reward_functions("extraction")
    count_fn = next(f for f in funcs if f.__name__ == "count")
    out = count_fn(
        prompts=["p"] * 3,
        completions=[same] * 3,
        gold=[_gold_text(r) for r in rows],
        sample_type=["A", "B", None],
        paragraph=[r["input"]["paragraph"] for r in rows],
    )
    assert out == [1.0, 0.0, 0.0]


def test_the_style_term_keeps_each_types_analysis_style(jushi, corpus_dir: Path):
    """B and D keep their per-item exclusion (D with its classification rationale): the same right metrics under
    a prose analysis cost the style-mismatch weight; A and C keep prose (an exclusion list costs the same)."""
    d_row = _rows(corpus_dir, "type_d.jsonl")[0]
    a_row = _rows(corpus_dir, "type_a.jsonl")[0]
    prose = a_row["output"]["analysis"]
    for row in (jushi, d_row):
        gold = _score(row, _gold_text(row))
        as_prose = _score(row, _reply(prose, _as_dicts(row["output"]["metrics"])))
        assert gold["lint_penalty"] == 0.0, row["type"]
        assert fired_lint_rules(gold_extraction(_reply(prose, row["output"]["metrics"])), row["type"]) == [
            "style-mismatch"
        ]
        assert as_prose["lint_penalty"] == -0.5 and as_prose["total"] == gold["total"] - 0.25
    for row in (a_row, _rows(corpus_dir, "type_c.jsonl")[40]):
        excluded = _score(row, _reply(jushi["output"]["analysis"], _as_dicts(row["output"]["metrics"])))
        assert "style-mismatch" in fired_lint_rules(
            gold_extraction(_reply(jushi["output"]["analysis"], row["output"]["metrics"])), row["type"]
        )
        assert excluded["lint_penalty"] <= -0.5


def test_a_bad_gold_names_the_column():
    with pytest.raises(InputError, match="not a gold extraction"):
        reward_breakdown("extraction", "{}", gold='{"metrics": []}')
    with pytest.raises(InputError, match="column `gold`"):
        reward_breakdown("extraction", "{}")
    with pytest.raises(ValueError, match="unknown reward task"):
        reward_breakdown("chat", "{}", gold="{}")


# --- property tests -----------------------------------------------------------------------------------

_NAMES = [
    "营收",
    "营业收入",
    "毛利率",
    "净利率",
    "ROE",
    "完全成本",
    "产能利用率",
    "出栏量",
    "资产负债率",
    "单票收入",
    "单票成本",
    "逆变器出货量",
    "研发费用率",
    "经营性现金流",
    "市占率",
]
_PROSE = "段落围绕{names}展开，给出了水平与变化，并说明了驱动因素，是段落的分析主体。"
_ANALYSES = [
    "段落围绕经营质量展开，没有逐项罗列，说明了因果关系。",
    "核心指标：1. 毛利率提升；2. 净利率改善。",
    "本段有2个指标被深度分析。段落围绕毛利率展开。",
    "本段核心分析对象是毛利率（31.2%，同比+4.6pct）。逐项排除：玻纤纱均价（同比-12%）：归因项——是收入端背景。",
]
_metrics = st.lists(st.sampled_from(_NAMES), max_size=4, unique=True).flatmap(
    lambda names: st.tuples(*[st.tuples(st.just(n), st.sampled_from(["financial", "business"])) for n in names])
)
_weights = st.builds(
    RewardWeights,
    json_valid=st.floats(0, 2),
    name_f1=st.floats(0, 2),
    count=st.floats(0, 2),
    type_accuracy=st.floats(0, 2),
    lint_penalty=st.floats(0, 2),
)


def _extraction(analysis: str, metrics: tuple[tuple[str, str], ...]) -> str:
    return _reply(analysis, [_metric(n, t, round(1.0 - 0.1 * i, 2)) for i, (n, t) in enumerate(metrics)])


@settings(max_examples=150, deadline=None)
@given(
    gold=_metrics,
    pred=_metrics,
    analysis=st.sampled_from(_ANALYSES),
    garbage=st.booleans(),
    sample_type=st.sampled_from(["A", "B", "C", "D", None]),
    weights=_weights,
)
def test_every_total_lies_within_the_weights_bounds(gold, pred, analysis, garbage, sample_type, weights):
    reply = "不是JSON" if garbage else _extraction(analysis, pred)
    scores = reward_breakdown(
        "extraction", reply, gold=_extraction("段落分析。", gold), sample_type=sample_type, weights=weights
    )
    low, high = weights.bounds("extraction")
    assert low - 1e-9 <= scores["total"] <= high + 1e-9
    for name in EXTRACTION_COMPONENTS:
        assert (-1.0 <= scores[name] <= 0.0) if name == "lint_penalty" else (0.0 <= scores[name] <= 1.0)
    if garbage:
        assert scores["total"] == pytest.approx(low)


@settings(max_examples=100, deadline=None)
@given(gold=_metrics, sample_type=st.sampled_from(["A", "C", None]), weights=_weights)
def test_the_gold_itself_gets_the_maximum(gold, sample_type, weights):
    text = _extraction(_PROSE.format(names="、".join(n for n, _ in gold) or "行业背景"), gold)
    scores = reward_breakdown("extraction", text, gold=text, sample_type=sample_type, weights=weights)
    assert scores["total"] == pytest.approx(weights.bounds("extraction")[1])


def test_every_a_b_d_corpus_gold_is_its_own_best_reply(corpus_dir: Path):
    rows = [r for name in ("type_a.jsonl", "type_b.jsonl", "type_d.jsonl") for r in _rows(corpus_dir, name)[::4]]
    assert len(rows) > 150
    top = RewardWeights().bounds("extraction")[1]
    assert [r["input"]["paragraph"][:20] for r in rows if _score(r, _gold_text(r))["total"] != top] == []


# --- QA ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tatqa(corpus_dir: Path) -> dict[str, Any]:
    from finsynth.qa.tatqa import import_tatqa

    samples, _ = import_tatqa(corpus_dir / TATQA)
    return {s.id: s for s in samples}


def _qa(tatqa: dict[str, Any], uid: str, reply: Any) -> float:
    sample = tatqa[uid]
    return qa_exact(reply, sample.answer.spans, sample.answer.scale)


def test_qa_numbers_after_scale_normalisation(tatqa):
    uid = "eb787966-fa02-401f-bfaf-ccabf3828b23"  # change in Other, 2019 vs 2018: -12.6 million
    assert (tatqa[uid].answer.spans, tatqa[uid].answer.scale) == (["-12.6"], "million")
    assert _qa(tatqa, uid, '{"answer": "-12.6", "scale": "million"}') == 1.0
    assert _qa(tatqa, uid, "-12,600,000") == 1.0
    assert _qa(tatqa, uid, "Answer: (12.6) million") == 1.0  # parentheses are a minus sign
    assert _qa(tatqa, uid, '{"answer": -13.86, "scale": "million"}') == pytest.approx(
        MAGNITUDE_CREDIT * (1 - math.log10(1.1))
    )  # 10% off
    assert _qa(tatqa, uid, '{"answer": "-12.6", "scale": "thousand"}') == 0.0  # a scale error
    assert _qa(tatqa, uid, "-12.6") == 0.0  # no scale: -12.6, a millionth of the answer
    assert _qa(tatqa, uid, '{"answer": "12.6", "scale": "million"}') == 0.0  # the wrong sign
    assert _qa(tatqa, uid, '{"answer": "-126", "scale": "million"}') == 0.0  # a factor of 10
    assert _qa(tatqa, uid, "I cannot tell from the table.") == 0.0


def test_qa_percent_answers(tatqa):
    uid = "05b670d3-5b19-438c-873f-9bf6de29c69e"  # percentage change in Other: -22.22%
    assert (tatqa[uid].answer.spans, tatqa[uid].answer.scale) == (["-22.22"], "percent")
    for reply in (
        "-22.22%",
        '{"answer": "-22.22", "scale": "percent"}',
        "<think>x</think>答案：-22.22%",
        '{"answer": {"text": "-22.22", "spans": ["-22.22"], "scale": "percent"}}',
        '{"analysis": "…", "steps": ["(21-27)/27"], "answer": "-22.22%"}',
    ):
        assert _qa(tatqa, uid, reply) == 1.0, reply
    assert _qa(tatqa, uid, "-22.22") == 0.0  # -22.22 as a number, not -0.2222


def test_qa_counts_and_spans(tatqa):
    count_uid = "8f61e8be-18ee-4226-bb65-e1d1b4dfa8ec"  # how many assumptions: 4
    assert tatqa[count_uid].answer.spans == ["4"]
    assert _qa(tatqa, count_uid, "4") == 1.0
    assert _qa(tatqa, count_uid, "Answer: 3") == pytest.approx(0.5 * (1 - math.log10(4 / 3)))
    multi = "593c4388-5209-4462-8b83-b429c8612c25"  # the contract types: three spans
    assert tatqa[multi].answer.spans == ["fixed-price type", "cost-plus type", "time-and-material type"]
    assert _qa(tatqa, multi, json.dumps({"answer": tatqa[multi].answer.spans[::-1]})) == 1.0
    assert _qa(tatqa, multi, '{"answer": ["fixed-price type", "cost-plus type"]}') == pytest.approx(0.6667)
    span = "4960801d-277d-4f79-8eca-c4d0200fa9d6"  # total sales in 2019: $1,496.5 million (a span of the table)
    assert _qa(tatqa, span, '{"answer": "1496.5", "scale": "million"}') == 1.0
    assert qa_exact("fixed-price", "fixed-price type", "") == 0.6667  # token F1 2/3, rounded as TAT-QA rounds


def test_qa_gold_answer_shapes():
    assert gold_spans('["a", "b"]') == ["a", "b"]
    assert gold_spans("['a', 'b']") == ["a", "b"]  # str(list), as a Python repr
    assert gold_spans(["a"]) == ["a"] and gold_spans(12.5) == ["12.5"] and gold_spans(" 7 ") == ["7"]
    assert gold_spans("[not a list") == ["[not a list"]
    assert qa_answer("") is None and qa_answer(None) is None
    assert qa_answer("Final answer: 42\n") == ("42", "")
    assert qa_answer('{"answer": 1.5, "scale": "bogus"}') == (1.5, "")
    assert magnitude_credit(0.0, 1.0) == 0.0 and magnitude_credit(-1.0, 1.0) == 0.0
    assert magnitude_credit(1.0, 1.0) == MAGNITUDE_CREDIT


def test_qa_kind_column_decides_numeric_or_span():
    # a year is a span: with kind "span" a near year earns nothing; without a kind it is read as a number
    assert qa_exact("2018", "2019", "", kind="span") == 0.0
    assert 0.0 < qa_exact("2018", "2019", "") < MAGNITUDE_CREDIT


# --- trl adapters -------------------------------------------------------------------------------------


def test_trl_functions_are_named_weighted_and_sum_to_the_total(muyuan, jushi):
    funcs, weights = trl_reward_functions("extraction")
    assert [f.__name__ for f in funcs] == list(EXTRACTION_COMPONENTS) and weights == [0.5, 1.0, 0.5, 0.5, 0.5]
    rows = [muyuan, jushi, muyuan]
    replies = [
        _gold_text(muyuan),
        "不是JSON",
        _reply("核心指标：1. 完全成本下降；2. 产能利用率提升。", [_metric("完全成本"), _metric("产能利用率")]),
    ]
    columns = {
        "gold": [_gold_text(r) for r in rows],
        "sample_type": [r["type"] for r in rows],
        "paragraph": [r["input"]["paragraph"] for r in rows],
    }
    plain = [
        f(prompts=["p"] * 3, completions=replies, completion_ids=[[1]] * 3, trainer_state=None, **columns)
        for f in funcs
    ]
    chat = [
        f(
            prompts=[[{"role": "user", "content": "p"}]] * 3,
            completions=[[{"role": "assistant", "content": r}] for r in replies],
            **columns,
        )
        for f in funcs
    ]
    assert plain == chat
    totals = [sum(w * values[i] for w, values in zip(weights, plain, strict=True)) for i in range(3)]
    expected = [
        reward_breakdown(
            "extraction",
            reply,
            gold=columns["gold"][i],
            sample_type=columns["sample_type"][i],
            paragraph=columns["paragraph"][i],
        )["total"]
        for i, reply in enumerate(replies)
    ]
    assert totals == pytest.approx(expected) and totals == pytest.approx([2.5, -0.5, 2.25])


def test_trl_qa_functions_and_custom_weights():
    funcs, weights = trl_reward_functions("qa", RewardWeights(qa_exact=2.0))
    assert [f.__name__ for f in funcs] == list(QA_COMPONENTS) and weights == [2.0]
    out = funcs[0](
        prompts=["q", "q"],
        completions=[[{"role": "assistant", "content": "答案：12.5%"}], "0.3"],
        answer=["12.5", "['a', 'b']"],
        scale=["percent", ""],
    )
    assert out == [1.0, 0.0]


def test_trl_functions_pickle_and_name_a_missing_column():
    funcs, _ = trl_reward_functions("extraction")
    copy = pickle.loads(pickle.dumps(funcs[1]))
    assert copy.__name__ == "name_f1"
    with pytest.raises(InputError, match=r"row 1: .*`gold`"):
        copy(prompts=["p"], completions=["{}"])
    with pytest.raises(InputError, match="row 2: column gold"):
        copy(prompts=["p", "p"], completions=["{}", "{}"], gold=[_reply("x", []), "{}"])
    with pytest.raises(ValueError, match="unknown reward task"):
        trl_reward_functions("chat")
