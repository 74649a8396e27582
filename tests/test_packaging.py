"""The package works from a wheel, not only from a checkout: templates and report assets ship inside it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from finsynth.prompts import system_prompt


@pytest.mark.timeout(300)
@pytest.mark.slow
def test_wheel_ships_templates_and_renders_prompts(repo_root: Path, tmp_path: Path) -> None:
    wheel_dir = tmp_path / "wheel"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheel_dir), str(repo_root)],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0 and "hatchling" in built.stderr and "No matching distribution" in built.stderr:
        pytest.skip("the build backend (hatchling) cannot be fetched here")
    assert built.returncode == 0, built.stderr
    (wheel,) = wheel_dir.glob("finsynth-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "finsynth/_templates/system.j2" in names and "finsynth/_templates/relabel_b.j2" in names
    # train/ ships under a name of ours: a top-level `train` would clash with any other project's `train`
    assert "finsynth_train/sft.py" in names and "finsynth_train/__main__.py" in names
    assert not [name for name in names if name.split("/")[0] == "train"]
    for asset in ("report.html.j2", "report.css", "report.js"):
        assert f"finsynth/audit/html/assets/{asset}" in names
    # the metric lexicon is data shipped in the wheel (issue 13), every built-in file of it
    from finsynth.text.lexicon import builtin_files

    for lexicon_file in builtin_files():
        assert f"finsynth/text/lexicon/{lexicon_file.name}" in names

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)], check=True
    )
    code = "import finsynth.prompts as p; print(p.default_template_dir()); print(p.system_prompt())"
    env = dict(os.environ, PYTHONPATH=str(target))
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0].startswith(str(target)) and out[0].endswith("_templates")
    assert out[1] == system_prompt()

    # `python -m finsynth_train` runs from the installed wheel (its help needs none of the training stack)
    done = subprocess.run(
        [sys.executable, "-m", "finsynth_train", "--help"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0 and "python -m finsynth_train" in done.stdout, done.stderr

    # the lexicon loads from the installed wheel: EPS and 每股收益 are one metric there too
    code = (
        "import finsynth.text.lexicon as x; from finsynth.text.names import FuzzyMatcher; print(x.BUILTIN_DIR); "
        "print(len(x.default_lexicon().categories), FuzzyMatcher().same('EPS', '每股收益'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0].startswith(str(target)) and out[1] == f"{len(builtin_files())} True"

    # the HTML report's page template and assets load from the installed wheel too
    code = (
        "import finsynth.audit.html.page as h; from finsynth.audit.report import build_report; "
        "from finsynth.io import load_paths; print(h.ASSETS); "
        f"print(len(h.render_html(build_report(load_paths([{str(repo_root / 'data' / 'raw')!r}]).samples))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0].startswith(str(target)) and int(out[1]) > 10_000
