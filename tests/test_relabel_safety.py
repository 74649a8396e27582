"""Issue 12: relabelling never makes data worse (safe defaults, no loss on transport failure, honest reports)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, Reply

from finsynth.cli import main
from finsynth.io import load_paths, read_jsonl
from finsynth.llm.config import EndpointConfig
from finsynth.schema import Sample
from finsynth.synth.relabel import relabel
from finsynth.synth.validate import REPLY_RULES, lint_errors


def _b_rows(out: Path) -> dict[str, dict]:
    rows = {}
    for split in ("train", "val"):
        for row in read_jsonl(out / f"{split}.jsonl"):
            if row["sample"]["type"] == "B":
                rows[row["id"]] = row
    return rows


def _build(*args: str) -> int:
    return main(["build", *args])


@pytest.mark.slow
def test_offline_relabel_leaves_clean_b_rows_byte_identical(offline, raw_dir, capsys):
    plain, relabelled = offline / "plain", offline / "relabel"
    assert _build("--raw", str(raw_dir), "--out", str(plain)) == 0
    assert _build("--raw", str(raw_dir), "--out", str(relabelled), "--relabel", "B") == 0
    out = capsys.readouterr().out
    assert "no endpoint configured" in " ".join(out.split()) and "offline rules annotator runs" in " ".join(out.split())
    for split in ("train.jsonl", "val.jsonl", "test.jsonl"):
        assert (plain / split).read_bytes() == (relabelled / split).read_bytes(), split
    info = json.loads((relabelled / "manifest.json").read_text())["relabel"]
    assert info["annotator"] == "rules" and info["requested"] == 48 and info["needed"] == 0
    assert info["kept_clean"] == 48 and info["relabelled"] == 0
    assert read_jsonl(relabelled / "relabel.diff.jsonl") == []
    assert "No row needed relabelling" in (relabelled / "relabel.html").read_text()


def test_forced_relabel_rewrites_every_b_row_and_they_lint_clean(offline, raw_dir):
    out = offline / "forced"
    assert _build("--raw", str(raw_dir), "--out", str(out), "--relabel", "B", "--force") == 0
    changes = read_jsonl(out / "relabel.diff.jsonl")
    assert len(changes) == 48 and {c["status"] for c in changes} == {"changed"}
    assert all(c["before"] != c["after"] for c in changes)
    rows = _b_rows(out)
    assert len(rows) == 48
    for row in rows.values():
        sample = Sample.model_validate(row["sample"])
        assert sample.provenance.annotator == "rules"
        assert lint_errors(sample, REPLY_RULES) == [], sample.id  # the new grounding checks included
    page = (out / "relabel.html").read_text()
    assert 'id="count-changed">48<' in page and "data-review-hash" in page


def test_force_without_relabel_is_a_one_line_error(offline, raw_dir, capsys):
    assert _build("--raw", str(raw_dir), "--out", str(offline / "x"), "--force") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--force only applies with --relabel" in err[0]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _starter_b(raw_dir: Path) -> list[Sample]:
    loaded = load_paths([raw_dir / "type_b.jsonl"])
    return [r.item for r in loaded.records]


def test_refused_connection_stops_early_and_loses_no_row(raw_dir):
    samples = _starter_b(raw_dir)
    config = EndpointConfig(base_url=f"http://127.0.0.1:{_closed_port()}/v1", model="m", max_retries=6)
    result = relabel(samples, llm="openai", force=True, concurrency=8, cache_path=None, progress=False, config=config)
    assert result.stats.aborted and "no call answered" in result.stats.aborted
    assert "check OPENAI_BASE_URL" in result.stats.aborted
    # every row is still there, with its original analysis, and says why
    assert result.reconciles() and not result.quarantined
    assert [s.output for s in result.samples] == [s.output for s in samples]
    assert all(s.provenance.relabel.startswith("kept original (transport)") for s in result.samples)
    assert result.stats.kept_on_failure == len(samples)
    # stopped early: at most the breaker's 16 failed attempts plus what was in flight, not 48 x 7
    assert result.usage.failed_calls <= 16 + 8


def test_refused_connection_build_exits_2_and_writes_nothing(offline, raw_dir, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{_closed_port()}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-key")
    out = offline / "out"
    assert _build("--raw", str(raw_dir), "--out", str(out), "--relabel", "B", "--force", "--llm", "openai") == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert "relabel stopped early" in err[-1] and "nothing was written" in err[-1]
    assert "sk-test-not-a-key" not in err[-1]
    assert not (out / "manifest.json").exists() and not (out / "train.jsonl").exists()


def test_a_401_endpoint_is_called_at_most_once_per_row(raw_dir):
    samples = _starter_b(raw_dir)
    with FakeOpenAI(lambda request: Reply(status=401, body={"error": {"message": "bad key"}})) as server:
        config = EndpointConfig(base_url=server.base_url, model="m", max_retries=6)
        result = relabel(
            samples, llm="openai", force=True, concurrency=8, cache_path=None, progress=False, config=config
        )
        calls = server.total_requests
    assert calls <= len(samples) and calls <= 8  # not retried, and the run stopped at the first answers
    assert "authentication failed (HTTP 401)" in result.stats.aborted
    assert result.reconciles() and len(result.samples) == len(samples)


@pytest.mark.slow
def test_reports_after_quarantine_describe_the_output(offline, corpus_dir):
    """--allow-errors on the corpus with its C analyses enumerated (lesson 6's fault, an error) quarantines those
    rows: the report, the manifest's lint and the summary describe what was written, and name the type x count
    buckets quarantine emptied or halved."""
    from conftest import write_enumerated_type_c

    raw = offline / "raw"
    raw.mkdir()
    for name in ("type_a.jsonl", "type_b.jsonl", "type_d.jsonl", "test_cases.jsonl"):
        (raw / name).write_bytes((corpus_dir / name).read_bytes())
    write_enumerated_type_c(corpus_dir, raw / "type_c.jsonl")
    out = offline / "corpus"
    assert _build("--raw", str(raw), "--out", str(out), "--allow-errors") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    enumerations = ("numbered-list", "semicolon-enumeration")
    assert manifest["counts"]["quarantined_by_stage"]["lint"] == 72 and all(
        manifest["lint_before_quarantine"].get(r) for r in enumerations
    )
    assert not any(manifest["lint"].get(r) for r in enumerations)  # those rows are in quarantine, not the output
    warnings = manifest["warnings"]
    assert any(w.startswith("quarantine emptied type C x 3") for w in warnings)
    assert any("type C" in w for w in warnings)
    report = (out / "report.md").read_text()
    assert "Quarantine changed the mix" in report and "type C x 3" in report
    assert "36 lint errors" not in report
    assert "Quarantine changed the mix" in (out / "report.html").read_text()


def test_a_stale_annotator_model_is_a_one_line_error_naming_it(offline, raw_dir, capsys):
    stale = offline / ".finsynth" / "annotator-model.json"
    stale.parent.mkdir()
    stale.write_text(json.dumps({"format": "finsynth-annotator-model/1", "labels": [], "features": []}))
    assert _build("--raw", str(raw_dir), "--out", str(offline / "out"), "--relabel", "B", "--force") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "annotator-model.json" in err[0] and "finsynth annotator fit" in err[0], err
    assert not (offline / "out" / "train.jsonl").exists()


def test_annotator_fit_without_labelled_rows_names_the_input(tmp_path, corpus_dir, capsys):
    rows = tmp_path / "raw"
    rows.mkdir()
    (rows / "type_a.jsonl").write_text((corpus_dir / "type_a.jsonl").read_text().splitlines()[0] + "\n")
    assert main(["annotator", "fit", str(rows)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(rows) in err[0] and "逐项排除" in err[0], err
