"""`manifest.json`: what a build read, did and wrote, as a pydantic model (the contract `export`, `train`
and `report` read back). Written by `finsynth.build`; the JSON keeps its keys in this order."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputFile(_Model):
    path: str  # relative to the raw directory
    sha256: str


class SplitCounts(_Model):
    total: int
    by_type: dict[str, dict[str, int]]  # type -> {metric count: rows}


class TestCounts(_Model):
    total: int
    by_scenario: dict[str, int]


class Counts(_Model):
    """Row accounting: read = train + val + test + quarantined (+ composed_out), `reconciles` says it held."""

    read: int
    accepted: int
    quarantined: int
    quarantined_by_stage: dict[str, int]
    train: SplitCounts
    val: SplitCounts
    test: TestCounts
    composed_out: int | None = None  # with --compose
    composition: dict[str, int] | None = None  # with --compose: kept, copies, replay rows, ...
    reconciles: bool = False


class Manifest(_Model):
    tool: Literal["finsynth"] = "finsynth"
    version: str
    seed: int
    val_fraction: float
    dedupe_threshold: float
    inputs: list[InputFile]
    templates: dict[str, str]  # template name -> sha256
    relabel: dict[str, Any] = Field(default_factory=dict)  # what --relabel did (annotator, counts, usage)
    fixed: dict[str, int] = Field(default_factory=dict)  # autofixes applied per rule:strategy (--fix)
    fix_plan: dict[str, Any] | None = None  # --fix: the strategies applied, those skipped and why (audit.lint.FixPlan)
    review: dict[str, Any] = Field(default_factory=dict)  # the review patch and its outcome counts
    warnings: list[str] = Field(default_factory=list)  # type x count buckets quarantine emptied or halved
    input_warnings: list[str] = Field(default_factory=list)  # whole-file remarks of the loader (a JSON array in .jsonl)
    skipped_files: list[dict[str, Any]] = Field(default_factory=list)  # files holding no sample rows, not read
    counts: Counts
    lint: dict[str, int]  # findings per rule on the written rows
    lint_before_quarantine: dict[str, int] | None = None  # on the rows as read, when quarantine removed some
    outputs: dict[str, str]  # file -> sha256
    composition: dict[str, Any] | None = None  # --compose: the file, target, cells, before/after, warnings

    def to_json(self) -> dict[str, Any]:
        """The JSON document: the --compose parts only when a composition ran."""
        doc = self.model_dump(mode="json")
        for key in ("composed_out", "composition"):
            if doc["counts"][key] is None:
                del doc["counts"][key]
        for key in ("composition", "fix_plan"):
            if doc[key] is None:
                del doc[key]
        for key in ("input_warnings", "skipped_files"):  # only when the loader had something to say
            if not doc[key]:
                del doc[key]
        return doc
