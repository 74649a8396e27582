"""`finsynth qa judge`: the offline and LLM rubrics, the caps, the SFT / RL split, human agreement, the
accounting (nothing lost), determinism and the CLI's errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import ClassVar

import pytest
from fake_openai import FakeOpenAI, Reply, Request

from finsynth.cli import main
from finsynth.io import read_jsonl, write_jsonl_atomic
from finsynth.llm.config import EndpointConfig
from finsynth.qa.judge import (
    CRITERIA,
    Criterion,
    JudgeConfig,
    Judgement,
    OfflineChecks,
    Rubric,
    agreement,
    apply_caps,
    judge_files,
    load_human,
    parse_rubric,
    quadratic_weighted_kappa,
    spearman,
)
from finsynth.qa.lint import QA_RULES
from finsynth.qa.schema import QASample
from finsynth.qa.tatqa import import_tatqa

TATQA = Path("/work/shared/corpus/tatqa/tatqa_dataset_dev.json")
OUTPUTS = (
    "sft.jsonl",
    "rl.jsonl",
    "quarantine.jsonl",
    "scores.jsonl",
    "manifest.json",
    "report.md",
    "export/alpaca/train.jsonl",
    "export/sharegpt/train.jsonl",
    "export/messages/train.jsonl",
    "export/dataset_info.json",
    "grpo/train.jsonl",
)


@pytest.fixture(scope="module")
def tatqa() -> list[QASample]:
    if not TATQA.is_file():
        pytest.skip(f"TAT-QA dev set not found at {TATQA}")
    return import_tatqa(TATQA)[0][:48]  # the first eight contexts, six questions each


def _arithmetic(samples: list[QASample]) -> list[QASample]:
    return [s for s in samples if s.kind == "arithmetic" and s.answer.value is not None and s.reasoning.steps]


def corrupted(samples: list[QASample]) -> tuple[list[QASample], dict[str, QASample]]:
    """The samples with three real ones broken in known ways (each replaces its original, so no question is
    repeated): an invented number, a stripped derivation, the answer in the question."""
    first, second, third = _arithmetic(samples)[:3]
    broken = {
        first.id: first.model_copy(
            update={
                "id": "bad-ungrounded",
                "answer": first.answer.model_copy(
                    update={"text": "987654.321", "spans": ["987654.321"], "value": 987654.321}
                ),
            }
        ),
        second.id: second.model_copy(
            update={"id": "no-steps", "reasoning": second.reasoning.model_copy(update={"steps": []})}
        ),
        third.id: third.model_copy(update={"id": "bad-leak", "question": f"{third.question} ({third.answer.text})"}),
    }
    return [broken.get(s.id, s) for s in samples], {b.id: b for b in broken.values()}


def _write(path: Path, samples: list[QASample]) -> Path:
    return write_jsonl_atomic(path, samples)


def _quarantine_by_id(out: Path) -> dict[str, dict]:
    return {row["extra"]["id"]: row for row in read_jsonl(out / "quarantine.jsonl") if "id" in row["extra"]}


# --- the offline judge ----------------------------------------------------------------------------


def test_offline_judge_on_real_tatqa_rejects_the_corrupted_with_the_lint_reason(offline, tatqa):
    samples, broken = corrupted(tatqa)
    data = _write(offline / "qa.jsonl", samples)
    out = offline / "out"
    assert main(["qa", "judge", str(data), "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    counts = manifest["counts"]
    assert manifest["judge"]["kind"] == "offline" and "no endpoint configured" in manifest["judge"]["reason"]
    assert counts["read"] == len(samples) == counts["sft"] + counts["rl"] + counts["rejected"] + counts["quarantined"]
    assert counts["reconciles"]
    rejected = _quarantine_by_id(out)
    assert "lint ungrounded-answer" in rejected["bad-ungrounded"]["reason"]
    assert rejected["bad-ungrounded"]["stage"] == "split"
    assert "lint answer-in-question" in rejected["bad-leak"]["reason"]
    sft = {row["id"]: row for row in read_jsonl(out / "sft.jsonl")}
    rl = {row["id"]: row for row in read_jsonl(out / "rl.jsonl")}
    # a verifiable answer without its derivation is no demonstration, but its reference answer is a reward
    assert "no-steps" in rl and "no-steps" not in sft
    # the real arithmetic samples are clean, verifiable and complete: SFT; TAT-QA's span answers need no steps
    assert all(s.id in sft for s in _arithmetic(samples) if s.id not in broken)
    assert all(s.id in sft for s in samples if s.kind == "span" and not s.reasoning.steps)
    clean = next(s for s in _arithmetic(samples) if s.id not in broken)
    judged = sft[clean.id]["provenance"]["judge"]["scores"]
    assert judged["correctness"] == judged["completeness"] == 5 and judged["grounding"] >= 4
    assert set(rejected) == {"bad-ungrounded", "bad-leak"}
    scores = {row["id"]: row for row in read_jsonl(out / "scores.jsonl")}
    assert len(scores) == counts["read"]
    bad = scores["bad-ungrounded"]
    assert bad["rubric"]["grounding"]["score"] <= 2 and bad["split"] == "rejected"
    assert [row["id"] for row in read_jsonl(out / "grpo" / "train.jsonl")] == list(rl)
    assert len(read_jsonl(out / "export" / "alpaca" / "train.jsonl")) == len(sft)
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Judge: **offline**" in report and "| grounding |" in report and "lint ungrounded-answer" in report


def test_the_lint_rules_own_failing_examples_are_rejected(offline):
    """The program check and the grounding check, on the examples their lint rules document as firing."""
    samples = []
    for rule in ("answer-contradicts-program", "ungrounded-answer"):
        fired, _ = QA_RULES[rule].fires.load()
        samples += [s.model_copy(update={"id": f"{rule}-{s.id}"}) for s in fired]
    data = _write(offline / "qa.jsonl", samples)
    result, _ = judge_files([data], offline / "out", EndpointConfig(), JudgeConfig(judge="offline"))
    assert not result.sft and not result.rl and len(result.rejected) == len(samples)
    for row in result.rejected:
        rule = next(r for r in ("answer-contradicts-program", "ungrounded-answer") if row.extra["id"].startswith(r))
        assert f"lint {rule}" in row.reason
    program = next(j for j in result.judgements if j.id.startswith("answer-contradicts-program"))
    assert program.rubric.correctness.score == 1


def test_rl_include_sft_adds_the_verifiable_sft_samples_to_rl(offline, tatqa):
    data = _write(offline / "qa.jsonl", tatqa)
    result, doc = judge_files(
        [data], offline / "out", EndpointConfig(), JudgeConfig(judge="offline", rl_include_sft=True)
    )
    verifiable_sft = [s.id for s in result.sft if s.answer.value is not None or s.program is not None]
    assert verifiable_sft and [s.id for s in result.rl_from_sft] == verifiable_sft
    assert [r["id"] for r in read_jsonl(offline / "out" / "grpo" / "train.jsonl")] == [
        j.id for j in result.judgements if j.id in {*verifiable_sft, *(s.id for s in result.rl)}
    ]
    assert doc["counts"]["rl_from_sft"] == len(verifiable_sft) and result.reconciles()


def test_bad_rows_and_repeated_ids_are_quarantined_not_lost(offline, tatqa):
    data = offline / "qa.jsonl"
    lines = [
        tatqa[0].model_dump_json(),
        "{not json",
        json.dumps({"id": "x", "question": "?"}),
        tatqa[0].model_dump_json(),
        tatqa[1].model_dump_json(),
    ]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result, doc = judge_files([data], offline / "out", EndpointConfig(), JudgeConfig(judge="offline"))
    assert doc["counts"]["read"] == 5 and doc["counts"]["quarantined_by_stage"] == {"load": 3}
    by_line = {q.line: q for q in result.quarantined}
    assert by_line[2].field == "<row>" and "not a QA sample" in by_line[2].reason
    assert by_line[3].field == "context" and "not a QA sample" in by_line[3].reason
    assert by_line[4].field == "id" and "duplicate id" in by_line[4].reason and f"{data}:1" in by_line[4].reason
    assert result.reconciles()


def test_two_runs_are_byte_identical(offline, tatqa):
    data = _write(offline / "qa.jsonl", corrupted(tatqa)[0])
    for name in ("a", "b"):
        assert main(["qa", "judge", str(data), "--out", str(offline / name), "--seed", "3"]) == 0
    for name in OUTPUTS:
        assert (offline / "a" / name).read_bytes() == (offline / "b" / name).read_bytes(), name


# --- caps and the rubric parser -------------------------------------------------------------------


def _rubric(**scores: int) -> Rubric:
    return Rubric(**{c: Criterion(score=scores.get(c, 5), reason="r") for c in CRITERIA})


def test_caps_bound_what_a_judge_says():
    checks = OfflineChecks(
        errors=["answer-contradicts-program: x", "ungrounded-answer: y"],
        error_rules=["answer-contradicts-program", "ungrounded-answer"],
        verifiable=True,
    )
    capped, caps = apply_caps(_rubric(), checks)
    assert capped.scores() == {"grounding": 2, "correctness": 1, "completeness": 5, "clarity": 5}
    assert caps == ["correctness 5 -> 1 (lint answer-contradicts-program)", "grounding 5 -> 2 (lint ungrounded-answer)"]
    same, none = apply_caps(_rubric(grounding=1), OfflineChecks(error_rules=["ungrounded-answer"]))
    assert same.grounding.score == 1 and none == []  # a cap never raises a score


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("no json here", "invalid JSON"),
        ('{"grounding": {"score": 5, "reason": "ok"}}', "correctness: missing"),
        (
            '{"grounding": {"score": 6, "reason": "a"}, "correctness": {"score": 5, "reason": "b"}, '
            '"completeness": {"score": 5, "reason": "c"}, "clarity": {"score": 5, "reason": "d"}}',
            "grounding.score: 6",
        ),
        (
            '{"grounding": {"score": 4.5, "reason": "a"}, "correctness": {"score": 5, "reason": "b"}, '
            '"completeness": {"score": 5, "reason": "c"}, "clarity": {"score": 5, "reason": "d"}}',
            "grounding.score: 4.5",
        ),
        (
            '{"grounding": {"score": 4, "reason": " "}, "correctness": {"score": 5, "reason": "b"}, '
            '"completeness": {"score": 5, "reason": "c"}, "clarity": {"score": 5, "reason": "d"}}',
            "grounding.reason: empty",
        ),
    ],
)
def test_malformed_rubrics_are_rejected_with_a_reason(raw, error):
    verdict = parse_rubric(raw)
    assert not verdict.ok and any(error in e for e in verdict.errors), verdict.errors


def test_a_fenced_rubric_after_thinking_parses():
    body = {c: {"score": 3, "reason": f"because {c}"} for c in CRITERIA}
    verdict = parse_rubric(f"<think>hmm {{}}</think>\n```json\n{json.dumps(body)}\n```")
    assert verdict.ok and verdict.rubric is not None and verdict.rubric.scores() == dict.fromkeys(CRITERIA, 3)


# --- human agreement ------------------------------------------------------------------------------


def test_agreement_on_a_hand_made_example():
    judge = [5, 4, 3, 2, 1]
    human = [5, 4, 4, 1, 1]
    judgements = [
        Judgement(
            id=f"s{i}",
            judge="offline",
            rubric=_rubric(grounding=g),
            judge_scores={},
            checks=OfflineChecks(),
            split="sft",
        )
        for i, g in enumerate(judge)
    ]
    labels = {f"s{i}": {"grounding": h} for i, h in enumerate(human)}
    labels["s0"]["clarity"] = 5
    result = agreement(judgements, labels)
    g = result["grounding"]
    assert (g.n, g.exact, g.within_one) == (5, 0.6, 1.0)
    # quadratic weights (i-j)^2/16: observed 2 x 1/16 = 0.125; expected (judge marginals 1 each, human 1:2 4:2 5:1)
    # 120/16 / 5 = 1.5; kappa = 1 - 0.125 / 1.5
    assert g.quadratic_kappa == round(1 - 0.125 / 1.5, 4) == 0.9167
    # ranks: judge 5 4 3 2 1, human 5 3.5 3.5 1.5 1.5: covariance 9, variances 10 and 9
    assert g.spearman == round(9 / (10 * 9) ** 0.5, 4)
    c = result["clarity"]
    assert (c.n, c.exact, c.quadratic_kappa, c.spearman) == (1, 1.0, None, None)  # one pair: kappa undefined
    assert result["correctness"].n == 0 and result["correctness"].exact is None


def test_kappa_extremes():
    assert quadratic_weighted_kappa([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]) == 1.0
    assert quadratic_weighted_kappa([1, 5], [5, 1]) == -1.0
    assert quadratic_weighted_kappa([], []) is None
    assert spearman([1, 2, 3], [3, 2, 1]) == -1.0 and spearman([2, 2], [1, 3]) is None


def test_human_labels_are_checked_line_by_line(tmp_path):
    path = tmp_path / "human.jsonl"
    path.write_text('{"id": "a", "grounding": 4}\n{"id": "zzz", "grounding": 4}\n', encoding="utf-8")
    with pytest.raises(Exception, match=r"human\.jsonl:2: unknown id 'zzz'"):
        load_human(path, {"a"})
    path.write_text('{"id": "a", "grounding": 6}\n', encoding="utf-8")
    with pytest.raises(Exception, match=r"human\.jsonl:1: grounding: 6 is not an integer from 1 to 5"):
        load_human(path, {"a"})
    path.write_text('{"id": "a", "clarity": 2}\n\n{"id": "b", "correctness": 1, "grounding": 5}\n', encoding="utf-8")
    assert load_human(path, {"a", "b"}) == {"a": {"clarity": 2}, "b": {"grounding": 5, "correctness": 1}}


def test_human_agreement_through_the_cli(offline, tatqa, capsys):
    data = _write(offline / "qa.jsonl", tatqa[:12])
    human = offline / "human.jsonl"
    human.write_text(
        "".join(json.dumps({"id": s.id, "grounding": 5, "clarity": 5}) + "\n" for s in tatqa[:4]), encoding="utf-8"
    )
    assert (
        main(["qa", "judge", str(data), "--out", str(offline / "out"), "--human", str(human), "--format", "json"]) == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["human"]["labels"] == 4 and doc["human"]["agreement"]["grounding"]["n"] == 4
    assert doc["human"]["agreement"]["completeness"]["n"] == 0
    assert "Agreement with human labels" in (offline / "out" / "report.md").read_text(encoding="utf-8")


# --- the CLI's errors -----------------------------------------------------------------------------


def _one_line_error(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


def test_cli_errors_exit_2_with_one_line(offline, tatqa, capsys):
    data = _write(offline / "qa.jsonl", tatqa[:6])
    out = str(offline / "out")
    assert main(["qa", "judge", str(offline / "missing.jsonl"), "--out", out]) == 2
    assert "FILE" in _one_line_error(capsys)
    assert main(["qa", "judge", str(data), "--out", out, "--sft-min", "7"]) == 2
    assert "--sft-min" in _one_line_error(capsys)
    assert main(["qa", "judge", str(data), "--out", out, "--judge", "llm"]) == 2
    assert "needs an LLM endpoint" in _one_line_error(capsys)
    human = offline / "human.jsonl"
    human.write_text('{"id": "nope", "grounding": 3}\n', encoding="utf-8")
    assert main(["qa", "judge", str(data), "--out", out, "--human", str(human)]) == 2
    assert "human.jsonl:1: unknown id 'nope'" in _one_line_error(capsys)
    assert not (offline / "out" / "manifest.json").exists()  # an input error writes nothing


# --- the LLM judge on the loopback server -----------------------------------------------------------

_QUESTION = re.compile(r"^Question: (.*)$", re.MULTILINE)


def _rubric_reply(**scores: int) -> str:
    return json.dumps({c: {"score": scores.get(c, 5), "reason": f"{c} checked"} for c in CRITERIA})


class Script:
    """Scripted judge replies by question: `good`, `fixable` (malformed first), `invalid` (always malformed),
    `fence`, `low` (completeness 2)."""

    def __init__(self, scenarios: dict[str, str]):
        self.scenarios = scenarios

    def __call__(self, request: Request) -> Reply:
        first = next(m for m in request.messages if m["role"] == "user")["content"]
        found = _QUESTION.search(first)
        scenario = self.scenarios.get(found.group(1).strip() if found else "", "good")
        if scenario == "fixable" and request.turn == 1:
            return Reply(content=json.dumps({"grounding": {"score": 7, "reason": ""}}))
        if scenario == "invalid":
            return Reply(content="I think this sample is fine.")
        if scenario == "fence":
            return Reply(content=f"<think>let me see</think>\n```json\n{_rubric_reply()}\n```")
        if scenario == "low":
            return Reply(content=_rubric_reply(completeness=2))
        return Reply(content=_rubric_reply())


def test_llm_judge_end_to_end_with_reasks_quarantine_and_caps(offline, tatqa, monkeypatch, capsys):
    broken = corrupted(tatqa)[1]
    arithmetic = _arithmetic(tatqa)
    samples = [tatqa[0], tatqa[1], tatqa[2], arithmetic[3], arithmetic[4], broken["bad-ungrounded"]]
    scenarios = {
        tatqa[1].question: "fixable",
        tatqa[2].question: "invalid",
        arithmetic[3].question: "fence",
        arithmetic[4].question: "low",
    }
    data = _write(offline / "qa.jsonl", samples)
    with FakeOpenAI(Script(scenarios)) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-judge")
        code = main(
            [
                "qa",
                "judge",
                str(data),
                "--out",
                str(offline / "out"),
                "--cache",
                str(offline / "c.sqlite"),
                "--format",
                "json",
            ]
        )
        requests = server.total_requests
        doc = json.loads(capsys.readouterr().out)
        # a second run answers from the cache and writes the same bytes
        again = main(
            [
                "qa",
                "judge",
                str(data),
                "--out",
                str(offline / "again"),
                "--cache",
                str(offline / "c.sqlite"),
                "--format",
                "json",
            ]
        )
        assert again == 0 and server.total_requests == requests
        for name in OUTPUTS:
            assert (offline / "out" / name).read_bytes() == (offline / "again" / name).read_bytes(), name
    assert code == 0
    assert doc["judge"] == "llm" and "an endpoint is configured" in doc["judge_reason"]
    # six first asks, one re-ask for `fixable`, two re-asks for `invalid` (max_reasks 2)
    assert requests == 6 + 1 + 2 and doc["engine"]["reasks"] == 3
    counts = doc["counts"]
    assert counts["read"] == 6 and counts["judge_failed"] == 1 and counts["reconciles"]
    assert counts["sft"] + counts["rl"] + counts["rejected"] + counts["quarantined"] == 6
    out = offline / "out"
    quarantine = _quarantine_by_id(out)
    failed = quarantine[tatqa[2].id]
    assert failed["stage"] == "judge" and "invalid JSON" in failed["reason"]
    assert failed["extra"]["reply"] == "I think this sample is fine." and failed["extra"]["reasks"] == 2
    assert QASample.model_validate_json(failed["raw"]) == tatqa[2]  # the sample itself is kept whole
    sft = [r["id"] for r in read_jsonl(out / "sft.jsonl")]
    assert sft == [tatqa[0].id, tatqa[1].id, arithmetic[3].id]
    assert [r["id"] for r in read_jsonl(out / "rl.jsonl")] == [arithmetic[4].id]
    # the LLM rated the invented number 5 on grounding: the offline check caps it, and it is rejected
    scores = {r["id"]: r for r in read_jsonl(out / "scores.jsonl")}
    bad = scores["bad-ungrounded"]
    assert bad["judge_scores"]["grounding"] == 5 and bad["rubric"]["grounding"]["score"] == 2
    assert "lint ungrounded-answer" in quarantine["bad-ungrounded"]["reason"]
    assert bad["judge"] == "llm" and "grounding checked" in bad["rubric"]["grounding"]["reason"]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["templates"]) == {"qa_judge.j2", "qa_reask.j2"} and "sk-test" not in json.dumps(manifest)


def test_llm_judge_aborts_on_401_exits_2_and_loses_nothing(offline, tatqa, monkeypatch, capsys):
    data = _write(offline / "qa.jsonl", tatqa[:10])
    with FakeOpenAI(lambda request: Reply(status=401, body={"error": {"message": "bad key"}})) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-judge")
        code = main(["qa", "judge", str(data), "--out", str(offline / "out"), "--cache", str(offline / "c.sqlite")])
    assert code == 2  # a stopped LLM run is the user's to fix (issue 24), as in `build --relabel`
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err[-1].startswith("error: qa judge stopped early: authentication failed (HTTP 401)")
    rows = read_jsonl(offline / "out" / "quarantine.jsonl")
    assert sorted(r["extra"]["id"] for r in rows) == sorted(s.id for s in tatqa[:10])
    assert {r["stage"] for r in rows} == {"judge"}


# --- issue 24 item 4, issue 25 item 5: an empty input, an empty RL split, progress ------------------


def test_an_empty_input_is_one_error_line_and_exit_2(offline, capsys):
    empty = offline / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    assert main(["qa", "judge", str(empty), "--out", str(offline / "out")]) == 2
    error = _one_line_error(capsys)
    assert str(empty) in error and "no QA samples" in error
    assert not (offline / "out").exists()


def test_an_empty_rl_split_is_warned_with_how_to_fill_it(offline, tatqa, capsys):
    data = _write(offline / "qa.jsonl", [s for s in tatqa if s.answer.value is not None][:12])
    assert main(["qa", "judge", str(data), "--out", str(offline / "out"), "--format", "json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["counts"]["rl"] == 0 and read_jsonl(offline / "out" / "grpo" / "train.jsonl") == []
    assert len(doc["warnings"]) == 1 and "--rl-include-sft" in doc["warnings"][0]
    assert "warning: the RL split is empty" in captured.err and "--rl-include-sft" in captured.err
    assert "## Warnings" in (offline / "out" / "report.md").read_text(encoding="utf-8")
    assert (
        main(["qa", "judge", str(data), "--out", str(offline / "filled"), "--rl-include-sft", "--format", "json"]) == 0
    )
    captured = capsys.readouterr()
    assert json.loads(captured.out)["warnings"] == [] and "warning" not in captured.err
    assert read_jsonl(offline / "filled" / "grpo" / "train.jsonl")


def test_progress_counts_every_row_read_linted_and_scored(offline, tatqa):
    lines = [tatqa[0].model_dump_json(), "{not json", *(s.model_dump_json() for s in tatqa[1:10])]
    data = offline / "qa.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ticks: list[int] = []
    quiet, _ = judge_files([data], offline / "quiet", EndpointConfig(), JudgeConfig(judge="offline"))
    loud, _ = judge_files(
        [data], offline / "loud", EndpointConfig(), JudgeConfig(judge="offline"), on_progress=ticks.append
    )
    assert sum(ticks) == 3 * len(lines)
    assert [j.model_dump() for j in loud.judgements] == [j.model_dump() for j in quiet.judgements]


class _RecordingTicker:
    """Stands in for the CLI's progress bar: what it was sized to and what it was told."""

    seen: ClassVar[list[tuple[str, int, list[int]]]] = []

    def __init__(self, description: str, total: int, enabled: bool, minimum: int = 2000):
        self.description, self.total, self.ticks = description, total, []
        _RecordingTicker.seen.append((description, total, self.ticks))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    @property
    def advance(self):
        return self.ticks.append


def test_the_cli_shows_progress_for_qa_lint_and_qa_judge(offline, tatqa, monkeypatch, capsys):
    from finsynth.cli import qa_judge, qa_lint

    monkeypatch.setattr(qa_lint, "_Ticker", _RecordingTicker)
    monkeypatch.setattr(qa_judge, "_Ticker", _RecordingTicker)
    _RecordingTicker.seen = []
    data = _write(offline / "qa.jsonl", tatqa)
    main(["qa", "lint", str(data)])
    assert main(["qa", "judge", str(data), "--out", str(offline / "out")]) == 0
    capsys.readouterr()
    (lint_name, lint_total, lint_ticks), (judge_name, judge_total, judge_ticks) = _RecordingTicker.seen
    assert (lint_name, lint_total, sum(lint_ticks)) == ("qa lint", 2 * len(tatqa), 2 * len(tatqa))
    assert (judge_name, judge_total, sum(judge_ticks)) == ("qa judge", 3 * len(tatqa), 3 * len(tatqa))
