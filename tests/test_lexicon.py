"""The financial metric lexicon (issue 13): data files, every category's examples, user extension,
--explain-match, one lexicon serving the matcher, lint and diagnose, and honest scoring of invalid output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finsynth.audit.lint import grounding, lint_sample, metric_sets_agree
from finsynth.cli import main
from finsynth.eval.scoring import evaluate, load_gold, parse_prediction, render_markdown
from finsynth.schema import Sample
from finsynth.text import names as matching
from finsynth.text.lexicon import (
    LexiconError,
    builtin_files,
    default_lexicon,
    load_lexicon,
    read_lexicon_file,
)
from finsynth.text.names import FuzzyMatcher, ReferenceMatcher, get_matcher

LEXICON = default_lexicon()
CATEGORIES = {doc.category: doc for _, doc in LEXICON.files}


def test_the_lexicon_is_data_with_sources():
    assert len(builtin_files()) >= 8
    # the knowledge moved out of the code: no hand-written synonym or veto lists remain there
    for name in ("_SYNONYMS", "_SYNONYM_MAP", "_VETO_FAMILIES", "_VOLUME", "_VALUE"):
        assert not hasattr(matching, name), name
    assert {
        "measure_kind",
        "income_statement",
        "cash_flow",
        "returns",
        "per_share",
        "banking",
        "internet_platform",
        "hospitality",
        "operations",
        "accounting_standard",
    } <= set(CATEGORIES)
    for doc in CATEGORIES.values():
        for entry in [*doc.terms, *doc.markers, *doc.families, *doc.dimensions]:
            assert entry.source in ("accounting_standard", "exchange_disclosure", "research_usage")
            assert entry.ref


@pytest.mark.parametrize("category", sorted(CATEGORIES))
def test_every_category_has_matching_and_non_matching_examples(category):
    doc = CATEGORIES[category]
    assert len(doc.examples.same) >= 2 and len(doc.examples.different) >= 2, category
    fuzzy = FuzzyMatcher()
    for a, b in doc.examples.same:
        assert fuzzy.same(a, b), (category, a, b, fuzzy.explain(a, b))
    for a, b in doc.examples.different:
        assert not fuzzy.same(a, b), (category, a, b, fuzzy.explain(a, b))


@pytest.mark.parametrize(
    "a,b",
    [
        ("EPS", "每股收益"),
        ("ARPU", "每用户平均收入"),
        ("研发投入", "研发支出"),
        ("存货周转天数", "存货周转期"),
        ("ROIC", "投入资本回报率"),
        ("RevPAR", "每间可售房收入"),
        ("DAU", "日活跃用户数"),
        ("NIM", "净息差"),
    ],
)
def test_issue_examples_now_match(a, b):
    assert FuzzyMatcher().same(a, b)
    # bigram Jaccard happens to reach 0.5 on 存货周转天数/存货周转期; it misses the rest
    assert ReferenceMatcher().same(a, b) == (a == "存货周转天数")


def test_abbreviations_match_only_as_words():
    lex = default_lexicon()
    assert lex.canonical("PE") == lex.canonical("市盈率")
    assert lex.canonical("CAPEX") == "资本开支"  # not "ca" + 市盈率 + "x"
    assert lex.canonical("ARPPU") != lex.canonical("ARPU")


def test_a_bracketed_standard_qualifies_instead_of_aliasing():
    fuzzy = FuzzyMatcher()
    assert not fuzzy.same("毛利率（IFRS）", "净利润（IFRS）")
    assert not fuzzy.same("净利润（IFRS）", "净利润（US GAAP）")
    assert fuzzy.same("新业务价值（NBV）", "NBV")  # an ordinary alias still is one


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


USER_LEXICON = """\
category: my_house_terms
terms:
  - canonical: 综合毛利率
    forms: [整体毛利率, 全口径毛利率]
    source: research_usage
    ref: our desk writes 整体毛利率 for the consolidated gross margin
"""


def test_a_user_lexicon_file_adds_a_synonym(tmp_path):
    assert not FuzzyMatcher().same("综合毛利率", "整体毛利率")
    lexicon = load_lexicon([_write(tmp_path / "mine.yaml", USER_LEXICON)])
    assert "my_house_terms" in lexicon.categories
    assert FuzzyMatcher(lexicon=lexicon).same("综合毛利率", "整体毛利率")
    assert FuzzyMatcher(lexicon=lexicon).same("综合毛利率", "全口径毛利率")
    # the built-in lexicon is unchanged, and the user's still vetoes what the built-in one does
    assert not FuzzyMatcher().same("综合毛利率", "整体毛利率")
    assert not FuzzyMatcher(lexicon=lexicon).same("综合毛利率", "综合净利率")


def test_cli_explain_match_with_a_user_lexicon(tmp_path, capsys):
    path = _write(tmp_path / "mine.yaml", USER_LEXICON)
    assert main(["eval", "--explain-match", "综合毛利率", "整体毛利率"]) == 0
    assert capsys.readouterr().out.startswith("different: ")
    assert main(["eval", "--lexicon", str(path), "--explain-match", "综合毛利率", "整体毛利率"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("same: ") and line.count("\n") == 1 and "my_house_terms" in line
    assert main(["eval", "--explain-match", "毛利率", "净利率", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["same"] is False and info["veto_rule"]["name"] == "profit"
    assert info["veto_rule"]["source"] == "accounting_standard" and info["veto_rule"]["file"] == "income_statement.yaml"
    assert main(["eval", "--explain-match", "EPS", "每股收益", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["same"] is True and info["rewrites"][0]["category"] == "per_share"


@pytest.mark.parametrize(
    "text,message",
    [
        (
            "category: x\nterms:\n  - canonical: a\n    forms: [b]\n    source: research_usage\n"
            "    ref: r\n    synonym: c\n",
            "field terms.0.synonym: Extra inputs are not permitted",
        ),
        ("category: x\nterm: []\n", "field term: Extra inputs are not permitted; allowed keys: category"),
        (
            "category: x\nterms:\n  - canonical: a\n    forms: [b]\n    source: blog\n    ref: r\n",
            "field terms.0.source",
        ),
        (
            "category: x\nterms:\n  - canonical: 净利率\n    forms: [营收]\n    source: research_usage\n    ref: r\n",
            "field terms.0.forms.0: '营收' is already a form of '收入' (income_statement.yaml)",
        ),
        ("category: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "a lexicon file is a YAML mapping"),
    ],
)
def test_a_bad_lexicon_file_is_one_line_naming_file_and_field(tmp_path, capsys, text, message):
    path = _write(tmp_path / "bad.yaml", text)
    with pytest.raises(LexiconError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        load_lexicon([path])
    assert main(["eval", "--lexicon", str(path), "--explain-match", "a", "b"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and str(path) in err and "\n" not in err


def test_a_missing_lexicon_file(tmp_path, capsys):
    assert main(["eval", "--lexicon", str(tmp_path / "nope.yaml"), "--explain-match", "a", "b"]) == 2
    assert "no such lexicon file" in capsys.readouterr().err


def test_builtin_files_validate_strictly():
    for path in builtin_files():
        assert read_lexicon_file(path).category


# --- honest scoring --------------------------------------------------------------------------------


def _empty_gold(tmp_path: Path) -> list:
    case = {
        "type": "test",
        "scenario": "empty_output_background",
        "input": {"chapter_title": "行业背景", "paragraph": "行业整体景气度回升，需求改善。"},
        "output": {"analysis": "背景段落，没有核心指标。", "metrics": []},
    }
    path = _write(tmp_path / "gold.jsonl", (json.dumps(case, ensure_ascii=False) + "\n") * 3)
    return load_gold(path)


SENTENCES = json.dumps({"analysis": "分析", "metrics": ["行业景气度回升", "需求改善"]}, ensure_ascii=False)
VALID_EMPTY = json.dumps({"analysis": "背景段落。", "metrics": []}, ensure_ascii=False)


def test_invalid_and_schema_invalid_outputs_fail_by_default_and_pass_under_reference(tmp_path):
    gold = _empty_gold(tmp_path)
    preds = [parse_prediction({"output": raw}) for raw in ("我无法回答这个问题", SENTENCES, VALID_EMPTY)]
    assert not preds[0].json_valid and preds[1].json_valid and not preds[1].schema_valid

    honest = evaluate(preds, gold, get_matcher("fuzzy"))
    assert honest.scoring == "honest"
    assert [c.verdict for c in honest.cases] == ["fail", "fail", "strict"]
    assert [c.invalid_output for c in honest.cases] == [True, True, False]
    o = honest.overall
    assert (o.invalid_output, o.json_valid, o.schema_valid, o.strict, o.fail) == (2, 2, 1, 1, 2)

    ref = evaluate(preds, gold, get_matcher("reference"))
    assert ref.scoring == "reference"
    assert [c.verdict for c in ref.cases] == ["strict", "strict", "strict"]
    assert ref.overall.invalid_output == 2  # still reported, not held against the case

    assert "Scoring: honest" in render_markdown(honest) and "invalid output 2/3" in render_markdown(honest)
    assert "Scoring: reference" in render_markdown(ref)


def test_cli_reports_say_which_convention(tmp_path, capsys):
    gold = tmp_path / "gold.jsonl"
    _empty_gold(tmp_path)
    pred = _write(
        tmp_path / "pred.jsonl",
        "".join(json.dumps({"output": r}, ensure_ascii=False) + "\n" for r in ("我无法回答", SENTENCES, VALID_EMPTY)),
    )
    assert main(["eval", "--pred", str(pred), "--gold", str(gold), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["scoring"] == "honest" and report["overall"]["invalid_output"] == 2
    assert report["overall"]["total"] == 1
    assert main(["eval", "--pred", str(pred), "--gold", str(gold), "--matcher", "reference", "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert "Scoring: reference" in out and "| invalid |" in out
    assert main(["eval", "--pred", str(pred), "--gold", str(gold)]) == 0
    assert "Scoring: honest" in capsys.readouterr().out


# --- one lexicon for lint and diagnose --------------------------------------------------------------


def _sample(paragraph: str, names: list[str], analysis: str | None = None) -> Sample:
    return Sample(
        type="A",
        input={"chapter_title": "t", "paragraph": paragraph},
        output={
            "analysis": analysis or ("段落围绕" + "和".join(names) + "展开，是分析主体。"),
            "metrics": [{"metric_name": n, "metric_type": "financial", "score": 0.9, "reason": ""} for n in names],
        },
    )


def test_lint_grounds_a_name_by_the_lexicon():
    paragraph = "公司2025年每股收益为1.25元，同比提升18%，盈利能力改善。"
    assert grounding("EPS", paragraph) == 1.0
    assert "ungrounded-metric" not in {f.rule for f in lint_sample(_sample(paragraph, ["EPS"]))}
    # an invented name is still ungrounded
    assert "ungrounded-metric" in {f.rule for f in lint_sample(_sample(paragraph, ["核心产品全球销售额"]))}


def test_label_conflict_uses_the_lexicon_sameness():
    paragraph = "公司营业收入同比增长12%，达到35亿元。"
    assert metric_sets_agree(_sample(paragraph, ["营收"]), _sample(paragraph, ["营业收入"]))
    # the reference rule's containment called these the same label; they are two metrics
    assert not metric_sets_agree(_sample(paragraph, ["营收"]), _sample(paragraph, ["营收增速"]))


def test_diagnose_reads_the_matchers_lexicon(tmp_path):
    from finsynth.eval.diagnose import _label_index, failure_modes

    lexicon = load_lexicon([_write(tmp_path / "mine.yaml", USER_LEXICON)])
    samples = [_sample("公司整体毛利率为35%。", ["整体毛利率"]), _sample("综合毛利率为35%。", ["综合毛利率"])]
    assert len(_label_index(samples, lexicon)) == 1
    assert len(_label_index(samples, default_lexicon())) == 2
    gold = _empty_gold(tmp_path)
    report = evaluate([parse_prediction({"output": SENTENCES})] * 3, gold, get_matcher("fuzzy"))
    assert failure_modes(report.cases[0]) == ["invalid_json"]
