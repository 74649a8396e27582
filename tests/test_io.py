"""Loading, quarantine and reconciliation: every input row ends up accepted or quarantined with a reason."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from finsynth.io import InputError, load_file, load_paths, read_jsonl, type_from_filename, write_jsonl_atomic
from finsynth.schema import Extraction, Sample, TestCase

GOOD = {
    "type": "A",
    "input": {"chapter_title": "盈利能力", "paragraph": "公司2025H1毛利率为31.2%，同比提升4.6个百分点。"},
    "output": {
        "analysis": "段落围绕毛利率展开分析。",
        "metrics": [{"metric_name": "毛利率", "metric_type": "financial", "score": 0.95, "reason": "核心"}],
    },
}


def _line(row) -> str:
    return json.dumps(row, ensure_ascii=False)


def test_corpus_loads_as_is(corpus_dir: Path) -> None:
    result = load_paths(sorted(corpus_dir.glob("*.jsonl")))
    assert result.quarantined == []
    assert result.reconciles()
    types = {}
    for s in result.samples:
        types[s.type] = types.get(s.type, 0) + 1
    assert types == {"A": 270, "B": 202, "C": 72, "D": 156}
    assert len(result.test_cases) == 50
    # ids are stable across runs: a second load gives the same ids
    again = load_paths([corpus_dir / "type_a.jsonl"])
    assert [s.id for s in again.samples] == [s.id for s in result.samples if s.type == "A"]


def test_type_taken_from_file_name(tmp_path: Path) -> None:
    row = dict(GOOD)
    del row["type"]
    path = tmp_path / "type_c.jsonl"
    path.write_text(_line(row) + "\n", encoding="utf-8")
    result = load_file(path)
    assert result.samples[0].type == "C"
    assert type_from_filename(Path("x/Type-B_extra.jsonl")) == "B"
    assert type_from_filename(Path("x/test_cases.jsonl")) is None


def test_malformed_rows_are_quarantined_with_line_and_field(tmp_path: Path) -> None:
    wrong_type = json.loads(_line(GOOD))
    wrong_type["output"]["metrics"][0]["score"] = "high"
    empty_paragraph = json.loads(_line(GOOD))
    empty_paragraph["input"]["paragraph"] = "   "
    bad_metric_type = json.loads(_line(GOOD))
    bad_metric_type["output"]["metrics"][0]["metric_type"] = "operational"
    missing_output = {k: v for k, v in GOOD.items() if k != "output"}
    lines = [
        _line(GOOD).encode(),
        b"{not json",
        _line(wrong_type).encode(),
        _line(empty_paragraph).encode(),
        _line(bad_metric_type).encode(),
        _line(missing_output).encode(),
        b"\xff\xfe broken utf-8",
        b"",
        _line(GOOD)[:40].encode(),  # truncated last line, no newline
    ]
    path = tmp_path / "type_a.jsonl"
    path.write_bytes(b"\n".join(lines))
    result = load_file(path)
    assert result.read == 8  # the blank line is not a row
    assert len(result.records) == 1
    assert result.reconciles()
    by_line = {q.line: q for q in result.quarantined}
    assert set(by_line) == {2, 3, 4, 5, 6, 7, 9}
    assert "bad JSON" in by_line[2].reason
    assert by_line[3].field == "output.metrics.0.score"
    assert by_line[4].field == "input.paragraph"
    assert by_line[5].field == "output.metrics.0.metric_type"
    assert by_line[6].field == "output"
    assert "UTF-8" in by_line[7].reason
    assert "bad JSON" in by_line[9].reason
    assert all(q.path == str(path) and q.raw for q in result.quarantined)


def test_duplicate_metric_names_and_too_many_metrics_rejected() -> None:
    metric = {"metric_name": "毛利率", "metric_type": "financial", "score": 0.9}
    with pytest.raises(ValueError, match="duplicate metric_name"):
        Extraction.model_validate({"analysis": "x", "metrics": [metric, metric]})
    many = [dict(metric, metric_name=f"m{i}") for i in range(5)]
    with pytest.raises(ValueError, match="metrics"):
        Extraction.model_validate({"analysis": "x", "metrics": many})
    with pytest.raises(ValueError, match="score"):
        Extraction.model_validate({"analysis": "x", "metrics": [dict(metric, score=1.2)]})


def test_json_array_files_and_test_cases(tmp_path: Path) -> None:
    case = {"scenario": "single_metric", "input": GOOD["input"], "output": GOOD["output"]}
    bad = {"scenario": "not_a_scenario", "input": GOOD["input"], "output": GOOD["output"]}
    path = tmp_path / "cases.json"
    path.write_text(json.dumps([case, bad], ensure_ascii=False), encoding="utf-8")
    result = load_file(path)
    assert isinstance(result.records[0].item, TestCase)
    assert result.quarantined[0].line == 2 and result.quarantined[0].field == "scenario"


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_paths([tmp_path / "nope.jsonl"])


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    sample = Sample.model_validate(GOOD)
    out = tmp_path / "sub" / "rows.jsonl"
    write_jsonl_atomic(out, [sample, {"a": "中文"}])
    assert [p.name for p in out.parent.iterdir()] == ["rows.jsonl"]
    rows = read_jsonl(out)
    assert rows[0]["id"] == sample.id and rows[1] == {"a": "中文"}
    assert "中文" in out.read_text(encoding="utf-8")  # not \\u-escaped


def test_atomic_write_gives_the_mode_a_plain_write_would(tmp_path: Path) -> None:
    # a report or split written for others to read must not be left private (mkstemp's 0600)
    old = os.umask(0o022)
    try:
        out = write_jsonl_atomic(tmp_path / "rows.jsonl", [{"a": 1}])
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_a_build_directory_expands_to_its_splits(tmp_path: Path) -> None:
    from finsynth.io import expand_paths, write_json_atomic

    for name in ("train.jsonl", "val.jsonl", "test.jsonl", "quarantine.jsonl"):
        (tmp_path / name).write_text("", encoding="utf-8")
    assert [p.name for p in expand_paths([tmp_path])] == ["quarantine.jsonl", "test.jsonl", "train.jsonl", "val.jsonl"]
    write_json_atomic(tmp_path / "manifest.json", {"tool": "finsynth", "outputs": {}})
    assert [p.name for p in expand_paths([tmp_path])] == ["train.jsonl", "val.jsonl", "test.jsonl"]
