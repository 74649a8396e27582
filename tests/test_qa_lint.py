"""Issue 16 item 5: the grounding check (`finsynth.qa.grounding`), the QA lint rules and `finsynth qa lint`."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finsynth.cli import main
from finsynth.qa.grounding import context_numbers, context_text, expression_values, ungrounded
from finsynth.qa.lint import QA_RULES, QAFinding, example_sample, lint_qa
from finsynth.qa.schema import Context, Paragraph, QASample, Table
from finsynth.qa.tatqa import import_tatqa

# `answer-contradicts-program` calls `finsynth.qa.checker` (issue 16, another item): until it exists, the tests
# that run every rule run the others, and the CLI tests (the CLI runs every rule) skip
HAS_CHECKER = importlib.util.find_spec("finsynth.qa.checker") is not None
RUNNABLE = [r for r in QA_RULES if HAS_CHECKER or r != "answer-contradicts-program"]
needs_checker = pytest.mark.skipif(not HAS_CHECKER, reason="finsynth.qa.checker is not there yet")

TABLE = [
    ["", "2019", "2018", "2017"],
    ["Fixed Price", "$ 1,452.4", "$ 1,146.2", "$ 1,036.9"],
    ["Other", "44.1", "56.7", "(70.8)"],
]
EN = Context(
    paragraphs=[Paragraph(id="p", order=1, text="Sales to Lockheed Martin grew 12% to $2.5 million.")],
    table=Table.from_rows(TABLE),
)
ZH = Context(
    paragraphs=[
        Paragraph(id="p", order=1, text="招商银行2024年营业收入12,000万元，同比增长８．５％；《金融时报》报道。")
    ]
)


# --- grounding ------------------------------------------------------------------------------------


def test_context_text_is_paragraphs_then_the_table():
    text = context_text(EN)
    assert text.startswith("Sales to Lockheed Martin") and text.endswith(EN.table.markdown)


def test_context_numbers_normalise_sign_percent_and_scale():
    values = context_numbers(EN)
    assert 0.12 in values and 2_500_000 in values and -70.8 in values and 1452.4 in values
    assert 120_000_000 in context_numbers(ZH) and 0.085 in context_numbers(ZH)  # 万 and a full-width percent


@pytest.mark.parametrize("answer", ["1,452.4", "1452.4", "$2.5 million", "12%", "-12.6", "2019", "(70.8)"])
def test_numbers_the_context_writes_are_grounded(answer):
    assert ungrounded(answer, EN) == []


def test_one_step_operations():
    grounded = {
        "100.8": "44.1 + 56.7",
        "12.6": "56.7 - 44.1",
        "50.4": "(44.1 + 56.7) / 2",
        "0.78": "44.1 / 56.7",
        "-22.22": "(44.1 - 56.7) / 56.7 * 100",
        "77.78": "44.1 / 56.7 * 100",
        "1,211.83": "average of the Fixed Price row",
        "3,635.5": "sum of the Fixed Price row",
    }
    for answer, why in grounded.items():
        assert ungrounded(answer, EN) == [], why
    assert ungrounded("101.1", EN) and ungrounded("1,598.0", EN) and ungrounded("-25.31", EN)


def test_a_span_answer_must_be_written_in_the_context():
    assert ungrounded("100.8", EN) == [] and ungrounded("100.8", EN, computed=False) == [
        "number '100.8' is not in the context"
    ]
    assert ungrounded("$ 1,146.2", EN, computed=False) == []


def test_rounding_tolerance_follows_the_written_decimals():
    assert ungrounded("-22.2", EN) == [] and ungrounded("-22", EN) == []
    assert ungrounded("-22.29", EN)  # two decimals claim -22.29, the step gives -22.22


def test_grounded_steps_are_intermediate_results():
    # 44.1 + 56.7 = 100.8, then 100.8 / 1,452.4 = 6.94% is two steps: grounded only through the step
    assert ungrounded("6.94", EN)
    assert ungrounded("6.94", EN, steps=["44.1 + 56.7 = 100.8", "100.8 / 1,452.4 * 100 = 6.94"]) == []
    # an ungrounded number in a step does not ground what builds on it
    assert ungrounded("7.32", EN, steps=["44.1 + 62.2 = 106.3", "106.3 / 1,452.4 * 100 = 7.32"])
    assert expression_values("(44.1-56.7)/56.7") == [pytest.approx(-0.2222, abs=1e-4)]
    assert expression_values("53%*$23,406") == [pytest.approx(12405.18)]
    assert expression_values("revenue rose in 2019") == []


def test_small_counts_and_chinese_numbers():
    assert ungrounded("3", EN) == []  # "how many years": a count, not judged
    assert ungrounded("1.2亿元", ZH) == []  # 12,000万 written another way
    assert ungrounded("8.5%", ZH) == [] and ungrounded("９．１％", ZH)


def test_names():
    assert ungrounded("Lockheed Martin", EN) == [] and ungrounded("Fixed Price", EN) == []
    assert ungrounded("Boeing Company", EN) == ["name 'Boeing Company' does not occur in the context"]
    assert ungrounded("Sales grew.", EN) == []  # a capitalised first word is not a name
    assert ungrounded("招商银行", ZH) == [] and ungrounded("工商银行", ZH)
    assert ungrounded("《金融时报》", ZH) == [] and ungrounded("《华尔街日报》", ZH)
    assert ungrounded("本公司", ZH) == [] and ungrounded("回购股份", ZH) == []  # generic heads, share nouns
    assert ungrounded("温氏股份", ZH) == ["name '温氏股份' does not occur in the context"]
    assert ungrounded("Sales grew in 2025H1.", EN) == []  # a period code is not a name


@settings(max_examples=60, deadline=None)
@given(
    st.integers(100, 99_999),
    st.integers(100, 99_999),
    st.sampled_from(["sum", "difference", "average", "ratio", "growth"]),
    st.booleans(),
)
def test_any_one_step_result_is_grounded(a, b, op, commas):
    context = Context(table=Table.from_rows([["", "2019", "2018"], ["Revenue", f"{a:,}", f"{b:,}"]]))
    value = {
        "sum": a + b,
        "difference": a - b,
        "average": (a + b) / 2,
        "ratio": a / b * 100,
        "growth": (a - b) / b * 100,
    }[op]
    written = f"{value:,.2f}" if commas else f"{value:.2f}"
    assert ungrounded(written, context) == []


@settings(max_examples=60, deadline=None)
@given(st.integers(1_000, 9_999), st.integers(1_000, 9_999))
def test_a_number_far_from_every_step_is_not_grounded(a, b):
    context = Context(table=Table.from_rows([["", "2019", "2018"], ["Revenue", str(a), str(b)]]))
    # above a + b (the largest one-step value of two positive cells) by more than rounding
    assert ungrounded(f"{a + b + 7}", context)


# --- rules --------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule_id", list(QA_RULES))
def test_every_rule_fires_on_its_example_and_passes_the_other(rule_id):
    if rule_id not in RUNNABLE:
        pytest.skip("finsynth.qa.checker is not there yet")
    rule = QA_RULES[rule_id]
    for example, fires in ((rule.fires, True), (rule.passes, False)):
        samples, test = example.load()
        found = [f for f in lint_qa(samples, test, rules=[rule_id]).findings if f.rule == rule_id]
        assert bool(found) is fires, (rule_id, example.note, found)


def test_rules_are_documented():
    for rule in QA_RULES.values():
        assert rule.id == rule.id.lower() and " " not in rule.id
        assert rule.summary and rule.rationale and rule.fix
        assert f"# {rule.id} ({rule.severity}" in rule.explain()


def test_leak_severity_depends_on_the_kind():
    samples, _ = QA_RULES["answer-in-question"].fires.load()
    severities = {f.sample_id: f.severity for f in lint_qa(samples, rules=["answer-in-question"]).findings}
    assert severities == {"q1": "error", "q2": "warning"}


@settings(max_examples=40, deadline=None)
@given(st.floats(11, 1e6, allow_nan=False).map(lambda v: round(v, 2)))
def test_a_computed_answer_appended_to_its_question_is_an_error(value):
    row = example_sample("What is the change in revenue?", f"{value:,.2f}", kind="arithmetic", value=value)
    leaked = QASample.model_validate({**row, "question": f"What is the change in revenue, is it {value:,.2f}?"})
    found = lint_qa([leaked], rules=["answer-in-question"]).findings
    assert [f.severity for f in found] == ["error"]


def test_result_counts_and_blocking():
    samples, _ = QA_RULES["duplicate-question"].fires.load()
    result = lint_qa(samples, rules=RUNNABLE)
    assert result.by_rule["duplicate-question"] == 1 and set(result.by_rule) == set(QA_RULES)
    assert result.errors == sum(f.severity == "error" for f in result.findings)
    assert result.errors + result.warnings == len(result.findings)
    assert [f.rule for f in result.blocking("q2")] == ["duplicate-question"] and result.blocking("q1") == []
    assert set(result.blocking_by_sample()) == {"q2"}
    assert lint_qa(samples, rules=RUNNABLE) == result  # deterministic


def test_near_duplicates_that_ask_for_another_year_are_not_flagged():
    rows = [
        example_sample("What was the percentage change in Other in 2019 from 2018?", "x", id="a"),
        example_sample("What was the percentage change in Other in 2018 from 2017?", "x", id="b"),
        example_sample("What was the change in Other in 2019 from 2018?", "x", id="c"),
    ]
    assert lint_qa([QASample.model_validate(r) for r in rows], rules=["near-duplicate-question"]).findings == []


def test_fixed_count_warns_between_the_thresholds():
    rows = [
        example_sample(f"What is the revenue of segment {k} in year {q}?", "1,496.5", id=f"c{k}q{q}", chunk_id=f"k{k}")
        for k in range(20)
        for q in range(2 if k < 17 else 3)
    ]
    found = lint_qa([QASample.model_validate(r) for r in rows], rules=["fixed-question-count"]).findings
    assert found == [
        QAFinding(
            rule="fixed-question-count",
            severity="warning",
            sample_id=None,
            message="17 of 20 chunks (85%) have exactly 2 questions",
        )
    ]


# --- real TAT-QA rows ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tatqa_gold(corpus_dir: Path) -> list[QASample]:
    path = corpus_dir / "tatqa" / "tatqa_dataset_dev.json"
    if not path.is_file():
        pytest.skip(f"TAT-QA dev set not found at {path}")
    return import_tatqa(path)[0]


@pytest.mark.slow
def test_gold_answers_are_grounded(tatqa_gold):
    # measured (benchmarks/qa_lint_quality.py): 1 of 1,668 with the derivation steps, 17 answer-only
    def flagged(s: QASample, steps: bool) -> bool:
        return bool(
            ungrounded(
                s.answer.text,
                s.context,
                steps=s.reasoning.steps if steps else (),
                computed=s.kind not in ("span", "multi-span"),
            )
        )

    with_steps = sum(flagged(s, True) for s in tatqa_gold)
    answer_only = sum(flagged(s, False) for s in tatqa_gold)
    assert with_steps / len(tatqa_gold) <= 0.003
    assert answer_only / len(tatqa_gold) <= 0.02


@pytest.mark.slow
def test_lint_on_gold_finds_tatqa_fixed_six_questions_and_few_sample_errors(tatqa_gold):
    result = lint_qa(tatqa_gold, rules=RUNNABLE)
    fixed = [f for f in result.findings if f.rule == "fixed-question-count"]
    assert [(f.severity, f.message) for f in fixed] == [("error", "278 of 278 chunks (100%) have exactly 6 questions")]
    sample_errors = {f.sample_id for f in result.findings if f.severity == "error" and f.sample_id}
    assert len(sample_errors) / len(tatqa_gold) <= 0.01


# --- CLI ----------------------------------------------------------------------------------------


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_cli_missing_file_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["qa", "lint", str(tmp_path / "missing.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing.jsonl" in err


@needs_checker
def test_cli_reports_findings_and_exits_1_on_errors(tmp_path, capsys):
    bad = _write(tmp_path / "bad.jsonl", list(QA_RULES["duplicate-question"].fires.samples))
    assert main(["qa", "lint", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "q2: error duplicate-question: question repeats q1" in out and "| duplicate-question | error | 1 |" in out
    assert main(["qa", "lint", str(bad), "--format", "json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["errors"] == 1 and payload["by_rule"]["duplicate-question"] == 1


@needs_checker
def test_cli_clean_file_with_test_set(tmp_path, capsys):
    example = QA_RULES["split-leakage"].passes
    train = _write(tmp_path / "train.jsonl", list(example.samples))
    test = _write(tmp_path / "test.jsonl", list(example.test))
    assert main(["qa", "lint", str(train), "--test", str(test)]) == 0
    assert "0 error(s), 0 warning(s)" in capsys.readouterr().out
    assert main(["qa", "lint", str(train), "--test", str(tmp_path / "nope.jsonl")]) == 2


def test_cli_rules_and_explain(capsys):
    assert main(["qa", "lint", "--rules"]) == 0
    listing = capsys.readouterr().out
    assert all(r in listing for r in QA_RULES)
    assert main(["qa", "lint", "--explain", "ungrounded-answer"]) == 0
    assert "## How to fix" in capsys.readouterr().out
    assert main(["qa", "lint", "--explain", "no-such-rule"]) == 2


def test_choice_questions_and_years_are_not_leaks():
    """Real shapes the table generator writes: "which of A, B and C" lists its options (a label with a number
    in it, "Increases ... 623", is still an option), and the year 2019 is not the amount -2,019."""
    table = [["", "2019"], ["Accrued compensation", "1,000"], ["Stock-based compensation", "3,019"]]
    choice = QASample.model_validate(
        example_sample(
            "Which of Increases in current year  623 and Other assets was the largest in 2019?",
            "Increases in current year  623",
            kind="span",
            table=table,
        )
    )
    zh_choice = QASample.model_validate(
        example_sample(
            "2019年，Increases in current year  623、Other assets中哪一项最大？",
            "Increases in current year  623",
            kind="span",
            id="q2",
            table=table,
        )
    )
    year = QASample.model_validate(
        example_sample(
            "What was the difference between Accrued compensation and Stock-based compensation in 2019?",
            "-2,019",
            kind="arithmetic",
            value=-2019.0,
            id="q3",
            table=table,
        )
    )
    leak = QASample.model_validate(
        example_sample(
            "The difference was -2,019; what was the difference in 2019?",
            "-2,019",
            kind="arithmetic",
            value=-2019.0,
            id="q4",
            table=table,
        )
    )
    found = lint_qa([choice, zh_choice, year, leak], rules=["answer-in-question"]).findings
    assert [f.sample_id for f in found] == ["q4"]


def test_a_chinese_date_in_the_question_is_not_a_stated_answer():
    # `qa tables` says TAT-QA's "April 27" header as 2019年4月27日 (issue 24): the 27 and the 4 are a date
    dated = example_sample(
        "2019年4月27日，Security占Total Product的比例是多少？", "27.00%", kind="arithmetic", value=27.0
    )
    stated = example_sample("Security占Total Product的比例是27.00%，对吗？", "27.00%", kind="arithmetic", value=27.0)
    dated, stated = QASample.model_validate(dated), QASample.model_validate(stated)
    assert not [f for f in lint_qa([dated], rules=["answer-in-question"]).findings]
    assert [f.severity for f in lint_qa([stated], rules=["answer-in-question"]).findings] == ["error"]
