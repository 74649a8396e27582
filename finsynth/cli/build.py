"""`finsynth build` and `finsynth export`: the training set and its other formats."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from finsynth.cli.app import (
    _add_format,
    _require,
    command,
    console,
    err_console,
    print_json,
    settings_error,
)
from finsynth.io import UserError

if TYPE_CHECKING:
    from finsynth.build import BuildResult


@command
def _build_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="raw samples -> validated, linted, deduplicated, split data/built/")
    p.add_argument("--raw", default="data/raw", help="raw input directory (default: data/raw)")
    p.add_argument("--out", default="data/built", help="output directory (default: data/built)")
    p.add_argument("--seed", type=int, default=13, help="split seed (default: 13)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of samples for validation")
    p.add_argument(
        "--allow-errors", action="store_true", help="quarantine rows with lint errors instead of stopping the build"
    )
    p.add_argument(
        "--fix",
        nargs="*",
        metavar="RULE[:STRATEGY]",
        default=None,
        help="apply lint autofixes first; bare: every fixable rule's default strategy unless it was "
        "measured harmful (the evidence file; count-anchor:cut is); named: those, e.g. "
        "--fix count-anchor:move; before/after go to OUT/fixes.jsonl",
    )
    p.add_argument(
        "--no-fix", action="append", default=[], metavar="RULE[:STRATEGY]", help="never apply this autofix (repeatable)"
    )
    p.add_argument(
        "--include-generated", action="store_true", help="also take reviewed candidates under RAW/generated/"
    )
    p.add_argument("--templates", metavar="DIR", help="prompt template directory (default: shipped templates)")
    p.add_argument(
        "--relabel", metavar="TYPES", default="", help="regenerate analyses of these sample types, e.g. B or B,D"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="with --relabel: rewrite every row of the types, not only those failing their rules",
    )
    p.add_argument(
        "--llm",
        choices=["auto", "rules", "openai"],
        default="auto",
        help="annotator for --relabel: endpoint if configured, else the offline rules (auto)",
    )
    p.add_argument("--concurrency", type=int, default=8, help="parallel LLM requests for --relabel")
    p.add_argument(
        "--apply-review",
        metavar="PATCH",
        help="apply a review patch (JSONL of accept/reject/edit decisions downloaded from report.html "
        "or relabel.html); decisions on rows changed since are refused, see OUT/review.jsonl",
    )
    p.add_argument(
        "--compose",
        metavar="FILE",
        help="compose the training split to a metric-count target (YAML: match: test or counts:, "
        "types, size, max_upsample, slices, replay; see data/compose/match_test.yaml)",
    )
    _add_format(p)
    p.set_defaults(func=_run_build)


def _run_build(args: argparse.Namespace) -> int:
    from pathlib import Path

    _require(args.raw, "--raw", "pass the directory of raw sample files (default data/raw)")
    from pydantic import ValidationError

    from finsynth.build import BuildConfig, BuildError, build

    try:
        config = BuildConfig(
            raw_dir=Path(args.raw),
            out_dir=Path(args.out),
            seed=args.seed,
            val_fraction=args.val_fraction,
            allow_errors=args.allow_errors,
            include_generated=args.include_generated,
            fix=args.fix is not None,
            fix_select=args.fix or None,
            no_fix=args.no_fix,
            template_dir=Path(args.templates) if args.templates else None,
            relabel=[t.strip().upper() for t in args.relabel.split(",") if t.strip()],
            llm=args.llm,
            concurrency=args.concurrency,
            force_relabel=args.force,
            compose=Path(args.compose) if args.compose else None,
            review=Path(args.apply_review) if args.apply_review else None,
        )
    except ValidationError as exc:
        raise settings_error(exc) from exc
    if args.force and not config.relabel:
        raise UserError("--force only applies with --relabel TYPES (e.g. --relabel B --force)")
    quiet = args.format == "json"
    status = None if quiet else err_console.status("building")
    if status:
        status.start()

    def on_stage(name: str) -> None:
        if status:
            status.update(f"build: {name}")

    try:
        result = build(config, on_stage=on_stage, progress=not quiet)
    except BuildError as exc:
        if status:
            status.stop()
        if exc.lint is not None:
            errors = [f for f in exc.lint.findings if f.severity == "error"]
            if quiet:
                print_json({"error": str(exc), "findings": [f.model_dump() for f in errors]})
            else:
                for f in errors[:30]:
                    err_console.print(f"[red]{f.rule}[/red] {f.path}:{f.line} {f.sample_id}: {f.message}")
                err_console.print(f"[red]build stopped:[/red] {exc} ({_stop_advice(errors)})")
        else:
            err_console.print(f"[red]build failed:[/red] {exc}")
        return 1
    finally:  # also when a user error propagates to run_command
        if status:
            status.stop()
    if quiet:
        print_json(result.manifest.to_json())
        return 0
    _print_summary(result)
    return 0


def _print_summary(result: BuildResult) -> None:
    """The terminal summary of a build, from its typed manifest: the splits and their accounting, what each
    asked-for stage did, the warnings, and where the reports are."""
    manifest = result.manifest
    _print_counts(result)
    _print_stages(result)
    for skipped in manifest.skipped_files:
        err_console.print(f"[yellow]skipped:[/yellow] {skipped.path} ({skipped.rows} row(s)): {skipped.reason}")
    for warning in manifest.input_warnings + manifest.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {warning}")
    lint_summary = ", ".join(f"{k}={v}" for k, v in manifest.lint.items()) or "clean"
    before = manifest.lint_before_quarantine
    console.print(
        f"lint of the output: {lint_summary}"
        + (f" (before quarantine: {', '.join(f'{k}={v}' for k, v in before.items()) or 'clean'})" if before else "")
    )
    console.print(
        f"report: {result.out_dir}/report.md, {result.out_dir}/report.html  manifest: {result.out_dir}/manifest.json"
    )


def _print_counts(result: BuildResult) -> None:
    """The split table and the row accounting (with --compose: kept, copies, replay, composed out)."""
    from rich.table import Table

    manifest = result.manifest
    counts = manifest.counts
    table = Table(title=f"finsynth build -> {result.out_dir}")
    for column in ("split", "rows", "by type: {count: n}"):
        table.add_column(column)
    for split, split_counts in (("train", counts.train), ("val", counts.val)):
        table.add_row(split, str(split_counts.total), json.dumps(split_counts.by_type))
    table.add_row("test", str(counts.test.total), json.dumps(counts.test.by_scenario, ensure_ascii=False))
    table.add_row("quarantine", str(counts.quarantined), json.dumps(counts.quarantined_by_stage))
    composition = manifest.composition
    if composition:
        table.add_row("composed out", str(counts.composed_out), "composed_out.jsonl")
    console.print(table)
    reconciled = "reconciled" if counts.reconciles else "NOT reconciled"
    if composition and counts.composition:
        comp = counts.composition
        console.print(
            f"read {counts.read} rows = {comp.kept} train (+ {comp.copies} copies + {comp.replay_rows} "
            f"replay = {counts.train.total} train rows) + {counts.val.total} val + "
            f"{counts.test.total} test + {counts.quarantined} quarantined + {counts.composed_out} "
            f"composed out ({reconciled})"
        )
        mean, ratio = composition.mean, composition.mean_ratio
        against = (
            f" vs {mean.test:.2f} per test case (ratio {ratio.before:.2f} -> {ratio.after:.2f})"
            if mean.test is not None and ratio.before is not None and ratio.after is not None
            else ""
        )
        console.print(
            f"compose ({composition.file.name}): train {comp.train_before} -> {comp.train_rows} "
            f"rows, mean count {mean.before:.2f} -> {mean.after:.2f}{against}"
        )
        for note in composition.notes:
            console.print(f"compose note: {note}")
        for warning in composition.warnings:
            err_console.print(f"[yellow]compose warning:[/yellow] {warning}")
    else:
        console.print(
            f"read {counts.read} rows = {counts.train.total} train + {counts.val.total} val + "
            f"{counts.test.total} test + {counts.quarantined} quarantined ({reconciled})"
        )


def _print_stages(result: BuildResult) -> None:
    """What --fix, --relabel and --apply-review did, each when asked for."""
    manifest = result.manifest
    plan = manifest.fix_plan
    if plan is not None:
        fixed = manifest.fixed
        rows = sum(fixed.values())
        if plan.apply:
            console.print(
                f"fix: {rows} row(s) fixed"
                + (f" ({', '.join(f'{k} {v}' for k, v in fixed.items())})" if fixed else "")
                + f" by {', '.join(plan.apply)}; before/after: {result.out_dir}/fixes.jsonl"
            )
        else:
            console.print("fix: no autofix applied (0 rows fixed)")
        for key, why in plan.skipped.items():
            err_console.print(f"[yellow]fix skipped:[/yellow] {key}: {why}")
        for warning in plan.warnings:
            err_console.print(f"[yellow]fix warning:[/yellow] {warning}")
    relabel = manifest.relabel
    if relabel is not None:
        usage = relabel.usage or {}
        cost = (relabel.stats or {}).get("cost")
        console.print(f"relabel annotator: {relabel.annotator_reason or relabel.llm}")
        console.print(
            f"relabel (types {','.join(relabel.types)}{', --force' if relabel.forced else ''}): "
            f"{relabel.requested} rows, {relabel.needed} "
            f"{'targeted (--force: all)' if relabel.forced else 'failing their rules'}; "
            f"{relabel.relabelled} relabelled, {relabel.kept_clean} left as they were, "
            f"{relabel.kept_on_failure} kept their original after a failed relabel, "
            f"{relabel.quarantined} quarantined; {usage.get('calls', 0)} live call(s), "
            f"{usage.get('cached_calls', 0)} cached, {usage.get('prompt_tokens', 0)}+"
            f"{usage.get('completion_tokens', 0)} tokens"
            + (f", cost {cost:.4f}" if cost is not None else "")
            + f"; review: {result.out_dir}/relabel.html, {result.out_dir}/relabel.diff.jsonl"
        )
    review = manifest.review
    if review is not None:
        console.print(
            f"review ({review.patch.name}): "
            + ", ".join(f"{k} {v}" for k, v in review.counts().items())
            + f"; per decision: {result.out_dir}/review.jsonl"
        )
        if review.refused:
            err_console.print(
                f"[yellow]review warning:[/yellow] {review.refused} decision(s) refused "
                f"(their rows changed or are gone); see {result.out_dir}/review.jsonl"
            )


def _stop_advice(errors: list) -> str:
    """What to do about the errors that stopped a build: fix what has an autofix, quarantine the rest."""
    from finsynth.audit.lint import RULES

    fixable = sorted({f.rule for f in errors if RULES.get(f.rule) is not None and RULES[f.rule].fixes})
    if fixable and len(fixable) == len({f.rule for f in errors}):
        return (
            f"{', '.join(fixable)} can be fixed: rerun with --fix {' '.join(fixable)} (see `finsynth lint "
            f"--explain {fixable[0]}` for the strategies and their measured effect), or --allow-errors to "
            "quarantine them"
        )
    if fixable:
        return f"{', '.join(fixable)} can be fixed with --fix; rerun with --allow-errors to quarantine the rest"
    return "rerun with --allow-errors to quarantine them"


@command
def _export_parser(sub: argparse._SubParsersAction) -> None:
    from finsynth.export import FORMATS

    p = sub.add_parser("export", help="export data/built as messages, alpaca, sharegpt or a LLaMA-Factory setup")
    p.add_argument("data", nargs="?", default="data/built", help="built data directory")
    p.add_argument("--to", required=True, choices=list(FORMATS), help="export format")
    p.add_argument("--out", default=None, help="output directory (default: DATA/export/FORMAT)")
    p.add_argument("--model", default="Qwen/Qwen3-14B", help="model path written into the LLaMA-Factory YAML")
    _add_format(p)
    p.set_defaults(func=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from finsynth.export import export

    result = export(args.data, args.to, args.out, model=args.model)
    if args.format == "json":
        print_json(result)
        return 0
    for split, info in result["files"].items():
        console.print(f"{split}: {info['rows']} row(s) -> {info['path']}")
    for key in ("dataset_info", "train_yaml"):
        if key in result:
            console.print(f"{key}: {result[key]}")
    return 0
