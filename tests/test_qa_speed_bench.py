"""`benchmarks/qa_speed.py` keeps working at a small size (no timing asserted; numbers live in docs):
the import reconciles, table QA is generated, and the evaluation's exact matches are the ones its
perturbations were designed to keep."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.timeout(300)
@pytest.mark.slow
def test_qa_speed_small(corpus_dir: Path) -> None:
    if not (corpus_dir / "tatqa" / "tatqa_dataset_dev.json").is_file():
        pytest.skip("TAT-QA dev file not in the shared corpus")
    done = subprocess.run(
        [sys.executable, str(BENCH / "qa_speed.py"), "--contexts", "20", "--predictions", "600"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["contexts"] == 20 and result["import_reconciles"] and result["imported"] == result["questions"]
    assert result["generated"] > 0 and result["linted"] == result["imported"] + result["generated"]
    assert result["eval_gold"] == 600 and result["eval_predictions"] + result["eval_missing"] == 600
    assert sum(result["perturbations"].values()) == 600 and result["perturbations"]["missing"] == result["eval_missing"]
    # every perturbation kind that keeps the match was met, and only those matched
    assert result["eval_exact"] == result["eval_expected_exact"] > 0
    assert 0 < result["eval_em"] < 1
    for stage in ("import_tatqa", "generate_table_qa", "lint_qa", "qa_eval_load", "qa_eval_score"):
        assert result["seconds"][stage] >= 0
    assert result["machine"]["cores"] >= 1
