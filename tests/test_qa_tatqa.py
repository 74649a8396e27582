"""Issue 16, items 1-2: the `QASample` schema, `finsynth qa import-tatqa` and TAT-QA's EM / F1 (`qa eval`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finsynth.cli import main
from finsynth.qa.schema import Answer, Context, Grounding, QASample, Reasoning, Source, Table
from finsynth.qa.tatqa import evaluate, import_tatqa, parse_number, score_answer


def _sample(id: str, spans: list[str], kind: str, scale: str = "") -> QASample:
    return QASample(
        id=id,
        context=Context(table=Table.from_rows([["", "2019"], ["Sales", "1"]])),
        question="q?",
        answer=Answer(text=", ".join(spans), spans=spans, scale=scale),  # type: ignore[arg-type]
        reasoning=Reasoning(),
        kind=kind,
        source=Source(file="t.json"),  # type: ignore[arg-type]
        grounding=Grounding(),
    )


@pytest.fixture(scope="module")
def tatqa_dev(corpus_dir: Path) -> Path:
    path = corpus_dir / "tatqa" / "tatqa_dataset_dev.json"
    if not path.is_file():
        pytest.skip(f"TAT-QA dev set not found at {path}")
    return path


def test_import_counts_reconcile_with_the_shared_file(tatqa_dev, tmp_path, capsys):
    raw = json.loads(tatqa_dev.read_text(encoding="utf-8"))
    questions = [q for c in raw for q in c["questions"]]
    assert main(["qa", "import-tatqa", str(tatqa_dev), "--out", str(tmp_path), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["contexts"], summary["questions"]) == (len(raw), len(questions)) == (278, 1668)
    assert summary["imported"] + sum(summary["skipped"].values()) == 1668 and summary["reconciles"]
    assert summary["imported"] == 1668 and summary["skipped"] == {}
    assert summary["by_kind"] == {"arithmetic": 718, "count": 32, "multi-span": 217, "span": 701}
    rows = [QASample.model_validate_json(line) for line in (tmp_path / "qa.jsonl").read_text().splitlines()]
    assert [r.id for r in rows] == [q["uid"] for c in raw for q in sorted(c["questions"], key=lambda q: q["order"])]
    first = rows[0]
    assert first.context.table is not None and first.context.table.markdown.startswith("| ")
    assert len(first.context.table.markdown.splitlines()) == len(first.context.table.rows) + 1
    arithmetic = next(r for r in rows if r.kind == "arithmetic")
    assert arithmetic.answer.value is not None and arithmetic.reasoning.steps  # the derivation
    # deterministic: a second import writes the same bytes
    before = (tmp_path / "qa.jsonl").read_bytes()
    assert main(["qa", "import-tatqa", str(tatqa_dev), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "qa.jsonl").read_bytes() == before


def test_gold_scored_against_itself_is_one(tatqa_dev, tmp_path, capsys):
    samples, _ = import_tatqa(tatqa_dev)
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(s.model_dump_json() + "\n" for s in samples), encoding="utf-8")
    pred = tmp_path / "pred.jsonl"
    pred.write_text(
        "".join(
            json.dumps(
                {
                    "uid": s.id,
                    "answer": s.answer.spans if len(s.answer.spans) > 1 else s.answer.spans[0],
                    "scale": s.answer.scale,
                }
            )
            + "\n"
            for s in samples
        ),
        encoding="utf-8",
    )
    assert main(["qa", "eval", "--pred", str(pred), "--gold", str(gold), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["overall"] == {"n": 1668, "em": 1.0, "f1": 1.0, "scale_accuracy": 1.0}
    assert all(v["em"] == v["f1"] == 1.0 for v in [*report["by_kind"].values(), *report["by_scale"].values()])
    assert set(report["by_scale"]) == {"none", "thousand", "million", "billion", "percent"}


@pytest.mark.parametrize(
    ("text", "scale", "value"),
    [
        ("$1,496.5", "", 1496.5),
        ("(1,234)", "", -1234.0),
        ("-$5", "", -5.0),
        ("12%", "", 0.12),
        ("12", "percent", 0.12),
        ("1.5", "million", 1500000.0),
        ("2 billion", "", 2e9),
        ("Sales", "", None),
    ],
)
def test_numbers_are_normalised_for_scale_and_sign(text, scale, value):
    assert parse_number(text, scale) == value


@pytest.mark.parametrize(
    ("pred", "pred_scale", "gold", "gold_scale", "kind", "expected"),
    [
        # scale: 1,496,500 thousand is 1,496.5 million; 1,496.5 thousand is not
        ("1496500", "thousand", ["1,496.5"], "million", "arithmetic", (1.0, 1.0)),
        ("1496.5", "thousand", ["1,496.5"], "million", "arithmetic", (0.0, 0.0)),
        # sign: parentheses are a minus
        ("(12.6)", "million", [-12.6], "million", "arithmetic", (1.0, 1.0)),
        ("12.6", "million", [-12.6], "million", "arithmetic", (0.0, 0.0)),
        # percentages: "%" in the text, the percent scale, or the fraction are the same number
        ("-22.22%", "", [-22.22], "percent", "arithmetic", (1.0, 1.0)),
        ("-22.22", "percent", [-22.22], "percent", "arithmetic", (1.0, 1.0)),
        ("-0.2222", "", [-22.22], "percent", "arithmetic", (1.0, 1.0)),
        ("-22.22", "", [-22.22], "percent", "arithmetic", (0.0, 0.0)),
        # arithmetic and count: F1 is EM, no partial credit for a near number
        ("172.5", "million", [172], "million", "arithmetic", (0.0, 0.0)),
        ("4", "", ["4"], "", "count", (1.0, 1.0)),
        # spans: a number must be present; extra words cost precision (P 1/3, R 1: F1 0.5)
        ("the total was 2019", "", ["2019"], "", "span", (0.0, 0.5)),
        ("2018", "", ["2019"], "", "span", (0.0, 0.0)),
        ("$1,496.50", "million", ["$1,496.5"], "million", "span", (1.0, 1.0)),
    ],
)
def test_single_answers_score_what_a_hand_computation_says(pred, pred_scale, gold, gold_scale, kind, expected):
    assert score_answer(pred, pred_scale, [str(g) for g in gold], gold_scale, kind) == expected


GOLD_SPANS = ["fixed-price type", "cost-plus type", "time-and-material type"]


@pytest.mark.parametrize(
    ("pred", "expected"),
    [
        (list(reversed(GOLD_SPANS)), (1.0, 1.0)),  # a bag: order does not matter
        (["cost-plus type", "fixed-price type"], (0.0, 0.6667)),  # 2 of 3 spans: (1 + 1 + 0) / 3
        # {fixedprice, contracts} vs {fixedprice, type}: F1 0.5, aligned optimally: (0.5 + 1 + 1) / 3
        (["cost-plus type", "fixed-price contracts", "time-and-material type"], (0.0, 0.8333)),
        ([*GOLD_SPANS, "other"], (0.0, 0.75)),  # an extra span: 3 / max(3, 4)
    ],
)
def test_multi_span_answers_are_bags_aligned_optimally(pred, expected):
    assert score_answer(pred, "", GOLD_SPANS, "", "multi-span") == expected


def test_lenient_report_is_per_type_and_scale_and_a_missing_prediction_scores_zero():
    gold = [
        _sample("a", ["1,496.5"], "arithmetic", "million"),
        _sample("b", ["12"], "arithmetic", "percent"),
        _sample("c", GOLD_SPANS, "multi-span"),
    ]
    preds = {
        "a": {"answer": "1496.5", "scale": "million"},
        "c": {"answer": GOLD_SPANS[:2], "scale": ""},
        "x": {"answer": "1", "scale": ""},
    }
    report = evaluate(preds, gold, metric="lenient")
    assert (report["missing"], report["unmatched_predictions"]) == (1, 1)
    overall = report["overall"]
    assert overall["lenient_em"] == round(1 / 3, 4) and overall["lenient_f1"] == round((1 + 0.6667) / 3, 4)
    # the official metric beside it: the two spans are one bag of 3 of the gold's 4 tokens (F1 0.86)
    assert overall["em"] == round(1 / 3, 4) and overall["f1"] == round((1 + 0.86) / 3, 4)
    assert report["by_kind"]["arithmetic"] == {
        "n": 2,
        "em": 0.5,
        "f1": 0.5,
        "lenient_em": 0.5,
        "lenient_f1": 0.5,
        "scale_accuracy": 0.5,
    }
    assert report["by_scale"]["percent"]["em"] == 0.0 and report["by_scale"]["million"]["em"] == 1.0


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_cli_user_errors_are_one_line_and_exit_2(tmp_path, capsys):
    assert main(["qa", "import-tatqa", str(tmp_path / "nope.json"), "--out", str(tmp_path)]) == 2
    assert "nope.json" in _one_error_line(capsys)
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "tatqa"}', encoding="utf-8")
    assert main(["qa", "import-tatqa", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "not a TAT-QA file" in _one_error_line(capsys)
    gold = tmp_path / "gold.jsonl"
    gold.write_text(_sample("a", ["1"], "count").model_dump_json() + "\n", encoding="utf-8")
    assert main(["qa", "eval", "--pred", str(tmp_path / "missing.jsonl"), "--gold", str(gold)]) == 2
    assert "--pred" in _one_error_line(capsys)
    pred = tmp_path / "pred.jsonl"
    for content, needle in [
        ("{oops\n", "not JSON"),
        ('{"answer": "1"}\n', "needs 'id'"),
        ('{"id": "a", "answer": "1", "scale": "lakh"}\n', "unknown scale"),
    ]:
        pred.write_text(content, encoding="utf-8")
        assert main(["qa", "eval", "--pred", str(pred), "--gold", str(gold)]) == 2
        assert needle in _one_error_line(capsys)
    pred.write_text('{"id": "a", "answer": "1"}\n', encoding="utf-8")
    assert main(["qa", "eval", "--pred", str(pred), "--gold", str(pred)]) == 2
    assert "not a QA sample" in _one_error_line(capsys)


# --- issue 24 item 4: inputs as people have them, and skipped questions named ----------------------


def test_a_utf8_bom_is_read_by_import_and_tables(tatqa_dev, tmp_path, capsys):
    bom = tmp_path / "dev_bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + tatqa_dev.read_bytes())
    assert main(["qa", "import-tatqa", str(bom), "--out", str(tmp_path / "qa"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["imported"] == 1668
    assert main(["qa", "tables", str(bom), "--out", str(tmp_path / "tables"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["tables_read"] > 0


def test_an_invalid_byte_names_the_file_line_and_column(tatqa_dev, tmp_path, capsys):
    data = bytearray(tatqa_dev.read_bytes())
    data[5000] = 0xFF
    line = data.count(b"\n", 0, 5000) + 1
    bad = tmp_path / "bad.json"
    bad.write_bytes(bytes(data))
    for command in (
        ["import-tatqa", str(bad), "--out", str(tmp_path / "o")],
        ["tables", str(bad), "--out", str(tmp_path / "t")],
    ):
        assert main(["qa", *command]) == 2
        error = _one_error_line(capsys)
        assert f"{bad}:{line}: not UTF-8: byte 0xff" in error and "column" in error, error


def test_skipped_questions_are_named_with_their_reason(tmp_path, capsys):
    def question(uid, answer, order):
        return {
            "uid": uid,
            "order": order,
            "question": "How much?",
            "answer": answer,
            "answer_type": "span",
            "answer_from": "table",
            "scale": "",
        }

    raw = [
        {
            "table": {"uid": "t1", "table": [["", "2019"], ["Sales", "12"]]},
            "paragraphs": [],
            "questions": [question("q1", ["12"], 1), question("q1", ["12"], 2), question("q3", [], 3)],
        }
    ]
    path = tmp_path / "two_skipped.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    assert main(["qa", "import-tatqa", str(path), "--out", str(tmp_path / "o"), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["imported"] == 1 and summary["reconciles"]
    assert summary["skipped_questions"] == [
        {"uid": "q1", "context": 1, "question": 2, "reason": "duplicate uid"},
        {"uid": "q3", "context": 1, "question": 3, "reason": "no answer"},
    ]
    assert main(["qa", "import-tatqa", str(path), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "skipped q1 (context 1, question 2): duplicate uid" in out and "skipped q3" in out and "no answer" in out
