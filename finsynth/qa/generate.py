"""Grounded QA from text chunks through the LLM engine: questions per chunk, then one answer per question.

Two phases, both through `finsynth.llm.engine.LLMEngine` (its cache, retries, re-asks and circuit breaker):

1. *questions*: one job per chunk on `qa_questions.j2`. How many questions a chunk gets is the chunk's
   content ("as many as it supports, possibly none"): the prompt never names a count. The reply is
   `{"questions": [{"question", "kind", "difficulty"}]}`; an empty list is a valid answer.
2. *answers*: one job per question on `qa_answer.j2`, a fresh conversation holding that question and its
   own chunk only. The reply is the three-part reasoning (analysis, steps, answer) plus the fields of
   `finsynth.qa.schema.Answer`. The validator is the grounding check (`finsynth.qa.grounding.ungrounded`):
   every number and named entity of the answer is in the chunk or one arithmetic step from its numbers;
   a reply that fails is re-asked with its errors (`qa_reask.j2`), up to the engine's `max_reasks`.
   A model may also say the chunk does not answer the question (`"answerable": false`): that question is
   quarantined as unanswerable, never re-asked into an invented answer.

Nothing is lost: every chunk ends with questions, with none, or in quarantine (its question job failed),
and every question ends as a sample or in quarantine (`QAGenResult.reconciles()`), with the reason, the
raw reply and the question itself. A run the engine stopped (`stats.aborted`) still accounts for every
row: what was never sent is quarantined as aborted.

Punctuation-removal augmentation (`QAGenConfig.punct_rate`): a chunk chosen deterministically from the
seed and its id gets its sentence punctuation removed *in the sample's context* (what a model trains on),
recorded as `provenance.augmentation`. Questions and answers are made from, and grounded against, the
original text, so the LLM calls (and the cache) do not depend on the augmentation.

Outputs are deterministic for the same chunks, options, endpoint model and cached replies: sample ids come
from chunk ids and question order, and provenance holds nothing that changes between a live and a cached run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from finsynth.io import (
    InputError,
    QuarantineRow,
    UserError,
    raw_rows,
    schema_errors,
    write_json_atomic,
    write_jsonl_atomic,
)
from finsynth.llm.cache import ResponseCache
from finsynth.llm.config import EndpointConfig
from finsynth.llm.engine import Job, JobResult, LLMEngine
from finsynth.llm.usage import Usage
from finsynth.parsing import find_json_object, strip_wrappers
from finsynth.prompts import DEFAULT_TEMPLATES, Templates
from finsynth.qa.grounding import ungrounded
from finsynth.qa.schema import (
    Answer,
    Context,
    Difficulty,
    Grounding,
    Kind,
    Language,
    Paragraph,
    QASample,
    Reasoning,
    Scale,
    Source,
)
from finsynth.synth.run import RunStats

QUESTIONS_TEMPLATE = "qa_questions.j2"
ANSWER_TEMPLATE = "qa_answer.j2"
REASK_TEMPLATE = "qa_reask.j2"
GENERATOR = "finsynth.qa.generate"
KINDS: tuple[Kind, ...] = get_args(Kind)
DIFFICULTIES: tuple[Difficulty, ...] = get_args(Difficulty)
QuestionLength = Literal["short", "medium", "long"]
PUNCTUATION_REMOVED = "punctuation-removed"

_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
# sentence punctuation and quotes; brackets, signs, % and currency stay (they carry a value: "(1,234)")
_PUNCTUATION = re.compile(r"[，。、；：？！“”‘’「」『』《》〈〉…—·,.;:?!\"']")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- input ----------------------------------------------------------------------------------------


class Chunk(_Model):
    """One text chunk to ask about: what `finsynth ingest` writes (`id`, `chapter_title`, `paragraph`,
    `source`), or a plain `{"id", "text", "source"}` row; `line` is its line in the chunks file."""

    id: str
    text: str
    title: str = ""
    source: Source
    line: int = 0

    @field_validator("id", "text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    def context(self, text: str | None = None) -> Context:
        """The chunk as a QA context: one paragraph, whose id is the chunk id."""
        return Context(paragraphs=[Paragraph(id=self.id, order=1, text=self.text if text is None else text)])


class ChunkFile(BaseModel):
    """The chunks of one file, and the rows that are not chunks (each with its line and why)."""

    path: str
    chunks: list[Chunk] = Field(default_factory=list)
    quarantined: list[QuarantineRow] = Field(default_factory=list)
    read: int = 0

    def reconciles(self) -> bool:
        return self.read == len(self.chunks) + len(self.quarantined)


def _source_of(raw: Any, default_file: str) -> Source:
    """`source` as ingest writes it ({file, pages, ...}), as a plain file name, or absent."""
    if raw is None:
        return Source(file=default_file)
    if isinstance(raw, str):
        return Source(file=raw or default_file)
    if not isinstance(raw, dict):
        raise ValueError(f"source: must be an object or a file name, not {type(raw).__name__}")
    pages = raw.get("pages") or []
    page = raw.get("page", pages[0] if isinstance(pages, list) and pages else None)
    return Source(file=str(raw.get("file") or default_file), page=page, chunk_id=raw.get("chunk_id"))


def parse_chunk(row: Any, path: str, line: int) -> Chunk:
    """One decoded row as a `Chunk`; raises ValueError/ValidationError naming the field."""
    if not isinstance(row, dict):
        # a ValueError, not a TypeError: the row is quarantined like any other bad row
        raise ValueError(f"row is {type(row).__name__}, expected an object with id and text")  # noqa: TRY004
    text = row.get("text", row.get("paragraph"))
    if text is None:
        raise ValueError('text: missing (a chunk row needs "text", or "paragraph" as finsynth ingest writes)')
    chunk_id = row.get("id")
    if chunk_id is None:
        raise ValueError('id: missing (give every chunk a unique "id")')
    source = _source_of(row.get("source"), Path(path).name)
    if source.chunk_id is None:
        source = source.model_copy(update={"chunk_id": str(chunk_id)})
    return Chunk(
        id=str(chunk_id),
        text=str(text),
        title=str(row.get("chapter_title") or row.get("title") or ""),
        source=source,
        line=line,
    )


def read_chunks(path: str | os.PathLike[str]) -> ChunkFile:
    """The chunks of a JSONL file; bad rows (bad JSON, no text, no id, a repeated id) go to quarantine."""
    path = Path(path)
    out = ChunkFile(path=str(path))
    try:
        rows = list(raw_rows(path))
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file; give the chunks JSONL that finsynth ingest wrote") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    seen: dict[str, int] = {}
    for line, text, raw in rows:
        out.read += 1

        def reject(field: str, reason: str, line: int = line, raw: str = raw) -> None:
            out.quarantined.append(
                QuarantineRow(path=str(path), line=line, field=field, reason=reason, raw=raw, stage="qa-input")
            )

        if text is None:
            reject("<row>", f"bad UTF-8: {raw.partition(chr(0))[2]}")
            continue
        try:
            chunk = parse_chunk(json.loads(text), str(path), line)
        except json.JSONDecodeError as exc:
            reject("<row>", f"bad JSON: {exc}")
            continue
        except ValidationError as exc:
            reject(str(exc.errors()[0]["loc"][0]) if exc.errors()[0]["loc"] else "<row>", schema_errors(exc))
            continue
        except ValueError as exc:
            reject(str(exc).split(":", 1)[0] if ":" in str(exc) else "<row>", str(exc))
            continue
        if chunk.id in seen:
            reject("id", f"id {chunk.id!r} repeats the chunk of line {seen[chunk.id]}; chunk ids must be unique")
            continue
        seen[chunk.id] = line
        out.chunks.append(chunk)
    return out


# --- options and results --------------------------------------------------------------------------


class QAGenConfig(_Model):
    """What questions to ask and how (the `finsynth qa generate` flags, one field each)."""

    qtypes: list[Kind] = Field(default_factory=lambda: list(KINDS), min_length=1)
    difficulties: list[Difficulty] = Field(default_factory=lambda: list(DIFFICULTIES), min_length=1)
    language: Language = "zh"
    style: str = ""  # free text for the question style, e.g. "像卖方分析师一样具体"
    question_length: QuestionLength = "short"
    punct_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    seed: int = 0
    concurrency: int | None = None  # default: the endpoint configuration's
    max_reasks: int | None = None  # default: the endpoint configuration's

    @field_validator("qtypes", "difficulties")
    @classmethod
    def _unique(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(values))


class QAGenStats(RunStats):
    """What a run did; the counts reconcile (see `QAGenResult.reconciles`)."""

    chunks: int = 0
    chunks_with_questions: int = 0
    chunks_without_questions: int = 0
    chunks_quarantined: int = 0
    questions: int = 0
    answered: int = 0
    questions_quarantined: int = 0
    unanswerable: int = 0  # of the quarantined questions, those the model said the chunk does not answer
    augmented: int = 0
    by_kind: dict[str, int] = Field(default_factory=dict)
    by_difficulty: dict[str, int] = Field(default_factory=dict)
    reasks: int = 0
    aborted: str | None = None
    rows_read: int = 0  # rows of the chunks file (`generate_qa_file`): chunks + rows_quarantined
    rows_quarantined: int = 0  # rows of the chunks file that are not chunks


class QAGenResult(BaseModel):
    """Samples, quarantine rows (chunks, questions and input rows), token usage and stats."""

    samples: list[QASample] = Field(default_factory=list)
    quarantined: list[QuarantineRow] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    stats: QAGenStats = Field(default_factory=QAGenStats)
    out_path: str | None = None
    quarantine_path: str | None = None
    summary_path: str | None = None

    def reconciles(self) -> bool:
        s = self.stats
        return (
            s.chunks == s.chunks_with_questions + s.chunks_without_questions + s.chunks_quarantined
            and s.questions == s.answered + s.questions_quarantined
            and s.answered == len(self.samples)
            and len(self.quarantined) == s.chunks_quarantined + s.questions_quarantined + s.rows_quarantined
            and s.rows_read in (0, s.chunks + s.rows_quarantined)
        )

    def failure(self) -> str | None:
        """Why the run counts as failed (the CLI exits 1): the engine stopped, or most jobs failed."""
        if self.stats.aborted:
            return f"stopped early: {self.stats.aborted}"
        engine = self.stats.engine
        if engine is not None and engine.jobs and 2 * engine.failed > engine.jobs:
            return f"{engine.failed} of {engine.jobs} LLM jobs failed"
        return None

    def summary(self) -> dict[str, Any]:
        """The run as the CLI reports it (no secrets: the endpoint is `EndpointConfig.public()`)."""
        return {
            **self.stats.model_dump(mode="json"),
            "samples": len(self.samples),
            "quarantine_rows": len(self.quarantined),
            "reconciles": self.reconciles(),
            "failure": self.failure(),
            "usage": self.usage.model_dump(mode="json"),
            "out": self.out_path,
            "quarantine": self.quarantine_path,
        }


# --- augmentation ---------------------------------------------------------------------------------


def remove_punctuation(text: str) -> str:
    """`text` without sentence punctuation and quotes; a mark between two digits stays ("3,260", "12.5")."""

    def keep_in_numbers(m: re.Match[str]) -> str:
        before = text[m.start() - 1] if m.start() else ""
        after = text[m.end()] if m.end() < len(text) else ""
        return m.group(0) if before.isdigit() and after.isdigit() else ""

    return _PUNCTUATION.sub(keep_in_numbers, text)


def augmentation_chosen(seed: int, chunk_id: str, rate: float) -> bool:
    """Whether the chunk gets the augmentation: a stable draw from (seed, chunk id) below `rate`."""
    if rate <= 0:
        return False
    if rate >= 1:
        return True
    digest = hashlib.sha256(f"punct:{seed}:{chunk_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


# --- prompts, validators, re-ask ------------------------------------------------------------------


def _prompt_text(text: str) -> str:
    """The chunk as the prompt shows it: soft line breaks joined, as the other prompts do."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def question_messages(
    chunk: Chunk, options: QAGenConfig, templates: Templates = DEFAULT_TEMPLATES
) -> list[dict[str, str]]:
    """The conversation asking for the questions one chunk supports."""
    content = templates.render(
        QUESTIONS_TEMPLATE,
        text=_prompt_text(chunk.text),
        title=chunk.title,
        kinds=options.qtypes,
        difficulties=options.difficulties,
        language=options.language,
        style=options.style,
        length=options.question_length,
    )
    return [{"role": "user", "content": content}]


def answer_messages(
    chunk: Chunk, question: GeneratedQuestion, options: QAGenConfig, templates: Templates = DEFAULT_TEMPLATES
) -> list[dict[str, str]]:
    """A fresh conversation for one question: the question and its own chunk, nothing else."""
    content = templates.render(
        ANSWER_TEMPLATE,
        text=_prompt_text(chunk.text),
        title=chunk.title,
        question=question.question,
        kind=question.kind,
        language=options.language,
    )
    return [{"role": "user", "content": content}]


def qa_reasker(language: Language, templates: Templates = DEFAULT_TEMPLATES):
    """The engine's re-ask callable: the failed reply, then `qa_reask.j2` listing its errors."""

    def reask(messages: list[dict[str, str]], raw: str, errors: list[str]) -> list[dict[str, str]]:
        feedback = templates.render(REASK_TEMPLATE, errors=errors, language=language)
        return [*messages, {"role": "assistant", "content": raw}, {"role": "user", "content": feedback}]

    return reask


class GeneratedQuestion(BaseModel):
    """One question of a questions reply (extra keys a model adds are ignored)."""

    question: str
    kind: Kind
    difficulty: Difficulty


class QuestionsVerdict(BaseModel):
    """The validator's verdict on a questions reply."""

    errors: list[str] = Field(default_factory=list)
    questions: list[GeneratedQuestion] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class AnswerVerdict(BaseModel):
    """The validator's verdict on an answer reply; `answerable` false when the model said the chunk does
    not answer the question (a valid reply, quarantined without a re-ask)."""

    errors: list[str] = Field(default_factory=list)
    answerable: bool = True
    answer: Answer | None = None
    reasoning: Reasoning | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def _reply_object(raw: str) -> dict[str, Any]:
    """The JSON object of a reply; raises ValueError with a message a re-ask can show."""
    try:
        return find_json_object(strip_wrappers(raw))
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg}; reply with one JSON object only") from exc


def _language_error(text: str, language: Language) -> str | None:
    cjk, latin = len(_CJK.findall(text)), len(_LATIN.findall(text))
    if language == "zh" and not cjk:
        return "is not written in Chinese"
    if language == "en" and (not latin or cjk * 3 > latin):
        return "is not written in English"
    return None


def questions_validator(options: QAGenConfig):
    """Validate a questions reply: a list (possibly empty) of distinct questions of the allowed kinds and
    difficulties, in the run's language."""

    def validate(raw: str) -> QuestionsVerdict:
        try:
            data = _reply_object(raw)
        except ValueError as exc:
            return QuestionsVerdict(errors=[str(exc)])
        items = data.get("questions")
        if not isinstance(items, list):
            return QuestionsVerdict(
                errors=['missing field: "questions" must be a list (empty when the passage supports no question)']
            )
        errors: list[str] = []
        questions: list[GeneratedQuestion] = []
        seen: dict[str, int] = {}
        for number, item in enumerate(items, start=1):
            where = f"questions[{number}]"
            # the run's own kinds and difficulties first: the error then lists what this run asks for
            wrong_choice = [
                f"{where}: {name} {item.get(name)!r} is not asked for; use one of {allowed}"
                for name, allowed in (("kind", options.qtypes), ("difficulty", options.difficulties))
                if isinstance(item, dict) and item.get(name) not in allowed
            ]
            if wrong_choice:
                errors.extend(wrong_choice)
                continue
            try:
                question = GeneratedQuestion.model_validate(item)
            except ValidationError as exc:
                errors.append(f"{where}: {schema_errors(exc, 'question')}")
                continue
            text = question.question.strip()
            if not text:
                errors.append(f"{where}: the question is empty")
                continue
            wrong = _language_error(text, options.language)
            if wrong:
                errors.append(f"{where}: the question {wrong}")
            key = re.sub(r"\W+", "", text.lower())
            if key in seen:
                errors.append(f"{where}: repeats questions[{seen[key]}]")
            seen.setdefault(key, number)
            questions.append(question.model_copy(update={"question": text}))
        return QuestionsVerdict(errors=errors, questions=questions if not errors else [])

    return validate


class _AnswerReply(BaseModel):
    """An answer reply as the template asks for it (extra keys are ignored)."""

    answerable: bool = True
    analysis: str = ""
    steps: list[str] = Field(default_factory=list)
    answer: str = ""
    spans: list[str] = Field(default_factory=list)
    value: float | None = None
    scale: Scale = ""
    unit: str | None = None


def answer_validator(chunk: Chunk, question: GeneratedQuestion):
    """Validate an answer reply: the reasoning and answer fields, then grounding against the original chunk
    (`ungrounded` over the answer text and its spans, the steps as intermediate results)."""
    context = chunk.context()

    def validate(raw: str) -> AnswerVerdict:
        try:
            reply = _AnswerReply.model_validate(_reply_object(raw))
        except ValueError as exc:  # ValidationError is a ValueError
            message = schema_errors(exc) if isinstance(exc, ValidationError) else str(exc)
            return AnswerVerdict(errors=[message])
        if not reply.answerable:
            return AnswerVerdict(answerable=False)
        text = reply.answer.strip()
        spans = [s.strip() for s in reply.spans if s.strip()] or ([text] if text else [])
        steps = [s.strip() for s in reply.steps if s.strip()]
        errors = []
        if not reply.analysis.strip():
            errors.append("analysis: empty; say what the question needs and where the passage gives it")
        if not text:
            errors.append("answer: empty")
        if question.kind == "multi-span" and len(spans) < 2:
            errors.append("spans: a multi-span answer lists each of its parts (two or more)")
        if question.kind in ("arithmetic", "count") and reply.value is None:
            errors.append(f"value: a {question.kind} answer gives its number in value")
        if question.kind == "count" and reply.value is not None and (reply.value < 0 or reply.value % 1):
            errors.append("value: a count is a whole number")
        if question.kind == "arithmetic" and not steps:
            errors.append("steps: show the calculation, one step per line, with the passage's numbers")
        found = [*ungrounded(text, context, steps=steps)]
        for span in spans:
            if span not in text:
                found.extend(ungrounded(span, context, steps=steps))
        errors.extend(f"ungrounded: {message}" for message in dict.fromkeys(found))
        if errors:
            return AnswerVerdict(errors=errors)
        answer = Answer(text=text, spans=spans, value=reply.value, scale=reply.scale, unit=reply.unit)
        return AnswerVerdict(
            answer=answer, reasoning=Reasoning(analysis=reply.analysis.strip(), steps=steps, answer=text)
        )

    return validate


# --- the run ----------------------------------------------------------------------------------------


def _quarantine(
    chunk: Chunk, field: str, stage: str, reason: str, result: JobResult | None, **extra: Any
) -> QuarantineRow:
    return QuarantineRow(
        path=chunk.source.file,
        line=chunk.line,
        field=field,
        stage=stage,
        reason=reason,
        raw=(result.raw or "") if result is not None else "",
        extra={
            "chunk_id": chunk.id,
            **extra,
            **({"failure": result.failure, "reasks": result.reasks} if result is not None else {}),
        },
    )


def _count(values: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def require_endpoint(endpoint: EndpointConfig) -> None:
    """Raise the one-line `UserError` of a run without an endpoint (`finsynth.llm.config.load_config`)."""
    if not endpoint.configured:
        raise UserError(
            "qa generate needs an LLM endpoint: set OPENAI_BASE_URL and/or OPENAI_API_KEY (or "
            "base_url in finsynth.toml); for offline QA from tables use `finsynth qa tables`"
        )


def generate_qa(
    chunks: Sequence[Chunk],
    endpoint: EndpointConfig,
    options: QAGenConfig | None = None,
    *,
    cache_path: str | os.PathLike[str] | None = None,
    progress: bool = False,
    templates: Templates = DEFAULT_TEMPLATES,
    engine_options: dict[str, Any] | None = None,
) -> QAGenResult:
    """Questions for every chunk, then a grounded answer for every question (see the module docstring).

    Raises `UserError` when no endpoint is configured. Samples come in chunk order, then question order."""
    options = options or QAGenConfig()
    require_endpoint(endpoint)
    names = [QUESTIONS_TEMPLATE, ANSWER_TEMPLATE, REASK_TEMPLATE]
    hashes = {name: templates.hash(name) for name in names}
    question_hash = templates.combined_hash([QUESTIONS_TEMPLATE, REASK_TEMPLATE])
    answer_hash = templates.combined_hash([ANSWER_TEMPLATE, REASK_TEMPLATE])
    stats = QAGenStats(model=endpoint.model, endpoint=endpoint.public(), template_hashes=hashes, chunks=len(chunks))
    reask = qa_reasker(options.language, templates)
    cache = ResponseCache(Path(cache_path) if cache_path is not None else None)
    try:
        engine = LLMEngine(
            endpoint,
            cache,
            concurrency=options.concurrency,
            max_reasks=options.max_reasks,
            progress=progress,
            description="qa questions",
            seed=options.seed,
            **(engine_options or {}),
        )
        question_jobs = (
            Job(
                id=f"questions:{chunk.id}",
                messages=question_messages(chunk, options, templates),
                template_hash=question_hash,
                validate=questions_validator(options),
                reask=reask,
            )
            for chunk in chunks
        )
        question_results = engine.run(question_jobs, total=len(chunks))
        asked: list[tuple[Chunk, int, GeneratedQuestion, JobResult]] = []  # chunk, question number, question
        quarantined: list[QuarantineRow] = []
        for chunk, result in zip(chunks, question_results, strict=True):
            verdict = result.validation
            if not (result.ok and isinstance(verdict, QuestionsVerdict)):
                stats.chunks_quarantined += 1
                quarantined.append(
                    _quarantine(chunk, "questions", "qa-questions", "; ".join(result.errors) or "no reply", result)
                )
                continue
            if verdict.questions:
                stats.chunks_with_questions += 1
            else:
                stats.chunks_without_questions += 1
            asked.extend((chunk, n, q, result) for n, q in enumerate(verdict.questions, start=1))
        stats.questions = len(asked)
        engine.description = "qa answers"
        answer_jobs = (
            Job(
                id=f"answer:{chunk.id}:{n}",
                messages=answer_messages(chunk, q, options, templates),
                template_hash=answer_hash,
                validate=answer_validator(chunk, q),
                reask=reask,
            )
            for chunk, n, q, _ in asked
        )
        answer_results = engine.run(answer_jobs, total=len(asked))
    finally:
        cache.close()
    samples: list[QASample] = []
    for (chunk, n, question, asked_result), result in zip(asked, answer_results, strict=True):
        verdict = result.validation
        about = {
            "question": question.question,
            "kind": question.kind,
            "difficulty": question.difficulty,
            "question_number": n,
        }
        if not (result.ok and isinstance(verdict, AnswerVerdict)):
            stats.questions_quarantined += 1
            quarantined.append(
                _quarantine(chunk, "answer", "qa-answer", "; ".join(result.errors) or "no reply", result, **about)
            )
            continue
        if not verdict.answerable or verdict.answer is None or verdict.reasoning is None:
            stats.questions_quarantined += 1
            stats.unanswerable += 1
            quarantined.append(
                _quarantine(
                    chunk,
                    "answer",
                    "qa-answer",
                    "unanswerable: the model says the chunk does not answer this question",
                    result,
                    **about,
                )
            )
            continue
        provenance: dict[str, Any] = {
            "generator": GENERATOR,
            "model": endpoint.model,
            "templates": hashes,
            "question_template_hash": question_hash,
            "answer_template_hash": answer_hash,
            "seed": options.seed,
            "reasks": {"questions": asked_result.reasks, "answer": result.reasks},
        }
        text = chunk.text
        if augmentation_chosen(options.seed, chunk.id, options.punct_rate):
            augmented = remove_punctuation(chunk.text)
            if augmented != chunk.text:
                text = augmented
                provenance["augmentation"] = PUNCTUATION_REMOVED
        samples.append(
            QASample(
                id=f"{chunk.id}-q{n}",
                context=chunk.context(text),
                question=question.question,
                answer=verdict.answer,
                reasoning=verdict.reasoning,
                kind=question.kind,
                difficulty=question.difficulty,
                source=chunk.source,
                grounding=Grounding(paragraphs=[chunk.id], answer_from="text"),
                language=options.language,
                provenance=provenance,
            )
        )
    stats.answered = len(samples)
    stats.augmented = len({s.source.chunk_id for s in samples if "augmentation" in s.provenance})
    stats.by_kind = _count(s.kind for s in samples)
    stats.by_difficulty = _count(s.difficulty or "" for s in samples)
    stats.quarantined = len(quarantined)
    stats.engine = engine.stats
    stats.reasks = engine.stats.reasks
    stats.aborted = engine.stats.aborted
    stats.cost = engine.usage.cost(endpoint.model, endpoint.prices)
    return QAGenResult(samples=samples, quarantined=quarantined, usage=engine.usage, stats=stats)


def generate_qa_file(
    chunks_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    endpoint: EndpointConfig,
    options: QAGenConfig | None = None,
    *,
    cache_path: str | os.PathLike[str] | None = None,
    progress: bool = False,
    templates: Templates = DEFAULT_TEMPLATES,
    engine_options: dict[str, Any] | None = None,
) -> QAGenResult:
    """`finsynth qa generate`: read the chunks file, generate, and write `OUT/qa.jsonl`, `OUT/quarantine.jsonl`
    (input rows that are not chunks first) and `OUT/summary.json`, each atomically."""
    require_endpoint(endpoint)  # before reading anything: the first thing to fix
    read = read_chunks(chunks_path)
    if not read.read:
        raise InputError(f"{chunks_path}: holds no rows; give one JSON chunk a line (what finsynth ingest writes)")
    result = generate_qa(
        read.chunks,
        endpoint,
        options,
        cache_path=cache_path,
        progress=progress,
        templates=templates,
        engine_options=engine_options,
    )
    result.quarantined = [*read.quarantined, *result.quarantined]
    result.stats.rows_read = read.read
    result.stats.rows_quarantined = len(read.quarantined)
    result.stats.quarantined = len(result.quarantined)
    out = Path(out_dir)
    result.out_path = str(write_jsonl_atomic(out / "qa.jsonl", result.samples))
    result.quarantine_path = str(write_jsonl_atomic(out / "quarantine.jsonl", result.quarantined))
    result.summary_path = str(out / "summary.json")
    write_json_atomic(result.summary_path, {"chunks_file": str(chunks_path), **result.summary()})
    return result
