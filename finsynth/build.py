"""`finsynth build`: raw annotated rows in, a validated, linted, deduplicated, split training set out.

Stages, each a plain function `BuildState -> StageResult(records, quarantined, stats)` (datatrove's shape):
load + quarantine -> (optional relabel, fix, review) -> lint (split leakage among its errors) -> dedupe ->
stratified split -> (optional count composition of the training split, `--compose FILE`, see
finsynth.synth.compose) -> write (chat rows, quarantine, reports, and the `Manifest` model last). Same inputs
and seed give byte-identical outputs: nothing time- or machine-dependent is written, and every order is sorted.

Row accounting: read = train + val + test + quarantined, where, with --compose, train counts the
distinct raw rows kept (copies and replay rows are added on top) and the rows composition dropped are
written to `composed_out.jsonl` and counted as `composed_out`, apart from quarantine.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar, cast

from pydantic import BaseModel, Field

from finsynth import __version__
from finsynth.audit.html.browser import browse_findings
from finsynth.audit.html.page import write_html
from finsynth.audit.lint import Fix, FixPlan, LintResult, fix_records, lint_records, plan_fixes
from finsynth.audit.report import Composition, build_report, render_markdown
from finsynth.errors import Failure
from finsynth.errors import RelabelAbortedError as RelabelAbortedError  # re-exported
from finsynth.io import (
    BUILT_SPLITS,
    InputError,
    LoadResult,
    QuarantineRow,
    Record,
    UserError,
    expand_paths,
    load_paths,
    write_json_atomic,
    write_jsonl_atomic,
    write_text_atomic,
)
from finsynth.manifest import (
    ComposeTarget,
    CompositionCounts,
    CompositionInfo,
    CountMeans,
    Counts,
    FileRef,
    FixPlanInfo,
    InputFile,
    Manifest,
    MeanRatio,
    RelabelInfo,
    ReviewInfo,
    SkippedFileInfo,
    SplitCounts,
    TestCounts,
)
from finsynth.prompts import Templates, chat_row
from finsynth.schema import Sample, TestCase

if TYPE_CHECKING:
    from finsynth.audit.review import ReviewDecision, ReviewResult
    from finsynth.synth.compose import ComposeConfig, ComposeResult
from finsynth.text.similarity import NearDupIndex, normalize

# Paragraphs at or above this character-trigram Jaccard are the same paragraph lightly edited: one of
# them is enough for training, and one beside a test case leaks the answer.
DEDUPE_THRESHOLD = 0.9
SKIP_DIRS = {"generated"}  # candidates awaiting review live there; `--include-generated` takes them


class BuildConfig(BaseModel):
    """Everything that determines a build's output."""

    raw_dir: Path = Path("data/raw")
    out_dir: Path = Path("data/built")
    seed: int = 13
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    allow_errors: bool = False
    include_generated: bool = False
    dedupe_threshold: float = DEDUPE_THRESHOLD
    template_dir: Path | None = None
    relabel: list[str] = Field(default_factory=list)
    force_relabel: bool = False  # relabel every row of the types, not only those failing their rules
    llm: str = "auto"
    concurrency: int = 8
    annotator_model: Path | None = None  # --relabel with the rules annotator: this fitted model (default file else)
    compose: Path | None = None  # a compose YAML (finsynth.synth.compose): re-weights the training split
    fix: bool = False  # apply autofixes before linting (which: `fix_select`, less `no_fix`)
    # `rule` or `rule:strategy`; None with `fix`: every fixable rule's default strategy unless measured harmful
    fix_select: list[str] | None = None
    no_fix: list[str] = Field(default_factory=list)
    review: Path | None = None  # a review patch (finsynth.audit.review) applied after relabel and fixes

    @property
    def templates(self) -> Templates:
        """The prompt templates of `template_dir` (the shipped ones when unset)."""
        return Templates(self.template_dir)


class BuildError(Failure):
    """The build stopped: lint errors (without --allow-errors) or no usable input."""

    def __init__(self, message: str, lint: LintResult | None = None):
        super().__init__(message)
        self.lint = lint


class BuildResult(BaseModel):
    """What a build produced, for the terminal summary and for callers."""

    out_dir: str
    manifest: Manifest  # `manifest.to_json()` is what manifest.json holds
    lint: LintResult
    report_markdown: str


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def raw_files(config: BuildConfig) -> list[Path]:
    """The input files of a build, sorted; `generated/` candidates only when asked for."""
    files = expand_paths([config.raw_dir])
    if not config.include_generated:
        files = [f for f in files if not SKIP_DIRS & set(f.relative_to(config.raw_dir).parts[:-1])]
    if not files:
        raise InputError(
            f"raw_dir {config.raw_dir}: no .jsonl/.json input files; point it at a directory of samples",
            setting="raw_dir",
        )
    return files


def drop_lint_errors(records: list[Record], lint: LintResult) -> tuple[list[Record], list[QuarantineRow]]:
    """With --allow-errors: rows carrying sample-level error findings go to quarantine, not to training."""
    errors: dict[tuple[str | None, int], list[str]] = {}
    for f in lint.findings:
        if f.severity == "error" and f.line:
            errors.setdefault((f.path, f.line), []).append(f"{f.rule}: {f.message}")
    kept, dropped = [], []
    for record in records:
        reasons = errors.get((record.path, record.line))
        if reasons:
            dropped.append(QuarantineRow.of(record, "; ".join(reasons), "lint"))
        else:
            kept.append(record)
    return kept, dropped


def dedupe(train: list[Record], threshold: float) -> tuple[list[Record], list[QuarantineRow]]:
    """Drop exact and near-duplicate training paragraphs, keeping the first by id.

    Leakage into the test set needs no pass here: lint's `split-leakage` (an error, at a lower
    threshold) stops the build or, with --allow-errors, has already quarantined those rows."""
    ordered = sorted(train, key=lambda r: (r.item.id, r.path, r.line))
    texts = [normalize(r.item.input.paragraph) for r in ordered]
    index = NearDupIndex(texts)
    kept: list[Record] = []
    dropped: list[QuarantineRow] = []
    removed: set[int] = set()
    for i, record in enumerate(ordered):
        if i in removed:
            continue
        kept.append(record)
        for j, similarity in index.query(texts[i], threshold=threshold):
            if j > i and j not in removed:
                removed.add(j)
                kind = "duplicate" if similarity >= 1.0 else "near-duplicate"
                dropped.append(
                    QuarantineRow.of(
                        ordered[j],
                        f"{kind} of {record.item.id} (Jaccard {similarity:.2f})",
                        "dedupe",
                        kept_id=record.item.id,
                        similarity=round(similarity, 4),
                    )
                )
    return kept, dropped


def stratified_split(records: list[Record], val_fraction: float, seed: int) -> tuple[list[Record], list[Record]]:
    """Split by (type, metric count) strata: a seeded shuffle inside each stratum, then every k-th row
    of the concatenation goes to validation, so each stratum is represented in proportion."""
    if val_fraction <= 0 or len(records) < 2:
        return sorted(records, key=lambda r: r.item.id), []
    strata: dict[tuple[str, int], list[Record]] = {}
    for record in sorted(records, key=lambda r: r.item.id):
        strata.setdefault((record.item.type, record.item.count), []).append(record)
    rng = random.Random(seed)
    ordered: list[Record] = []
    for key in sorted(strata):
        group = strata[key]
        rng.shuffle(group)
        ordered.extend(group)
    step = 1.0 / val_fraction
    offset = rng.random() * step
    val_positions = set()
    position = offset
    while position < len(ordered):
        val_positions.add(int(position))
        position += step
    val = [r for i, r in enumerate(ordered) if i in val_positions]
    train = [r for i, r in enumerate(ordered) if i not in val_positions]
    return sorted(train, key=lambda r: r.item.id), sorted(val, key=lambda r: r.item.id)


def _count_summary(records: list[Record]) -> SplitCounts:
    by_type: dict[str, Counter] = {}
    for r in records:
        by_type.setdefault(r.item.type, Counter())[r.item.count] += 1
    return SplitCounts(
        total=len(records),
        by_type={t: {str(k): v for k, v in sorted(c.items())} for t, c in sorted(by_type.items())},
    )


def _composition_source(summary: Composition) -> str:
    """The HTML report's subtitle addition for a composed build (its data rides in the report JSON)."""
    text = (
        f"; training split composed with --compose ({summary.rows_before} -> {summary.rows_after} rows, "
        f"mean count {summary.before_mean:.2f} -> {summary.after_mean:.2f}"
    )
    if summary.before_ratio is not None:
        text += f", ratio to the test set {summary.before_ratio:.2f} -> {summary.after_ratio:.2f}"
    return text + ")"


def _by_type_json(table: dict[str, dict[int, int]]) -> dict[str, dict[str, int]]:
    """type -> {count: rows} with the empty counts left out (the manifest's `by_type` shape)."""
    return {t: {str(c): n for c, n in sorted(d.items()) if n} for t, d in table.items()}


S = TypeVar("S")


@dataclass
class StageResult(Generic[S]):
    """What a stage gives back (datatrove's shape): the training rows going on, the rows it took out (each
    with its reason and stage), and what it has to report (`stats`: for the manifest, summary and report)."""

    records: list[Record]
    quarantined: list[QuarantineRow]
    stats: S


@dataclass
class BuildState:
    """What the stages of one build share: the config, the training rows still going (`records`), the test
    cases, and the quarantine so far. A stage is a plain function `BuildState -> StageResult`."""

    config: BuildConfig
    progress: bool = False
    records: list[Record] = field(default_factory=list)
    tests: list[Record] = field(default_factory=list)
    quarantined: list[QuarantineRow] = field(default_factory=list)

    def run(self, name: str, stage: Callable[[BuildState], StageResult[S]], on_stage: Callable[[str], None]) -> S:
        """Announce the stage, run it, carry its rows on and its quarantine over; its stats come back."""
        on_stage(name)
        result = stage(self)
        self.records = result.records
        self.quarantined.extend(result.quarantined)
        return result.stats


@dataclass
class Loaded:
    files: list[Path]  # the raw files, sorted
    result: LoadResult
    tests: list[Record]  # the test cases, by id: lint and the splits hold them apart from training rows


@dataclass
class Relabelled:
    info: RelabelInfo | None
    changes: list = field(default_factory=list)  # RelabelChange per targeted row, for the review page


@dataclass
class Fixed:
    plan: FixPlan
    fixes: list[Fix]


@dataclass
class Linted:
    lint: LintResult  # on the rows as they reached lint (`rows`), before --allow-errors took any out
    rows: list[Record]


@dataclass
class Split:
    train: list[Record]
    val: list[Record]


def _load(state: BuildState) -> StageResult[Loaded]:
    """The raw files read: samples go on, test cases wait aside, rows that are not valid are quarantined."""
    files = raw_files(state.config)
    loaded = load_paths(files)
    tests = sorted((r for r in loaded.records if isinstance(r.item, TestCase)), key=lambda r: r.item.id)
    records = [r for r in loaded.records if isinstance(r.item, Sample)]
    if not records:
        raise BuildError(f"{state.config.raw_dir}: no valid training samples ({len(loaded.quarantined)} quarantined)")
    return StageResult(records, list(loaded.quarantined), Loaded(files, loaded, tests))


def _relabel(state: BuildState) -> StageResult[Relabelled]:
    """Regenerate the analyses of the asked-for types (the rows that need it, or all with `force_relabel`)
    through the LLM engine or the rules annotator. Raises `RelabelAbortedError` when the engine stopped early:
    nothing is written then, so no row is lost."""
    from finsynth.synth.relabel import relabel  # imported lazily: the engine pulls in the openai client

    config, records = state.config, state.records
    targets = [r for r in records if isinstance(r.item, Sample) and r.item.type in config.relabel]
    if not targets:
        return StageResult(records, [], Relabelled(None))
    result = relabel(
        [cast(Sample, r.item) for r in targets],
        types=set(config.relabel),
        llm=config.llm,
        concurrency=config.concurrency,
        cache_path=config.out_dir / ".cache" / "llm.sqlite",
        templates=config.templates,
        progress=state.progress,
        force=config.force_relabel,
        annotator_model=config.annotator_model,
    )
    stats = result.stats
    if stats.aborted:
        raise RelabelAbortedError(
            f"relabel stopped early: {stats.aborted}; nothing was written ({stats.needed} row(s) to relabel, "
            f"{stats.kept_on_failure} kept their original analysis)"
        )
    by_id = {s.id: s for s in result.samples}
    target_ids = {r.item.id for r in targets}
    out = []
    for record in records:
        if record.item.id in by_id:
            out.append(Record(path=record.path, line=record.line, item=by_id[record.item.id]))
        elif record.item.id not in target_ids:  # a target missing from the samples: relabel quarantined it
            out.append(record)
    info = RelabelInfo(
        llm=config.llm,
        annotator=stats.annotator,
        annotator_reason=stats.annotator_reason,
        types=sorted(config.relabel),
        forced=config.force_relabel,
        requested=stats.requested,
        needed=stats.needed,
        relabelled=stats.relabelled,
        kept_clean=stats.kept_clean,
        kept_on_failure=stats.kept_on_failure,
        quarantined=len(result.quarantined),
        usage=result.usage.model_dump(mode="json"),
        stats=stats.model_dump(mode="json"),
    )
    return StageResult(out, list(result.quarantined), Relabelled(info, list(result.changes)))


def _fix(state: BuildState) -> StageResult[Fixed]:
    """--fix: the selected autofixes (`fix_select` less `no_fix`) rewrite the rows they apply to."""
    try:
        plan = plan_fixes(state.config.fix_select or None, state.config.no_fix)
    except ValueError as exc:  # an unknown rule or strategy in the selection
        raise UserError(f"fix selection: {exc}") from exc
    records, fixes = fix_records(state.records, plan.apply)
    return StageResult(records, [], Fixed(plan, fixes))


def _review(decisions: list[tuple[int, ReviewDecision]]) -> Callable[[BuildState], StageResult[ReviewResult]]:
    """--apply-review: the patch's decisions (read before any work) accept, edit or reject rows."""

    def stage(state: BuildState) -> StageResult[ReviewResult]:
        from finsynth.audit.review import apply_review

        result = apply_review(state.records, decisions)
        return StageResult(result.records, list(result.quarantined), result)

    return stage


def _lint(state: BuildState) -> StageResult[Linted]:
    """Lint the rows against the test cases; errors stop the build unless --allow-errors quarantines them."""
    linted = state.records
    lint = lint_records(linted, against=state.tests or None)
    if not lint.has_errors:
        return StageResult(linted, [], Linted(lint, linted))
    if not state.config.allow_errors:
        raise BuildError(f"lint found {sum(f.severity == 'error' for f in lint.findings)} error(s)", lint)
    kept, dropped = drop_lint_errors(linted, lint)
    return StageResult(kept, dropped, Linted(lint, linted))


def _dedupe(state: BuildState) -> StageResult[None]:
    kept, dropped = dedupe(state.records, state.config.dedupe_threshold)
    return StageResult(kept, dropped, None)


def _split(state: BuildState) -> StageResult[Split]:
    train, val = stratified_split(state.records, state.config.val_fraction, state.config.seed)
    return StageResult(state.records, [], Split(train, val))


def _compose(config: ComposeConfig, split: Split) -> Callable[[BuildState], StageResult[ComposeResult]]:
    """--compose: re-weight the training split by metric count (its dropped rows are not quarantine)."""

    def stage(state: BuildState) -> StageResult[ComposeResult]:
        from finsynth.synth.compose import compose

        tests = [cast(TestCase, r.item) for r in state.tests]
        result = compose(
            split.train, config, state.config.seed, tests=tests, holdout=[r.item for r in split.val + state.tests]
        )
        return StageResult(state.records, [], result)

    return stage


def build(config: BuildConfig, on_stage: Callable[[str], None] | None = None, progress: bool = False) -> BuildResult:
    """Run the whole build and write `out_dir`; raises BuildError when lint errors stop it.

    The stages run in order on one `BuildState`: load -> relabel -> fix -> review (each when asked for) ->
    lint -> dedupe -> split -> compose (when asked for) -> write."""
    stage = on_stage or (lambda _name: None)
    compose_config = None
    if config.compose is not None:  # a bad compose file fails before any work
        from finsynth.synth.compose import load_compose_config

        compose_config = load_compose_config(config.compose)
    review_decisions = []
    if config.review is not None:  # a bad patch fails before any work
        from finsynth.audit.review import load_review

        review_decisions = load_review(config.review)
    state = BuildState(config=config, progress=progress)
    loaded = state.run("load", _load, stage)
    state.tests = loaded.tests
    linted_before = list(state.records)  # the valid rows as read: what quarantine's impact is measured against
    relabelled = state.run("relabel", _relabel, stage) if config.relabel else Relabelled(None)
    fixed = state.run("fix", _fix, stage) if config.fix else None
    reviewed = state.run("review", _review(review_decisions), stage) if config.review is not None else None
    linted = state.run("lint", _lint, stage)
    state.run("dedupe", _dedupe, stage)
    split = state.run("split", _split, stage)
    composition = state.run("compose", _compose(compose_config, split), stage) if compose_config is not None else None
    built = Built(loaded, split, composition, compose_config, relabelled, fixed, reviewed, linted, linted_before)
    stage("write")
    _write_rows(state, built)
    final_lint, bucket_warnings, report_md = _write_reports(state, built, stage)
    manifest = _manifest(state, built, final_lint, bucket_warnings)
    write_json_atomic(config.out_dir / "manifest.json", manifest.to_json())
    return BuildResult(out_dir=str(config.out_dir), manifest=manifest, lint=final_lint, report_markdown=report_md)


@dataclass
class Built:
    """The stats of every stage of a build, for the write stage, the report and the manifest."""

    loaded: Loaded
    split: Split
    composition: ComposeResult | None
    compose_config: ComposeConfig | None
    relabelled: Relabelled
    fixed: Fixed | None
    reviewed: ReviewResult | None
    linted: Linted
    as_read: list[Record]  # the valid rows as read: what quarantine's impact is measured against

    @property
    def train(self) -> list[Record]:
        """The training rows written: the split's, or the composed ones with --compose."""
        return self.composition.records if self.composition is not None else self.split.train


def _write_rows(state: BuildState, built: Built) -> None:
    """The splits, the quarantine and each asked-for stage's own file; a stage not asked for leaves none
    behind (a stale file from an earlier build would mislead)."""
    out, config, templates = state.config.out_dir, state.config, state.config.templates
    for name, records in (("train.jsonl", built.train), ("val.jsonl", built.split.val), ("test.jsonl", state.tests)):
        write_jsonl_atomic(out / name, [chat_row(r.item, templates) for r in records])
    state.quarantined.sort(key=lambda q: (q.path, q.line, q.stage))
    write_jsonl_atomic(out / "quarantine.jsonl", state.quarantined)
    composed_out_path = out / "composed_out.jsonl"
    if built.composition is not None:
        write_jsonl_atomic(composed_out_path, built.composition.composed_out)
    else:
        composed_out_path.unlink(missing_ok=True)
    diff_path, page_path = out / "relabel.diff.jsonl", out / "relabel.html"
    if config.relabel:
        from finsynth.audit.html.relabel_page import write_relabel_page

        info = built.relabelled.info
        write_jsonl_atomic(diff_path, [c.model_dump(mode="json") for c in built.relabelled.changes])
        write_relabel_page(page_path, built.relabelled.changes, info.model_dump(mode="json") if info else {})
    else:
        diff_path.unlink(missing_ok=True)
        page_path.unlink(missing_ok=True)
    review_path = out / "review.jsonl"
    if built.reviewed is not None:
        write_jsonl_atomic(review_path, [o.model_dump(mode="json") for o in built.reviewed.outcomes])
    else:
        review_path.unlink(missing_ok=True)
    fixes_path = out / "fixes.jsonl"  # what --fix rewrote, before and after, for review
    if built.fixed is not None:
        write_jsonl_atomic(fixes_path, sorted(built.fixed.fixes, key=lambda f: (f.path, f.line, f.rule)))
    else:
        fixes_path.unlink(missing_ok=True)


def _write_reports(
    state: BuildState, built: Built, on_stage: Callable[[str], None]
) -> tuple[LintResult, list[str], str]:
    """report.md and report.html; returns the lint of the written rows, the quarantine warnings and the
    Markdown report."""
    config, composition, val = state.config, built.composition, built.split.val
    # the report and the summary describe what was written: when rows left the set, lint the rows that stayed
    final_lint = built.linted.lint
    if len(state.records) != len(built.linted.rows):
        on_stage("lint (final)")
        final_lint = lint_records(state.records, against=state.tests or None)
    bucket_warnings = quarantine_impact(before=built.as_read, after=state.records)
    report = build_report(
        [cast(Sample, r.item) for r in built.train + val],
        lint=final_lint,
        against=[cast(TestCase, r.item) for r in state.tests] or None,
        composition=composition.summary if composition is not None else None,
        warnings=bucket_warnings,
    )
    report_md = render_markdown(report)
    write_text_atomic(config.out_dir / "report.md", report_md)
    # the browser shows what lint found in the raw rows, including rows --allow-errors quarantined
    write_html(
        config.out_dir / "report.html",
        report,
        browse_findings(built.linted.rows, built.linted.lint, against=state.tests),
        title="finsynth build report",
        source=f"{len(built.train) + len(val)} training samples from {config.raw_dir.as_posix()} (seed {config.seed})"
        + (_composition_source(composition.summary) if composition is not None else ""),
    )
    return final_lint, bucket_warnings, report_md


def _manifest(state: BuildState, built: Built, final_lint: LintResult, bucket_warnings: list[str]) -> Manifest:
    """The build's `Manifest`, made after every output is written (it holds their hashes); raises
    `BuildError` when the rows do not reconcile, so no manifest hides a lost or doubled row."""
    config, loaded, composition, out = state.config, built.loaded, built.composition, state.config.out_dir
    train, val, tests, quarantined, lint = (
        built.train,
        built.split.val,
        state.tests,
        state.quarantined,
        built.linted.lint,
    )
    result, fixes = loaded.result, built.fixed.fixes if built.fixed is not None else []
    read = result.read
    train_from_raw, composed_out = len(train), 0
    composition_counts = composition_info = None
    if composition is not None:
        summary = composition.summary
        train_from_raw, composed_out = summary.kept, summary.composed_out
        if summary.kept + summary.copies + summary.replay_rows != len(train):
            raise BuildError(
                f"row accounting failed: {len(train)} training rows written, composition reports "
                f"{summary.kept} kept + {summary.copies} copies + {summary.replay_rows} replay"
            )
        composition_counts = CompositionCounts(
            train_before=summary.rows_before,
            kept=summary.kept,
            copies=summary.copies,
            replay_rows=summary.replay_rows,
            composed_out=composed_out,
            train_rows=len(train),
        )
        # a composition is made only from a compose file (config.compose, parsed as compose_config)
        composition_info = _composition_info(
            composition, cast(Path, config.compose), cast("ComposeConfig", built.compose_config)
        )
    counted = train_from_raw + len(val) + len(tests) + len(quarantined) + composed_out
    skip_warnings = {s.warning for s in result.skipped}  # listed as skipped_files, not again as remarks
    manifest = Manifest(
        version=__version__,
        seed=config.seed,
        val_fraction=config.val_fraction,
        dedupe_threshold=config.dedupe_threshold,
        inputs=[InputFile(path=f.relative_to(config.raw_dir).as_posix(), sha256=_sha256(f)) for f in loaded.files],
        templates=config.templates.hashes(),
        relabel=built.relabelled.info,
        fixed=dict(sorted(Counter(f"{f.rule}:{f.strategy}" for f in fixes).items())),
        fix_plan=FixPlanInfo.model_validate(built.fixed.plan.model_dump()) if built.fixed is not None else None,
        review=(
            ReviewInfo(patch=_file_ref(cast(Path, config.review)), **built.reviewed.counts())
            if built.reviewed is not None
            else None
        ),
        warnings=bucket_warnings,
        input_warnings=[w for w in result.warnings if w not in skip_warnings],
        skipped_files=[SkippedFileInfo.model_validate(s.model_dump()) for s in result.skipped],
        counts=Counts(
            read=read,
            accepted=read - len(result.quarantined),
            quarantined=len(quarantined),
            quarantined_by_stage=dict(sorted(Counter(q.stage for q in quarantined).items())),
            train=_count_summary(train),
            val=_count_summary(val),
            test=TestCounts(
                total=len(tests),
                by_scenario=dict(sorted(Counter(cast(TestCase, r.item).scenario.value for r in tests).items())),
            ),
            composed_out=composed_out if composition is not None else None,
            composition=composition_counts,
            reconciles=counted == read,
        ),
        lint={k: v for k, v in sorted(final_lint.counts.items()) if v},
        lint_before_quarantine=(
            {k: v for k, v in sorted(lint.counts.items()) if v} if final_lint is not lint else None
        ),
        outputs={
            name: _sha256(out / name)
            for name in (*BUILT_SPLITS, "quarantine.jsonl", "report.md", "report.html")
            + (("composed_out.jsonl",) if composition is not None else ())
            + (("fixes.jsonl",) if config.fix else ())
            + (("relabel.diff.jsonl", "relabel.html") if config.relabel else ())
            + (("review.jsonl",) if built.reviewed is not None else ())
        },
        composition=composition_info,
    )
    if counted != read:  # a row went missing or was doubled: never write a manifest that hides it
        raise BuildError(
            f"row accounting failed: read {read}, wrote {counted} "
            f"(train+val+test+quarantine{'+composed_out' if composition is not None else ''})"
        )
    return manifest


def _file_ref(path: Path) -> FileRef:
    return FileRef(name=path.name, sha256=_sha256(path))


def _composition_info(composition: ComposeResult, path: Path, config: ComposeConfig) -> CompositionInfo:
    """The manifest's account of a --compose run: the file, the target, the cells, before and after."""
    summary = composition.summary
    return CompositionInfo(
        file=_file_ref(path),
        config=config.model_dump(mode="json"),
        config_sha256=summary.config_sha256,
        target=ComposeTarget(
            source=summary.target_source,
            counts={str(c): v for c, v in summary.target.items()},
            reachable={str(c): v for c, v in summary.reachable_target.items()},
        ),
        cells=composition.cells,
        before=_by_type_json(summary.before),
        after=_by_type_json(summary.after),
        mean=CountMeans(before=summary.before_mean, after=summary.after_mean, test=summary.test_mean),
        mean_ratio=MeanRatio(before=summary.before_ratio, after=summary.after_ratio),
        slices=[s.model_dump(mode="json") for s in summary.slices],
        replay=composition.replay,
        warnings=summary.warnings,
        notes=summary.notes,
    )


def quarantine_impact(before: list[Record], after: list[Record]) -> list[str]:
    """A warning for each type x count bucket that quarantine emptied or at least halved (lesson 1: a type
    left with one count teaches a fixed count)."""

    def buckets(records: list[Record]) -> Counter:
        return Counter((r.item.type, r.item.count) for r in records if isinstance(r.item, Sample))

    was, now = buckets(before), buckets(after)
    warnings = []
    for (kind, count), n in sorted(was.items()):
        left = now.get((kind, count), 0)
        if left == 0:
            warnings.append(f"quarantine emptied type {kind} x {count} metrics ({n} rows -> 0)")
        elif 2 * left <= n:
            warnings.append(f"quarantine halved type {kind} x {count} metrics ({n} rows -> {left})")
    return warnings
