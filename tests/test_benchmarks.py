"""Benchmarks keep working: each runs at a small size and prints its JSON result on the last line.

No timing is asserted here (numbers live in docs/benchmarks.md); what is asserted is what each
benchmark promises besides speed: nothing lost, a cached re-run makes no call, leakage is found.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(script: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(300)
@pytest.mark.slow
def test_llm_throughput_small() -> None:
    result = _run(
        "llm_throughput.py",
        "--requests",
        "60",
        "--concurrency",
        "8",
        "--latency-ms",
        "20",
        "--also-latency-ms",
        "0",
        "--sequential-requests",
        "5",
        "--batch",
        "10",
    )
    for key in (
        "requests",
        "concurrency",
        "latency_ms",
        "achieved_rps",
        "ideal_rps",
        "ratio",
        "lost",
        "quarantined",
        "retries",
        "cached_rerun_calls",
        "cached_rerun_s",
    ):
        assert key in result, key
    assert result["requests"] == 60 and result["lost"] == 0 and result["quarantined"] == 0
    assert result["cached_rerun_calls"] == 0
    assert result["retries"] > 0  # the 10% injected faults were met and retried


@pytest.mark.timeout(300)
@pytest.mark.slow
def test_lint_scale_small(corpus_dir: Path) -> None:
    result = _run("lint_scale.py", "--n", "1500")
    assert result["samples"] == 1500 and result["peak_rss_mib"] > 0 and result["samples_per_s"] > 0
    assert result["html_seconds"] > 0 and 100_000 < result["html_bytes"] < 2_000_000


@pytest.mark.timeout(300)
def test_eval_scale_small(corpus_dir: Path) -> None:
    result = _run("eval_scale.py", "--cases", "300")
    assert result["cases"] == 300 and result["fuzzy"]["cases_per_s"] > 0


@pytest.mark.timeout(300)
def test_matcher_pairs_meets_its_targets(corpus_dir: Path) -> None:
    result = _run("matcher_pairs.py")
    assert result["pairs"] >= 150 and result["same_pairs"] >= 50 and result["different_pairs"] >= 50
    # drawn from the corpus's own names and from every lexicon category
    assert result["corpus_pairs_with_a_corpus_name"] >= 100
    assert len(result["categories"]) >= 8
    fuzzy, reference = result["matchers"]["fuzzy"], result["matchers"]["reference"]
    assert fuzzy["recall"] >= 0.95 and fuzzy["false_matches"] == 0 and result["targets_met"]
    # the pairs are a fair test: the reference rule errs both ways on them
    assert reference["misses"] >= 20 and reference["false_matches"] >= 10
