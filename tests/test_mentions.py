"""Quantitative mention extraction from Chinese financial text (finsynth/mentions.py)."""

from __future__ import annotations

import json

import pytest

from finsynth.text.mentions import QUANTITY_KINDS, Mention, extract_mentions, is_period, numbers_in


def _triples(paragraph: str) -> list[tuple[str, str, float | None]]:
    return [(m.text, m.kind, m.value) for m in extract_mentions(paragraph)]


@pytest.mark.parametrize(
    ("paragraph", "expected"),
    [
        ("生猪出栏量3,260万头", [("3,260万头", "count", 3260.0)]),
        ("新签订单金额约95亿元", [("95亿元", "amount", 95.0)]),
        ("玻纤纱均价同比-12%", [("-12%", "percent", -12.0)]),
        ("毛利率同比+4.6pct", [("+4.6pct", "pct_point", 4.6)]),
        ("毛利率同比改善4.6个百分点", [("4.6个百分点", "pct_point", 4.6)]),
        ("融资成本下降42bp", [("42bp", "pct_point", 42.0)]),
        ("完全成本14.8元/公斤", [("14.8元/公斤", "price", 14.8)]),
        ("电池包成本降至0.32元/Wh", [("0.32元/Wh", "price", 0.32)]),
        ("现金短债比为2.15倍", [("2.15倍", "multiple", 2.15)]),
        ("付费会员消费额是普通会员的两倍", [("两倍", "multiple", 2.0)]),
        ("逆变器出货量达68GW", [("68GW", "count", 68.0)]),
        ("新开门店23家", [("23家", "count", 23.0)]),
        ("处理能力4,850万吨/日", [("4,850万吨/日", "count", 4850.0)]),
        ("存货周转天数78天", [("78天", "count", 78.0)]),
        ("会员总数突破4,200万，", [("4,200万", "count", 4200.0)]),
        ("1.6T光模块已送样", [("1.6T", "other", 1.6)]),
        ("净现比为-0.15。", [("-0.15", "other", -0.15)]),
    ],
)
def test_extracts_number_with_unit_and_kind(paragraph: str, expected: list) -> None:
    assert _triples(paragraph) == expected


def test_offsets_point_into_the_paragraph() -> None:
    paragraph = "受益于原材料价格下降，中国巨石2025H1毛利率提升至31.2%，同比改善4.6个百分点。"
    for mention in extract_mentions(paragraph):
        assert paragraph[mention.start : mention.end] == mention.text
        assert isinstance(mention, Mention)


def test_full_width_digits_keep_offsets() -> None:
    paragraph = "毛利率为３１．２％，同比提升"
    (mention,) = extract_mentions(paragraph)
    assert mention.value == 31.2 and mention.kind == "percent"
    assert paragraph[mention.start : mention.end] == mention.text == "３１．２％"


@pytest.mark.parametrize(
    ("paragraph", "subjects"),
    [
        ("叶腊石采购价同比下降22%", ["叶腊石采购价"]),
        ("中国巨石2025H1毛利率提升至31.2%，同比改善4.6个百分点。", ["毛利率", "毛利率"]),
        ("牧原股份2025H1实现生猪出栏量3,260万头，同比增长12.5%。", ["生猪出栏量", "生猪出栏量"]),
        ("碳酸锂市场均价从2024H1的约8.5万元/吨回升至约12万元", ["碳酸锂市场均价", "碳酸锂市场均价"]),
        ("全国信创市场规模预计2025年约1.2万亿元。", ["全国信创市场规模"]),
        ("面板价格从年初的148美元降至6月的112美元。", ["面板价格", "面板价格"]),
    ],
)
def test_subject_is_the_noun_phrase_before_the_number(paragraph: str, subjects: list[str]) -> None:
    assert [m.subject for m in extract_mentions(paragraph)] == subjects


@pytest.mark.parametrize(
    "paragraph",
    [
        "2025H1公司经营稳健",
        "2025年公司经营稳健",
        "Q3环比改善",
        "3Q24收入回暖",
        "三季度需求回暖",
        "连续三年保持领先",
        "连续5个季度刷新纪录",
        "1-9月累计",
        "2024-2026年规划",
        "12月31日前完成",
        "近5年复合增长",
        "FY2025业绩",
    ],
)
def test_dates_and_periods_are_not_mentions(paragraph: str) -> None:
    assert extract_mentions(paragraph) == []


@pytest.mark.parametrize(
    "paragraph",
    ["A100芯片供货", "NT3平台车型", "H1业绩", "T+3模式上线", "i茅台平台"],
)
def test_identifiers_are_not_mentions(paragraph: str) -> None:
    assert extract_mentions(paragraph) == []


def test_list_markers_are_not_mentions() -> None:
    paragraph = "1. 营收增长10%；2、毛利率31%，（3）净利率提升"
    assert _triples(paragraph) == [("10%", "percent", 10.0), ("31%", "percent", 31.0)]
    assert [m.subject for m in extract_mentions(paragraph)] == ["营收", "毛利率"]


def test_range_takes_the_unit_of_its_upper_bound() -> None:
    assert _triples("预计增速5-10%") == [("5", "percent", 5.0), ("10%", "percent", 10.0)]


def test_decimal_numbers_are_not_split() -> None:
    assert _triples("营收增长3.5万，售价9.8元") == [("3.5万", "count", 3.5), ("9.8元", "amount", 9.8)]


def test_chinese_numeral_percentage_points() -> None:
    assert _triples("毛利率提升两个百分点") == [("两个百分点", "pct_point", 2.0)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025H1", True),
        ("2025年", True),
        ("Q3", True),
        ("三季度", True),
        ("连续三年", True),
        ("上半年", True),
        ("1-9月", True),
        ("2024-2026年", True),
        ("3Q24", True),
        ("2025Q2", True),
        ("78天", False),
        ("4个月", False),
        ("9.8元", False),
        ("31.2%", False),
        ("3,260万头", False),
    ],
)
def test_is_period(text: str, expected: bool) -> None:
    assert is_period(text) is expected


def test_numbers_in_reads_every_number_as_absolute_value() -> None:
    assert numbers_in("毛利率（31.2%，同比+4.6pct），会员4,200万，降幅-12%") == {31.2, 4.6, 4200.0, 12.0}


def test_skip_values_leaves_out_cited_numbers() -> None:
    paragraph = "毛利率为31.2%，净利率为12.5%。"
    kept = extract_mentions(paragraph, skip_values={31.2})
    assert [(m.text, m.subject) for m in kept] == [("12.5%", "净利率")]


def test_corpus_paragraphs(corpus_dir) -> None:
    """Every corpus paragraph parses; no mention is a period; nearly every quantity has a subject."""
    total = with_subject = 0
    for name in ("type_a.jsonl", "type_b.jsonl", "type_c.jsonl", "type_d.jsonl", "test_cases.jsonl"):
        for line in (corpus_dir / name).read_text(encoding="utf-8").splitlines():
            paragraph = json.loads(line)["input"]["paragraph"]
            for mention in extract_mentions(paragraph):
                assert not is_period(mention.text), mention
                assert paragraph[mention.start : mention.end] == mention.text
                if mention.kind in QUANTITY_KINDS:
                    total += 1
                    with_subject += bool(mention.subject)
    assert total > 5000
    assert with_subject / total > 0.97


def test_subject_drops_compound_movement_verbs():
    from finsynth.text.mentions import extract_mentions

    cases = {
        "公司吨油成本下降至约3,150元/吨。": "吨油成本",
        "销售费用率上升至8.5%。": "销售费用率",
        "存货减少至12亿元。": "存货",
    }
    for paragraph, subject in cases.items():
        (mention,) = extract_mentions(paragraph)
        assert mention.subject == subject, (paragraph, mention.subject)
