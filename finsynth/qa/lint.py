"""QA lint: rules over `QASample` rows and QA datasets, declared ruff-style with their documentation.

Every rule lives in `QA_RULES`, put there by `@qa_rule(...)` with a stable id, a severity, a rationale,
a fix and two runnable examples (`fires`, `passes`; the test suite runs both for every rule). Adding a
rule is one function plus its examples. Sample rules take one `QASample` and yield messages (or
`Hit`s, when one hit's severity differs from the rule's); dataset rules take a `QADatasetView` and
yield `QAFinding`s. The kit is the extraction rules' (`finsynth.audit.kit`: `Rule`, `Example`, `Hit`,
`Finding`, the registry and its selection), and so are the fixed-count and near-duplicate thresholds.

    lint_qa(samples, test=None)   every rule; `test` is the test set split leakage compares with
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, cast

from pydantic import BaseModel, Field

from finsynth.audit import kit
from finsynth.audit.kit import (
    FIXED_COUNT_ERROR,
    FIXED_COUNT_WARNING,
    NEAR_DUP_THRESHOLD,
    Finding,
    Hit,
    Registry,
    Related,
    Rule,
    Span,
    dominant_count,
    hits,
)
from finsynth.qa.grounding import SMALL_COUNT, context_text, numbers, ungrounded
from finsynth.qa.progress import ProgressHook, ticking
from finsynth.qa.schema import (
    Answer,
    Context,
    Grounding,
    Paragraph,
    Program,
    QASample,
    Reasoning,
    Source,
    Table,
)
from finsynth.qa.tatqa import normalize_span
from finsynth.text.similarity import NearDupSearch, near_duplicate_pairs, normalize

QASeverity = Literal["error", "warning"]
COMPUTED_KINDS = ("arithmetic", "count")  # answers a model computes; a leaked one is a free answer
MIN_LEAK_CHARS = 3  # a span answer shorter than this ("A", "是") inside the question is chance, not a leak


class QAFinding(Finding):
    """One lint result: `sample_id` is None for a dataset-wide finding (fixed-count). A QA finding names its
    sample, not a file line: the row-location fields of `kit.Finding` stay out of its JSON."""

    severity: QASeverity
    path: str | None = Field(default=None, exclude=True)
    line: int | None = Field(default=None, exclude=True)
    sample_id: str | None
    spans: list[Span] = Field(default_factory=list, exclude=True)
    related: Related | None = Field(default=None, exclude=True)


@dataclass(frozen=True)
class QAExample(kit.Example):
    """A rule's documented example, runnable: `rows` are QA samples as JSON objects, `against` a test set."""

    @property
    def samples(self) -> tuple[dict[str, Any], ...]:
        return self.rows

    @property
    def test(self) -> tuple[dict[str, Any], ...]:
        return self.against

    def shown(self) -> str:
        """The example as a reader sees it: questions and answers (the first three)."""
        shown = " / ".join(f"Q: {s['question']} A: {s['answer']['text']}" for s in self.samples[:3])
        if len(self.samples) > 3:
            shown += f" … ({len(self.samples)} samples)"
        if self.test:
            shown += " | test set: " + " / ".join(f"Q: {s['question']}" for s in self.test[:3])
        return shown

    def load(self) -> tuple[list[QASample], list[QASample]]:
        return ([QASample.model_validate(s) for s in self.samples], [QASample.model_validate(s) for s in self.test])


QARule = Rule[QASample]
QA_RULES: Registry[QASample] = Registry("QA lint rule", severities=("error", "warning"))
qa_rule = QA_RULES.rule


class QALintResult(BaseModel):
    """All findings (in sample order, dataset-wide ones last), a count per rule id (every registered rule,
    zeros included) and the number of errors and warnings."""

    findings: list[QAFinding] = Field(default_factory=list)
    by_rule: dict[str, int] = Field(default_factory=dict)
    errors: int = 0
    warnings: int = 0

    def blocking(self, sample_id: str) -> list[QAFinding]:
        """The error findings of one sample: a sample with any is not fit to train on."""
        return [f for f in self.findings if f.sample_id == sample_id and f.severity == "error"]

    def blocking_by_sample(self) -> dict[str, list[QAFinding]]:
        """Every sample that has error findings, with them (in finding order)."""
        out: dict[str, list[QAFinding]] = defaultdict(list)
        for f in self.findings:
            if f.severity == "error" and f.sample_id is not None:
                out[f.sample_id].append(f)
        return dict(out)


# --- example samples ----------------------------------------------------------------------------

_TABLE = [["", "2019", "2018"], ["Revenue", "1,496.5", "1,202.9"], ["Other", "44.1", "56.7"]]
_PARAGRAPH = "Substantially all of our contracts with Lockheed Martin are fixed-price type contracts."
_CN_PARAGRAPH = "招商银行2024年实现营业收入3,375亿元，同比下降0.5%；净利润1,484亿元，同比增长1.2%。"


def example_sample(
    question: str,
    answer: str,
    *,
    kind: str = "span",
    id: str = "q1",
    value: float | None = None,
    scale: str = "",
    steps: Sequence[str] = (),
    table: list[list[str]] | None = None,
    paragraph: str = _PARAGRAPH,
    program: dict[str, Any] | None = None,
    chunk_id: str | None = None,
) -> dict[str, Any]:
    """A QA sample as a JSON object, for rule examples and tests: one paragraph, an optional table."""
    sample = QASample(
        id=id,
        context=Context(
            paragraphs=[Paragraph(id="p1", order=1, text=paragraph)], table=Table.from_rows(table) if table else None
        ),
        question=question,
        answer=Answer(text=answer, spans=[answer], value=value, scale=scale),  # type: ignore[arg-type]
        reasoning=Reasoning(steps=list(steps)),
        kind=kind,  # type: ignore[arg-type]
        source=Source(file="example.json", chunk_id=chunk_id),
        grounding=Grounding(),
        program=Program.model_validate(program) if program else None,
    )
    return sample.model_dump(mode="json")


def _one(*samples: dict[str, Any], note: str = "", test: Sequence[dict[str, Any]] = ()) -> QAExample:
    return QAExample(rows=tuple(samples), against=tuple(test), note=note)


def _chunks(counts: Sequence[int], note: str) -> QAExample:
    """Samples over len(counts) chunks, chunk k holding counts[k] questions (fixed-count's examples)."""
    rows = [
        example_sample(
            f"What is the revenue of segment {k} in year {q}?",
            "1,496.5",
            id=f"c{k}q{q}",
            table=_TABLE,
            chunk_id=f"chunk-{k}",
        )
        for k, n in enumerate(counts)
        for q in range(n)
    ]
    return QAExample(rows=tuple(rows), note=note)


# --- sample rules -------------------------------------------------------------------------------


@qa_rule(
    id="ungrounded-answer",
    severity="error",
    rationale="An answer whose numbers or names are not in the context (nor one step from its numbers) "
    "teaches the model to invent figures; a financial answer must be checkable against its source.",
    fix="Regenerate the answer from the context, or add the reasoning step that computes the number; "
    "a name must be written as the context writes it.",
    fires=_one(
        example_sample("What is the revenue in 2019?", "1,596.5", kind="span", table=_TABLE),
        example_sample("哪家银行的营业收入下降了？", "工商银行", paragraph=_CN_PARAGRAPH, id="q2"),
        note="a changed number; a swapped bank",
    ),
    passes=_one(
        example_sample(
            "What is the change in Other from 2018 to 2019?",
            "-12.6",
            kind="arithmetic",
            value=-12.6,
            scale="million",
            table=_TABLE,
            steps=["44.1-56.7"],
        ),
        example_sample("哪家银行的营业收入下降了？", "招商银行", paragraph=_CN_PARAGRAPH, id="q2"),
        note="a difference of two cells; the bank the paragraph names",
    ),
)
def ungrounded_answer(sample: QASample) -> Iterator[str]:
    """A number or a named entity of the answer that the context does not support: not written there
    and, for a computed answer, not one arithmetic step from its numbers (reasoning steps' grounded
    numbers count as intermediate results); a span answer's numbers must be written in the context.
    See `finsynth.qa.grounding` for what counts as a name and a step."""
    computed = sample.kind not in ("span", "multi-span") or sample.program is not None
    yield from ungrounded(sample.answer.text, sample.context, steps=sample.reasoning.steps, computed=computed)


_PROGRAM_TABLE = [["", "2019", "2018"], ["Revenue", "120", "100"]]
_GROWTH = {"op": "growth", "cells": [[1, 2], [1, 1]], "result": 20.0, "decimals": 2}


@qa_rule(
    id="answer-contradicts-program",
    severity="error",
    rationale="A computed answer that its own program recomputes to a different value is a wrong label; "
    "the RL reward is grounded on the program, so the two must agree.",
    fix="Recompute the answer from the program's cells (or fix the program's operands) and write the result.",
    fires=_one(
        example_sample(
            "What is the growth of revenue from 2018 to 2019?",
            "25.00",
            kind="arithmetic",
            value=25.0,
            scale="percent",
            table=_PROGRAM_TABLE,
            program=_GROWTH,
        ),
        note="(120 - 100) / 100 is 20%, not 25%",
    ),
    passes=_one(
        example_sample(
            "What is the growth of revenue from 2018 to 2019?",
            "20.00",
            kind="arithmetic",
            value=20.0,
            scale="percent",
            table=_PROGRAM_TABLE,
            program=_GROWTH,
        )
    ),
)
def answer_contradicts_program(sample: QASample) -> Iterator[str]:
    """A computed answer that disagrees with its recomputation (`finsynth.qa.checker.check`: the
    program's operation over its table cells, rounded as the answer is)."""
    from finsynth.qa.checker import check

    yield from check(sample)


def _contains_tokens(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def _span_in(span: str, question: str) -> bool:
    """Whether `span` is written in `question`: whole tokens for Latin text, characters for Chinese."""
    if any("\u4e00" <= c <= "\u9fff" for c in span):
        chars = normalize(span)
        return len(chars) >= 2 and chars in normalize(question)
    needle = normalize_span(span).split()
    if not needle or len("".join(needle)) < MIN_LEAK_CHARS:
        return False
    # "…, is it 2019?": a question mark glued to a number would keep `normalize_span` from reading it
    return _contains_tokens(normalize_span(re.sub(r"[?!;:？！；：]", " ", question)).split(), needle)


# "December 30, 2019", "30 June", "7月27日", "截至…止52周": a date or period in the question is not a figure it states
_DATE_DAY = re.compile(
    r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?\s+\d{1,2}\b"
    r"|\b\d{1,2}\s+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\b"
    r"|\d{1,2}月\d{1,2}日|止\d+周"
)


_YEAR = re.compile(r"(?:19|20)\d\d")


def _leaked_numbers(answer: str, question: str) -> list[str]:
    question = _DATE_DAY.sub(" ", question)
    asked = numbers(question)
    leaked = []
    for n in numbers(answer):
        if n.decimals == 0 and abs(n.written) <= SMALL_COUNT:
            continue
        # a year the question names ("in 2019") is not the amount -2,019 the answer computes
        same = [
            q
            for q in asked
            if abs(n.written) in (abs(q.written), abs(q.value))
            and not (_YEAR.fullmatch(q.text.strip()) and q.text.strip() != n.text.strip())
        ]
        if same:
            leaked.append(n.text)
    return leaked


def _offers_choices(question: str) -> bool:
    """A question that lists its options ("2019 or 2018?", "A还是B") names its answer by design."""
    low = f" {question.lower()} "
    return (
        " or " in low
        or "还是" in question
        or (" between " in low and "which" in low)
        or " which of " in low
        or bool(re.search(r"中哪一?[项个年]", question))
    )


@qa_rule(
    id="answer-in-question",
    severity="error",
    rationale="A question that states its answer teaches copying, not reading or computing; for a computed "
    "answer the computation is skipped entirely.",
    fix="Rewrite the question without the answer (ask for the figure, do not quote it); for a choice "
    "question keep both options.",
    fires=_one(
        example_sample(
            "Revenue rose from 1,202.9 to 1,496.5, a change of 293.6; what is the change?",
            "293.6",
            kind="arithmetic",
            value=293.6,
            table=_TABLE,
        ),
        example_sample("Which customer, Lockheed Martin, holds the fixed-price contracts?", "Lockheed Martin", id="q2"),
        note="the computed value in the question (error); the span in the question (warning)",
    ),
    passes=_one(
        example_sample(
            "What is the change in revenue from 2018 to 2019?", "293.6", kind="arithmetic", value=293.6, table=_TABLE
        ),
        example_sample("In which year was revenue higher, 2019 or 2018?", "2019", id="q2", table=_TABLE),
        note="a choice question names its options by design",
    ),
)
def answer_in_question(sample: QASample) -> Iterator[Hit]:
    """The answer is written in the question: a number of a computed answer (error; whole numbers up to
    10 are not judged), or the whole answer span (warning; every span for a multi-span answer). Choice
    questions ("X or Y?", "…还是…", "which of A, B and C", "…中哪一项") are skipped."""
    question, answer = sample.question, sample.answer
    # a largest/smallest table question has a program but answers with a row label: a span among options
    computed = sample.kind in COMPUTED_KINDS
    if computed:
        leaked = _leaked_numbers(answer.text, question)
        if leaked:
            yield Hit(f"the question states the computed answer ({', '.join(leaked)})", severity="error")
        return
    if _offers_choices(question):
        return
    spans = [s for s in answer.spans if s.strip()] or [answer.text]
    if all(_span_in(s, question) for s in spans):
        yield Hit(f"the question contains the answer {answer.text!r}", severity="warning")


# --- dataset rules ------------------------------------------------------------------------------


def _context_key(context: Context) -> str:
    return hashlib.sha1(context_text(context).encode("utf-8")).hexdigest()


@dataclass
class QADatasetView:
    """What dataset rules see: the samples, the test set, and (computed once) groups by context."""

    samples: Sequence[QASample]
    test: Sequence[QASample] = ()
    threshold: float = NEAR_DUP_THRESHOLD
    _keys: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._keys = [_context_key(s.context) for s in self.samples]

    @cached_property
    def by_context(self) -> dict[str, list[int]]:
        """Sample positions per context (same paragraphs and table), in sample order."""
        groups: dict[str, list[int]] = defaultdict(list)
        for i, key in enumerate(self._keys):
            groups[key].append(i)
        return dict(groups)

    @cached_property
    def by_chunk(self) -> dict[str, list[int]]:
        """Sample positions per source chunk (`source.chunk_id`, else the context)."""
        groups: dict[str, list[int]] = defaultdict(list)
        for i, (s, key) in enumerate(zip(self.samples, self._keys, strict=True)):
            groups[f"chunk:{s.source.chunk_id}" if s.source.chunk_id else f"context:{key}"].append(i)
        return dict(groups)


def _finding(rule_id: str, sample: QASample | None, message: str, severity: QASeverity | None = None) -> QAFinding:
    return QAFinding(
        rule=rule_id,
        severity=severity or cast(QASeverity, QA_RULES[rule_id].severity),
        sample_id=sample.id if sample else None,
        message=message,
    )


_DUP_Q = "What is the revenue in 2019?"


@qa_rule(
    id="duplicate-question",
    severity="error",
    rationale="The same question over the same context twice over-weights one example and, with different "
    "answers, teaches both.",
    fix="Keep one copy (the first); if the answers differ, decide which is right.",
    fires=_one(
        example_sample(_DUP_Q, "1,496.5", table=_TABLE),
        example_sample("what is the  revenue in 2019 ?", "1,496.5", table=_TABLE, id="q2"),
        note="the same question up to case and spacing",
    ),
    passes=_one(
        example_sample(_DUP_Q, "1,496.5", table=_TABLE),
        example_sample(_DUP_Q, "1,496.5", table=_TABLE[:2], id="q2"),
        note="another context",
    ),
    scope="dataset",
)
def duplicate_question(view: QADatasetView) -> Iterator[QAFinding]:
    """A question identical (after normalisation: NFKC, lower case, no white space) to an earlier one
    over the same context."""
    for members in view.by_context.values():
        first: dict[str, int] = {}
        for i in members:
            key = normalize(view.samples[i].question)
            if key in first:
                earlier = view.samples[first[key]]
                yield _finding(
                    "duplicate-question", view.samples[i], f"question repeats {earlier.id} over the same context"
                )
            else:
                first[key] = i


@qa_rule(
    id="near-duplicate-question",
    severity="warning",
    rationale="Paraphrased copies of one question over one context over-weight it and hide in splits.",
    fix="Keep one of the copies, or ask about another cell or another figure.",
    fires=_one(
        example_sample("What was the total revenue of the company in fiscal 2019?", "1,496.5", table=_TABLE),
        example_sample(
            "What was the total revenue of the company in fiscal year 2019?", "1,496.5", table=_TABLE, id="q2"
        ),
        note="one word added",
    ),
    passes=_one(
        example_sample("What was the total revenue of the company in fiscal 2019?", "1,496.5", table=_TABLE),
        example_sample(
            "What is the change in Other from 2018 to 2019?", "-12.6", kind="arithmetic", table=_TABLE, id="q2"
        ),
    ),
    scope="dataset",
)
def near_duplicate_question(view: QADatasetView) -> Iterator[QAFinding]:
    """A question whose character-trigram Jaccard with an earlier question over the same context is
    >= 0.8 (`finsynth.text.similarity`), not identical after normalisation, and that asks for the same
    thing: two questions that differ in a number (the year: "revenue in 2018" / "in 2019", "FY18" / "FY19")
    or in the operation they ask for ("change" / "percentage change", "average" / "total"), or whose
    answers differ ("shares vested" / "shares granted": another row), are different questions."""
    for members in view.by_context.values():
        if len(members) < 2:
            continue
        questions = [view.samples[i].question for i in members]
        reported: set[int] = set()
        for a, b, similarity in near_duplicate_pairs(questions, threshold=view.threshold):
            if (
                b in reported
                or normalize(questions[a]) == normalize(questions[b])
                or not _same_ask(view.samples[members[a]], view.samples[members[b]])
            ):
                continue
            reported.add(b)
            yield _finding(
                "near-duplicate-question",
                view.samples[members[b]],
                f"question near-duplicates {view.samples[members[a]].id} over the same context "
                f"(Jaccard {similarity:.2f})",
            )


# words that name what a question computes; questions differing in one ask for different things
_OPERATION_WORDS = re.compile(
    r"\b(?:change|changes|percentage|percent|average|total|sum|difference|increase|decrease|ratio|proportion|"
    r"respective|respectively|growth|rate|highest|lowest|largest|smallest|maximum|minimum|how many|net|gross)\b"
    r"|变化|变动|增长|下降|增速|增幅|降幅|占比|比例|平均|合计|总|差额|最高|最低|最大|最小|多少个|几",
    re.IGNORECASE,
)


def _same_ask(a: QASample, b: QASample) -> bool:
    """Whether two similar questions ask for the same thing: the same digits, operation words and answer."""

    def digits(q: str) -> list[str]:
        return sorted(re.findall(r"\d+", q))

    def operations(q: str) -> set[str]:
        return {w.lower() for w in _OPERATION_WORDS.findall(q)}

    def answer(s: QASample) -> list[str]:
        return sorted(normalize_span(x, s.answer.scale) for x in (s.answer.spans or [s.answer.text]))

    return (
        digits(a.question) == digits(b.question)
        and operations(a.question) == operations(b.question)
        and answer(a) == answer(b)
    )


def _leak_text(sample: QASample) -> str:
    return sample.question + "\n" + context_text(sample.context)


@qa_rule(
    id="split-leakage",
    severity="error",
    rationale="Scores must be honest: a training question over a test sample's context (near-identical "
    "question and context) is the test answer seen in training.",
    fix="Drop the training sample, or keep the whole context (every question over it) on one side of the split.",
    fires=_one(
        example_sample(_DUP_Q, "1,496.5", table=_TABLE),
        test=[example_sample("What is the revenue in the year 2019?", "1,496.5", table=_TABLE, id="t1")],
    ),
    passes=_one(
        example_sample(_DUP_Q, "1,496.5", table=_TABLE),
        test=[example_sample("哪家银行的营业收入下降了？", "招商银行", paragraph=_CN_PARAGRAPH, id="t1")],
    ),
    scope="dataset",
)
def split_leakage(view: QADatasetView) -> Iterator[QAFinding]:
    """A training sample whose question and context, together, have a character-trigram Jaccard >= 0.8
    with a test sample's. The context is most of that text, so another question over a test context
    leaks too: a context belongs to one side of a split."""
    if not view.samples or not view.test:
        return
    search = NearDupSearch([_leak_text(s) for s in view.samples], threshold=view.threshold)
    for sample, hit in zip(view.samples, search.earliest_near([_leak_text(t) for t in view.test]), strict=True):
        if hit is not None:
            yield _finding(
                "split-leakage",
                sample,
                f"question and context near-duplicate test sample {view.test[hit[0]].id} (Jaccard {hit[1]:.2f})",
            )


@qa_rule(
    id="fixed-question-count",
    severity="error",
    rationale="Audit lesson 1 (fixed-count) for QA: every chunk with the same number of questions teaches the "
    "generator's quota, not what a chunk supports; chunks differ in what they can answer.",
    fix="Let each chunk decide how many questions it supports (0 for a chunk with nothing to ask), "
    "and drop padded questions.",
    fires=_chunks([3] * 20, "20 chunks, 3 questions each"),
    passes=_chunks([1, 2, 3, 4, 2] * 4, "20 chunks with 1 to 4 questions"),
    scope="dataset",
)
def fixed_question_count(view: QADatasetView) -> Iterator[QAFinding]:
    """One number of questions per chunk (grouped by `source.chunk_id`, else by context) above 1 holds
    >= 90% of the chunks: error; >= 80%: warning. Needs >= 20 chunks (the audit rule's thresholds)."""
    counts = [len(members) for members in view.by_chunk.values()]
    dominant = dominant_count(counts)
    if dominant is None:
        return
    count, n, share = dominant
    if count <= 1 or share < FIXED_COUNT_WARNING:
        return
    severity: QASeverity = "error" if share >= FIXED_COUNT_ERROR else "warning"
    yield _finding(
        "fixed-question-count",
        None,
        f"{n} of {len(counts)} chunks ({share:.0%}) have exactly {count} questions",
        severity=severity,
    )


# --- running ------------------------------------------------------------------------------------


def select_qa_rules(select: Iterable[str] | None = None) -> list[QARule]:
    """The QA rules narrowed to `select` (all stable ones when None), in registry order (`kit.Registry.select`)."""
    return QA_RULES.select(select)


def lint_qa(
    samples: Sequence[QASample],
    test: Sequence[QASample] | None = None,
    *,
    rules: Iterable[str] | None = None,
    threshold: float = NEAR_DUP_THRESHOLD,
    on_progress: ProgressHook = None,
) -> QALintResult:
    """Run the chosen rules (all by default) over `samples`; `test` is the test set split leakage
    compares with. Findings come per sample in sample order (rules in registry order), then the
    dataset-wide ones; the same inputs give the same result. `on_progress(n)` is told of samples as the
    per-sample rules finish them (`len(samples)` in all)."""
    chosen = select_qa_rules(rules)
    position = {s.id: i for i, s in reversed(list(enumerate(samples)))}
    findings: list[QAFinding] = []
    for sample in ticking(samples, on_progress):
        for r in (r for r in chosen if r.scope == "sample"):
            for hit in hits(r.check(sample)):
                findings.append(
                    QAFinding(
                        rule=r.id,
                        severity=cast(QASeverity, hit.severity or r.severity),
                        sample_id=sample.id,
                        message=hit.message,
                    )
                )
    view = QADatasetView(samples=samples, test=test or (), threshold=threshold)
    for r in (r for r in chosen if r.scope == "dataset"):
        findings.extend(r.check(view))
    rank = {r.id: k for k, r in enumerate(QA_RULES.values())}
    findings.sort(key=lambda f: (f.sample_id is None, position.get(f.sample_id or "", 0), rank[f.rule]))
    by_rule = QA_RULES.count(findings)
    errors = sum(f.severity == "error" for f in findings)
    return QALintResult(findings=findings, by_rule=by_rule, errors=errors, warnings=len(findings) - errors)


def rules_table() -> list[dict[str, str]]:
    """One row per rule: id, scope, severity, rationale (`finsynth qa lint --rules`)."""
    return [{"id": r.id, "scope": r.scope, "severity": r.severity, "rationale": r.rationale} for r in QA_RULES.values()]
