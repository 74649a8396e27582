"""Evaluation: prediction loading and parsing, alignment errors, the reference verdicts reproduced
case by case on the v11 run, the metrics, comparison of runs, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finsynth.cli import main
from finsynth.eval.scoring import (
    AlignmentError,
    align,
    compare_runs,
    evaluate,
    evaluate_files,
    load_gold,
    load_predictions,
    parse_prediction,
    render_markdown,
    verdict_of,
)
from finsynth.io import InputError
from finsynth.text.names import canonical, get_matcher, veto


def _case(scenario: str, title: str, metrics: list[tuple[str, str]], paragraph: str | None = None) -> dict:
    return {
        "type": "test",
        "scenario": scenario,
        "input": {"chapter_title": title, "paragraph": paragraph or f"{title}段落，含若干数字 12% 与 3.5亿元。"},
        "output": {
            "analysis": "分析。",
            "metrics": [{"metric_name": n, "metric_type": t, "score": 0.9, "reason": ""} for n, t in metrics],
        },
    }


def _reply(names: list[tuple[str, str]]) -> str:
    return json.dumps(
        {
            "analysis": "a",
            "metrics": [{"metric_name": n, "metric_type": t, "score": 0.9, "reason": ""} for n, t in names],
        },
        ensure_ascii=False,
    )


@pytest.fixture()
def gold_file(tmp_path: Path) -> Path:
    cases = [
        _case("single_metric", "标题一", [("毛利率", "financial")]),
        _case("multi_metric", "标题二", [("营收增速", "financial"), ("市占率", "business")]),
        _case("empty_output_background", "标题三", []),
        _case("boundary_many_numbers_one_core", "标题四", [("拿地销售比", "business")]),
    ]
    path = tmp_path / "gold.jsonl"
    path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8")
    return path


# --- the v11 run -------------------------------------------------------------------------------


def test_reference_matcher_reproduces_v11_verdicts_per_case(corpus_dir):
    report = evaluate_files(corpus_dir / "predictions_v11.json", corpus_dir / "test_cases.jsonl", "reference")
    recorded = json.loads((corpus_dir / "predictions_v11.json").read_text(encoding="utf-8"))
    assert len(report.cases) == len(recorded) == 50
    for case, row in zip(report.cases, recorded, strict=True):
        assert case.status == row["status"], (case.index, case.gold_names, case.pred_names)
        assert case.matched == row["fuzzy_hits"], case.index
        assert case.exact_hits == row["exact_hits"], case.index
        assert (case.gold_count, case.pred_count) == (row["gold_count"], row["pred_count"])
        assert case.json_valid == row["valid_json"]
    o = report.overall
    assert (o.strict, o.loose, o.total, o.n) == (15, 13, 28, 50)
    assert o.total_rate == pytest.approx(0.56)
    assert (o.pred_metrics, o.gold_metrics) == (100, 72)
    assert o.mean_pred_count == pytest.approx(2.0) and o.mean_gold_count == pytest.approx(1.44)
    assert report.reference_agreement.agree == 50
    assert report.alignment.startswith("index")
    # The per-scenario table of the reference README: boundary cases 6/13 for v11.
    assert report.by_scenario["boundary_many_numbers_one_core"].total == 6


def test_fuzzy_matcher_on_v11_only_rejects_growth_vs_level(corpus_dir):
    report = evaluate_files(corpus_dir / "predictions_v11.json", corpus_dir / "test_cases.jsonl", "fuzzy")
    changed = report.reference_agreement.disagreements
    assert changed, "fuzzy should not simply echo the reference"
    for d in changed:
        assert (d["recorded"], d["ours"]) == ("🟡", "❌")
        case = report.cases[d["index"] - 1]
        # every newly missed gold metric is a level whose growth rate was predicted instead
        assert case.missed
        assert all(
            any(veto(canonical(m), canonical(p)) == "growth vs level" for p in case.pred_names) for m in case.missed
        ), case


# --- parsing -----------------------------------------------------------------------------------


GOOD = _reply([("毛利率", "financial")])


@pytest.mark.parametrize(
    "raw,valid,strict,n",
    [
        (GOOD, True, True, 1),
        ("```json\n" + GOOD + "\n```", True, False, 1),
        ("<think>先想一想 {不是JSON}</think>\n" + GOOD, True, False, 1),
        ("好的，结果如下：\n" + GOOD + "\n以上。", True, False, 1),
        (GOOD[:-10], False, False, 0),  # truncated
        ("", False, False, 0),
        ("我无法回答", False, False, 0),
    ],
)
def test_parse_broken_outputs(raw, valid, strict, n):
    pred = parse_prediction({"output": raw})
    assert (pred.json_valid, pred.json_strict, len(pred.metrics)) == (valid, strict, n)
    if not valid:
        assert pred.error


def test_schema_invalid_output_is_still_scored_and_reported():
    many = _reply([(f"指标{i}", "financial") for i in range(5)])  # 5 > MAX_METRICS
    pred = parse_prediction({"response": many})
    assert pred.json_valid and not pred.schema_valid and "metrics" in pred.error
    assert len(pred.metrics) == 5
    odd = parse_prediction({"output": {"analysis": "a", "metrics": ["毛利率", {"metric_name": "净利率"}]}})
    assert [m.name for m in odd.metrics] == ["净利率"] and odd.metrics[0].type is None
    no_metrics = parse_prediction({"pred_raw": '{"analysis": "x"}'})
    assert no_metrics.json_valid and no_metrics.metrics == []


def test_row_shapes(tmp_path):
    assert parse_prediction(GOOD).metrics[0].name == "毛利率"  # bare text
    assert parse_prediction(json.loads(GOOD)).metrics[0].name == "毛利率"  # bare extraction
    nested = parse_prediction({"id": "x", "output": {"input": {}, "output": json.loads(GOOD)}})
    assert nested.metrics[0].name == "毛利率" and nested.id == "x"
    with pytest.raises(InputError, match="line 7: no prediction field"):
        parse_prediction({"foo": 1}, "p.jsonl", 7)
    with pytest.raises(InputError, match=r"line 3: .* not an integer"):
        parse_prediction({"index": "three", "output": GOOD}, "p.jsonl", 3)


def test_load_formats(tmp_path):
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text(json.dumps({"output": GOOD}, ensure_ascii=False) + "\n\n" + json.dumps({"output": None}) + "\n")
    preds = load_predictions(jsonl)
    assert [p.line for p in preds] == [1, 3] and preds[1].error == "empty reply"
    wrapped = tmp_path / "p.json"
    wrapped.write_text(json.dumps({"predictions": [GOOD, GOOD]}, ensure_ascii=False))
    assert len(load_predictions(wrapped)) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"output": GOOD}) + "\n" + GOOD[:20] + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl: line 2: not a JSON row"):
        load_predictions(bad)
    with pytest.raises(InputError, match="no such file"):
        load_predictions(tmp_path / "missing.jsonl")


# --- alignment ---------------------------------------------------------------------------------


def _preds(rows: list[dict], tmp_path: Path, name: str = "p.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return load_predictions(path)


def test_alignment_by_order_index_and_id(gold_file, tmp_path):
    gold = load_gold(gold_file)
    by_order = _preds([{"output": GOOD}] * 4, tmp_path)
    assert align(by_order, gold)[1] == "order"
    shuffled = _preds([{"index": i, "output": GOOD} for i in (4, 2, 3, 1)], tmp_path)
    aligned, mode, kept = align(shuffled, gold)
    assert mode == "index (1-based)" and [p.index for p in aligned] == [1, 2, 3, 4]
    zero = _preds([{"index": i, "output": GOOD} for i in range(4)], tmp_path)
    assert align(zero, gold)[1] == "index (0-based)"
    ids = _preds([{"id": g.id, "output": GOOD} for g in reversed(gold)], tmp_path)
    aligned, mode, kept = align(ids, gold)
    assert mode == "id" and [p.id for p in aligned] == [g.id for g in gold]
    assert kept == list(gold)


@pytest.mark.parametrize(
    "rows,message",
    [
        ([{"output": GOOD}] * 3, r"3 predictions for 4 gold cases"),
        (
            [{"index": i, "output": GOOD} for i in (1, 2, 2, 4)],
            r"line 3: duplicate prediction for index 2 \(first at line 2\)",
        ),
        ([{"index": i, "output": GOOD} for i in (1, 2, 3, 9)], r"line 4: index 9 matches no gold case"),
        ([{"index": i, "output": GOOD} for i in (1, 2, 3)], r"no prediction for 1 gold case\(s\), first index 4"),
        (
            [
                {"index": 1, "output": GOOD},
                {"output": GOOD},
                {"index": 3, "output": GOOD},
                {"index": 4, "output": GOOD},
            ],
            r"line 2: some predictions have an 'index'",
        ),
        (
            [
                {"scenario": s, "output": GOOD}
                for s in ("single_metric", "single_metric", "empty_output_background", "boundary_many_numbers_one_core")
            ],
            r"line 2: scenario 'single_metric' but gold case 2 .* is 'multi_metric': files misaligned",
        ),
        (
            [{"title": t, "output": GOOD} for t in ("标题一", "标题二", "标题四", "标题三")],
            r"line 3: title '标题四' but gold case 3 .* has '标题三'",
        ),
        ([{"id": "nope", "output": GOOD}] * 4, r"prediction id 'nope' matches no gold case id"),
    ],
)
def test_misaligned_files_are_errors(gold_file, tmp_path, rows, message):
    with pytest.raises(AlignmentError, match=message):
        align(_preds(rows, tmp_path), load_gold(gold_file))


def test_gold_with_a_bad_row_is_an_error(tmp_path):
    path = tmp_path / "gold.jsonl"
    row = _case("single_metric", "t", [("毛利率", "financial")])
    row["scenario"] = "no_such_scenario"
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n")
    with pytest.raises(InputError, match=r"gold.jsonl: line 1: field scenario"):
        load_gold(path)


# --- metrics -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "gold,pred,matched,verdict",
    [
        (1, 1, 1, "strict"),
        (0, 0, 0, "strict"),
        (1, 2, 1, "loose"),
        (2, 1, 1, "fail"),
        (1, 3, 1, "fail"),
        (2, 2, 1, "fail"),
        (0, 1, 0, "loose"),
        (3, 2, 2, "fail"),
    ],
)
def test_verdicts(gold, pred, matched, verdict):
    assert verdict_of(gold, pred, matched) == verdict


def test_metrics_on_a_small_set(gold_file, tmp_path):
    rows = [
        {"output": _reply([("毛利润率", "financial")])},  # strict via synonym
        {
            "output": _reply([("营业收入同比增长率", "business"), ("市场份额", "business"), ("净利率", "financial")])
        },  # loose, 1 type error
        {"output": "```json\n" + _reply([]) + "\n```"},  # strict, needed cleanup
        {"output": "not json at all"},  # fail, invalid
    ]
    report = evaluate(_preds(rows, tmp_path), load_gold(gold_file), get_matcher("fuzzy"))
    o = report.overall
    assert [c.verdict for c in report.cases] == ["strict", "loose", "strict", "fail"]
    assert (o.strict, o.loose, o.fail, o.total) == (2, 1, 1, 3)
    assert o.gold_metrics == 4 and o.pred_metrics == 4 and o.matched == 3
    assert o.precision == pytest.approx(0.75) and o.recall == pytest.approx(0.75) and o.f1 == pytest.approx(0.75)
    assert o.type_accuracy == pytest.approx(round(2 / 3, 4))
    assert (o.json_valid, o.json_valid_rate) == (3, 0.75)
    assert report.cases[2].json_valid and not report.cases[2].json_strict
    assert report.cases[1].extra == ["净利率"] and report.cases[3].missed == ["拿地销售比"]
    assert list(report.by_scenario) == [
        "single_metric",
        "multi_metric",
        "boundary_many_numbers_one_core",
        "empty_output_background",
    ]
    empty = report.by_scenario["empty_output_background"]
    assert empty.precision is None and empty.recall is None and empty.total == 1
    assert report.reference_agreement is None
    # the reference rule misses the synonyms: fewer matches on the same predictions
    ref = evaluate(_preds(rows, tmp_path), load_gold(gold_file), get_matcher("reference"))
    assert ref.overall.matched < o.matched
    # --cases: every case once more, with its JSON status, after the failures
    text = render_markdown(report, failures=False, all_cases=True)
    assert "### Cases not strictly correct" not in text
    table = text.split("### All cases\n\n", 1)[1].splitlines()
    assert len(table) == 2 + len(report.cases) and table[-1].startswith("| 4 | ") and "invalid: " in table[-1]
    assert "### All cases" not in render_markdown(report)


# --- comparison and CLI --------------------------------------------------------------------------


def test_compare_runs(corpus_dir, tmp_path, capsys):
    pred, gold = corpus_dir / "predictions_v11.json", corpus_dir / "test_cases.jsonl"
    report_path = tmp_path / "v11_fuzzy.json"
    assert main(["eval", "--pred", str(pred), "--gold", str(gold), "--format", "json", "--out", str(report_path)]) == 0
    capsys.readouterr()
    raw = tmp_path / "v11_raw.jsonl"
    rows = json.loads(pred.read_text(encoding="utf-8"))
    raw.write_text(
        "".join(json.dumps({"index": r["index"], "output": r["pred_raw"]}, ensure_ascii=False) + "\n" for r in rows),
        encoding="utf-8",
    )
    comparison = compare_runs([f"v11={pred}", str(report_path), f"raw={raw}"], gold_path=str(gold), matcher="reference")
    assert comparison.runs == ["v11", "v11_fuzzy", "raw"]
    assert comparison.overall["v11"].total == 28 and comparison.overall["raw"].total == 28
    assert comparison.overall["v11_fuzzy"].total < 28
    assert comparison.table["boundary_many_numbers_one_core"]["v11"].total == 6
    assert "recorded verdicts" in comparison.sources["v11"] and "eval report" in comparison.sources["v11_fuzzy"]
    with pytest.raises(InputError, match="pass `gold`"):
        compare_runs([str(raw)])
    assert main(["eval", "--compare", f"v11={pred}", str(report_path), "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert "| scenario | v11 | v11_fuzzy |" in out and "28/50 (15+13)" in out


def test_cli_eval_json_shape(corpus_dir, capsys):
    code = main(
        [
            "eval",
            "--pred",
            str(corpus_dir / "predictions_v11.json"),
            "--gold",
            str(corpus_dir / "test_cases.jsonl"),
            "--matcher",
            "reference",
            "--format",
            "json",
        ]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["overall"]) >= {
        "n",
        "strict",
        "loose",
        "total",
        "total_rate",
        "precision",
        "recall",
        "f1",
        "type_accuracy",
        "json_valid",
        "mean_pred_count",
        "mean_gold_count",
    }
    assert doc["overall"]["strict"] == 15 and doc["overall"]["loose"] == 13
    assert set(doc["by_scenario"]) == {
        "single_metric",
        "multi_metric",
        "boundary_many_numbers_one_core",
        "financial_vs_business_classification",
        "empty_output_background",
        "mixed_financial_business",
    }
    assert len(doc["cases"]) == 50


def test_cli_eval_text_and_errors(gold_file, tmp_path, capsys):
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({"output": GOOD}, ensure_ascii=False) + "\n" for _ in range(4)))
    assert main(["eval", "--pred", str(preds), "--gold", str(gold_file), "--format", "md", "--cases"]) == 0
    out = capsys.readouterr().out
    assert "| overall | 4 |" in out and "### All cases" in out
    short = tmp_path / "short.jsonl"
    short.write_text(json.dumps({"output": GOOD}) + "\n")
    assert main(["eval", "--pred", str(short), "--gold", str(gold_file)]) == 2
    assert "1 predictions for 4 gold cases" in capsys.readouterr().err
    assert (
        main(
            [
                "eval",
                "--pred",
                str(preds),
                "--gold",
                str(gold_file),
                "--matcher",
                "embedding",
                "--model",
                str(tmp_path / "none"),
            ]
        )
        == 2
    )
    assert "nothing is downloaded" in capsys.readouterr().err.replace("\n", " ")
    assert main(["eval", "--pred", str(tmp_path / "missing.jsonl"), "--gold", str(gold_file)]) == 2


def test_partial_eval_scores_the_cases_that_have_a_prediction(tmp_path, capsys) -> None:
    from finsynth.cli import main

    gold = tmp_path / "gold.jsonl"
    rows = []
    for i, name in enumerate(["毛利率", "净利率", "营收", "ROE"]):
        rows.append(
            {
                "id": f"t{i}",
                "type": "test",
                "scenario": "single_metric",
                "input": {"chapter_title": "盈利", "paragraph": f"公司{name}为35.8%，同比提升。"},
                "output": {
                    "analysis": f"段落围绕{name}展开。",
                    "metrics": [{"metric_name": name, "metric_type": "financial", "score": 0.9}],
                },
            }
        )
    gold.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    pred = tmp_path / "pred.jsonl"  # `infer --limit 2`: the first two cases only
    pred.write_text(
        "".join(json.dumps({"id": r["id"], "output": r["output"]}, ensure_ascii=False) + "\n" for r in rows[:2]),
        encoding="utf-8",
    )
    assert main(["eval", "--pred", str(pred), "--gold", str(gold)]) == 2
    assert "--partial" in capsys.readouterr().err
    assert main(["eval", "--pred", str(pred), "--gold", str(gold), "--partial", "--format", "json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["missing"] == 2 and len(report["cases"]) == 2
    assert report["overall"]["strict"] == 2 and report["overall"]["n"] == 2
    assert "2 of 4 gold case(s) had no prediction" in captured.err
