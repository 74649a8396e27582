"""`finsynth build`: raw annotated rows in, a validated, linted, deduplicated, split training set out.

Stages (each a plain function of data): load + quarantine -> (optional relabel) -> lint (split leakage
among its errors) -> dedupe -> stratified split -> (optional count composition of the training split,
`--compose FILE`, see finsynth.synth.compose) -> render chat rows -> write. Same inputs and seed give
byte-identical outputs: nothing time- or machine-dependent is written, and every order is sorted.

Row accounting: read = train + val + test + quarantined, where, with --compose, train counts the
distinct raw rows kept (copies and replay rows are added on top) and the rows composition dropped are
written to `composed_out.jsonl` and counted as `composed_out`, apart from quarantine.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

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


def _relabel(
    records: list[Record], config: BuildConfig, progress: bool
) -> tuple[list[Record], list[QuarantineRow], RelabelInfo | None, list]:
    """Regenerate the analyses of the asked-for types (the rows that need it, or all with `force_relabel`)
    through the LLM engine or the rules annotator. Raises `RelabelAbortedError` when the engine stopped early:
    nothing is written then, so no row is lost."""
    from finsynth.synth.relabel import relabel  # imported lazily: the engine pulls in the openai client

    targets = [r for r in records if isinstance(r.item, Sample) and r.item.type in config.relabel]
    if not targets:
        return records, [], None, []
    result = relabel(
        [cast(Sample, r.item) for r in targets],
        types=set(config.relabel),
        llm=config.llm,
        concurrency=config.concurrency,
        cache_path=config.out_dir / ".cache" / "llm.sqlite",
        templates=config.templates,
        progress=progress,
        force=config.force_relabel,
        annotator_model=config.annotator_model,
    )
    if result.stats.aborted:
        stats = result.stats
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
        elif record.item.id in target_ids:
            continue  # relabel quarantined it, with its raw reply
        else:
            out.append(record)
    stats = result.stats
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
    return out, list(result.quarantined), info, list(result.changes)


def build(config: BuildConfig, on_stage: Callable[[str], None] | None = None, progress: bool = False) -> BuildResult:
    """Run the whole build and write `out_dir`; raises BuildError when lint errors stop it."""
    stage = on_stage or (lambda _name: None)
    compose_config = None
    if config.compose is not None:  # a bad compose file fails before any work
        from finsynth.synth.compose import load_compose_config

        compose_config = load_compose_config(config.compose)
    review_decisions = []
    if config.review is not None:  # a bad patch fails before any work
        from finsynth.audit.review import load_review

        review_decisions = load_review(config.review)
    stage("load")
    files = raw_files(config)
    loaded = load_paths(files)
    quarantined = list(loaded.quarantined)
    train_records = [r for r in loaded.records if isinstance(r.item, Sample)]
    linted_before = list(train_records)  # the valid rows as read: what quarantine's impact is measured against
    test_records = sorted((r for r in loaded.records if isinstance(r.item, TestCase)), key=lambda r: r.item.id)
    if not train_records:
        raise BuildError(f"{config.raw_dir}: no valid training samples ({len(quarantined)} quarantined)")

    relabel_info: RelabelInfo | None = None
    relabel_changes: list = []
    if config.relabel:
        stage("relabel")
        train_records, relabel_quarantine, relabel_info, relabel_changes = _relabel(train_records, config, progress)
        quarantined.extend(relabel_quarantine)

    fixes: list[Fix] = []
    fix_plan: FixPlan | None = None
    if config.fix:
        stage("fix")
        try:
            fix_plan = plan_fixes(config.fix_select or None, config.no_fix)
        except ValueError as exc:  # an unknown rule or strategy in the selection
            raise UserError(f"fix selection: {exc}") from exc
        train_records, fixes = fix_records(train_records, fix_plan.apply)

    review_result = None
    if config.review is not None:
        from finsynth.audit.review import apply_review

        stage("review")
        review_result = apply_review(train_records, review_decisions)
        train_records = review_result.records
        quarantined.extend(review_result.quarantined)

    stage("lint")
    lint = lint_records(train_records, against=test_records or None)
    linted = train_records
    if lint.has_errors:
        if not config.allow_errors:
            raise BuildError(f"lint found {sum(f.severity == 'error' for f in lint.findings)} error(s)", lint)
        train_records, lint_dropped = drop_lint_errors(train_records, lint)
        quarantined.extend(lint_dropped)

    stage("dedupe")
    train_records, dedupe_dropped = dedupe(train_records, config.dedupe_threshold)
    quarantined.extend(dedupe_dropped)

    stage("split")
    train, val = stratified_split(train_records, config.val_fraction, config.seed)

    composition = None
    if compose_config is not None:
        from finsynth.synth.compose import compose

        stage("compose")
        composition = compose(
            train,
            compose_config,
            config.seed,
            tests=[cast(TestCase, r.item) for r in test_records],
            holdout=[r.item for r in val + test_records],
        )
        train = composition.records

    stage("write")
    out = config.out_dir
    templates = config.templates
    outputs = {
        "train.jsonl": [chat_row(r.item, templates) for r in train],
        "val.jsonl": [chat_row(r.item, templates) for r in val],
        "test.jsonl": [chat_row(r.item, templates) for r in test_records],
    }
    for name, rows in outputs.items():
        write_jsonl_atomic(out / name, rows)
    quarantined.sort(key=lambda q: (q.path, q.line, q.stage))
    write_jsonl_atomic(out / "quarantine.jsonl", quarantined)
    composed_out_path = out / "composed_out.jsonl"
    if composition is not None:
        write_jsonl_atomic(composed_out_path, composition.composed_out)
    else:
        composed_out_path.unlink(missing_ok=True)  # a stale one from an earlier --compose build would mislead
    diff_path, page_path = out / "relabel.diff.jsonl", out / "relabel.html"
    if config.relabel:
        from finsynth.audit.html.relabel_page import write_relabel_page

        write_jsonl_atomic(diff_path, [c.model_dump(mode="json") for c in relabel_changes])
        write_relabel_page(page_path, relabel_changes, relabel_info.model_dump(mode="json") if relabel_info else {})
    else:
        diff_path.unlink(missing_ok=True)
        page_path.unlink(missing_ok=True)
    review_path = out / "review.jsonl"
    if review_result is not None:
        write_jsonl_atomic(review_path, [o.model_dump(mode="json") for o in review_result.outcomes])
    else:
        review_path.unlink(missing_ok=True)
    fixes_path = out / "fixes.jsonl"  # what --fix rewrote, before and after, for review
    if config.fix:
        write_jsonl_atomic(fixes_path, sorted(fixes, key=lambda f: (f.path, f.line, f.rule)))
    else:
        fixes_path.unlink(missing_ok=True)
    # the report and the summary describe what was written: when rows left the set, lint the rows that stayed
    final_lint = lint
    if len(train_records) != len(linted):
        stage("lint (final)")
        final_lint = lint_records(train_records, against=test_records or None)
    bucket_warnings = quarantine_impact(before=linted_before, after=train_records)
    report = build_report(
        [cast(Sample, r.item) for r in train + val],
        lint=final_lint,
        against=[cast(TestCase, r.item) for r in test_records] or None,
        composition=composition.summary if composition is not None else None,
        warnings=bucket_warnings,
    )
    report_md = render_markdown(report)
    write_text_atomic(out / "report.md", report_md)
    # the browser shows what lint found in the raw rows, including rows --allow-errors quarantined
    write_html(
        out / "report.html",
        report,
        browse_findings(linted, lint, against=test_records),
        title="finsynth build report",
        source=f"{len(train) + len(val)} training samples from {config.raw_dir.as_posix()} (seed {config.seed})"
        + (_composition_source(composition.summary) if composition is not None else ""),
    )

    read = loaded.read
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
            composition, cast(Path, config.compose), cast("ComposeConfig", compose_config)
        )
    counted = train_from_raw + len(val) + len(test_records) + len(quarantined) + composed_out
    manifest = Manifest(
        version=__version__,
        seed=config.seed,
        val_fraction=config.val_fraction,
        dedupe_threshold=config.dedupe_threshold,
        inputs=[InputFile(path=f.relative_to(config.raw_dir).as_posix(), sha256=_sha256(f)) for f in files],
        templates=templates.hashes(),
        relabel=relabel_info,
        fixed=dict(sorted(Counter(f"{f.rule}:{f.strategy}" for f in fixes).items())),
        fix_plan=FixPlanInfo.model_validate(fix_plan.model_dump()) if fix_plan is not None else None,
        review=(
            ReviewInfo(patch=_file_ref(cast(Path, config.review)), **review_result.counts())
            if review_result is not None
            else None
        ),
        warnings=bucket_warnings,
        input_warnings=[w for w in loaded.warnings if not any(w.startswith(s.path) for s in loaded.skipped)],
        skipped_files=[SkippedFileInfo.model_validate(s.model_dump()) for s in loaded.skipped],
        counts=Counts(
            read=read,
            accepted=read - len(loaded.quarantined),
            quarantined=len(quarantined),
            quarantined_by_stage=dict(sorted(Counter(q.stage for q in quarantined).items())),
            train=_count_summary(train),
            val=_count_summary(val),
            test=TestCounts(
                total=len(test_records),
                by_scenario=dict(sorted(Counter(cast(TestCase, r.item).scenario.value for r in test_records).items())),
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
            + (("review.jsonl",) if review_result is not None else ())
        },
        composition=composition_info,
    )
    if counted != read:  # a row went missing or was doubled: never write a manifest that hides it
        raise BuildError(
            f"row accounting failed: read {read}, wrote {counted} "
            f"(train+val+test+quarantine{'+composed_out' if composition is not None else ''})"
        )
    write_json_atomic(out / "manifest.json", manifest.to_json())
    return BuildResult(out_dir=str(out), manifest=manifest, lint=final_lint, report_markdown=report_md)


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
