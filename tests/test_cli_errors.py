"""One error path for both CLIs: a user error is one line on stderr and exit 2; `--debug` adds the traceback.

Everything runs in-process (`main(argv)` with capsys) except a few subprocess checks of the real entry
points. Nothing needs a GPU, a model or a hub: the train checks fail on the paths before torch loads.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GOOD_ROW as GOOD
from conftest import one_error_line as _one_error_line

from finsynth.cli import main, run_command, user_error_message
from finsynth.errors import UserError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def existing(tmp_path: Path) -> Path:
    """A file that exists (its content does not matter: a missing sibling path fails first)."""
    path = tmp_path / "exists.jsonl"
    path.write_text("{}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ["build", "--raw", "{missing}", "--out", "{tmp}/out"],
        ["report", "{missing}"],
        ["report", "{existing}", "--tokenizer", "{missing}"],
        ["lint", "{missing}"],
        ["eval", "--pred", "{missing}", "--gold", "{existing}"],
        ["eval", "--pred", "{existing}", "--gold", "{missing}"],
        ["diagnose", "--pred", "{missing}", "--gold", "{existing}", "--train", "{existing}"],
        ["diagnose", "--pred", "{existing}", "--gold", "{missing}", "--train", "{existing}"],
        ["export", "{missing}", "--to", "messages"],
    ],
)
def test_missing_paths_are_one_line_and_exit_2(argv, tmp_path, existing, capsys):
    missing = tmp_path / "no-such-input"
    if argv[0] == "report" and "--tokenizer" in argv:  # needs a valid sample to get as far as the tokenizer
        existing.write_text(json.dumps(GOOD, ensure_ascii=False) + "\n", encoding="utf-8")
    argv = [a.format(missing=missing, existing=existing, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    _one_error_line(capsys, str(missing))


def test_diagnose_missing_train_dir(tmp_path, capsys):
    gold = tmp_path / "gold.jsonl"
    case = {
        "scenario": "single_metric",
        "input": {"paragraph": "毛利率31.2%。"},
        "output": {"analysis": "毛利率", "metrics": []},
    }
    gold.write_text(json.dumps(case, ensure_ascii=False) + "\n", encoding="utf-8")
    assert main(["diagnose", "--pred", str(gold), "--gold", str(gold), "--train", str(tmp_path / "nope")]) == 2
    _one_error_line(capsys, "nope")


def test_bad_templates_and_config_are_user_errors(tmp_path, monkeypatch, capsys):
    import shutil

    templates = tmp_path / "templates"
    shutil.copytree(REPO / "templates", templates)
    (templates / "generate_c.j2").write_text("{% if x %}unclosed", encoding="utf-8")
    examples = str(REPO / "data" / "raw")
    assert main(["generate", "--type", "C", "--dry-run", "--examples", examples, "--templates", str(templates)]) == 2
    _one_error_line(capsys, "generate_c.j2", "line 1")
    assert (
        main(["generate", "--type", "C", "--dry-run", "--examples", examples, "--templates", str(tmp_path / "none")])
        == 2
    )
    _one_error_line(capsys, str(tmp_path / "none"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "finsynth.toml").write_text("model = [unclosed\n", encoding="utf-8")
    assert main(["generate", "--type", "C", "--n", "1", "--examples", examples, "--out", str(tmp_path / "g")]) == 2
    _one_error_line(capsys, "finsynth.toml", "invalid TOML")


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(where, tmp_path, capsys):
    missing = str(tmp_path / "no-such-input")
    argv = ["--debug", "report", missing] if where == "before" else ["report", missing, "--debug"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "InputError" in err
    assert err.strip().splitlines()[-1].startswith("error: ") and missing in err


def test_a_bug_is_not_a_user_error(capsys):
    def broken(args):
        return {}["no key"]

    assert run_command(broken, argparse.Namespace()) == 70  # the internal-error code, with the traceback
    assert "Traceback" in capsys.readouterr().err
    assert user_error_message(TypeError("x")) is None and user_error_message(KeyError("k")) is None
    assert user_error_message(ValueError("x")) is None  # a bare ValueError is a bug too (issue 26)


def test_missing_optional_packages_say_what_to_install():
    torch = ModuleNotFoundError("No module named 'torch'", name="torch")
    assert "pip install 'finsynth[train]'" in user_error_message(torch)
    st = ModuleNotFoundError("No module named 'sentence_transformers'", name="sentence_transformers.models")
    assert "finsynth[embedding]" in user_error_message(st)
    try:  # a library wrapper with its own advice keeps its message
        raise RuntimeError("token lengths need the tokenizers package: pip install x") from ModuleNotFoundError(
            name="tokenizers"
        )
    except RuntimeError as exc:
        assert user_error_message(exc) == "token lengths need the tokenizers package: pip install x"
    assert user_error_message(ModuleNotFoundError("No module named 'numpyy'", name="numpyy")) is None  # a bug
    assert user_error_message(UserError("a\n  b")) == "a; b"  # always one line


def test_json_array_in_jsonl_warns_on_stderr(tmp_path, capsys):
    path = tmp_path / "type_a.jsonl"
    path.write_text(json.dumps([GOOD, GOOD], ensure_ascii=False), encoding="utf-8")
    assert main(["report", str(path), "--format", "json", "--no-lint"]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "JSON array" in err and str(path) in err


# --- python -m train: paths checked before torch is imported --------------------------------------------


@pytest.fixture()
def built_dir(tmp_path: Path) -> Path:
    built = tmp_path / "built"
    built.mkdir()
    for split in ("train", "test"):
        (built / f"{split}.jsonl").write_text("", encoding="utf-8")
    return built


@pytest.mark.parametrize(
    "argv, named",
    [
        (["sft", "--model", "{missing}", "--data", "{built}"], "--model"),
        (["sft", "--model", "{model}", "--data", "{missing}"], "--data"),
        (["infer", "--model", "{missing}", "--test", "{built}/test.jsonl"], "--model"),
        (["infer", "--model", "{model}", "--test", "{missing}"], "--test"),
        (["infer", "--model", "{model}", "--test", "{built}/test.jsonl", "--adapter", "{missing}"], "--adapter"),
        (["sft", "--model", "{model}", "--data", "{built}", "--config", "{missing}"], "--config"),
        (["lengths", "--tokenizer", "{missing}", "--data", "{built}"], "--tokenizer"),
    ],
)
def test_train_missing_paths_are_one_line_and_exit_2(argv, named, tmp_path, built_dir, capsys):
    from train.cli import main as train_main

    missing = tmp_path / "no-such-path"
    argv = [a.format(missing=missing, built=built_dir, model=tmp_path) for a in argv]
    assert train_main(argv) == 2
    line = _one_error_line(capsys, named, str(missing))
    if named == "--model":
        assert "local model directory" in line


def test_train_bad_settings_are_one_line(tmp_path, built_dir, capsys):
    from train.cli import main as train_main

    assert train_main(["sft", "--model", str(tmp_path), "--data", str(built_dir), "--quant", "3bit"]) == 2
    _one_error_line(capsys, "quant", "3bit")
    bad = tmp_path / "bad.yaml"
    bad.write_text("lora_r: [1,\n", encoding="utf-8")
    assert train_main(["sft", "--model", str(tmp_path), "--data", str(built_dir), "--config", str(bad)]) == 2
    _one_error_line(capsys, str(bad), "YAML")
    assert train_main(["sft", "--model", str(tmp_path / "m"), "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


# --- the real entry points --------------------------------------------------------------------------------


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
def test_entry_points_exit_2_with_one_line(tmp_path):
    missing = str(tmp_path / "MISSING")
    for argv in (
        ["-m", "finsynth", "build", "--raw", missing, "--out", str(tmp_path / "out")],
        ["-m", "finsynth", "report", missing],
    ):
        done = _run(*argv)
        assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and missing in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    done = _run("-m", "finsynth", "--debug", "report", missing)
    assert done.returncode == 2 and "Traceback" in done.stderr


def test_train_checks_paths_before_importing_torch(tmp_path):
    missing = str(tmp_path / "MISSING")
    code = (
        f"import sys; from train.cli import main; rc = main(['sft', '--model', {missing!r}]); "
        "print(rc, 'torch' in sys.modules)"
    )
    done = _run("-c", code)
    assert done.stdout.split() == ["2", "False"], done.stdout + done.stderr
    assert done.stderr.strip().count("\n") == 0 and "--model" in done.stderr
    done = _run("-m", "train", "infer", "--model", missing)
    assert done.returncode == 2 and "Traceback" not in done.stderr and missing in done.stderr
