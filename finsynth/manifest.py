"""`manifest.json`: what a build read, did and wrote, as a pydantic model (the contract `export`, `train`
and `report` read back). Written by `finsynth.build`; the JSON keeps its keys in this order."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


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


class FileRef(_Model):
    """A file given to the build (a compose file, a review patch): its name and content hash."""

    name: str
    sha256: str


class SkippedFileInfo(_Model):
    path: str
    rows: int
    reason: str


class CompositionCounts(_Model):
    """With --compose: how the training split was made from the rows kept."""

    train_before: int
    kept: int
    copies: int
    replay_rows: int
    composed_out: int
    train_rows: int


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
    composition: CompositionCounts | None = None  # with --compose
    reconciles: bool = False


class RelabelInfo(_Model):
    """What --relabel did: the annotator, the row counts, the usage and the run stats."""

    llm: str
    annotator: str
    annotator_reason: str
    types: list[str]
    forced: bool
    requested: int
    needed: int
    relabelled: int
    kept_clean: int
    kept_on_failure: int
    quarantined: int
    usage: dict[str, Any] | None = None  # finsynth.llm Usage: calls, cached calls, tokens
    stats: dict[str, Any] | None = None  # finsynth.synth.relabel.RelabelStats


class ReviewInfo(_Model):
    """The review patch and how many decisions were applied (by decision) or not (by status); the JSON
    holds only the counts that are not zero, in this (alphabetical) order."""

    patch: FileRef
    accept: int | None = None
    decisions: int
    edit: int | None = None
    refused: int | None = None
    reject: int | None = None
    superseded: int | None = None

    def counts(self) -> dict[str, int]:
        """Outcome -> decisions, the patch left out."""
        return {k: v for k, v in self.model_dump(exclude={"patch"}, exclude_none=True).items()}


class FixPlanInfo(_Model):
    """--fix: the `rule:strategy` pairs applied, those skipped and why (finsynth.audit.lint.FixPlan)."""

    apply: list[str] = Field(default_factory=list)
    skipped: dict[str, str] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)


class ComposeTarget(_Model):
    source: str  # `test` (the test set's count mix) or `explicit`
    counts: dict[str, float]  # metric count -> asked share
    reachable: dict[str, float]  # renormalised over the counts the split has


class CountMeans(_Model):
    before: float
    after: float
    test: float | None


class MeanRatio(_Model):
    before: float | None
    after: float | None


class CompositionInfo(_Model):
    """--compose: the file, the target, the cells, the distribution before and after, notes and warnings."""

    file: FileRef
    config: dict[str, Any]
    config_sha256: str
    target: ComposeTarget
    cells: dict[str, dict[str, int]]
    before: dict[str, dict[str, int]]  # type (and `all`) -> count -> rows
    after: dict[str, dict[str, int]]
    mean: CountMeans
    mean_ratio: MeanRatio
    slices: list[dict[str, Any]]
    replay: dict[str, Any]
    warnings: list[str]
    notes: list[str]


class Manifest(_Model):
    tool: Literal["finsynth"] = "finsynth"
    version: str
    seed: int
    val_fraction: float
    dedupe_threshold: float
    inputs: list[InputFile]
    templates: dict[str, str]  # template name -> sha256
    relabel: RelabelInfo | None = None  # what --relabel did; `{}` in the JSON without --relabel
    fixed: dict[str, int] = Field(default_factory=dict)  # autofixes applied per rule:strategy (--fix)
    fix_plan: FixPlanInfo | None = None  # --fix: the strategies applied, those skipped and why
    review: ReviewInfo | None = None  # the review patch and its outcome counts; `{}` without a patch
    warnings: list[str] = Field(default_factory=list)  # type x count buckets quarantine emptied or halved
    input_warnings: list[str] = Field(default_factory=list)  # whole-file remarks of the loader (a JSON array in .jsonl)
    skipped_files: list[SkippedFileInfo] = Field(default_factory=list)  # files holding no sample rows, not read
    counts: Counts
    lint: dict[str, int]  # findings per rule on the written rows
    lint_before_quarantine: dict[str, int] | None = None  # on the rows as read, when quarantine removed some
    outputs: dict[str, str]  # file -> sha256
    composition: CompositionInfo | None = None  # --compose: the file, target, cells, before/after, warnings

    @field_validator("relabel", "review", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == {} else value

    def to_json(self) -> dict[str, Any]:
        """The JSON document: the --compose parts only when a composition ran."""
        doc = self.model_dump(mode="json")
        doc["relabel"] = (
            {k: v for k, v in doc["relabel"].items() if v is not None or k not in ("usage", "stats")}
            if self.relabel is not None
            else {}
        )
        doc["review"] = self.review.model_dump(mode="json", exclude_none=True) if self.review is not None else {}
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
