"""Issue 16, item 3: verified table QA (`finsynth qa tables`): every answer recomputes from its cells."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finsynth.cli import main
from finsynth.qa.checker import check, parse_cell, recompute
from finsynth.qa.schema import Program, Source, Table
from finsynth.qa.tables import generate_table_qa, table_questions

TATQA = "tatqa_dataset_dev.json"


@pytest.fixture(scope="module")
def tatqa_dev(corpus_dir: Path) -> Path:
    path = corpus_dir / "tatqa" / TATQA
    if not path.is_file():
        pytest.skip(f"TAT-QA dev set not found at {path}")
    return path


def _questions(rows: list[list[str]], languages=("zh", "en")):
    return table_questions(
        Table.from_rows(rows, id="t"), source=Source(file="t.json"), languages=languages, id_prefix="t"
    )


def _by(samples, op: str, lang: str = "en"):
    return [s for s in samples if s.program and s.program.op == op and s.language == lang]


# --- cells ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "percent", "unit"),
    [
        ("$  1,452.4", 1452.4, False, "$"),
        ("(19,911)", -19911.0, False, ""),
        ("12.5%", 12.5, True, ""),
        ("1,234.5亿元", 1234.5, False, "亿元"),
        ("（3.2）", -3.2, False, ""),
        ("-5.2%", -5.2, True, ""),
        ("－12％", -12.0, True, ""),
        ("€ 57", 57.0, False, "€"),
    ],
)
def test_cells_are_read_as_written(text, value, percent, unit):
    cell = parse_cell(text)
    assert cell is not None and (cell.value, cell.percent, cell.unit) == (value, percent, unit)


@pytest.mark.parametrize("text", ["", "—", "-", "- - %", "n/a", "Total", "12.5x", "1.2.3"])
def test_empty_markers_and_text_are_not_numbers(text):
    assert parse_cell(text) is None


# --- a TAT-QA style table --------------------------------------------------------------------------

SALES = [
    ["", "", "Years Ended September 30,", ""],
    ["", "2019", "2018", "2017"],
    ["", "", "(in millions)", ""],
    ["Fixed Price", "$  1,452.4", "$  1,146.2", "$  1,036.9"],
    ["Other", "44.1", "56.7", "70.8"],
    ["Services", "—", "12.0", "(3.0)"],
    ["Total sales", "$1,496.5", "$1,215.0", "$1,104.7"],
    ["Gross margin", "12.5%", "11.0%", "10.0%"],
]


def test_a_messy_english_table_gives_the_questions_it_supports():
    samples, skipped = _questions(SALES)
    assert samples and all(check(s) == [] for s in samples) and skipped["checker rejected"] == 0
    change = {s.id: s for s in _by(samples, "change")}["t-change-r3-c1.2-en"]
    assert change.program is not None and change.program.cells == [(3, 2), (3, 1)]
    assert change.answer.text == "306.2" and change.answer.scale == "million" and change.answer.unit == "$"
    assert change.question == "What was the change in Fixed Price from 2018 to 2019?"
    assert change.reasoning.steps[-1] == "1,452.4 - 1,146.2 = 306.2" and change.difficulty == "easy"
    growth = next(s for s in _by(samples, "growth") if s.id == "t-growth-r3-c1.2-en")
    assert growth.answer.text == "26.71%" and growth.answer.scale == "percent"
    # parts 1,452.4 + 44.1 do not add up to 1,496.5 without the empty Services cell: no shares in 2019
    assert not _by(samples, "share")
    # a negative base has no growth; a percent row has a change in points, no growth
    assert not [s for s in _by(samples, "growth") if s.id.startswith("t-growth-r5-c2.3")]
    assert skipped["zero or negative base for growth"] >= 1 and skipped["empty or non-numeric cell"] >= 1
    margin = next(s for s in _by(samples, "change") if s.id == "t-change-r7-c1.2-en")
    assert margin.answer.text == "1.5" and margin.reasoning.answer == "1.5 percentage points"
    assert skipped["growth of a percentage (asked as a change in points)"] == 2
    assert {s.language for s in samples} == {"zh", "en"}
    assert all(s.provenance["generator"] == "tables" for s in samples)


def test_a_total_row_the_parts_add_up_to_gives_shares_and_the_sum():
    rows = [["", "2019", "2018"], ["A", "30", "20"], ["B", "70", "60"], ["C", "100", "20"], ["Total", "200", "100"]]
    samples, _ = _questions(rows, languages=("en",))
    shares = {s.id: s.answer.text for s in _by(samples, "share")}
    assert shares == {"t-share-r1.4-c1-en": "15.00%", "t-share-r2.4-c1-en": "35.00%", "t-share-r3.4-c1-en": "50.00%"}
    (total,) = _by(samples, "sum")
    assert total.answer.text == "200" and total.program is not None and len(total.program.cells) == 3
    (largest,) = _by(samples, "max")
    assert largest.kind == "span" and largest.answer.text == "C" and largest.answer.value is None
    assert largest.program is not None and largest.program.result == 100
    other = largest.answer.model_copy(update={"text": "B", "spans": ["B"]})
    assert check(largest.model_copy(update={"answer": other})) != []
    (smallest,) = _by(samples, "min")
    assert smallest.answer.text == "A"


def test_chinese_table_with_units_percent_and_negatives():
    rows = [
        ["项目", "2023年", "2022年"],
        ["营业收入（亿元）", "1,234.5亿元", "1,100.0亿元"],
        ["净利润（亿元）", "（12.3）", "45.6"],
        ["毛利率（%）", "25.3%", "27.1%"],
        ["营业收入同比", "12.2%", "8.0%"],
    ]
    samples, skipped = _questions(rows)
    assert all(check(s) == [] for s in samples)
    (revenue,) = [s for s in _by(samples, "change", "zh") if s.id == "t-change-r1-c1.2-zh"]
    assert revenue.answer.text == "134.5亿元" and revenue.answer.unit == "亿元"
    assert revenue.question == "营业收入（亿元）从2022年到2023年的变动是多少？"
    profit = next(s for s in _by(samples, "change", "zh") if s.id == "t-change-r2-c1.2-zh")
    assert profit.answer.value == -57.9
    margin = next(s for s in _by(samples, "change", "zh") if s.id == "t-change-r3-c1.2-zh")
    assert margin.reasoning.answer == "-1.8个百分点"
    # 亿元 rows and % rows are not compared with one another
    assert skipped["mixed units"] >= 1 and not _by(samples, "max", "zh")


def test_a_count_of_shares_is_in_no_currency():
    rows = [
        ["", "2019", "2018"],
        ["", "(in $ millions)", ""],
        ["Revenue", "1,000", "900"],
        ["Diluted weighted average shares outstanding", "120", "125"],
    ]
    samples, _ = _questions(rows, languages=("en",))
    revenue, shares = (next(s for s in _by(samples, "change") if s.id == f"t-change-r{r}-c1.2-en") for r in (2, 3))
    assert revenue.answer.unit == "$" and revenue.answer.scale == "million"
    assert shares.answer.unit is None and shares.reasoning.answer == "-5 million"


def test_mixed_scales_in_a_column_are_skipped():
    rows = [
        ["", "2019", "2018"],
        ["Revenue", "1,000", "900"],
        ["Revenue per share", "1.20", "1.10"],
        ["Cost", "600", "500"],
    ]
    samples, skipped = _questions(rows, languages=("en",))
    assert skipped["mixed units"] == 1 and not _by(samples, "difference")


# --- the checker ---------------------------------------------------------------------------------


def test_recompute_reads_the_cells_again():
    table = Table.from_rows(SALES)
    assert recompute(Program(op="change", cells=[(3, 2), (3, 1)], result=0), table) == pytest.approx(306.2)
    assert recompute(Program(op="share", cells=[(4, 1), (6, 1)], result=0), table) == pytest.approx(44.1 / 1496.5 * 100)
    with pytest.raises(ValueError, match=r"cell \[5, 1\]"):
        recompute(Program(op="sum", cells=[(5, 1), (4, 1)], result=0), table)


def test_check_names_each_problem():
    samples, _ = _questions(SALES, languages=("en",))
    sample = _by(samples, "change")[0]
    wrong_answer = sample.model_copy(update={"answer": sample.answer.model_copy(update={"value": 1.0, "text": "1"})})
    assert len(check(wrong_answer)) == 2
    table = sample.context.table
    assert table is not None and sample.program is not None
    r, c = sample.program.cells[0]
    rows = [list(row) for row in table.rows]
    rows[r][c] = "999,999"
    mutated = sample.model_copy(update={"context": sample.context.model_copy(update={"table": Table.from_rows(rows)})})
    assert any("program.result" in p for p in check(mutated))
    assert check(sample.model_copy(update={"program": None})) == []


# --- properties ------------------------------------------------------------------------------------

_FORMATS = [
    lambda v: f"{v:,.1f}",
    lambda v: f"${v:,.0f}" if v >= 0 else f"$({-v:,.0f})",
    lambda v: f"({-v:,.2f})" if v < 0 else f"{v:,.2f}",
    lambda v: f"{v:.1f}%",
    lambda v: f"{v:,.1f}亿元",
    lambda v: "—",
    lambda v: "",
]


@st.composite
def messy_tables(draw):
    years = draw(st.integers(2, 4))
    n = draw(st.integers(1, 6))
    header = ["", *[str(2020 - k) for k in range(years)]]
    rows = [header]
    for i in range(n):
        fmt = draw(st.sampled_from(_FORMATS))
        values = draw(
            st.lists(st.floats(-5e4, 5e4, allow_nan=False).map(lambda v: round(v, 2)), min_size=years, max_size=years)
        )
        rows.append([f"item {i}", *[fmt(v) for v in values]])
    if draw(st.booleans()):
        rows.append(["Total", *["" for _ in range(years)]])
    return rows


@pytest.mark.slow
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy_tables())
def test_every_generated_answer_rechecks_and_a_mutation_fails(rows):
    samples, skipped = _questions(rows)
    assert skipped["checker rejected"] == 0
    for sample in samples:
        assert check(sample) == [], sample.id
        assert sample.program is not None
        if sample.program.op not in ("max", "min"):
            off = sample.program.result + 10**-sample.program.decimals  # a whole unit of the last decimal off
            assert check(sample.model_copy(update={"answer": sample.answer.model_copy(update={"value": off})}))
        caught = []
        for r, c in sample.program.cells:  # some operand matters (a growth to 0 is -100% from any base)
            changed = [list(row) for row in rows]
            changed[r][c] = "123,456.7"  # no drawn value is this large
            table = Table.from_rows(changed, id="t")
            caught.append(
                bool(check(sample.model_copy(update={"context": sample.context.model_copy(update={"table": table})})))
            )
        assert any(caught), sample.id


def test_questions_follow_the_table_not_a_fixed_count():
    two = [["", "2019", "2018"], ["A", "1", "2"]]
    three = [["", "2019", "2018", "2017"], ["A", "1", "2", "4"], ["B", "3", "5", "7"]]
    assert len(_questions(two, languages=("en",))[0]) == 3  # change, average, growth
    assert len(_questions(three, languages=("en",))[0]) == 2 * 2 * 3 + 1  # two rows x two year pairs x 3 + difference


# --- the TAT-QA dev set and the CLI --------------------------------------------------------------------


@pytest.mark.slow
def test_tatqa_dev_every_answer_rechecks_and_counts_reconcile(tatqa_dev):
    result = generate_table_qa(tatqa_dev)
    summary = result.summary
    assert summary["tables_read"] == 278 and summary["reconciles"]
    assert summary["tables_read"] == summary["tables_with_questions"] + sum(summary["tables_skipped"].values())
    assert summary["checker_rejected"] == 0 and result.samples
    assert all(check(s) == [] for s in result.samples)
    ops = Counter(s.program.op for s in result.samples if s.program)
    assert set(ops) == {"change", "growth", "share", "difference", "sum", "average", "max", "min"}
    assert len({s.id for s in result.samples}) == len(result.samples)
    assert summary["questions"] == sum(summary["by_op_language"].values()) == len(result.samples)
    # what the generator writes passes the QA lint (no answer in its question, every number grounded)
    from finsynth.qa.lint import lint_qa

    assert lint_qa(result.samples).errors == 0


@pytest.mark.slow
def test_cli_writes_the_same_bytes_twice_and_reports_json(tatqa_dev, tmp_path, capsys):
    for out in ("a", "b"):
        assert main(["qa", "tables", str(tatqa_dev), "--out", str(tmp_path / out), "--format", "json"]) == 0
    first = json.JSONDecoder().raw_decode(capsys.readouterr().out)[0]
    assert first["questions"] > 0 and first["out"].endswith("table_qa.jsonl")
    a, b = (tmp_path / "a" / "table_qa.jsonl").read_bytes(), (tmp_path / "b" / "table_qa.jsonl").read_bytes()
    assert a == b and a


def test_cli_text_summary_languages_and_qa_jsonl_input(tmp_path, capsys):
    qa = tmp_path / "qa.jsonl"
    samples, _ = _questions([["", "2019", "2018"], ["A", "1", "2"], ["B", "3", "4"], ["Total", "4", "6"]])
    qa.write_text("".join(s.model_dump_json() + "\n" for s in samples[:2]), encoding="utf-8")  # one table twice
    assert main(["qa", "tables", str(qa), "--out", str(tmp_path / "o"), "--lang", "en", "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["tables_read"] == 2 and summary["tables_skipped"] == {"duplicate table": 1}
    assert set(summary["by_op_language"]) >= {"share/en", "sum/en"} and summary["reconciles"]
    rows = (tmp_path / "o" / "table_qa.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rows) == summary["questions"] and all(json.loads(r)["language"] == "en" for r in rows)
    assert main(["qa", "tables", str(qa), "--out", str(tmp_path / "t")]) == 0
    assert "checked questions" in capsys.readouterr().out


def test_cli_exit_codes(tmp_path, capsys):
    assert main(["qa", "tables", str(tmp_path / "missing.json"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing.json" in err
    empty = tmp_path / "qa.jsonl"
    empty.write_text(json.dumps({"id": "c1", "source": {"file": "a.pdf", "table": [["x", "y"], ["a", "b"]]}}) + "\n")
    assert main(["qa", "tables", str(empty), "--out", str(tmp_path / "o")]) == 1
    assert "tables skipped 1: no numeric cells" in capsys.readouterr().out
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n', encoding="utf-8")
    assert main(["qa", "tables", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "bad.jsonl:1:" in capsys.readouterr().err


# --- issue 24 item 4: Chinese questions say TAT-QA's column headers cleanly ----------------------------


@pytest.mark.parametrize(
    ("header", "year", "said"),
    [
        ("December 31, $", 2019, "2019年12月31日"),
        ("30 June $", 2018, "2018年6月30日"),
        ("Year Ended December 31,", 2019, "截至2019年12月31日止年度"),
        ("52 weeks ended 30 Mar", 2019, "截至2019年3月30日止52周"),
        ("Fiscal Year", 2018, "2018财年"),
        ("FY `", 2019, "2019财年"),
        ("Q4", 2019, "2019年第四季度"),
        ("(S$ million)", 2019, "2019年"),
        ("Financial assets RMB’Million", 2019, "Financial assets 2019年"),
        (
            "Appropriation of earnings (in thousand NT dollars) Appropriation of earnings (in thousand NT dollars)",
            2019,
            "Appropriation of earnings 2019年",
        ),
        ("December 31, Carrying Amount", 2018, "Carrying Amount 2018年12月31日"),
        ("Domestic", 2018, "Domestic 2018年"),
        ("$ Difference", None, "Difference"),
        ("December 31, 2019 Fair Value", None, "Fair Value 2019年12月31日"),
        ("Total £m", None, "Total"),
    ],
)
def test_a_header_is_said_without_currency_fragments_and_with_a_chinese_date(header, year, said):
    from finsynth.qa.tables import zh_header

    assert zh_header(header, year) == said


def test_chinese_questions_carry_no_english_dates_or_currency_signs_from_headers():
    # the header rows of a TAT-QA dev table (a year inside the date, the currency on a row of its own)
    rows = [
        ["", "Years ended", "", "", ""],
        ["", "December 31, 2019", "", "December 31, 2018", ""],
        ["", "$", "%", "$", "%"],
        ["Canada", "96,168", "6.1%", "70,774", "6.6%"],
        ["Mexico", "20,153", "1.3%", "18,090", "1.7%"],
        ["Total", "116,321", "7.4%", "88,864", "8.3%"],
    ]
    samples, _ = _questions(rows)
    zh = [s.question for s in samples if s.language == "zh"]
    en = [s.question for s in samples if s.language == "en"]
    assert zh and all("December" not in q and "$" not in q for q in zh), zh
    assert any("从2018年12月31日到2019年12月31日" in q for q in zh), zh
    assert any("December 31" in q for q in en)  # English questions keep the header as written


def test_headers_that_clean_to_the_same_words_keep_their_own():
    rows = [["", "US$ 2019", "RMB 2019"], ["Revenue", "100", "700"], ["Cost", "60", "420"], ["Other", "10", "70"]]
    samples, _ = _questions(rows, languages=("zh",))
    said = {q.question.split("，")[0] for q in samples if q.program and q.program.op == "difference"}
    assert len(said) == 2, said  # not both "2019年": each question still names its column


def test_tatqa_dev_chinese_headers_are_clean(tatqa_dev):
    result = generate_table_qa(tatqa_dev, languages=("zh",))
    questions = [s.question for s in result.samples]
    assert len(questions) == 6968
    assert not [q for q in questions if "December 31, $" in q or "$ 2019年" in q or "$ 2018年" in q]
    assert not [q for q in questions if "RMB’Million 20" in q or "(S$ million) 20" in q]
