"""`finsynth build` on the starter corpus: clean, reconciled, deterministic, stopping on lint errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from finsynth.build import BuildConfig, BuildError, build
from finsynth.cli import main
from finsynth.io import load_paths, read_jsonl
from finsynth.prompts import system_prompt

OUTPUTS = ("train.jsonl", "val.jsonl", "test.jsonl", "quarantine.jsonl", "report.md", "report.html", "manifest.json")


@pytest.fixture()
def raw_copy(raw_dir: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "raw"
    shutil.copytree(raw_dir, dest, ignore=shutil.ignore_patterns("generated"))
    return dest


def _rows(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


@pytest.mark.slow
def test_starter_corpus_builds_cleanly(raw_copy: Path, tmp_path: Path) -> None:
    result = build(BuildConfig(raw_dir=raw_copy, out_dir=tmp_path / "out"))
    counts = result.manifest.counts
    assert counts.reconciles and counts.quarantined == 0
    assert counts.train.total + counts.val.total >= 60
    assert counts.test.total >= 18 and len(counts.test.by_scenario) == 6
    assert not result.lint.has_errors
    train = read_jsonl(tmp_path / "out" / "train.jsonl")
    row = train[0]
    assert row["prompt"][0] == {"role": "system", "content": system_prompt()}
    assert row["prompt"][1]["content"].startswith("【章节标题】")
    reply = json.loads(row["completion"][0]["content"])
    assert list(reply) == ["analysis", "metrics"]  # analysis first (lesson 2)
    assert reply == row["sample"]["output"]
    # every stratum with enough rows is represented in validation
    assert counts.val.total >= 1
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Fit to train on: no lint errors" in html and html.count('<svg class="chart"') == 5
    # built files load back as samples and test cases: lint, report, eval and diagnose read them as they are
    built = load_paths([tmp_path / "out" / "train.jsonl", tmp_path / "out" / "test.jsonl"])
    assert not built.quarantined
    assert len(built.samples) == counts.train.total
    assert len(built.test_cases) == counts.test.total
    assert {s.id for s in built.samples} == {r["id"] for r in train}


@pytest.mark.slow
def test_build_is_deterministic_and_seed_sensitive(raw_copy: Path, tmp_path: Path) -> None:
    build(BuildConfig(raw_dir=raw_copy, out_dir=tmp_path / "a", seed=7))
    build(BuildConfig(raw_dir=raw_copy, out_dir=tmp_path / "b", seed=7))
    for name in OUTPUTS:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    build(BuildConfig(raw_dir=raw_copy, out_dir=tmp_path / "c", seed=8))
    assert (tmp_path / "a" / "val.jsonl").read_bytes() != (tmp_path / "c" / "val.jsonl").read_bytes()


@pytest.mark.slow
def test_malformed_rows_are_quarantined_and_counts_reconcile(raw_copy: Path, tmp_path: Path) -> None:
    first = json.loads(_rows(raw_copy / "type_a.jsonl")[0])
    bad_type = dict(first, id="bad-1")
    bad_type["output"] = dict(first["output"], metrics=[dict(first["output"]["metrics"][0], metric_type="other")])
    with open(raw_copy / "type_a.jsonl", "a", encoding="utf-8") as handle:
        handle.write("{broken\n" + json.dumps(bad_type, ensure_ascii=False) + "\n")
    # an exact duplicate paragraph under another id
    dup = dict(first, id="dup-1")
    (raw_copy / "extra_type_a.jsonl").write_text(json.dumps(dup, ensure_ascii=False) + "\n", encoding="utf-8")
    result = build(BuildConfig(raw_dir=raw_copy, out_dir=tmp_path / "out"))
    counts = result.manifest.counts
    assert counts.reconciles
    assert counts.quarantined_by_stage == {"dedupe": 1, "load": 2}
    quarantine = read_jsonl(tmp_path / "out" / "quarantine.jsonl")
    reasons = {q["stage"]: q for q in quarantine}
    assert "duplicate" in reasons["dedupe"]["reason"]
    fields = {q["field"] for q in quarantine if q["stage"] == "load"}
    assert "output.metrics.0.metric_type" in fields
    total = sum(len(read_jsonl(tmp_path / "out" / f)) for f in ("train.jsonl", "val.jsonl", "test.jsonl"))
    assert total + len(quarantine) == counts.read


@pytest.mark.slow
def test_lint_errors_stop_the_build_unless_allowed(raw_copy: Path, tmp_path: Path) -> None:
    first = json.loads(_rows(raw_copy / "type_a.jsonl")[0])
    anchored = dict(first, id="anchored-1")
    anchored["input"] = dict(first["input"], paragraph=first["input"]["paragraph"] + "另外，公司员工人数达到1.2万人。")
    anchored["output"] = dict(first["output"], analysis="本段有1个指标被深度分析。1. 毛利率；2. 净利率。")
    with open(raw_copy / "type_a.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(anchored, ensure_ascii=False) + "\n")
    with pytest.raises(BuildError) as info:
        build(BuildConfig(raw_dir=raw_copy, out_dir=tmp_path / "stopped"))
    assert {f.rule for f in info.value.lint.findings if f.severity == "error"} >= {"numbered-list"}
    assert not (tmp_path / "stopped" / "manifest.json").exists()
    result = build(BuildConfig(raw_dir=raw_copy, out_dir=tmp_path / "allowed", allow_errors=True))
    counts = result.manifest.counts
    assert counts.reconciles and counts.quarantined_by_stage.get("lint") == 1
    quarantine = read_jsonl(tmp_path / "allowed" / "quarantine.jsonl")
    assert quarantine[0]["stage"] == "lint" and "numbered-list" in quarantine[0]["reason"]


@pytest.mark.slow
def test_split_leakage_is_removed(raw_copy: Path, tmp_path: Path) -> None:
    case = json.loads(_rows(raw_copy / "test_cases.jsonl")[0])
    leaked = {"id": "leak-1", "type": "B", "input": case["input"], "output": case["output"]}
    with open(raw_copy / "type_b.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(leaked, ensure_ascii=False) + "\n")
    result = build(BuildConfig(raw_dir=raw_copy, out_dir=tmp_path / "out", allow_errors=True))
    stages = result.manifest.counts.quarantined_by_stage
    assert stages.get("leakage", 0) + stages.get("lint", 0) >= 1
    train_ids = {r["id"] for r in read_jsonl(tmp_path / "out" / "train.jsonl")}
    assert "leak-1" not in train_ids


@pytest.mark.slow
def test_cli_build_json(raw_copy: Path, tmp_path: Path, capsys) -> None:
    code = main(["build", "--raw", str(raw_copy), "--out", str(tmp_path / "out"), "--format", "json"])
    assert code == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["counts"]["reconciles"]
    assert set(manifest["templates"]) >= {"system.j2", "user.j2"}
    assert all(len(h) == 64 for h in manifest["outputs"].values())


def test_the_manifest_of_a_build_is_typed_and_is_what_manifest_json_holds(offline, raw_copy: Path) -> None:
    """Issue 26 item 2: `BuildResult.manifest` is the `Manifest` model, with typed relabel, review and fix
    parts, and `manifest.json` is exactly its JSON (read back, it is the same model)."""
    from finsynth.manifest import Manifest
    from finsynth.schema import Sample, row_content_hash

    first = Sample.model_validate_json(_rows(raw_copy / "type_a.jsonl")[0])
    patch = offline / "review.jsonl"
    decision = {"id": first.id, "content_hash": row_content_hash(first), "decision": "reject", "reviewer": "li"}
    patch.write_text(json.dumps({**decision, "time": "2026-12-01T00:00:00+00:00"}) + "\n", encoding="utf-8")
    out = offline / "out"
    config = BuildConfig(raw_dir=raw_copy, out_dir=out, relabel=["B"], force_relabel=True, llm="rules", review=patch)
    manifest = build(config.model_copy(update={"fix": True})).manifest
    assert isinstance(manifest, Manifest)
    assert manifest.relabel is not None and manifest.relabel.annotator == "rules" and manifest.relabel.forced
    assert manifest.relabel.relabelled == manifest.relabel.requested == 48
    assert manifest.review is not None and manifest.review.counts() == {"decisions": 1, "reject": 1}
    assert manifest.review.patch.name == "review.jsonl" and manifest.counts.quarantined_by_stage == {"review": 1}
    assert manifest.fix_plan is not None and "measured harmful" in manifest.fix_plan.skipped["count-anchor:cut"]
    written = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert written == manifest.to_json() and Manifest.model_validate(written) == manifest
    plain = build(BuildConfig(raw_dir=raw_copy, out_dir=offline / "plain")).manifest
    assert (
        plain.relabel is None and plain.review is None and plain.to_json()["relabel"] == plain.to_json()["review"] == {}
    )


def test_a_stage_carries_its_rows_on_and_its_quarantine_over(raw_copy: Path, tmp_path: Path) -> None:
    """Issue 26 item 2: stages are plain functions of a `BuildState`; run one after another on the starter
    corpus plus a duplicate row, every row read is still going, a test case, or quarantined with its stage."""
    from finsynth.build import BuildState, _dedupe, _load

    first = _rows(raw_copy / "type_a.jsonl")[0]
    (raw_copy / "extra.jsonl").write_text(first.replace('"id": "', '"id": "zz-', 1) + "\n", encoding="utf-8")
    state = BuildState(config=BuildConfig(raw_dir=raw_copy, out_dir=tmp_path / "out"))
    seen: list[str] = []
    loaded = state.run("load", _load, seen.append)
    state.tests = loaded.tests
    assert state.run("dedupe", _dedupe, seen.append) is None and seen == ["load", "dedupe"]
    assert [(q.stage, q.extra["kept_id"]) for q in state.quarantined] == [("dedupe", json.loads(first)["id"])]
    assert len(state.records) + len(state.tests) + len(state.quarantined) == loaded.result.read
