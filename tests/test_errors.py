"""Issue 26 item 3: one error taxonomy (`finsynth.errors`) and one exit code per kind of outcome.

0 ok, 1 findings, 2 a user error (one line, no traceback), 70 a bug (always its traceback). The library's
user-fixable errors are `UserError`s (a bare `ValueError` is a bug), and they name settings, not flags: the
CLI words the setting as its flag.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import GOOD_ROW as GOOD

from finsynth import errors
from finsynth.cli import main, run_command
from finsynth.cli.app import flag_of
from finsynth.errors import EXIT_FINDINGS, EXIT_INTERNAL, EXIT_USER_ERROR, UserError

REPO = Path(__file__).resolve().parents[1]


def _sample_file(tmp_path: Path, broken: bool = False) -> Path:
    path = tmp_path / "samples.jsonl"
    lines = [json.dumps(GOOD, ensure_ascii=False)] + (['{"type": "A", "input"'] if broken else [])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _raise_key_error(*args, **kwargs):
    raise KeyError("no such key")


def _assert_bug_report(err: str) -> None:
    assert "Traceback (most recent call last)" in err and "KeyError" in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: internal error") and "report it" in last, last


# --- exit codes ------------------------------------------------------------------------------------


def test_a_bug_exits_70_with_its_traceback_without_debug(tmp_path, monkeypatch, capsys):
    import finsynth.audit.lint

    monkeypatch.setattr(finsynth.audit.lint, "lint_loaded", _raise_key_error)
    assert main(["lint", str(_sample_file(tmp_path))]) == EXIT_INTERNAL == 70
    _assert_bug_report(capsys.readouterr().err)


def test_a_bug_in_python_m_train_exits_70_with_its_traceback(tmp_path, monkeypatch, capsys):
    import train.cli

    monkeypatch.setattr(train.cli, "check_file", _raise_key_error)
    assert train.cli.main(["lengths", "--tokenizer", str(tmp_path), "--data", str(tmp_path)]) == EXIT_INTERNAL
    _assert_bug_report(capsys.readouterr().err)


def test_a_bug_exits_70_from_the_real_entry_point(tmp_path):
    script = (
        "import sys, finsynth.audit.lint as lint\n"
        "def broken(*a, **k): raise KeyError('no such key')\n"
        "lint.lint_loaded = broken\n"
        "from finsynth.cli import main\n"
        f"sys.exit(main(['lint', {str(_sample_file(tmp_path))!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=False)
    assert done.returncode == 70, done.stderr
    _assert_bug_report(done.stderr)


def test_a_bare_value_error_is_a_bug_not_a_user_error(capsys):
    def broken(args):
        raise ValueError("a programming error")

    assert run_command(broken, argparse.Namespace()) == EXIT_INTERNAL
    assert "Traceback" in capsys.readouterr().err


def test_a_user_error_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["lint", str(tmp_path / "missing.jsonl")]) == EXIT_USER_ERROR == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [err.strip()] and err.startswith("error: ") and "Traceback" not in err


def test_findings_exit_1(tmp_path, capsys):
    assert main(["lint", str(_sample_file(tmp_path, broken=True))]) == EXIT_FINDINGS == 1
    assert "Traceback" not in capsys.readouterr().err


def test_a_failure_is_one_line_and_exit_1(capsys):
    from finsynth.build import BuildError

    def stopped(args):
        raise BuildError("lint errors stopped the build")

    assert run_command(stopped, argparse.Namespace()) == EXIT_FINDINGS
    assert capsys.readouterr().err.strip() == "error: lint errors stopped the build"


# --- the converted ValueError sites: user-fixable ones are UserErrors, exit 2 ----------------------


def _endpoint():
    from finsynth.llm.config import EndpointConfig

    return EndpointConfig(base_url=None, api_key=None)


def _toml(tmp_path: Path, text: str) -> Path:
    (tmp_path / "finsynth.toml").write_text(text, encoding="utf-8")
    return tmp_path


def _not_built(tmp_path: Path) -> Path:
    (tmp_path / "train.jsonl").write_text(json.dumps(GOOD, ensure_ascii=False) + "\n", encoding="utf-8")
    return tmp_path


def _json_file(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _bad_tokenizer(tmp_path: Path) -> Path:
    pytest.importorskip("tokenizers")
    (tmp_path / "tokenizer.json").write_text("{}", encoding="utf-8")
    return tmp_path / "tokenizer.json"


# (id, call given tmp_path, the flag the CLI shows in place of the library's setting name, or None)
SITES: list[tuple[str, Callable[[Path], object], str | None]] = [
    ("unknown-matcher", lambda t: __import__("finsynth.text.names").text.names.get_matcher("nope"), None),
    (
        "embedding-without-model",
        lambda t: __import__("finsynth.text.names").text.names.get_matcher("embedding"),
        "--model",
    ),
    (
        "annotator-choice",
        lambda t: __import__("finsynth.synth.relabel").synth.relabel.annotator_choice("gpt", _endpoint()),
        "--llm",
    ),
    (
        "annotator-openai-without-endpoint",
        lambda t: __import__("finsynth.synth.relabel").synth.relabel.annotator_choice("openai", _endpoint()),
        "--llm",
    ),
    (
        "relabel-types",
        lambda t: __import__("finsynth.synth.relabel").synth.relabel.relabel([], types={"A"}, config=_endpoint()),
        None,
    ),
    (
        "relabel-rules-type-d",
        lambda t: __import__("finsynth.synth.relabel").synth.relabel.relabel(
            [], types={"D"}, llm="rules", config=_endpoint()
        ),
        None,
    ),
    (
        "generate-type",
        lambda t: __import__("finsynth.synth.generate").synth.generate.generate("Z", 1, config=_endpoint()),
        "--type",
    ),
    (
        "generate-without-endpoint",
        lambda t: __import__("finsynth.synth.generate").synth.generate.generate("A", 1, config=_endpoint()),
        None,
    ),
    ("judge-choice", lambda t: __import__("finsynth.qa.judge").qa.judge.choose_judge("gpt", _endpoint()), "--judge"),
    (
        "judge-llm-without-endpoint",
        lambda t: __import__("finsynth.qa.judge").qa.judge.choose_judge("llm", _endpoint()),
        "--judge",
    ),
    ("lint-rule-selection", lambda t: __import__("finsynth.audit.lint").audit.lint.select_rules(["no-such"]), None),
    ("fix-selection", lambda t: __import__("finsynth.audit.lint").audit.lint.plan_fixes(["no-such"]), None),
    ("fix-strategy", lambda t: __import__("finsynth.audit.lint").audit.lint.plan_fixes(["count-anchor:nope"]), None),
    ("qa-lint-rule-selection", lambda t: __import__("finsynth.qa.lint").qa.lint.select_qa_rules(["no-such"]), None),
    ("export-format", lambda t: __import__("finsynth.export").export.export(t, "nope"), None),
    ("reward-task", lambda t: __import__("finsynth.eval.rewards").eval.rewards.trl_reward_functions("nope"), None),
    (
        "api-key-in-toml",
        lambda t: __import__("finsynth.llm.config").llm.config.file_settings(_toml(t, 'api_key = "sk-x"\n')),
        None,
    ),
    (
        "invalid-toml",
        lambda t: __import__("finsynth.llm.config").llm.config.file_settings(_toml(t, "model = [\n")),
        None,
    ),
    (
        "not-a-tokenizer",
        lambda t: __import__("finsynth.audit.tokens").audit.tokens.load_tokenizer(_bad_tokenizer(t)),
        None,
    ),
    (
        "diagnose-without-train",
        lambda t: __import__("finsynth.eval.diagnose").eval.diagnose.diagnose(None, [], [], None),
        "--train",
    ),
    (
        "qa-tables-languages",
        lambda t: __import__("finsynth.qa.tables").qa.tables.generate_table_qa(_sample_file(t), languages=["fr"]),
        "--lang",
    ),
    (
        "qa-eval-metric",
        lambda t: __import__("finsynth.qa.tatqa").qa.tatqa.score_questions({}, [], metric="nope"),
        "--metric",
    ),
    ("judge-human-missing", lambda t: __import__("finsynth.qa.judge").qa.judge.load_human(t / "none", []), "--human"),
    (
        "review-patch-missing",
        lambda t: __import__("finsynth.audit.review").audit.review.load_review(t / "none"),
        "--apply-review",
    ),
    (
        "compare-without-gold",
        lambda t: __import__("finsynth.eval.scoring").eval.scoring.compare_runs(
            [str(_json_file(t, {"not": "a report"}))]
        ),
        None,
    ),
    ("train-split-not-built", lambda t: __import__("train.data").data.load_split(_not_built(t), "train"), None),
]


@pytest.mark.parametrize(("call", "flag"), [pytest.param(c, f, id=i) for i, c, f in SITES])
def test_a_user_fixable_site_is_a_user_error_and_exits_2(call, flag, tmp_path, capsys):
    with pytest.raises(UserError) as info:
        call(tmp_path)
    assert not re.search(r"(^|[\s(`])--[a-z]", str(info.value)), f"the library names a flag: {info.value}"
    assert run_command(lambda args: call(tmp_path), argparse.Namespace()) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    if flag:
        assert lines[0].startswith(f"error: {flag}"), lines[0]
    if info.value.setting:  # the CLI words the setting as its flag, wherever the message names it
        assert flag_of(info.value.setting) in lines[0], lines[0]


def test_the_cli_words_a_setting_as_its_flag(tmp_path, capsys):
    assert main(["qa", "tables", str(_sample_file(tmp_path)), "--out", str(tmp_path / "o"), "--lang", "fr"]) == 2
    assert capsys.readouterr().err.startswith("error: --lang fr: languages are zh and en")
    assert (
        main(["ingest", str(tmp_path), "--min-chars", "900", "--max-chars", "800", "--out", str(tmp_path / "p.jsonl")])
        == 2
    )
    err = capsys.readouterr().err
    assert "--min-chars (900)" in err and "--max-chars (800)" in err and "min_chars" not in err, err


def test_worded_swaps_only_a_leading_setting_name():
    assert UserError("llm must be auto", setting="llm").worded("--llm") == "--llm must be auto"
    assert UserError("the llm must be auto", setting="llm").worded("--llm") == "the llm must be auto"
    assert UserError("no setting here").worded("--x") == "no setting here"
    assert UserError("2 cases lack one; `partial` scores the rest", setting="partial").worded("--partial") == (
        "2 cases lack one; --partial scores the rest"
    )


# --- the taxonomy is one list; the old import paths keep working ----------------------------------


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("finsynth.io", "UserError"),
        ("finsynth.io", "InputError"),
        ("finsynth.text.lexicon", "LexiconError"),
        ("finsynth.text.names", "MatcherUnavailable"),
        ("finsynth.eval.scoring", "AlignmentError"),
        ("finsynth.build", "RelabelAbortedError"),
        ("finsynth.ingest.models", "UnreadableFile"),
        ("train.config", "ConfigError"),
        ("train.config", "UnavailableError"),
        ("train.data", "SampleTooLongError"),
    ],
)
def test_old_import_paths_give_the_one_class(module, name):
    import importlib

    assert getattr(importlib.import_module(module), name) is getattr(errors, name)


def test_every_exception_class_derives_from_the_taxonomy():
    """A new exception class belongs under `UserError` or `Failure` (or is a bug): one list to read."""
    taxonomy = {name for name, value in vars(errors).items() if isinstance(value, type)}
    found = {}
    for path in sorted([*(REPO / "finsynth").rglob("*.py"), *(REPO / "train").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and path.name != "errors.py":
                bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                is_exception = any(b.endswith(("Error", "Exception")) for b in bases)
                if is_exception and not bases & taxonomy:
                    found[f"{path.relative_to(REPO)}:{node.name}"] = sorted(bases)
    assert found == {}


def test_a_converted_value_error_is_still_a_value_error(tmp_path):
    """Callers that caught the old `ValueError` (train/grpo.py's `_split_rows`, pydantic validators) still do."""
    from train.data import load_split

    with pytest.raises(ValueError, match="not a built row"):
        load_split(_not_built(tmp_path), "train")


def test_a_bad_setting_of_build_names_its_flag(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    assert main(["build", "--raw", str(raw), "--out", str(tmp_path / "out"), "--val-fraction", "1.5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --val-fraction: Input should be less than 1") and "Traceback" not in err, err


def test_a_validation_error_of_a_model_is_a_user_error(capsys):
    from finsynth.build import BuildConfig

    assert run_command(lambda args: BuildConfig(val_fraction=2), argparse.Namespace()) == 2
    assert capsys.readouterr().err.startswith("error: BuildConfig: val_fraction: Input should be less than 1")


def test_library_errors_name_no_flag():
    """An error raised outside `cli/` names a setting (`UserError.setting`), never a command-line flag."""
    flag = re.compile(r"(^|[\s(`])--[a-z]")
    found = []
    for path in sorted((REPO / "finsynth").rglob("*.py")):
        if "cli" in path.relative_to(REPO / "finsynth").parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and node.exc is not None:
                found += [
                    f"{path.relative_to(REPO)}:{node.lineno}: {sub.value}"
                    for sub in ast.walk(node.exc)
                    if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and flag.search(sub.value)
                ]
    assert found == []


def test_a_cut_short_built_file_is_a_user_error_naming_its_line(tmp_path, capsys):
    from finsynth.io import read_jsonl

    built = tmp_path / "train.jsonl"
    built.write_text('{"id": "a"}\n{"id": "b", "pro\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"train\.jsonl: line 2: not JSON"):
        read_jsonl(built)
    assert run_command(lambda args: read_jsonl(built), argparse.Namespace()) == 2
    assert "Traceback" not in capsys.readouterr().err
