"""Loading, quarantine and reconciliation: every input row ends up accepted or quarantined with a reason."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

import pytest
from conftest import GOOD_ROW as GOOD
from hypothesis import given, settings
from hypothesis import strategies as st

from finsynth.io import (
    InputError,
    field_path,
    load_file,
    load_paths,
    read_jsonl,
    schema_errors,
    type_from_filename,
    write_jsonl_atomic,
)
from finsynth.schema import Extraction, Sample, TestCase


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


# --- inputs as people have them: BOM, CRLF, a JSON array in a .jsonl file, strict scores -----------------


def _other(paragraph: str) -> dict:
    row = json.loads(_line(GOOD))
    row["input"]["paragraph"] = paragraph
    return row


def test_a_utf8_bom_costs_no_row(tmp_path: Path) -> None:
    rows = [GOOD, _other("公司2025H1净利率为12.0%。")]
    jsonl = tmp_path / "bom.jsonl"
    jsonl.write_bytes(b"\xef\xbb\xbf" + "".join(_line(r) + "\n" for r in rows).encode())
    result = load_file(jsonl)
    assert result.quarantined == [] and len(result.records) == 2 and result.reconciles()
    assert [r.line for r in result.records] == [1, 2] and result.warnings == []
    array = tmp_path / "bom.json"
    array.write_bytes(b"\xef\xbb\xbf" + json.dumps(rows, ensure_ascii=False, indent=2).encode())
    result = load_file(array)
    assert result.quarantined == [] and [r.line for r in result.records] == [1, 2]


def test_crlf_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(("\r\n".join([_line(GOOD), "", _line(_other("毛利率31.2%。"))]) + "\r\n").encode())
    result = load_file(path)
    assert result.quarantined == [] and [r.line for r in result.records] == [1, 3] and result.read == 2
    assert result.samples[0].input.paragraph == GOOD["input"]["paragraph"]


def test_a_json_array_in_a_jsonl_file_loads_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "array.jsonl"
    bad = _other("")
    path.write_text(json.dumps([GOOD, bad, _other("营收623亿元。")], ensure_ascii=False, indent=2), encoding="utf-8")
    result = load_paths([path])
    assert len(result.records) == 2 and result.read == 3 and result.reconciles()
    assert [r.line for r in result.records] == [1, 3]  # element positions, as for a .json array
    assert result.quarantined[0].line == 2 and result.quarantined[0].field == "input.paragraph"
    assert len(result.warnings) == 1 and "JSON array" in result.warnings[0] and str(path) in result.warnings[0]
    # not one valid array: read line by line, so the bad line is named
    broken = tmp_path / "broken.jsonl"
    broken.write_text("[1, 2\n" + _line(GOOD) + "\n", encoding="utf-8")
    result = load_file(broken)
    assert [r.line for r in result.records] == [2] and result.quarantined[0].line == 1 and result.warnings == []


@pytest.mark.parametrize("score", ["0.9", True, False, None, [0.9]])
def test_scores_are_numbers_not_strings_or_booleans(tmp_path: Path, score) -> None:
    row = json.loads(_line(GOOD))
    row["output"]["metrics"][0]["score"] = score
    path = tmp_path / "type_a.jsonl"
    path.write_text(_line(row) + "\n", encoding="utf-8")
    result = load_file(path)
    assert result.records == [] and result.quarantined[0].field == "output.metrics.0.score"
    for number in (1, 0, 0.5):  # an integer is still a number
        assert (
            Sample.model_validate(
                {**GOOD, "output": {**GOOD["output"], "metrics": [dict(GOOD["output"]["metrics"][0], score=number)]}}
            )
            .output.metrics[0]
            .score
            == number
        )


def test_provenance_line_is_an_integer(tmp_path: Path) -> None:
    path = tmp_path / "type_a.jsonl"
    path.write_text(
        _line(dict(GOOD, provenance={"line": "3"})) + "\n" + _line(dict(GOOD, provenance={"line": True})) + "\n",
        encoding="utf-8",
    )
    result = load_file(path)
    assert [q.field for q in result.quarantined] == ["provenance.line", "provenance.line"]


# any valid rows, written with any mix of BOM, CRLF and blank lines, load back equal and on the right lines

_name = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=6)
_metric = st.fixed_dictionaries(
    {
        "metric_name": _name,
        "metric_type": st.sampled_from(["financial", "business"]),
        "score": st.one_of(st.floats(0.0, 1.0), st.sampled_from([0, 1])),
        "reason": st.text(max_size=10),
    }
)
_row = st.fixed_dictionaries(
    {
        "type": st.sampled_from("ABCD"),
        "input": st.fixed_dictionaries(
            {"chapter_title": st.text(max_size=10), "paragraph": st.text(min_size=1, max_size=40).filter(str.strip)}
        ),
        "output": st.fixed_dictionaries(
            {
                "analysis": st.text(min_size=1, max_size=20).filter(str.strip),
                "metrics": st.lists(_metric, max_size=4, unique_by=lambda m: m["metric_name"]),
            }
        ),
    }
)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(_row, min_size=1, max_size=5),
    bom=st.booleans(),
    crlf=st.booleans(),
    blanks=st.lists(st.sampled_from(["", " ", "\t", "\r"]), max_size=8),
    trailing=st.booleans(),
)
def test_any_valid_rows_load_back_whatever_the_line_endings(rows, bom, crlf, blanks, trailing) -> None:
    end = "\r\n" if crlf else "\n"
    lines: list[str] = []
    expected_lines = []
    for i, row in enumerate(rows):
        lines.extend(blanks[i :: len(rows)])  # some blank lines before each row
        lines.append(_line(row))
        expected_lines.append(len(lines))
    text = end.join(lines) + (end if trailing else "")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.jsonl"
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
        result = load_file(path)
    assert result.quarantined == [] and result.warnings == [] and result.reconciles()
    assert [r.line for r in result.records] == expected_lines
    for record, row in zip(result.records, rows, strict=True):
        want = Sample.model_validate(row)
        assert record.item.model_dump(exclude={"provenance"}) == want.model_dump(exclude={"provenance"})


def test_schema_errors_name_every_field_on_one_line():
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        Extraction.model_validate({"analysis": 3, "metrics": [{"metric_name": "营收", "metric_type": "x", "score": 2}]})
    text = schema_errors(caught.value)
    assert "\n" not in text and text.count("; ") == caught.value.error_count() - 1
    assert text.startswith("analysis: ") and "metrics.0.score: " in text and "metrics.0.metric_type: " in text
    assert field_path(()) == "<root>" and field_path((), "<row>") == "<row>" and field_path(("a", 0, "b")) == "a.0.b"
    from finsynth.parsing import parse_reply

    assert parse_reply({"analysis": 3, "metrics": []}).error == "schema: analysis: Input should be a valid string"
