"""Validation re-asks: check a reply, and when it fails send the errors back to the model.

A reply is parsed (code fences and `<think>` blocks stripped by `finsynth.parsing`), validated
against the schema, then linted as the sample it would become: every lint finding of severity
"error", plus the style rules for its type (`style-mismatch`, `exclusion-coverage`) whatever their
severity. Callers may add checks of their own (a relabel must keep the core metrics it was given).
The errors go back to the model through `templates/reask.j2` for a capped number of re-asks; those
are separate from transport retries (`finsynth.llm.retry`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, cast

from pydantic import BaseModel, ValidationError

from finsynth.io import schema_errors
from finsynth.parsing import parse_reply
from finsynth.prompts import DEFAULT_TEMPLATES, Templates
from finsynth.schema import Extraction, ParagraphInput, Sample, SampleType

if TYPE_CHECKING:
    from finsynth.audit.lint import Finding

REASK_TEMPLATE = "reask.j2"
STYLE_RULES = frozenset({"style-mismatch", "exclusion-coverage"})
# a generated or relabelled reply is held to more than a human row is flagged for: its exclusion items must
# quote the paragraph (names and values with their signs), which lesson 9 and issue 12 found LLMs and the old
# annotator breaking; human rows with paraphrased names are warned about, not rewritten for it
REPLY_RULES = STYLE_RULES | {"ungrounded-exclusion", "exclusion-value-mismatch"}

ExtraCheck = Callable[[Extraction], list[str]]


class Validation(BaseModel):
    """The verdict on one reply: the extraction when it passed, else the errors."""

    extraction: Extraction | None = None
    errors: list[str] = []
    json_valid: bool = False
    data: dict | None = None

    @property
    def ok(self) -> bool:
        return self.extraction is not None and not self.errors


def blocking_findings(sample: Sample, style_rules: Iterable[str] = STYLE_RULES) -> list[Finding]:
    """The lint findings that block `sample`: errors, plus the style/coverage rules at any severity."""
    from finsynth.audit.lint import lint_sample  # imported here: lint pulls in the mention extractor

    rules = set(style_rules)
    return [f for f in lint_sample(sample) if f.severity == "error" or f.rule in rules]


def finding_messages(findings: Iterable[Finding]) -> list[str]:
    """`[rule] message` per finding: what a re-ask sends back and what a quarantine row records."""
    return [f"[{f.rule}] {f.message}" for f in findings]


def lint_errors(sample: Sample, style_rules: Iterable[str] = STYLE_RULES) -> list[str]:
    """Blocking lint messages for `sample` (see `blocking_findings`)."""
    return finding_messages(blocking_findings(sample, style_rules))


def validate_extraction(
    raw: str,
    sample_type: str,
    inp: ParagraphInput,
    *,
    checks: Iterable[ExtraCheck] = (),
    transform: Callable[[Extraction], Extraction] | None = None,
    sample_id: str = "",
) -> Validation:
    """Parse `raw` and validate it as a `sample_type` sample for `inp`.

    `transform` may rewrite the parsed extraction before linting (a relabel keeps the original
    metrics and takes only the new analysis); `checks` add errors of their own.
    """
    parsed = parse_reply(raw)
    if parsed.extraction is None:
        return Validation(
            errors=[parsed.error or "no extraction"],
            json_valid=parsed.json_valid,
            data=parsed.data if isinstance(parsed.data, dict) else None,
        )
    extraction = parsed.extraction
    errors: list[str] = []
    for check in checks:
        errors.extend(check(extraction))
    if transform is not None and not errors:
        extraction = transform(extraction)
    try:
        sample = Sample(id=sample_id, type=cast(SampleType, sample_type), input=inp, output=extraction)
    except ValidationError as exc:
        return Validation(errors=[f"schema: {schema_errors(exc)}"], json_valid=True, data=parsed.data)
    errors.extend(lint_errors(sample, REPLY_RULES))
    if errors:
        return Validation(errors=errors, json_valid=True, data=parsed.data)
    return Validation(extraction=extraction, json_valid=True, data=parsed.data)


def reasker(templates: Templates = DEFAULT_TEMPLATES):
    """The engine's re-ask callable for the extraction tasks: `reask.j2` rendered with the errors."""

    def reask(messages: list[dict[str, str]], raw: str, errors: list[str]) -> list[dict[str, str]]:
        return reask_messages(messages, raw, errors, templates)

    return reask


def reask_messages(
    messages: list[dict[str, str]],
    raw: str,
    errors: list[str],
    templates: Templates = DEFAULT_TEMPLATES,
) -> list[dict[str, str]]:
    """The conversation extended with the failed reply and a user turn listing its errors."""
    feedback = templates.render(REASK_TEMPLATE, errors=errors)
    return [*messages, {"role": "assistant", "content": raw}, {"role": "user", "content": feedback}]
