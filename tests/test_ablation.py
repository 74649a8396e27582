"""Issue 23: recipes as build settings, the paired statistics, the evidence that decides defaults, and the
count-anchor strategies on the corpus's real type C rows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finsynth.audit import evidence as ev
from finsynth.audit.lint import RULES, lint_sample, plan_fixes
from finsynth.cli import main
from finsynth.eval.ablation import (
    load_recipe,
    paired_bootstrap,
    prepare_variant,
    seed_interval,
)
from finsynth.io import InputError, load_file

REPO = Path(__file__).resolve().parents[1]
RECIPES = sorted((REPO / "data" / "recipes").glob("*.yaml"))


# --- statistics ------------------------------------------------------------------------------------


def _cells(totals: dict[int, list[int]]) -> dict[int, dict[str, tuple[int, int]]]:
    return {s: {f"T{i:02d}": (v, v) for i, v in enumerate(vals)} for s, vals in totals.items()}


def test_identical_runs_have_no_effect() -> None:
    base = _cells({0: [1, 0, 1, 1, 0] * 10, 1: [0, 1, 1, 0, 1] * 10})
    cmp = paired_bootstrap(base, base, n_boot=500)
    assert cmp.delta_total == 0 and cmp.interval == (0, 0) and cmp.cases == 50 and cmp.seeds == [0, 1]


def test_a_variant_better_on_a_fifth_of_the_cases_is_clearly_helpful() -> None:
    base = _cells({s: [0] * 50 for s in range(3)})
    better = _cells({s: [1] * 10 + [0] * 40 for s in range(3)})
    cmp = paired_bootstrap(better, base, n_boot=1000)
    assert cmp.delta_total == 10 and cmp.interval[0] > 0 and cmp.variant_total == [10.0] * 3


def test_only_shared_seeds_and_cases_are_compared() -> None:
    base = _cells({0: [1] * 50, 1: [1] * 50})
    variant = _cells({1: [0] * 40, 2: [0] * 40})
    cmp = paired_bootstrap(variant, base, n_boot=200)
    assert cmp.seeds == [1] and cmp.cases == 40 and cmp.delta_total == -40
    with pytest.raises(ValueError, match="share no seed"):
        paired_bootstrap(_cells({5: [1]}), base)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 1), min_size=8, max_size=8), min_size=2, max_size=3),
    st.lists(st.lists(st.integers(0, 1), min_size=8, max_size=8), min_size=2, max_size=3),
)
def test_swapping_the_sides_negates_the_effect_and_the_interval_holds_it(a, b) -> None:
    n = min(len(a), len(b))
    va, vb = _cells(dict(enumerate(a[:n]))), _cells(dict(enumerate(b[:n])))
    ab, ba = paired_bootstrap(va, vb, n_boot=300), paired_bootstrap(vb, va, n_boot=300)
    assert ab.delta_total == pytest.approx(-ba.delta_total)
    assert ab.interval[0] <= ab.delta_total + 1e-9 and ab.delta_total <= ab.interval[1] + 1e-9


def test_seed_interval_reproduces_the_issue_measurement() -> None:
    # issue 23: corpus 25, 23, 20 against the count-anchor cut 13, 15, 11 (one H100, 3 seeds)
    delta, (low, high) = seed_interval([25, 23, 20], [13, 15, 11])
    assert delta == pytest.approx(-9.67, abs=0.01) and high < 0 < high - low


# --- evidence --------------------------------------------------------------------------------------


def _measurement(rule: str, change: str, kind: str, interval: tuple[float, float]) -> ev.Measurement:
    return ev.Measurement(
        rule=rule,
        change=change,
        kind=kind,
        variant="v",
        baseline="corpus",
        model="m",
        device="d",
        data="x",
        cases=50,
        seeds=[0, 1],
        baseline_total=[20, 20],
        variant_total=[10, 10],
        delta_total=sum(interval) / 2,
        interval=interval,
        interval_method="test",
        recipe="r.yaml",
        date="2026-12-08",
    )


def test_a_harmful_remedy_demotes_an_error_and_a_harmful_fault_keeps_it() -> None:
    harmful_fix = ev.EvidenceFile(measurements=[_measurement("r", "fix r:cut", "fix", (-12, -4))])
    assert ev.effective_severity("r", "error", harmful_fix) == "warning"
    assert ev.effective_severity("r", "warning", harmful_fix) == "warning"
    unclear = ev.EvidenceFile(measurements=[_measurement("r", "fix r:cut", "fix", (-12, 3))])
    assert ev.effective_severity("r", "error", unclear) == "error"
    both = ev.EvidenceFile(measurements=[*harmful_fix.measurements, _measurement("r", "inject", "violation", (-9, -2))])
    assert ev.effective_severity("r", "error", both) == "error"  # the fault hurts: the rule stands
    assert ev.effective_severity("other", "error", harmful_fix) == "error"


def test_shipped_evidence_drives_count_anchor_and_is_shown() -> None:
    rule = RULES["count-anchor"]
    assert rule.declared_severity == "error" and rule.severity == "warning"
    assert ev.fix_effect("count-anchor", "cut").effect == "harmful"
    assert RULES["numbered-list"].severity == "error"  # no harmful remedy measured
    plan = plan_fixes(None)
    assert "count-anchor:cut" in plan.skipped and plan.apply == []
    named = plan_fixes(["count-anchor:cut"])
    assert named.apply == ["count-anchor:cut"] and "measured harmful" in named.warnings[0]
    assert plan_fixes(["count-anchor:move"]).apply == ["count-anchor:move"]
    assert plan_fixes(["count-anchor"], ["count-anchor"]).skipped == {"count-anchor:cut": "excluded (--no-fix)"}
    with pytest.raises(ValueError, match="no fix strategy 'trim'"):
        plan_fixes(["count-anchor:trim"])
    with pytest.raises(ValueError, match="has no autofix"):
        plan_fixes(["numbered-list"])


def test_lint_list_and_explain_show_the_evidence(capsys) -> None:
    assert main(["lint", "--list", "--format", "json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)["rules"]}
    anchor = rows["count-anchor"]
    assert anchor["severity"] == "warning" and anchor["declared_severity"] == "error"
    assert anchor["fixes"] == ["cut", "move", "rewrite"]
    assert {m["effect"] for m in anchor["evidence"]} == {"harmful"} and anchor["evidence"][0]["interval"][1] < 0
    assert rows["length"]["evidence"] == "not measured"
    assert main(["lint", "--explain", "count-anchor"]) == 0
    text = capsys.readouterr().out
    assert "Measured on a real model" in text and "harmful" in text and "count-anchor:move" in text


def test_unknown_fix_is_one_line_exit_2(tmp_path, capsys, raw_dir) -> None:
    code = main(["build", "--raw", str(raw_dir), "--out", str(tmp_path / "o"), "--fix", "count-anchor:trim"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: fix selection:") and "strategies: cut, move, rewrite" in err
    assert "\n" not in err


# --- recipes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_shipped_recipes_load_and_their_fixes_resolve(path: Path) -> None:
    recipe = load_recipe(path)
    assert recipe.baseline in recipe.variants and recipe.seeds
    for variant in recipe.variants.values():
        if variant.fix:
            plan_fixes(variant.fix, variant.no_fix)
        if variant.compose:
            assert recipe.resolve(variant.compose).is_file()


def test_recipe_errors_name_the_file_and_field(tmp_path) -> None:
    bad = tmp_path / "r.yaml"
    bad.write_text("name: x\nbaseline: corpus\nvariants:\n  corpus: {source: corpus, relabl: [B]}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"r\.yaml: variants\.corpus\.relabl: Extra inputs"):
        load_recipe(bad)
    bad.write_text("name: x\nbaseline: nope\nvariants:\n  corpus: {source: corpus}\n", encoding="utf-8")
    with pytest.raises(InputError, match="baseline 'nope' is not one of the variants"):
        load_recipe(bad)
    with pytest.raises(InputError, match="no such recipe file"):
        load_recipe(tmp_path / "missing.yaml")


def _conversations(directory: Path) -> dict[str, list]:
    """Each split's rows as trained on: the prompt and completion, without the provenance (source paths)."""
    out = {}
    for split in ("train", "val", "test"):
        rows = [json.loads(ln) for ln in (directory / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
        out[split] = [(r["prompt"], r["completion"]) for r in rows]
    return out


def test_the_default_build_trains_exactly_the_corpus(corpus_dir, tmp_path) -> None:
    """Target (a) of issue 23 by construction: on the shared corpus, `finsynth build` with its defaults writes the
    very conversations the corpus variant trains on (no row dropped, none rewritten), so it cannot train worse."""
    recipe = load_recipe(REPO / "data" / "recipes" / "count_anchor.yaml")
    prepare_variant("corpus", recipe, corpus_dir, tmp_path / "corpus")
    info = prepare_variant("default", recipe, corpus_dir, tmp_path / "default")
    assert info["counts"]["quarantined"] == 0 and info["fixed"] == {}
    assert _conversations(tmp_path / "default") == _conversations(tmp_path / "corpus")
    cut = prepare_variant("cut", recipe, corpus_dir, tmp_path / "cut")
    assert cut["fixed"] == 72 and _conversations(tmp_path / "cut") != _conversations(tmp_path / "corpus")


# --- count-anchor strategies on real rows ------------------------------------------------------------


@pytest.fixture(scope="module")
def type_c(corpus_dir):
    return [r.item for r in load_file(corpus_dir / "type_c.jsonl").records]


@pytest.mark.parametrize("strategy", ["cut", "move", "rewrite"])
def test_every_strategy_fixes_every_type_c_row_without_new_lint_errors(type_c, strategy) -> None:
    fix = dict(RULES["count-anchor"].fixes)[strategy]
    for sample in type_c:
        fixed = fix(sample)
        assert fixed is not None, sample.id
        before = {f.rule for f in lint_sample(sample)}
        after = {f.rule for f in lint_sample(fixed)}
        assert "count-anchor" in before and "count-anchor" not in after, sample.id
        new = {r for r in after - before if RULES[r].severity == "error"}
        assert not new, (sample.id, new, fixed.output.analysis)
        names = [m.metric_name for m in sample.output.metrics]
        if strategy == "move":
            assert fixed.output.analysis.endswith("核心指标。") and all(n in fixed.output.analysis[-60:] for n in names)
        if strategy == "rewrite":
            head = fixed.output.analysis.split("。")[0]
            assert head.startswith("本段深度分析的是") and all(n in head for n in names)
            assert not re.search(r"[\d一二两三四]\s*个(?:核心)?指标", head), head  # names, no count


# --- the device path (issue 23, item 5) ----------------------------------------------------------------


def test_train_never_requests_hub_kernels() -> None:
    """Importing `train` turns hub kernels off before transformers loads, whichever transformers is installed."""
    import subprocess
    import sys

    probe = (
        "import os, train, transformers.integrations.hub_kernels as h\n"
        "flag = getattr(h, '_kernels_enabled', None)\n"  # 5.25: a function; 5.17: a bool read at import
        "enabled = flag() if callable(flag) else bool(flag)\n"
        "print(os.environ['USE_HUB_KERNELS'], enabled)\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "USE_HUB_KERNELS"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["NO", "False"]


def test_the_venv_holds_the_device_versions() -> None:
    """The CPU suite runs the ML stack the device image runs (its transformers and accelerate, and the wheels
    fetch_wheels.sh carries), so an API only a newer transformers has fails here before a device call does."""
    import tomllib
    from importlib.metadata import version

    pins = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    pinned = dict(p.split("==") for p in pins["train"] if "==" in p)
    assert pinned["transformers"] == "5.17.0" and pinned["accelerate"] == "1.15.0"
    for name, wanted in pinned.items():
        assert version(name) == wanted, f"{name} {version(name)} installed, the device runs {wanted}: reinstall"
    carried = (REPO / "benchmarks" / "outcome" / "fetch_wheels.sh").read_text(encoding="utf-8")
    for name in ("trl", "peft", "datasets"):
        assert f"{name}=={pinned[name]}" in carried


@pytest.mark.slow
def test_outcome_recipe_runs_on_cpu_and_compares_paired(tiny, corpus_dir, tmp_path) -> None:
    """`benchmarks/outcome.py --stage prepare` then `--stage run` (what the device runs, in this venv's versions):
    two variants x two seeds, two cells at once, every cell scored, the paired comparison and the evidence
    written; a second call keeps every finished cell (resumable)."""
    import subprocess
    import sys

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: smoke\nbaseline: corpus\nseeds: [0, 1]\nvariants:\n  corpus: {source: corpus}\n"
        "  move: {source: corpus, fix: [count-anchor:move], measures: {rule: count-anchor, kind: fix}}\n"
        "  zero-shot: {source: zero-shot}\n",
        encoding="utf-8",
    )
    out, evidence = tmp_path / "out", tmp_path / "evidence.json"
    common = [
        sys.executable,
        str(REPO / "benchmarks" / "outcome.py"),
        "--recipe",
        str(recipe),
        "--out",
        str(out),
        "--corpus",
        str(corpus_dir),
    ]
    prep = subprocess.run([*common, "--stage", "prepare"], capture_output=True, text=True, check=False, cwd=tmp_path)
    assert prep.returncode == 0, prep.stderr[-2000:]
    run = [
        *common,
        "--stage",
        "run",
        "--model",
        str(tiny),
        "--limit",
        "3",
        "--max-steps",
        "1",
        "--train-limit",
        "6",
        "--max-new-tokens",
        "8",
        "--parallel",
        "2",
        "--write-evidence",
        str(evidence),
        "--device-name",
        "cpu-test",
    ]
    first = subprocess.run(run, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    table = json.loads(first.stdout.strip().splitlines()[-1])
    assert [(r["variant"], r["seed"], r["status"]) for r in table["rows"]] == [
        ("corpus", 0, "ok"),
        ("corpus", 1, "ok"),
        ("move", 0, "ok"),
        ("move", 1, "ok"),
        ("zero-shot", 0, "ok"),
    ]
    assert table["comparison"]["move"]["seeds"] == [0, 1] and len(table["comparison"]["move"]["interval"]) == 2
    assert "progress: 5/5 cell(s)" in first.stderr
    written = ev.load_evidence(evidence).measurements
    assert [(m.rule, m.change, m.kind, m.cases, m.device) for m in written] == [
        ("count-anchor", "fix count-anchor:move", "fix", 3, "cpu-test")
    ]
    again = subprocess.run(run, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert again.returncode == 0 and again.stderr.count(": kept (") == 5


def test_diagnose_writes_its_data_plan_as_a_measurable_recipe(corpus_dir, tmp_path, capsys) -> None:
    """The bad-case -> data plan loop closed on the reference model's real predictions: the plan becomes a recipe
    whose variant builds (compose slices over the corpus's own rows), and what copies cannot do is said."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for f in ("type_a.jsonl", "type_b.jsonl", "type_c.jsonl", "type_d.jsonl"):
        (raw / f).write_bytes((corpus_dir / f).read_bytes())
    code = main(
        [
            "diagnose",
            "--pred",
            str(corpus_dir / "predictions_v11.json"),
            "--gold",
            str(corpus_dir / "test_cases.jsonl"),
            "--train",
            str(raw),
            "--recipe-out",
            str(tmp_path / "plan"),
            "--format",
            "json",
        ]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "data plan as a recipe" in err and "plan note:" in err
    recipe = load_recipe(tmp_path / "plan" / "plan.yaml")
    assert recipe.baseline == "corpus" and recipe.variants["plan"].compose == "plan_compose.yaml"
    import yaml

    compose = yaml.safe_load((tmp_path / "plan" / "plan_compose.yaml").read_text(encoding="utf-8"))
    names = [s["name"] for s in compose["slices"]]
    assert names and len(names) == len({json.dumps(s["where"]) for s in compose["slices"]})  # one slice per cell
    info = prepare_variant("plan", recipe, corpus_dir, tmp_path / "data" / "plan")
    assert info["train"] > 630 and info["mean_train_count"] < 2.127  # more low-count rows, by copies


def test_build_names_the_files_that_are_not_sample_rows(corpus_dir, tmp_path, capsys) -> None:
    """`build --raw ../shared/corpus` reads the predictions and TAT-QA too: skipped and said, not quarantined."""
    code = main(["build", "--raw", str(corpus_dir), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert code == 0 and manifest["counts"]["quarantined"] == 0 and manifest["counts"]["reconciles"]
    skipped = {Path(s["path"]).name: s["rows"] for s in manifest["skipped_files"]}
    assert skipped == {"predictions_v11.json": 50, "tatqa_dataset_dev.json": 278}
    assert "skipped:" in err and "predictions_v11.json" in err and "finsynth eval --pred" in err


def test_the_report_shows_each_rule_with_its_evidence(corpus_dir, tmp_path, capsys) -> None:
    assert main(["report", str(corpus_dir / "type_c.jsonl"), "--format", "md"]) == 0
    md = capsys.readouterr().out
    row = next(line for line in md.splitlines() if line.startswith("| count-anchor |"))
    assert "| warning | 72 | fix count-anchor:cut: -9.7 [-14.8, -4.5] |" in row
    html = tmp_path / "r.html"
    assert main(["report", str(corpus_dir / "type_c.jsonl"), "--format", "html", "-o", str(html)]) == 0
    assert "fix count-anchor:cut: -9.7 [-14.8, -4.5]" in html.read_text(encoding="utf-8")


def test_a_weighted_build_counts_weighted_and_refuses_an_unweighted_export(corpus_dir, tmp_path, capsys) -> None:
    recipe = load_recipe(REPO / "data" / "recipes" / "candidates.yaml")
    info = prepare_variant("compose-weighted", recipe, corpus_dir, tmp_path / "w")
    assert info["train"] == 630 and info["mean_train_count"] == pytest.approx(1.44, abs=0.01)  # the test prior
    assert main(["export", str(tmp_path / "w"), "--to", "alpaca"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "mode: weight" in err and "\n" not in err
