"""The data contract: Pydantic models passed between every stage.

Validation messages name the field (Pydantic's `loc`), so a quarantine row says *which* field of
*which* line is wrong.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_METRICS = 4
SampleType = Literal["A", "B", "C", "D"]
MetricType = Literal["financial", "business"]


class Scenario(StrEnum):
    """The six test-case scenarios of the reference test set (GUIDE section 2)."""

    single_metric = "single_metric"
    multi_metric = "multi_metric"
    boundary_many_numbers_one_core = "boundary_many_numbers_one_core"
    financial_vs_business_classification = "financial_vs_business_classification"
    empty_output_background = "empty_output_background"
    mixed_financial_business = "mixed_financial_business"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Metric(_Strict):
    """One extracted core metric."""

    metric_name: str = Field(min_length=1)
    metric_type: MetricType
    # strict: "0.9" or true is a wrong row, not a score (an int such as 1 is still a number)
    score: float = Field(ge=0.0, le=1.0, strict=True)
    reason: str = ""


class Extraction(_Strict):
    """Model output: the analysis first, then 0-4 metrics ordered by score."""

    analysis: str = Field(min_length=1)
    metrics: list[Metric] = Field(default_factory=list, max_length=MAX_METRICS)

    @field_validator("metrics")
    @classmethod
    def _unique_names(cls, metrics: list[Metric]) -> list[Metric]:
        seen: set[str] = set()
        for metric in metrics:
            if metric.metric_name in seen:
                raise ValueError(f"duplicate metric_name {metric.metric_name!r}")
            seen.add(metric.metric_name)
        return metrics

    def to_json(self) -> str:
        """The canonical assistant text: `analysis` first, compact, Chinese kept readable."""
        return json.dumps(self.model_dump(), ensure_ascii=False)


class ParagraphInput(_Strict):
    """Model input: a chapter title and the paragraph under it."""

    chapter_title: str = ""
    paragraph: str = Field(min_length=1)


class Provenance(BaseModel):
    """Where a row came from: file, line and, for LLM-made rows, how it was made."""

    model_config = ConfigDict(extra="allow")

    source: str = ""
    line: int = Field(default=0, strict=True)  # not "3", not true
    annotator: str | None = None
    template_hash: str | None = None
    model: str | None = None
    # `finsynth generate`: the run id and the job's position in it (left out of the JSON when unset, so rows
    # without them serialise exactly as before these were declared)
    run: str | None = Field(default=None, exclude_if=lambda v: v is None)
    index: int | None = Field(default=None, exclude_if=lambda v: v is None)


def row_content_hash(sample: Sample) -> str:
    """sha256 of what a reviewer judges in a row (type, input, output; not its provenance): a review decision
    names it, and one made on another version of the row is refused."""
    payload = json.dumps(
        {
            "type": sample.type,
            "input": sample.input.model_dump(mode="json"),
            "output": sample.output.model_dump(mode="json"),
        },
        ensure_ascii=False,
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def content_id(prefix: str, payload: ParagraphInput) -> str:
    """A stable id from the input text: the same paragraph has the same id in every run."""
    digest = hashlib.sha256(f"{payload.chapter_title}\n{payload.paragraph}".encode()).hexdigest()[:16]
    return f"{prefix}-{digest}"


class Sample(_Strict):
    """An annotated training sample of type A, B, C or D."""

    id: str = ""
    type: SampleType
    input: ParagraphInput
    output: Extraction
    provenance: Provenance = Field(default_factory=Provenance)

    @model_validator(mode="after")
    def _default_id(self) -> Sample:
        if not self.id:
            self.id = content_id(self.type, self.input)
        return self

    @property
    def count(self) -> int:
        return len(self.output.metrics)


class TestCase(_Strict):
    """A held-out test case with its gold extraction and scenario."""

    __test__ = False  # not a pytest class

    id: str = ""
    type: Literal["test"] = "test"
    scenario: Scenario
    input: ParagraphInput
    output: Extraction
    provenance: Provenance = Field(default_factory=Provenance)

    @model_validator(mode="after")
    def _default_id(self) -> TestCase:
        if not self.id:
            self.id = content_id("T", self.input)
        return self

    @property
    def count(self) -> int:
        return len(self.output.metrics)


class RelabelChange(BaseModel):
    """One relabel target row's fate (`synth.relabel` makes it; `relabel.diff.jsonl` and the review page,
    `audit.html.relabel_page`, read it): here, below both, so that audit need not import synth."""

    id: str
    type: str
    source: str = ""
    line: int = 0
    status: Literal["changed", "kept", "kept_on_failure", "quarantined"]
    reason: str = ""
    before: str
    after: str
    needed: list[str] = Field(default_factory=list)  # the blocking findings that made the row a target
    content_hash: str = ""  # of the row as written (after): what a review decision is made on
