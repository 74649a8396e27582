"""`finsynth qa judge`: score QA samples on a four-criterion rubric and split them into SFT and RL sets.

Stages (plain functions of data): load (bad rows quarantined) -> offline checks (`finsynth.qa.lint.lint_qa`,
whose rules include the grounding check `finsynth.qa.grounding.ungrounded` and the recomputation
`finsynth.qa.checker.check`) -> rubric -> caps -> split -> (human agreement) -> write.

The rubric scores grounding, correctness, completeness and clarity 1-5, each with a reason:

- *llm* (an endpoint configured, `finsynth.llm.config.load_config`): `templates/qa_judge.j2` through the
  LLM engine; a reply is valid when it is one JSON object with each criterion an integer 1-5 and a
  non-empty reason; a malformed reply is re-asked (`templates/qa_reask.j2`) and, still malformed, the
  sample is quarantined with its raw reply and errors (stage `judge`): nothing is lost;
- *offline* (no endpoint, or `--judge offline`): deterministic, from the offline checks (`offline_rubric`).

Caps (both judges): an offline error bounds the criterion it is about, whatever a judge said:
an ungrounded answer scores at most 2 on grounding, an answer its program recomputes differently at
most 1 on correctness, a question stating its answer at most 2 on clarity, any other lint error at most
2 on correctness.

Split (each sample lands in exactly one place, so read = sft + rl + rejected + quarantined):

- *SFT*: every criterion >= `sft_min` (4) and no lint error;
- *RL*: not SFT, a verifiable answer (a table `program`, or a numeric value) and grounding and
  correctness >= `rl_min` (3), no lint error: usable with its reference answer as a GRPO reward, not as
  a demonstration (the design: high-quality to SFT, the rest usable with a reference answer to RL).
  by default SFT samples are not copied into RL, so the two sets are disjoint; with `rl_include_sft`
  (`--rl-include-sft`) the verifiable SFT samples that pass the RL thresholds are also written to the RL
  set (counted apart as `rl_from_sft`: the accounting still gives each sample one place, its split);
- *rejected*: the rest, into `quarantine.jsonl` (stage `split`) with the reasons: each lint error
  ("lint <rule>: message"), then each criterion below its threshold.

Outputs are byte-identical for the same inputs, options and (cached) replies: nothing time- or
machine-dependent is written, and every list keeps input order.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from finsynth import __version__
from finsynth.errors import ConfigError
from finsynth.io import InputError, QuarantineRow, raw_rows, schema_errors
from finsynth.llm.config import EndpointConfig
from finsynth.parsing import find_json_object, strip_wrappers
from finsynth.qa.progress import ProgressHook, ticking
from finsynth.qa.schema import QASample

if TYPE_CHECKING:
    from finsynth.prompts import Templates

CRITERIA = ("grounding", "correctness", "completeness", "clarity")
RL_CRITERIA = ("grounding", "correctness")  # what a reference-answer reward needs of a sample
JUDGE_TEMPLATE = "qa_judge.j2"
JudgeKind = Literal["llm", "offline"]
JudgeChoice = Literal["auto", "offline", "llm"]
Split = Literal["sft", "rl", "rejected"]
# which criterion an offline error bounds, and to what (an LLM cannot rate a failed recomputation correct)
RULE_CAPS: dict[str, tuple[str, int]] = {
    "ungrounded-answer": ("grounding", 2),
    "answer-contradicts-program": ("correctness", 1),
    "answer-in-question": ("clarity", 2),
}
OTHER_ERROR_CAP = ("correctness", 2)
MIN_QUESTION_CHARS = 8  # shorter is not a question a reader can act on ("Revenue?")
MAX_QUESTION_CHARS = 400
_QUESTION_WORDS = (
    "what",
    "which",
    "how",
    "when",
    "where",
    "who",
    "why",
    "is",
    "are",
    "was",
    "were",
    "do",
    "does",
    "did",
    "can",
    "in which",
    "多少",
    "什么",
    "哪",
    "几",
    "如何",
    "怎样",
    "为什么",
    "是否",
    "吗",
    "请",
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Criterion(_Model):
    score: int = Field(ge=1, le=5)
    reason: str = Field(min_length=1)


class Rubric(_Model):
    grounding: Criterion
    correctness: Criterion
    completeness: Criterion
    clarity: Criterion

    def scores(self) -> dict[str, int]:
        return {c: getattr(self, c).score for c in CRITERIA}


class OfflineChecks(_Model):
    """What the offline checks found for one sample (lint findings as `rule: message`)."""

    errors: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    error_rules: list[str] = Field(default_factory=list)
    verifiable: bool = False


class Judgement(_Model):
    """One judged sample: the final (capped) rubric, what the judge said before the caps, the split."""

    id: str
    judge: JudgeKind
    rubric: Rubric
    judge_scores: dict[str, int]  # before the caps
    caps: list[str] = Field(default_factory=list)
    checks: OfflineChecks
    split: Split
    reasons: list[str] = Field(default_factory=list)


class JudgeConfig(_Model):
    sft_min: int = Field(default=4, ge=1, le=5)
    rl_min: int = Field(default=3, ge=1, le=5)
    seed: int = 0
    judge: JudgeChoice = "auto"
    rl_include_sft: bool = False  # also give RL the verifiable SFT samples that pass rl_min
    concurrency: int | None = Field(default=None, ge=1)
    max_reasks: int | None = Field(default=None, ge=0)


class LoadedQA(BaseModel):
    """QA samples read from files (with where each came from), the rows that were not samples, and how many rows."""

    samples: list[QASample] = Field(default_factory=list)
    where: dict[str, tuple[str, int]] = Field(default_factory=dict)  # id -> (path, line)
    quarantined: list[QuarantineRow] = Field(default_factory=list)
    read: int = 0
    files: list[str] = Field(default_factory=list)


class Agreement(_Model):
    """The judge against human labels on one criterion."""

    n: int
    exact: float | None
    within_one: float | None
    quadratic_kappa: float | None
    spearman: float | None


class JudgeResult(BaseModel):
    judge: JudgeKind
    judge_reason: str
    judgements: list[Judgement] = Field(default_factory=list)
    sft: list[QASample] = Field(default_factory=list)
    rl: list[QASample] = Field(default_factory=list)  # RL only (not in SFT)
    rl_from_sft: list[QASample] = Field(default_factory=list)  # SFT samples also in RL (`rl_include_sft`)
    rejected: list[QuarantineRow] = Field(default_factory=list)
    quarantined: list[QuarantineRow] = Field(default_factory=list)  # load failures and judge failures
    dataset_findings: list[str] = Field(default_factory=list)  # lint findings about the whole set
    read: int = 0
    judge_failed: int = 0
    aborted: str | None = None
    model: str | None = None
    engine: dict[str, Any] | None = None  # engine counters: live calls, cache hits, re-asks (not in the manifest)
    agreement: dict[str, Agreement] | None = None
    human_labels: int = 0
    human_unjudged: int = 0

    def reconciles(self) -> bool:
        return self.read == len(self.sft) + len(self.rl) + len(self.rejected) + len(self.quarantined)

    def failure(self) -> str | None:
        """Why the run failed (exit 1): the engine stopped, or most samples could not be judged."""
        if self.aborted:
            return f"the judge's LLM run stopped early: {self.aborted}"
        if self.read and not self.judgements and not self.judge_failed:
            return f"no valid QA samples: all {self.read} row(s) were quarantined at load"
        attempted = len(self.judgements) + self.judge_failed
        if attempted and self.judge_failed * 2 > attempted:
            return f"{self.judge_failed} of {attempted} samples could not be judged"
        if not self.reconciles():
            return "row accounting failed"
        return None


# --- load -----------------------------------------------------------------------------------------


def _load_failure(path: Path, line: int, raw: str, reason: str, field: str = "<row>") -> QuarantineRow:
    return QuarantineRow(
        path=str(path), line=line, field=field, reason=reason, raw=raw.partition("\x00")[0], stage="load"
    )


def load_qa(paths: Iterable[str | os.PathLike[str]], on_progress: ProgressHook = None) -> LoadedQA:
    """QA sample JSONL files (what `qa import-tatqa` / `qa generate` / `qa tables` write); a row that is not
    a sample, or repeats an id, is quarantined (stage `load`) with its line and field. `on_progress(n)` is
    told of rows as they are read."""
    result = LoadedQA()
    for raw_path in paths:
        path = Path(raw_path)
        if not path.is_file():
            raise InputError(f"{path}: no such file; give QA sample JSONL files")
        result.files.append(str(path))
        try:
            rows = list(raw_rows(path))
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        for line, text, raw in ticking(rows, on_progress):
            result.read += 1
            if text is None:
                result.quarantined.append(_load_failure(path, line, raw, "bad UTF-8"))
                continue
            try:
                sample = QASample.model_validate_json(text)
            except ValidationError as exc:
                first = exc.errors()[0]
                field = ".".join(str(p) for p in first["loc"]) if first["type"] != "json_invalid" else ""
                result.quarantined.append(
                    _load_failure(path, line, raw, f"not a QA sample: {schema_errors(exc)}", field or "<row>")
                )
                continue
            if sample.id in result.where:
                first_path, first_line = result.where[sample.id]
                result.quarantined.append(
                    _load_failure(
                        path, line, raw, f"duplicate id {sample.id!r} (first at {first_path}:{first_line})", "id"
                    )
                )
                continue
            result.where[sample.id] = (str(path), line)
            result.samples.append(sample)
    return result


# --- offline checks and the offline rubric -------------------------------------------------------


def is_verifiable(sample: QASample) -> bool:
    """An answer a reward can check: a table `program`, or a numeric value."""
    return sample.program is not None or sample.answer.value is not None


def offline_checks(
    samples: Sequence[QASample], test: Sequence[QASample] | None = None, on_progress: ProgressHook = None
) -> tuple[dict[str, OfflineChecks], list[str]]:
    """Per sample id its lint findings; and the dataset-wide findings (`rule: message`)."""
    from finsynth.qa.lint import lint_qa

    lint = lint_qa(samples, test=test, on_progress=on_progress)
    checks = {s.id: OfflineChecks(verifiable=is_verifiable(s)) for s in samples}
    dataset: list[str] = []
    for f in lint.findings:
        text = f"{f.rule}: {f.message}"
        if f.sample_id is None or f.sample_id not in checks:
            dataset.append(f"{f.severity} {text}")
            continue
        found = checks[f.sample_id]
        if f.severity == "error":
            found.errors.append(text)
            if f.rule not in found.error_rules:
                found.error_rules.append(f.rule)
        else:
            found.warnings.append(text)
    return checks, dataset


def _criterion(score: int, reason: str) -> Criterion:
    return Criterion(score=max(1, min(5, score)), reason=reason)


def _asks(question: str) -> bool:
    text = question.strip().lower()
    return (
        text.endswith(("?", "？"))
        or any(text.startswith(w + " ") or w in question for w in _QUESTION_WORDS if not w.isascii())
        or text.split(" ", 1)[0] in _QUESTION_WORDS
    )


def offline_rubric(sample: QASample, checks: OfflineChecks) -> Rubric:
    """The deterministic rubric: grounding from the grounding check and the recorded evidence, correctness
    from the lint errors and whether the answer is verifiable, completeness from the reasoning's parts,
    clarity from the question's shape. The caps (`apply_caps`) bound it further."""
    rules = set(checks.error_rules)
    evidence = bool(sample.grounding.paragraphs or sample.grounding.cells or sample.program)
    if "ungrounded-answer" in rules:
        grounding = _criterion(2, "the answer has numbers or names the context does not support")
    elif evidence:
        grounding = _criterion(5, "every number and name of the answer is in the context; its evidence is recorded")
    else:
        grounding = _criterion(4, "every number and name of the answer is in the context; no evidence recorded")

    if "answer-contradicts-program" in rules:
        correctness = _criterion(1, "the program recomputes a different answer")
    elif checks.errors:
        correctness = _criterion(2, "offline errors: " + "; ".join(checks.errors)[:300])
    elif checks.verifiable:
        how = "recomputed from its program" if sample.program is not None else "a numeric answer a reward can check"
        correctness = _criterion(5, f"no offline error; {how}")
    else:
        correctness = _criterion(4, "no offline error; a span answer, not recomputable")

    missing = []
    score = 5
    if not sample.reasoning.analysis.strip():
        missing.append("no analysis")
        score -= 1
    if sample.kind in ("arithmetic", "count") and not sample.reasoning.steps:
        missing.append(f"a {sample.kind} answer without its steps")
        score -= 2
    if not sample.reasoning.answer.strip():
        missing.append("the reasoning states no answer")
        score -= 1
    if sample.kind == "multi-span" and len([s for s in sample.answer.spans if s.strip()]) < 2:
        missing.append("a multi-span answer with fewer than two spans")
        score -= 2
    completeness = _criterion(score, "; ".join(missing) if missing else "analysis, steps and answer are all there")

    question = sample.question.strip()
    issues = []
    score = 5
    if len(question) < MIN_QUESTION_CHARS:
        issues.append(f"the question is under {MIN_QUESTION_CHARS} characters")
        score -= 2
    if len(question) > MAX_QUESTION_CHARS:
        issues.append(f"the question is over {MAX_QUESTION_CHARS} characters")
        score -= 1
    if not _asks(question):
        issues.append("the question neither ends with a question mark nor starts with a question word")
        score -= 1
    if not sample.answer.text.strip():
        issues.append("the answer is empty")
        score = 1
    clarity = _criterion(score, "; ".join(issues) if issues else "a well-formed question with a short answer")
    return Rubric(grounding=grounding, correctness=correctness, completeness=completeness, clarity=clarity)


def apply_caps(rubric: Rubric, checks: OfflineChecks) -> tuple[Rubric, list[str]]:
    """The rubric bounded by the offline errors (`RULE_CAPS`), and one line per cap that lowered a score."""
    bounds: dict[str, tuple[int, str]] = {}
    for rule in checks.error_rules:
        criterion, cap = RULE_CAPS.get(rule, OTHER_ERROR_CAP)
        if criterion not in bounds or cap < bounds[criterion][0]:
            bounds[criterion] = (cap, rule)
    updates: dict[str, Criterion] = {}
    caps = []
    for criterion, (cap, rule) in bounds.items():
        current: Criterion = getattr(rubric, criterion)
        if current.score > cap:
            updates[criterion] = Criterion(
                score=cap, reason=f"capped at {cap} by lint {rule}; judge said {current.score}: {current.reason}"
            )
            caps.append(f"{criterion} {current.score} -> {cap} (lint {rule})")
    return rubric.model_copy(update=updates), caps


def rl_usable(rubric: Rubric, checks: OfflineChecks, config: JudgeConfig) -> bool:
    """A verifiable answer, no lint error, grounding and correctness >= rl_min."""
    scores = rubric.scores()
    return checks.verifiable and not checks.errors and all(scores[c] >= config.rl_min for c in RL_CRITERIA)


def split_of(rubric: Rubric, checks: OfflineChecks, config: JudgeConfig) -> tuple[Split, list[str]]:
    """Where a judged sample goes, and (for rejected ones) why: lint errors, then low criteria."""
    scores = rubric.scores()
    if not checks.errors and all(v >= config.sft_min for v in scores.values()):
        return "sft", []
    if rl_usable(rubric, checks, config):
        return "rl", []
    reasons = [f"lint {e}" for e in checks.errors]
    reasons += [f"{c} {scores[c]} < sft-min {config.sft_min}" for c in CRITERIA if scores[c] < config.sft_min]
    if not checks.verifiable:
        reasons.append("not verifiable (no program, no numeric value): not usable for RL")
    else:
        reasons += [f"{c} {scores[c]} < rl-min {config.rl_min}" for c in RL_CRITERIA if scores[c] < config.rl_min]
    return "rejected", reasons


# --- the LLM rubric -------------------------------------------------------------------------------


class RubricVerdict(BaseModel):
    """The validator's verdict on a judge reply."""

    errors: list[str] = Field(default_factory=list)
    rubric: Rubric | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def parse_rubric(raw: str) -> RubricVerdict:
    """A judge reply: one JSON object with each criterion `{"score": 1-5 (an integer), "reason": "..."}`."""
    try:
        data = find_json_object(strip_wrappers(raw))
    except json.JSONDecodeError as exc:
        return RubricVerdict(errors=[f"invalid JSON: {exc.msg}; reply with one JSON object only"])
    errors: list[str] = []
    criteria: dict[str, Criterion] = {}
    for name in CRITERIA:
        item = data.get(name)
        if not isinstance(item, dict):
            errors.append(f'{name}: missing; give {{"score": 1-5, "reason": "..."}}')
            continue
        score, reason = item.get("score"), item.get("reason")
        wrong = []
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            wrong.append(f"{name}.score: {score!r} is not an integer from 1 to 5")
        if not isinstance(reason, str) or not reason.strip():
            wrong.append(f"{name}.reason: empty; say why in one sentence")
        errors.extend(wrong)
        if not wrong:
            criteria[name] = Criterion(score=int(score), reason=str(reason).strip())  # type: ignore[arg-type]
    if errors:
        return RubricVerdict(errors=errors)
    return RubricVerdict(rubric=Rubric(**criteria))


def judge_messages(sample: QASample, checks: OfflineChecks, templates: Templates | None = None) -> list[dict[str, str]]:
    """One conversation asking for the rubric of `sample` (its context, question, reasoning and answer,
    and what the offline checks found)."""
    from finsynth.prompts import DEFAULT_TEMPLATES
    from finsynth.qa.export import input_text, sample_language

    content = (templates or DEFAULT_TEMPLATES).render(
        JUDGE_TEMPLATE,
        language=sample_language(sample),
        context=input_text(sample),
        question=sample.question,
        kind=sample.kind,
        answer=sample.answer.text,
        scale=sample.answer.scale,
        analysis=sample.reasoning.analysis,
        steps=sample.reasoning.steps,
        findings=[*checks.errors, *checks.warnings],
    )
    return [{"role": "user", "content": content}]


def choose_judge(choice: str, endpoint: EndpointConfig) -> tuple[JudgeKind, str]:
    """(judge, why) in words a user can act on."""
    if choice not in ("auto", "offline", "llm"):
        raise ConfigError(f"judge must be auto, offline or llm, not {choice!r}", setting="judge")
    where = f"{endpoint.base_url or 'the OpenAI API'} (model {endpoint.model})"
    if choice == "offline":
        return "offline", "--judge offline: the deterministic offline rubric from the offline checks"
    if choice == "llm":
        if not endpoint.configured:
            raise ConfigError(
                "judge llm needs an LLM endpoint: set OPENAI_BASE_URL and/or OPENAI_API_KEY "
                "(or base_url in finsynth.toml), or use the offline judge",
                setting="judge",
            )
        return "llm", f"--judge llm: the LLM rubric at {where}"
    if endpoint.configured:
        return "llm", f"--judge auto: an endpoint is configured, the LLM rubric at {where}"
    return "offline", (
        "--judge auto: no endpoint configured (OPENAI_BASE_URL / OPENAI_API_KEY unset), so the "
        "deterministic offline rubric runs"
    )


def _quarantine(
    sample: QASample, where: tuple[str, int], stage: str, reason: str, raw: str = "", **extra: Any
) -> QuarantineRow:
    return QuarantineRow(
        path=where[0],
        line=where[1],
        field=None,
        reason=reason,
        stage=stage,
        raw=raw or sample.model_dump_json(),
        extra={"id": sample.id, **extra},
    )


def judge_samples(
    loaded: LoadedQA,
    endpoint: EndpointConfig,
    config: JudgeConfig | None = None,
    *,
    test: Sequence[QASample] | None = None,
    cache_path: str | os.PathLike[str] | None = None,
    templates: Templates | None = None,
    progress: bool = False,
    engine_options: dict[str, Any] | None = None,
    on_progress: ProgressHook = None,
) -> JudgeResult:
    """Judge every loaded sample and split (see the module docstring); nothing is written here.
    `on_progress(n)` is told of samples linted, then (offline judge) of samples scored by the rubric."""
    config = config or JudgeConfig()
    kind, why = choose_judge(config.judge, endpoint)
    samples = loaded.samples
    checks, dataset = offline_checks(samples, test, on_progress) if samples else ({}, [])
    result = JudgeResult(
        judge=kind,
        judge_reason=why,
        read=loaded.read,
        quarantined=list(loaded.quarantined),
        dataset_findings=dataset,
        model=endpoint.model if kind == "llm" else None,
    )
    rubrics: dict[str, Rubric] = {}
    if kind == "offline":
        rubrics = {s.id: offline_rubric(s, checks[s.id]) for s in ticking(samples, on_progress)}
    else:
        from finsynth.llm.cache import ResponseCache
        from finsynth.llm.engine import Job, LLMEngine
        from finsynth.prompts import DEFAULT_TEMPLATES
        from finsynth.qa.export import sample_language
        from finsynth.qa.generate import REASK_TEMPLATE, qa_reasker

        templates = templates or DEFAULT_TEMPLATES
        thash = templates.combined_hash([JUDGE_TEMPLATE, REASK_TEMPLATE])
        reaskers = {lang: qa_reasker(lang, templates) for lang in ("zh", "en")}
        jobs = (
            Job(
                id=s.id,
                messages=judge_messages(s, checks[s.id], templates),
                template_hash=thash,
                validate=parse_rubric,
                reask=reaskers[sample_language(s)],
            )
            for s in samples
        )
        cache = ResponseCache(Path(cache_path) if cache_path is not None else None)
        try:
            engine = LLMEngine(
                endpoint,
                cache,
                concurrency=config.concurrency,
                max_reasks=config.max_reasks,
                progress=progress,
                description="qa judge",
                seed=config.seed,
                **(engine_options or {}),
            )
            results = engine.run(jobs, total=len(samples))
        finally:
            cache.close()
        result.aborted = engine.stats.aborted
        result.engine = {
            "live_calls": engine.stats.live_calls,
            "cache_hits": engine.stats.cache_hits,
            "reasks": engine.stats.reasks,
            "retries": engine.stats.retries,
            "tokens": engine.usage.total_tokens,
        }
        for sample, job in zip(samples, results, strict=True):
            verdict = job.validation
            if job.ok and isinstance(verdict, RubricVerdict) and verdict.rubric is not None:
                rubrics[sample.id] = verdict.rubric
                continue
            result.judge_failed += 1
            result.quarantined.append(
                _quarantine(
                    sample,
                    loaded.where[sample.id],
                    "judge",
                    "judge failed: " + ("; ".join(job.errors) or "no reply"),
                    failure=job.failure,
                    reasks=job.reasks,
                    reply=job.raw or "",
                    model=endpoint.model,
                )
            )
    for sample in samples:
        rubric = rubrics.get(sample.id)
        if rubric is None:
            continue
        found = checks[sample.id]
        capped, caps = apply_caps(rubric, found)
        split, reasons = split_of(capped, found, config)
        result.judgements.append(
            Judgement(
                id=sample.id,
                judge=kind,
                rubric=capped,
                judge_scores=rubric.scores(),
                caps=caps,
                checks=found,
                split=split,
                reasons=reasons,
            )
        )
        scored = sample.model_copy(
            update={
                "provenance": {
                    **sample.provenance,
                    "judge": {
                        "judge": kind,
                        "scores": capped.scores(),
                        **({"model": endpoint.model} if kind == "llm" else {}),
                    },
                }
            }
        )
        if split == "sft":
            result.sft.append(scored)
            if config.rl_include_sft and rl_usable(capped, found, config):
                result.rl_from_sft.append(scored)
        elif split == "rl":
            result.rl.append(scored)
        else:
            result.rejected.append(
                _quarantine(sample, loaded.where[sample.id], "split", "; ".join(reasons), scores=capped.scores())
            )
    return result


# --- human agreement ------------------------------------------------------------------------------


def load_human(path: str | os.PathLike[str], known: Iterable[str]) -> dict[str, dict[str, int]]:
    """Human labels `{"id", <criterion>: 1-5, ...}` (any subset of the criteria per row); an id that is not
    an input sample, a repeated id, or a score that is not 1-5 is an `InputError` naming the line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"human {path}: no such file", setting="human")
    ids = set(known)
    labels: dict[str, dict[str, int]] = {}
    for line, text, _ in raw_rows(path):
        if text is None:
            raise InputError(f"{path}:{line}: bad UTF-8")
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{line}: not JSON: {exc.msg}") from exc
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            raise InputError(f'{path}:{line}: a label row needs "id" (a sample id) and criteria scores 1-5')
        sample_id = row["id"]
        if sample_id not in ids:
            raise InputError(
                f"{path}:{line}: unknown id {sample_id!r}: no input sample has it; "
                "label samples of the files being judged"
            )
        if sample_id in labels:
            raise InputError(f"{path}:{line}: a second label row for {sample_id!r}")
        unknown = sorted(set(row) - {"id", *CRITERIA})
        if unknown:
            raise InputError(
                f"{path}:{line}: unknown field(s) {', '.join(unknown)}; criteria are {', '.join(CRITERIA)}"
            )
        scores = {}
        for criterion in CRITERIA:
            if criterion not in row:
                continue
            value = row[criterion]
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
                raise InputError(f"{path}:{line}: {criterion}: {value!r} is not an integer from 1 to 5")
            scores[criterion] = value
        if not scores:
            raise InputError(f"{path}:{line}: no criterion scored; give any of {', '.join(CRITERIA)} (1-5)")
        labels[sample_id] = scores
    return labels


def quadratic_weighted_kappa(a: Sequence[int], b: Sequence[int], low: int = 1, high: int = 5) -> float | None:
    """Cohen's kappa with quadratic weights over the ratings low..high; None when it is undefined (no
    pairs, or both raters' expected disagreement is zero: each gave one same rating throughout)."""
    if not a or len(a) != len(b):
        return None
    k = high - low + 1
    observed = [[0.0] * k for _ in range(k)]
    for x, y in zip(a, b, strict=True):
        observed[x - low][y - low] += 1
    n = float(len(a))
    rows = [sum(r) for r in observed]
    cols = [sum(observed[i][j] for i in range(k)) for j in range(k)]
    num = den = 0.0
    for i in range(k):
        for j in range(k):
            weight = (i - j) ** 2 / (k - 1) ** 2
            num += weight * observed[i][j]
            den += weight * rows[i] * cols[j] / n
    return None if den == 0 else round(1.0 - num / den, 4)


def spearman(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None for fewer than 2 pairs or a constant side."""
    if len(a) < 2 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    from scipy.stats import spearmanr

    return round(float(spearmanr(a, b).statistic), 4)


def agreement(judgements: Sequence[Judgement], labels: dict[str, dict[str, int]]) -> dict[str, Agreement]:
    """Per criterion: labels matched to a judged sample, exact and within-one agreement, quadratic-weighted
    kappa and Spearman, judge (capped scores) against human."""
    by_id = {j.id: j.rubric.scores() for j in judgements}
    out = {}
    for criterion in CRITERIA:
        pairs = [(by_id[i][criterion], s[criterion]) for i, s in labels.items() if i in by_id and criterion in s]
        judge, human = [p[0] for p in pairs], [p[1] for p in pairs]
        n = len(pairs)
        out[criterion] = Agreement(
            n=n,
            exact=round(sum(x == y for x, y in pairs) / n, 4) if n else None,
            within_one=round(sum(abs(x - y) <= 1 for x, y in pairs) / n, 4) if n else None,
            quadratic_kappa=quadratic_weighted_kappa(judge, human),
            spearman=spearman(judge, human),
        )
    return out


# --- report, manifest, the whole run --------------------------------------------------------------


def distribution(judgements: Sequence[Judgement]) -> dict[str, dict[str, Any]]:
    """Per criterion: how many samples scored 1..5, and the mean."""
    out = {}
    for criterion in CRITERIA:
        values = [j.rubric.scores()[criterion] for j in judgements]
        counts = Counter(values)
        out[criterion] = {
            "counts": {str(v): counts.get(v, 0) for v in range(1, 6)},
            "mean": round(sum(values) / len(values), 3) if values else None,
        }
    return out


def _reason_kind(reason: str) -> str:
    """ "lint ungrounded-answer: number ..." -> "lint ungrounded-answer"; "grounding 2 < sft-min 4" ->
    "grounding < sft-min"; "not verifiable (...)" -> "not verifiable"."""
    if reason.startswith("lint "):
        return reason.split(":", 1)[0]
    if " < " in reason:
        criterion, _, rest = reason.partition(" < ")
        return f"{criterion.split(' ')[0]} < {rest.split(' ')[0]}"
    return reason.split(" (", 1)[0]


def warnings_of(result: JudgeResult, config: JudgeConfig) -> list[str]:
    """What the user should know about the outputs: an empty RL split (`grpo/train.jsonl` too), why, and how to
    fill it."""
    if not result.judgements or rl_set(result):
        return []
    verifiable = sum(1 for j in result.judgements if j.checks.verifiable)
    in_sft = sum(1 for j in result.judgements if j.split == "sft" and rl_usable(j.rubric, j.checks, config))
    if not verifiable:
        why = (
            "no judged sample has a verifiable answer (a numeric value or a table program); `qa tables` "
            "writes verifiable ones"
        )
    elif in_sft and not config.rl_include_sft:
        why = (
            f"RL takes only verifiable samples that miss SFT (the splits are disjoint by default) and all {in_sft} "
            "that qualify passed SFT; pass --rl-include-sft to put them in RL as well"
        )
    else:
        why = (
            f"no verifiable sample without lint errors reaches --rl-min {config.rl_min} on grounding and "
            "correctness; lower --rl-min or fix the samples"
        )
    return [f"the RL split is empty (rl.jsonl and grpo/train.jsonl have 0 rows): {why}"]


def summary(result: JudgeResult, config: JudgeConfig) -> dict[str, Any]:
    """The counts and distributions the report, the manifest and `--format json` share."""
    reasons: Counter[str] = Counter()
    for q in result.rejected:
        reasons.update({_reason_kind(r) for r in q.reason.split("; ")})
    return {
        "judge": result.judge,
        "judge_reason": result.judge_reason,
        "model": result.model,
        "thresholds": {"sft_min": config.sft_min, "rl_min": config.rl_min, "rl_include_sft": config.rl_include_sft},
        "counts": {
            "read": result.read,
            "sft": len(result.sft),
            "rl": len(result.rl),
            "rl_from_sft": len(result.rl_from_sft),
            "rejected": len(result.rejected),
            "quarantined": len(result.quarantined),
            "quarantined_by_stage": dict(sorted(Counter(q.stage for q in result.quarantined).items())),
            "judged": len(result.judgements),
            "judge_failed": result.judge_failed,
            "capped": sum(1 for j in result.judgements if j.caps),
            "reconciles": result.reconciles(),
        },
        "rejected_reasons": dict(sorted(reasons.items())),
        "distribution": distribution(result.judgements),
        "dataset_findings": result.dataset_findings,
        "human": (
            {
                "labels": result.human_labels,
                "unjudged": result.human_unjudged,
                "agreement": {c: a.model_dump() for c, a in result.agreement.items()},
            }
            if result.agreement is not None
            else None
        ),
        "aborted": result.aborted,
        "warnings": warnings_of(result, config),
    }


def render_report(doc: dict[str, Any]) -> str:
    """`report.md`: which judge ran and why, the counts, the score distribution, the rejections, agreement."""
    from finsynth.markdown import markdown_table

    c = doc["counts"]
    lines = [
        "# QA judge report",
        "",
        f"Judge: **{doc['judge']}**"
        + (f" (model {doc['model']})" if doc["model"] else "")
        + f". {doc['judge_reason']}.",
        "",
        f"Thresholds: SFT every criterion >= {doc['thresholds']['sft_min']}; RL a verifiable answer with "
        f"grounding and correctness >= {doc['thresholds']['rl_min']} ("
        + (
            "SFT samples that qualify are also in RL: " + str(c["rl_from_sft"])
            if doc["thresholds"]["rl_include_sft"]
            else "not in SFT"
        )
        + ").",
        "",
        "## Counts",
        "",
        markdown_table(
            ["read", "sft", "rl", "rejected", "quarantined", "reconciles"],
            [[c["read"], c["sft"], c["rl"], c["rejected"], c["quarantined"], "yes" if c["reconciles"] else "NO"]],
        ),
        "",
        f"Judged {c['judged']}, judge failures {c['judge_failed']}, scores lowered by offline caps "
        f"{c['capped']}; quarantine by stage: "
        + (", ".join(f"{k} {v}" for k, v in c["quarantined_by_stage"].items()) or "none")
        + ".",
        "",
        "## Score distribution",
        "",
        markdown_table(
            ["criterion", "1", "2", "3", "4", "5", "mean"],
            [
                [name, *d["counts"].values(), "-" if d["mean"] is None else d["mean"]]
                for name, d in doc["distribution"].items()
            ],
        ),
        "",
    ]
    if doc.get("warnings"):
        lines += ["## Warnings", "", *(f"- **{w}**" for w in doc["warnings"]), ""]
    if doc["rejected_reasons"]:
        lines += [
            "## Why samples were rejected",
            "",
            markdown_table(["reason", "samples"], list(doc["rejected_reasons"].items())),
            "",
        ]
    if doc["dataset_findings"]:
        lines += ["## Dataset-wide lint findings", "", *(f"- {f}" for f in doc["dataset_findings"]), ""]
    human = doc.get("human")
    if human is not None:
        lines += [
            "## Agreement with human labels",
            "",
            f"{human['labels']} labelled sample(s), {human['unjudged']} of them not judged (quarantined).",
            "",
            markdown_table(
                ["criterion", "n", "exact", "within 1", "quadratic kappa", "Spearman"],
                [
                    [
                        k,
                        a["n"],
                        *(
                            "-" if a[f] is None else a[f]
                            for f in ("exact", "within_one", "quadratic_kappa", "spearman")
                        ),
                    ]
                    for k, a in human["agreement"].items()
                ],
            ),
            "",
        ]
    if doc["aborted"]:
        lines += [f"**The LLM run stopped early:** {doc['aborted']}", ""]
    return "\n".join(lines)


class JudgeManifest(_Model):
    """`manifest.json` of a judge run (`finsynth.manifest.Manifest`'s shape where the two share keys)."""

    tool: Literal["finsynth"] = "finsynth"
    version: str
    command: Literal["qa judge"] = "qa judge"
    seed: int
    inputs: list[dict[str, str]]  # name + sha256, as the build's `inputs`
    test: dict[str, str] | None = None
    human: dict[str, str] | None = None
    templates: dict[str, str]
    judge: dict[str, Any]
    counts: dict[str, Any]
    outputs: dict[str, str]  # file -> sha256


def rl_set(result: JudgeResult) -> list[QASample]:
    """The RL rows written: RL-only samples, plus (with `rl_include_sft`) the SFT ones, in input order."""
    if not result.rl_from_sft:
        return list(result.rl)
    order = {j.id: i for i, j in enumerate(result.judgements)}
    return sorted([*result.rl, *result.rl_from_sft], key=lambda s: order[s.id])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def judge_files(
    paths: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    endpoint: EndpointConfig,
    config: JudgeConfig | None = None,
    *,
    test_path: str | os.PathLike[str] | None = None,
    human_path: str | os.PathLike[str] | None = None,
    cache_path: str | os.PathLike[str] | None = None,
    templates: Templates | None = None,
    progress: bool = False,
    engine_options: dict[str, Any] | None = None,
    on_progress: ProgressHook = None,
) -> tuple[JudgeResult, dict[str, Any]]:
    """`finsynth qa judge`: read, judge, split and write every output of OUT atomically (see the CLI);
    returns the result and the manifest document. Input files with no row at all are an `InputError`.
    `on_progress(n)` is told of rows read, samples linted and (offline judge) samples scored: 3 per input
    row in all, a quarantined row's later steps counted when it is quarantined."""
    from finsynth.io import write_json_atomic, write_jsonl_atomic, write_text_atomic
    from finsynth.prompts import DEFAULT_TEMPLATES
    from finsynth.qa.export import export_qa
    from finsynth.qa.generate import REASK_TEMPLATE

    config = config or JudgeConfig()
    choose_judge(config.judge, endpoint)  # a missing endpoint for --judge llm fails before any reading
    loaded = load_qa(paths, on_progress)
    if loaded.read == 0:
        raise InputError(
            f"{', '.join(str(p) for p in paths)}: no QA samples (empty input); give the JSONL that "
            "`qa import-tatqa`, `qa tables` or `qa generate` writes"
        )
    if on_progress is not None and loaded.quarantined:
        on_progress(2 * len(loaded.quarantined))  # not linted, not scored
    test = None
    if test_path is not None:
        test_loaded = load_qa([test_path])
        if test_loaded.quarantined:
            q = test_loaded.quarantined[0]
            raise InputError(f"test {q.path}:{q.line}: {q.reason}"[:400], setting="test")
        test = test_loaded.samples
    labels = load_human(human_path, loaded.where) if human_path is not None else None
    result = judge_samples(
        loaded,
        endpoint,
        config,
        test=test,
        cache_path=cache_path,
        templates=templates,
        progress=progress,
        engine_options=engine_options,
        on_progress=on_progress,
    )
    if labels is not None:
        judged = {j.id for j in result.judgements}
        result.human_labels = len(labels)
        result.human_unjudged = sum(1 for i in labels if i not in judged)
        result.agreement = agreement(result.judgements, labels)
    out = Path(out_dir)
    write_jsonl_atomic(out / "sft.jsonl", result.sft)
    write_jsonl_atomic(out / "rl.jsonl", rl_set(result))
    write_jsonl_atomic(out / "quarantine.jsonl", [*result.quarantined, *result.rejected])
    write_jsonl_atomic(out / "scores.jsonl", result.judgements)
    exported = export_qa(result.sft, rl_set(result), out)
    doc = summary(result, config)
    write_text_atomic(out / "report.md", render_report(doc))
    outputs = ["sft.jsonl", "rl.jsonl", "quarantine.jsonl", "scores.jsonl", *exported, "report.md"]
    used = [JUDGE_TEMPLATE, REASK_TEMPLATE] if result.judge == "llm" else []
    judge_info = {
        "kind": result.judge,
        "reason": result.judge_reason,
        "model": result.model,
        "endpoint": (
            {k: v for k, v in endpoint.public().items() if k in ("model", "temperature", "max_tokens", "seed")}
            if result.judge == "llm"
            else None
        ),
        "thresholds": doc["thresholds"],
        "aborted": result.aborted,
    }
    manifest = JudgeManifest(
        version=__version__,
        seed=config.seed,
        inputs=[{"name": Path(p).name, "sha256": _sha256(Path(p))} for p in loaded.files],
        test={"name": Path(test_path).name, "sha256": _sha256(Path(test_path))} if test_path is not None else None,
        human={"name": Path(human_path).name, "sha256": _sha256(Path(human_path))} if human_path else None,
        templates={name: (templates or DEFAULT_TEMPLATES).hash(name) for name in used},
        judge=judge_info,
        counts=doc["counts"],
        outputs={name: _sha256(out / name) for name in outputs},
    ).model_dump(mode="json")
    write_json_atomic(out / "manifest.json", manifest)
    return result, doc
