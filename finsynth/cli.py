"""The command line: parse arguments, call the library, render. Nothing else lives here.

Each subcommand has a `_<name>_parser(sub)` that registers it and a `_run_<name>(args) -> int`.
Every reporting command accepts `--format json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console

from . import __version__

console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_json(payload: Any) -> None:
    """Machine-readable output: one JSON document on stdout, Chinese unescaped."""
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")


def _add_format(parser: argparse.ArgumentParser, choices: Sequence[str] = ("text", "json")) -> None:
    parser.add_argument("--format", choices=list(choices), default=choices[0], help="output format")


PARSERS: list[Callable[[argparse._SubParsersAction], None]] = []


def command(register: Callable[[argparse._SubParsersAction], None]):
    """Decorator: add a subcommand registration function to the CLI."""
    PARSERS.append(register)
    return register


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finsynth",
        description="Build, audit and evaluate SFT data for Chinese financial-report metric extraction.",
    )
    parser.add_argument("--version", action="version", version=f"finsynth {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in PARSERS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        err_console.print("[red]interrupted[/red]")
        return 130
    except (FileNotFoundError, ValueError) as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        return 2


# --- subcommands register below -------------------------------------------------------------


def _load_or_exit(paths: Sequence[str], kind: str = "auto"):
    from .io import load_paths

    result = load_paths(paths, kind=kind)  # type: ignore[arg-type]
    for q in result.quarantined:
        err_console.print(f"[yellow]quarantined[/yellow] {q.path}:{q.line} [{q.field}] {q.reason}")
    return result


@command
def _report_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="count distribution per type (and against a test set), styles, lengths, lint")
    p.add_argument("paths", nargs="+", metavar="PATH", help="training JSONL/JSON files or directories")
    p.add_argument("--against", metavar="TESTSET", help="test cases to compare the count distribution with")
    p.add_argument("--no-lint", action="store_true", help="skip the lint summary")
    p.add_argument("--plot", metavar="PNG", help="also save a bar chart of the distributions")
    _add_format(p, ("text", "md", "json"))
    p.set_defaults(func=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from .lint import lint_records
    from .report import build_report, plot_counts

    loaded = _load_or_exit(args.paths)
    tests = _load_or_exit([args.against], kind="test") if args.against else None
    samples = loaded.samples
    if not samples:
        err_console.print("[red]error:[/red] no valid training samples in the given paths")
        return 2
    lint = None if args.no_lint else lint_records(
        [r for r in loaded.records if r.item.type != "test"], against=tests.records if tests else None
    )
    report = build_report(samples, lint=lint, against=tests.test_cases if tests else None)
    if args.plot:
        plot_counts(report, args.plot)
        err_console.print(f"plot written to {args.plot}")
    if args.format == "json":
        print_json(report.to_json())
    elif args.format == "md":
        sys.stdout.write(report.to_markdown() + "\n")
    else:
        from rich.markdown import Markdown

        console.print(Markdown(report.to_markdown()))
    return 0


@command
def _build_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="raw samples -> validated, linted, deduplicated, split data/built/")
    p.add_argument("--raw", default="data/raw", help="raw input directory (default: data/raw)")
    p.add_argument("--out", default="data/built", help="output directory (default: data/built)")
    p.add_argument("--seed", type=int, default=13, help="split seed (default: 13)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of samples for validation")
    p.add_argument("--allow-errors", action="store_true",
                   help="quarantine rows with lint errors instead of stopping the build")
    p.add_argument("--include-generated", action="store_true",
                   help="also take reviewed candidates under RAW/generated/")
    p.add_argument("--templates", metavar="DIR", help="prompt template directory (default: shipped templates)")
    p.add_argument("--relabel", metavar="TYPES", default="",
                   help="regenerate analyses of these sample types, e.g. B or B,D")
    p.add_argument("--llm", choices=["auto", "rules", "openai"], default="auto",
                   help="annotator for --relabel: endpoint if configured, else the offline rules (auto)")
    p.add_argument("--concurrency", type=int, default=8, help="parallel LLM requests for --relabel")
    _add_format(p)
    p.set_defaults(func=_run_build)


def _run_build(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.table import Table

    from .build import BuildConfig, BuildError, build

    config = BuildConfig(
        raw_dir=Path(args.raw), out_dir=Path(args.out), seed=args.seed, val_fraction=args.val_fraction,
        allow_errors=args.allow_errors, include_generated=args.include_generated,
        template_dir=Path(args.templates) if args.templates else None,
        relabel=[t.strip().upper() for t in args.relabel.split(",") if t.strip()],
        llm=args.llm, concurrency=args.concurrency,
    )
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
                err_console.print(f"[red]build stopped:[/red] {exc} (rerun with --allow-errors to quarantine them)")
        else:
            err_console.print(f"[red]build failed:[/red] {exc}")
        return 1
    if status:
        status.stop()
    manifest = result.manifest
    if quiet:
        print_json(manifest)
        return 0
    counts = manifest["counts"]
    table = Table(title=f"finsynth build -> {result.out_dir}")
    for column in ("split", "rows", "by type: {count: n}"):
        table.add_column(column)
    for split in ("train", "val"):
        table.add_row(split, str(counts[split]["total"]), json.dumps(counts[split]["by_type"]))
    table.add_row("test", str(counts["test"]["total"]), json.dumps(counts["test"]["by_scenario"], ensure_ascii=False))
    table.add_row("quarantine", str(counts["quarantined"]), json.dumps(counts["quarantined_by_stage"]))
    console.print(table)
    console.print(
        f"read {counts['read']} rows = {counts['train']['total']} train + {counts['val']['total']} val + "
        f"{counts['test']['total']} test + {counts['quarantined']} quarantined "
        f"({'reconciled' if counts['reconciles'] else 'NOT reconciled'})"
    )
    lint_summary = ", ".join(f"{k}={v}" for k, v in manifest["lint"].items()) or "clean"
    console.print(f"lint: {lint_summary}")
    console.print(f"report: {result.out_dir}/report.md  manifest: {result.out_dir}/manifest.json")
    return 0
