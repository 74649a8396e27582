"""Issue 26 item 1: one rule kit for both lint families, with ruff's rule lifecycle and fix-safety notes."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from finsynth.audit import kit
from finsynth.audit.lint import RULES, Example, lint_records, rules_markdown, select_rules
from finsynth.audit.rules.base import PROSE, example, rule
from finsynth.cli import main
from finsynth.errors import ConfigError
from finsynth.io import load_file
from finsynth.qa.lint import QA_RULES, QAFinding, example_sample, lint_qa
from finsynth.qa.schema import QASample

PACKAGE = Path(__file__).resolve().parents[1] / "finsynth"


def _family() -> kit.Registry[str]:
    """A small registry with one rule of each status, checks over plain strings."""
    family: kit.Registry[str] = kit.Registry("toy rule")
    for rule_id, status in (("old", "deprecated"), ("solid", "stable"), ("fresh", "preview")):

        def check(item: str) -> Iterator[str]:
            """Fires on every item."""
            yield item

        family.rule(
            id=rule_id,
            severity="warning",
            rationale="r",
            fix="f",
            fires=kit.Example(),
            passes=kit.Example(),
            status=status,
        )(check)
    return family


# --- lifecycle ---------------------------------------------------------------------------------------


def test_default_selection_is_the_stable_rules_preview_adds_preview_deprecated_only_when_named() -> None:
    family = _family()
    assert [r.id for r in family.select()] == ["solid"]
    assert [r.id for r in family.select(preview=True)] == ["solid", "fresh"]
    assert [r.id for r in family.select(["old"])] == ["old"]
    assert [r.id for r in family.select(["fresh", "solid"], preview=True)] == ["solid", "fresh"]
    with pytest.raises(ConfigError, match=r"toy rule.*in preview: fresh"):
        family.select(["fresh"])
    with pytest.raises(ConfigError, match="unknown toy rule"):
        family.select(["nope"], preview=True)


def test_a_status_must_be_one_of_the_three() -> None:
    with pytest.raises(ValueError, match="unknown status 'beta'"):
        kit.Registry("toy rule").rule(
            id="x", severity="error", rationale="r", fix="f", fires=kit.Example(), passes=kit.Example(), status="beta"
        )


def test_every_existing_rule_is_stable_so_the_default_selection_is_unchanged() -> None:
    assert {r.status for r in RULES.values()} == {"stable"} == {r.status for r in QA_RULES.values()}
    assert [r.id for r in select_rules()] == list(RULES)
    assert [r.id for r in QA_RULES.select()] == list(QA_RULES)


@pytest.fixture
def preview_rule() -> Iterator[str]:
    """A preview rule registered in the real registry for one test (and removed after it)."""

    def says_hello(item) -> Iterator[str]:
        """An analysis that mentions 毛利率 (a stand-in for a new rule still in preview)."""
        if "毛利率" in item.output.analysis:
            yield "hello"

    rule(
        id="toy-preview",
        severity="warning",
        rationale="a toy",
        fix="none",
        fires=example(PROSE),
        passes=example("段落围绕营收展开。"),
        status="preview",
    )(says_hello)
    try:
        yield "toy-preview"
    finally:
        RULES.pop("toy-preview")


def _one_row(tmp_path: Path) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(example(PROSE).rows[0], ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def test_lint_runs_a_preview_rule_only_with_preview(preview_rule, tmp_path, capsys) -> None:
    records = load_file(_one_row(tmp_path)).records
    assert lint_records(records).counts[preview_rule] == 0
    assert lint_records(records, preview=True).counts[preview_rule] == 1
    path = str(_one_row(tmp_path))
    assert main(["lint", path, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"][preview_rule] == 0
    assert main(["lint", path, "--preview", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"][preview_rule] == 1
    assert main(["lint", path, "--select", preview_rule]) == 2
    assert "in preview: toy-preview; they run only with --preview on" in capsys.readouterr().err
    assert rules_markdown().count("`toy-preview` (preview)") == 1
    assert main(["lint", "--explain", preview_rule]) == 0
    assert "sample rule, preview)" in capsys.readouterr().out


# --- fix safety ----------------------------------------------------------------------------------------


def test_every_autofix_declares_its_safety_and_why() -> None:
    fixable = [r for r in RULES.values() if r.fixes]
    assert fixable, "no rule has an autofix"
    for r in fixable:
        for name, fix in r.fixes:
            assert isinstance(fix, kit.Autofix) and fix.safety in ("safe", "unsafe") and fix.why.strip(), (r.id, name)
    # count-anchor's strategies rewrite the training text: none is safe
    assert {name: fix.safety for name, fix in RULES["count-anchor"].fixes} == {
        "cut": "unsafe",
        "move": "unsafe",
        "rewrite": "unsafe",
    }


def test_explain_and_the_json_list_show_status_and_fix_safety(capsys) -> None:
    assert main(["lint", "--explain", "count-anchor"]) == 0
    page = capsys.readouterr().out
    assert "Autofix" in page and "count-anchor:move (unsafe)" in page
    assert main(["lint", "--explain", "count-anchor", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "stable" and [f["safety"] for f in doc["fix_safety"]] == ["unsafe"] * 3
    assert main(["lint", "--list", "--format", "json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)["rules"]}
    assert rows["count-anchor"]["fix_safety"][0] == {
        "name": "cut",
        "safety": "unsafe",
        "why": RULES["count-anchor"].fixes[0][1].why,
    }
    assert rows["numbered-list"]["fix_safety"] == [] and {r["status"] for r in rows.values()} == {"stable"}


def test_a_rule_without_fixes_has_no_autofix_section() -> None:
    assert "## Autofix" not in RULES["numbered-list"].explain()
    assert "## Autofix" in RULES["count-anchor"].explain()


# --- one kit for both families ------------------------------------------------------------------------


def test_both_families_are_registries_of_kit_rules() -> None:
    for family in (RULES, QA_RULES):
        assert isinstance(family, kit.Registry)
        assert all(isinstance(r, kit.Rule) and isinstance(r.fires, kit.Example) for r in family.values())
    assert issubclass(QAFinding, kit.Finding) and issubclass(Example, kit.Example)


def test_only_the_extraction_family_reads_the_evidence() -> None:
    # both families have a split-leakage rule: a measurement of the extraction one must not reach the QA one
    assert RULES["split-leakage"].measured and not QA_RULES["split-leakage"].measured
    assert QA_RULES["split-leakage"].evidence == []
    assert "Measured on a real model" not in QA_RULES["split-leakage"].explain()
    assert "Measured on a real model" in RULES["split-leakage"].explain()


def test_a_qa_finding_keeps_its_json_shape() -> None:
    sample = QASample.model_validate(
        example_sample("What is the revenue in 2019?", "1,596.5", table=[["", "2019"], ["Revenue", "1,496.5"]])
    )
    found = lint_qa([sample]).model_dump()["findings"]
    assert found and all(list(f) == ["rule", "severity", "sample_id", "message"] for f in found)


def test_a_bare_message_is_a_hit_at_the_rules_severity() -> None:
    hit = kit.Hit("x", severity="warning")
    assert list(kit.hits(["a", hit])) == [kit.Hit("a"), hit]


def test_the_qa_rules_stand_on_the_kit_not_on_the_extraction_rules() -> None:
    tree = ast.parse((PACKAGE / "qa" / "lint.py").read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert "finsynth.audit.kit" in imported
    assert not any(m.startswith(("finsynth.audit.lint", "finsynth.audit.rules")) for m in imported)
