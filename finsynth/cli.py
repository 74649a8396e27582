"""The command line: parse arguments, call the library, render. Nothing else lives here.

Each subcommand has a `_<name>_parser(sub)` that registers it and a `_run_<name>(args) -> int`.
Every reporting command accepts `--format json`.

Exit codes: 0 ok, 1 findings or a failed run (lint errors, a stopped build, nothing generated),
2 a user error, 130 interrupted.

Errors take one path (`run_command`, shared with `python -m train`). Library code raises
`finsynth.io.UserError` (`InputError` for an unusable input) for whatever the user can fix; `run_command`
also counts as user errors the library's other edge exceptions: a `ValueError` (a bad value, setting or
file content), an `OSError` (a missing or unreadable path, a full disk) and a missing optional package.
A user error prints one line, `error: MESSAGE`, on stderr and exits 2; with `--debug` (before or after
the subcommand) its traceback comes first. Any other exception is a bug: it propagates, so Python prints
the traceback and exits 1. `_run_*` functions raise rather than print their own errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, Self

from rich.console import Console
from rich.text import Text

from finsynth import __version__
from finsynth.io import UserError

console = Console(stderr=False, highlight=False)
# soft_wrap: an error names a file path, which must survive copy and paste whole, not folded at 80 columns
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def json_text(payload: Any) -> str:
    """One JSON document as the CLI prints it: indented, Chinese unescaped, newline-terminated."""
    return json.dumps(payload, ensure_ascii=False, indent=2) + "\n"


def print_json(payload: Any) -> None:
    """Machine-readable output: one JSON document on stdout."""
    sys.stdout.write(json_text(payload))


def render(fmt: str, payload: Any, markdown: Callable[[], str]) -> None:
    """Emit a result as JSON (a Pydantic model or plain data), raw Markdown, or Markdown on the terminal."""
    if fmt == "json":
        print_json(payload.model_dump(mode="json") if hasattr(payload, "model_dump") else payload)
    elif fmt == "md":
        text = markdown()
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        from rich.markdown import Markdown

        console.print(Markdown(markdown()))


class _Ticker:
    """A rich progress bar (count, rate, ETA) on stderr for long work; silent for small or JSON runs."""

    def __init__(self, description: str, total: int, enabled: bool, minimum: int = 2000):
        self.bar = None
        if enabled and total >= minimum:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeRemainingColumn(), console=err_console, transient=True)
            self.task = self.bar.add_task(description, total=total)

    def __enter__(self) -> Self:
        if self.bar:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar:
            self.bar.stop()

    @property
    def advance(self) -> Callable[[int], None] | None:
        """A callback for library functions' progress hooks, or None when no bar is shown."""
        if self.bar is None:
            return None
        return lambda n: self.bar.advance(self.task, n)


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
    add_debug_flag(parser, sub)
    return parser


def add_debug_flag(parser: argparse.ArgumentParser, sub: argparse._SubParsersAction) -> None:
    """`--debug` on the program and on every subcommand, so it works before or after COMMAND."""
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    for subparser in {id(p): p for p in sub.choices.values()}.values():
        # SUPPRESS: a subcommand that was not given --debug must not reset one given before it
        subparser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                               help="show the traceback of an error")


# optional package (top-level module) -> the extra that installs it (None: install it by name)
OPTIONAL_PACKAGES: dict[str, str | None] = {
    "torch": "train", "transformers": "train", "peft": "train", "trl": "train", "bitsandbytes": "train",
    "accelerate": "train", "tokenizers": "train", "datasets": "train",
    "sentence_transformers": "embedding", "vllm": None,
}


def _missing_package(exc: BaseException | None) -> str | None:
    """The optional package whose absence raised `exc` (directly or as the cause of a wrapper), if any."""
    while exc is not None:
        if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in OPTIONAL_PACKAGES:
            return (exc.name or "").split(".")[0]
        exc = exc.__cause__
    return None


def user_error_message(exc: BaseException) -> str | None:
    """The one-line message for an error the user can fix, or None when `exc` is a bug."""
    from jinja2 import TemplateError, TemplateSyntaxError

    package = _missing_package(exc)
    if isinstance(exc, TemplateSyntaxError):  # a bad --templates file
        text = f"{exc.filename or exc.name}: line {exc.lineno}: bad template: {exc.message}"
    elif isinstance(exc, TemplateError):
        text = f"template error: {exc.message or type(exc).__name__} (check --templates)"
    elif isinstance(exc, ModuleNotFoundError) and package:
        extra = OPTIONAL_PACKAGES[package]
        text = (f"the optional package {package} is not installed: "
                + (f"pip install 'finsynth[{extra}]'" if extra else f"pip install {package}"))
    elif isinstance(exc, (UserError, ValueError)) or package:
        text = str(exc)
    elif isinstance(exc, OSError):
        text = f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc)
    else:
        return None
    return "; ".join(line.strip() for line in text.splitlines() if line.strip()) or type(exc).__name__


def print_error(message: str) -> None:
    """`error: MESSAGE` on stderr, one line (Text: no markup or emoji codes read into the message)."""
    err_console.print(Text.assemble(("error:", "red"), " ", message))


def run_command(func: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """Run a subcommand under the error convention of the module docstring; returns the exit code."""
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        err_console.print("[red]interrupted[/red]")
        return 130
    except Exception as exc:
        message = user_error_message(exc)
        if message is None:
            raise  # a bug: the traceback is the report
        if getattr(args, "debug", False):
            import traceback

            traceback.print_exc()
        print_error(message)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(args.func, args)


# --- subcommands register below -------------------------------------------------------------


def _require(path: str, flag: str, hint: str = "") -> None:
    """A path given with `flag` must exist: the error names the flag as well as the path."""
    from pathlib import Path

    from finsynth.io import InputError

    if not Path(path).exists():
        raise InputError(f"{flag} {path}: no such file or directory" + (f"; {hint}" if hint else ""))


def _print_warnings(result) -> None:
    for warning in result.warnings:
        err_console.print(Text.assemble(("warning:", "yellow"), " ", warning))


def _load_or_exit(paths: Sequence[str], kind: str = "auto"):
    from finsynth.io import load_paths

    result = load_paths(paths, kind=kind)  # type: ignore[arg-type]
    _print_warnings(result)
    for q in result.quarantined:
        err_console.print(f"[yellow]quarantined[/yellow] {q.path}:{q.line} [{q.field}] {q.reason}")
    return result


@command
def _report_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="count distribution per type (and against a test set), styles, lengths, lint; "
                                      "--format html for the reviewer's visual report")
    p.add_argument("paths", nargs="+", metavar="PATH", help="training JSONL/JSON files or directories")
    p.add_argument("--against", metavar="TESTSET", help="test cases to compare the count distribution with")
    p.add_argument("--no-lint", action="store_true", help="skip the lint summary (and the findings browser)")
    p.add_argument("--tokenizer", metavar="PATH", help="local tokenizer (model directory or tokenizer.json) "
                                                       "for token-length distributions")
    p.add_argument("--plot", metavar="PNG", help="also save a bar chart of the count distributions")
    p.add_argument("--max-findings", type=int, metavar="N",
                   help="findings shown in the HTML browser, shared fairly between rules (default 400)")
    p.add_argument("-o", "--out", metavar="FILE", help="write the report to FILE (atomically) instead of stdout")
    _add_format(p, ("text", "md", "json", "html"))
    p.set_defaults(func=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    if args.max_findings is not None and args.max_findings < 0:
        raise UserError("--max-findings must be 0 or more")
    loaded = _load_or_exit(args.paths)
    tests = _load_or_exit([args.against], kind="test") if args.against else None
    # the heavy imports (matplotlib, datasketch) after the inputs are known to be readable
    from finsynth.audit.html.browser import BROWSER_LIMIT, browse_findings
    from finsynth.audit.html.charts import save_count_plot
    from finsynth.audit.html.page import render_html
    from finsynth.audit.lint import lint_records
    from finsynth.audit.report import build_report, render_markdown
    from finsynth.audit.tokens import load_tokenizer, token_lengths
    from finsynth.io import write_text_atomic

    against_label = args.against
    if tests is None and loaded.test_cases:  # `report data/built`: its test split is the test set
        tests = loaded
        against_label = "the test cases among the given paths"
    samples = loaded.samples
    if not samples:
        raise UserError(f"no valid training samples in {' '.join(args.paths)} (see the quarantined rows above)")
    lengths = token_lengths(samples, load_tokenizer(args.tokenizer)) if args.tokenizer else None
    lint = None
    unreadable = list(loaded.quarantined) + (list(tests.quarantined) if tests and tests is not loaded else [])
    train_records = [r for r in loaded.records if r.item.type != "test"]
    test_records = [r for r in tests.records if r.item.type == "test"] if tests else None
    if not args.no_lint:
        with _Ticker("linting", len(train_records) + 1, args.format != "json") as ticker:
            lint = lint_records(train_records, against=test_records, on_progress=ticker.advance, unreadable=unreadable)
    report = build_report(samples, lint=lint, against=tests.test_cases if tests else None, token_lengths=lengths,
                          unreadable_rows=len(unreadable))
    if args.plot:
        save_count_plot(report, args.plot)
        err_console.print(f"plot written to {args.plot}")
    if args.format == "html":
        limit = BROWSER_LIMIT if args.max_findings is None else args.max_findings
        browser = browse_findings(train_records, lint, limit=limit, against=test_records) if lint is not None else None
        source = " ".join(args.paths) + (f" against {against_label}" if against_label else "")
        text = render_html(report, browser, source=source)
    elif args.format == "json":
        text = json_text(report.to_json())
    elif args.format == "md" or args.out:
        text = render_markdown(report)
    else:
        render(args.format, report.to_json(), report.to_markdown)
        return 0
    if args.out:
        write_text_atomic(args.out, text)
        err_console.print(f"report written to {args.out}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
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
    p.add_argument("--fix", action="store_true",
                   help="apply the fixable lint rules' autofixes first (count-anchor: drop the announcing "
                        "sentence); before/after go to OUT/fixes.jsonl")
    p.add_argument("--include-generated", action="store_true",
                   help="also take reviewed candidates under RAW/generated/")
    p.add_argument("--templates", metavar="DIR", help="prompt template directory (default: shipped templates)")
    p.add_argument("--relabel", metavar="TYPES", default="",
                   help="regenerate analyses of these sample types, e.g. B or B,D")
    p.add_argument("--force", action="store_true",
                   help="with --relabel: rewrite every row of the types, not only those failing their rules")
    p.add_argument("--llm", choices=["auto", "rules", "openai"], default="auto",
                   help="annotator for --relabel: endpoint if configured, else the offline rules (auto)")
    p.add_argument("--concurrency", type=int, default=8, help="parallel LLM requests for --relabel")
    p.add_argument("--apply-review", metavar="PATCH",
                   help="apply a review patch (JSONL of accept/reject/edit decisions downloaded from report.html "
                        "or relabel.html); decisions on rows changed since are refused, see OUT/review.jsonl")
    p.add_argument("--compose", metavar="FILE",
                   help="compose the training split to a metric-count target (YAML: match: test or counts:, "
                        "types, size, max_upsample, slices, replay; see data/compose/match_test.yaml)")
    _add_format(p)
    p.set_defaults(func=_run_build)


def _run_build(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.table import Table

    _require(args.raw, "--raw", "pass the directory of raw sample files (default data/raw)")
    from finsynth.build import BuildConfig, BuildError, build

    config = BuildConfig(
        raw_dir=Path(args.raw), out_dir=Path(args.out), seed=args.seed, val_fraction=args.val_fraction,
        allow_errors=args.allow_errors, include_generated=args.include_generated, fix=args.fix,
        template_dir=Path(args.templates) if args.templates else None,
        relabel=[t.strip().upper() for t in args.relabel.split(",") if t.strip()],
        llm=args.llm, concurrency=args.concurrency, force_relabel=args.force,
        compose=Path(args.compose) if args.compose else None,
        review=Path(args.apply_review) if args.apply_review else None,
    )
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
                err_console.print(f"[red]build stopped:[/red] {exc} (rerun with --allow-errors to quarantine them)")
        else:
            err_console.print(f"[red]build failed:[/red] {exc}")
        return 1
    finally:  # also when a user error propagates to run_command
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
    composition = manifest.get("composition")
    if composition:
        table.add_row("composed out", str(counts["composed_out"]), "composed_out.jsonl")
    console.print(table)
    if composition:
        comp = counts["composition"]
        console.print(
            f"read {counts['read']} rows = {comp['kept']} train (+ {comp['copies']} copies + {comp['replay_rows']} "
            f"replay = {counts['train']['total']} train rows) + {counts['val']['total']} val + "
            f"{counts['test']['total']} test + {counts['quarantined']} quarantined + {counts['composed_out']} "
            f"composed out ({'reconciled' if counts['reconciles'] else 'NOT reconciled'})"
        )
        mean, ratio = composition["mean"], composition["mean_ratio"]
        against = (f" vs {mean['test']:.2f} per test case (ratio {ratio['before']:.2f} -> {ratio['after']:.2f})"
                   if mean["test"] is not None else "")
        console.print(f"compose ({composition['file']['name']}): train {comp['train_before']} -> {comp['train_rows']} "
                      f"rows, mean count {mean['before']:.2f} -> {mean['after']:.2f}{against}")
        for note in composition["notes"]:
            console.print(f"compose note: {note}")
        for warning in composition["warnings"]:
            err_console.print(f"[yellow]compose warning:[/yellow] {warning}")
    else:
        console.print(
            f"read {counts['read']} rows = {counts['train']['total']} train + {counts['val']['total']} val + "
            f"{counts['test']['total']} test + {counts['quarantined']} quarantined "
            f"({'reconciled' if counts['reconciles'] else 'NOT reconciled'})"
        )
    relabel = manifest.get("relabel") or {}
    if relabel:
        usage = relabel.get("usage") or {}
        cost = (relabel.get("stats") or {}).get("cost")
        console.print(f"relabel annotator: {relabel.get('annotator_reason') or relabel['llm']}")
        console.print(
            f"relabel (types {','.join(relabel['types'])}{', --force' if relabel.get('forced') else ''}): "
            f"{relabel.get('requested', 0)} rows, {relabel.get('needed', 0)} "
            f"{'targeted (--force: all)' if relabel.get('forced') else 'failing their rules'}; "
            f"{relabel['relabelled']} relabelled, {relabel.get('kept_clean', 0)} left as they were, "
            f"{relabel.get('kept_on_failure', 0)} kept their original after a failed relabel, "
            f"{relabel['quarantined']} quarantined; {usage.get('calls', 0)} live call(s), "
            f"{usage.get('cached_calls', 0)} cached, {usage.get('prompt_tokens', 0)}+"
            f"{usage.get('completion_tokens', 0)} tokens" + (f", cost {cost:.4f}" if cost is not None else "")
            + f"; review: {result.out_dir}/relabel.html, {result.out_dir}/relabel.diff.jsonl"
        )
    review = manifest.get("review") or {}
    if review:
        console.print("review (" + review["patch"]["name"] + "): " + ", ".join(
            f"{k} {v}" for k, v in review.items() if k != "patch") + f"; per decision: {result.out_dir}/review.jsonl")
        if review.get("refused"):
            err_console.print(f"[yellow]review warning:[/yellow] {review['refused']} decision(s) refused "
                              f"(their rows changed or are gone); see {result.out_dir}/review.jsonl")
    for warning in manifest.get("warnings") or []:
        err_console.print(f"[yellow]warning:[/yellow] {warning}")
    lint_summary = ", ".join(f"{k}={v}" for k, v in manifest["lint"].items()) or "clean"
    before = manifest.get("lint_before_quarantine")
    console.print(f"lint of the output: {lint_summary}" + (
        f" (before quarantine: {', '.join(f'{k}={v}' for k, v in before.items()) or 'clean'})" if before else ""))
    console.print(f"report: {result.out_dir}/report.md, {result.out_dir}/report.html  "
                  f"manifest: {result.out_dir}/manifest.json")
    return 0


@command
def _generate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate new candidate samples of a type with the LLM, for review")
    p.add_argument("--type", required=True, type=str.upper, choices=list("ABCD"), help="sample type to generate")
    p.add_argument("--n", type=int, default=20, help="how many candidates (with --from-paragraphs: at most)")
    p.add_argument("--from-paragraphs", metavar="FILE",
                   help="annotate these paragraphs (JSONL with paragraph/chapter_title, or one per line)")
    p.add_argument("--examples", metavar="DIR", default="data/raw", help="raw set to draw few-shot examples from")
    p.add_argument("--out", default="data/raw/generated", help="where accepted candidates are written")
    p.add_argument("--quarantine-dir", default="data/quarantine/generated", help="where rejected replies go")
    p.add_argument("--templates", metavar="DIR", help="prompt template directory (default: shipped templates)")
    p.add_argument("--concurrency", type=int, default=None, help="parallel requests (default: config, 8)")
    p.add_argument("--model", default=None, help="model name (default: FINSYNTH_MODEL or config)")
    p.add_argument("--cache", default=".finsynth/llm-cache.sqlite", help="response cache (SQLite)")
    p.add_argument("--max-reasks", type=int, default=None, help="validation re-asks per item (default: 2)")
    p.add_argument("--seed", type=int, default=0, help="seed for example choice and topic rotation")
    p.add_argument("--dry-run", action="store_true", help="print the rendered prompt of the first item and stop")
    _add_format(p)
    p.set_defaults(func=_run_generate)


def _run_generate(args: argparse.Namespace) -> int:
    from finsynth.llm.config import load_config
    from finsynth.synth.generate import build_jobs, generate

    if args.dry_run:
        jobs, _ = build_jobs(args.type, min(args.n, 1) or 1, from_paragraphs=args.from_paragraphs,
                             examples_dir=args.examples, template_dir=args.templates, seed=args.seed)
        if not jobs:
            raise UserError("nothing to generate (check --from-paragraphs and --n)")
        if args.format == "json":
            print_json({"messages": jobs[0].messages, "template_hash": jobs[0].template_hash})
        else:
            for message in jobs[0].messages:  # verbatim: a prompt must not be re-wrapped
                sys.stdout.write(f"--- {message['role']} ---\n{message['content']}\n")
        return 0
    config = load_config(model=args.model)
    result = generate(
        args.type, args.n, from_paragraphs=args.from_paragraphs, examples_dir=args.examples, out_dir=args.out,
        quarantine_dir=args.quarantine_dir, config=config, concurrency=args.concurrency, cache_path=args.cache,
        template_dir=args.templates, progress=args.format != "json", seed=args.seed, max_reasks=args.max_reasks,
    )
    summary = {
        "type": result.stats.type, "requested": result.stats.requested, "accepted": result.stats.accepted,
        "quarantined": result.stats.quarantined, "out": result.out_path, "quarantine": result.quarantine_path,
        "usage": result.usage.summary(config.model, config.prices, config.currency),
        "engine": result.stats.engine.model_dump() if result.stats.engine else None,
        "model": config.model, "template_hashes": result.stats.template_hashes,
    }
    if args.format == "json":
        print_json(summary)
    else:
        console.print(f"generated {summary['accepted']}/{summary['requested']} type {summary['type']} candidates"
                      f" -> {summary['out']}")
        if summary["quarantined"]:
            console.print(f"[yellow]{summary['quarantined']} rejected[/yellow] -> {summary['quarantine']}")
        usage = summary["usage"]
        cost = f", cost {usage['cost']} {usage['currency']}" if "cost" in usage else ""
        console.print(f"calls {usage['calls']} (+{usage['cached_calls']} from cache), tokens {usage['total_tokens']}"
                      f"{cost}")
    return 0 if result.stats.accepted or not result.stats.requested else 1


# --- eval / diagnose (evaluation and bad-case diagnosis) -------------------------------------


def _add_matcher_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--matcher", choices=["fuzzy", "reference", "embedding"], default="fuzzy",
                   help="metric-name matcher (default: fuzzy; reference reproduces the reference project)")
    p.add_argument("--threshold", type=float, help="match threshold (fuzzy 0.75, reference 0.5, embedding 0.85)")
    p.add_argument("--model", metavar="DIR", help="local sentence-transformers model for --matcher embedding")


@command
def _eval_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score predictions against gold test cases, or compare runs per scenario")
    p.add_argument("--pred", metavar="P", help="predictions (JSON or JSONL; raw model text or parsed extractions)")
    p.add_argument("--gold", metavar="G", help="gold test cases (JSONL)")
    p.add_argument("--compare", nargs="+", metavar="[LABEL=]RUN",
                   help="compare runs: eval JSON reports, recorded-verdict files, or predictions (with --gold)")
    p.add_argument("--cases", action="store_true", help="text/md: list every case, not only the failing ones")
    p.add_argument("--partial", action="store_true",
                   help="score only the gold cases that have a prediction (after `infer --limit N`); "
                        "the others are counted and left out")
    p.add_argument("--out", metavar="FILE", help="also write the JSON report to FILE (atomically)")
    p.add_argument("--lexicon", metavar="FILE", action="append", default=[],
                   help="a YAML lexicon file extending the built-in metric lexicon (repeatable; see "
                        "finsynth/text/lexicon/*.yaml for the format)")
    p.add_argument("--explain-match", nargs=2, metavar=("A", "B"),
                   help="say whether two metric names match under the matcher, and why (no --pred/--gold)")
    _add_matcher_args(p)
    _add_format(p, ("text", "md", "json"))
    p.set_defaults(func=_run_eval)




def _run_eval(args: argparse.Namespace) -> int:

    from finsynth.eval.scoring import (
        compare_runs,
        evaluate,
        load_gold,
        load_predictions,
        render_comparison_markdown,
        render_markdown,
    )
    from finsynth.io import write_json_atomic
    from finsynth.text.lexicon import load_lexicon
    from finsynth.text.names import get_matcher

    lexicon = load_lexicon(args.lexicon)
    if args.explain_match:
        return _explain_match(args, lexicon)
    if args.compare:
        comparison = compare_runs(args.compare, gold_path=args.gold,
                                  matcher=get_matcher(args.matcher, threshold=args.threshold,
                                                      model_path=args.model, lexicon=lexicon)
                                  if args.gold else args.matcher,
                                  threshold=args.threshold, model_path=args.model)
        if args.out:
            write_json_atomic(args.out, comparison)
        render(args.format, comparison, lambda: render_comparison_markdown(comparison))
        return 0
    if not args.pred or not args.gold:
        raise UserError("eval needs --pred and --gold (or --compare RUN ...)")
    _require(args.pred, "--pred")
    _require(args.gold, "--gold")
    matcher = get_matcher(args.matcher, threshold=args.threshold, model_path=args.model, lexicon=lexicon)
    gold = load_gold(args.gold)
    predictions = load_predictions(args.pred)
    with _Ticker("scoring", len(gold), args.format != "json") as ticker:
        report = evaluate(predictions, gold, matcher, pred_path=args.pred, gold_path=args.gold,
                          progress=ticker.advance, partial=args.partial)
    if report.missing:
        err_console.print(Text.assemble(("partial:", "yellow"), f" {report.missing} of {len(gold)} gold case(s) had "
                                        f"no prediction and are left out; scores cover {len(report.cases)}"))
    if args.out:
        write_json_atomic(args.out, report)
    if args.format == "json":
        print_json(report.model_dump(mode="json"))
        return 0
    text = render_markdown(report, failures=not args.cases)
    if args.cases:
        from finsynth.eval.scoring import markdown_table

        text += "\n### All cases\n\n" + markdown_table(
            ("#", "", "scenario", "gold", "predicted", "json"),
            [[str(c.index), c.status, c.scenario, "、".join(c.gold_names) or "-", "、".join(c.pred_names) or "-",
              "ok" if c.json_valid else f"invalid: {c.parse_error}"] for c in report.cases],
        ) + "\n"
    if args.format == "md":
        sys.stdout.write(text)
    else:
        _print_eval_text(report, all_cases=args.cases)
    return 0


def _explain_match(args: argparse.Namespace, lexicon) -> int:
    """`eval --explain-match A B`: one line (or a JSON object) saying whether A and B match, and why."""
    from finsynth.text.names import FuzzyMatcher, get_matcher

    a, b = args.explain_match
    matcher = get_matcher(args.matcher, threshold=args.threshold, model_path=args.model, lexicon=lexicon)
    if isinstance(matcher, FuzzyMatcher):
        info = matcher.explain(a, b)
    else:
        info = {"gold": a, "pred": b, "score": round(matcher.similarity(a, b), 4), "threshold": matcher.threshold,
                "same": matcher.same(a, b), "rewrites": [], "veto": None, "veto_rule": None}
    info = {"matcher": matcher.name, **info}
    if args.format == "json":
        print_json(info)
        return 0
    verdict = "same" if info["same"] else "different"
    why: list[str] = []
    for r in info["rewrites"]:
        why.append(f"{r['form']} -> {r['canonical']} ({r['category']}, {r['source']}: {r['ref']})")
    if info["veto_rule"]:
        v = info["veto_rule"]
        why.insert(0, f"vetoed: {v['reason']} ({v['kind']} {v['name']} in {v['category']}, {v['source']}: {v['ref']})")
    elif info.get("gold_variant") is not None and not why:
        why.append(f"compared {info['gold_variant']!r} with {info['pred_variant']!r}")
    elif info.get("gold_variant") is not None:
        why.insert(0, f"compared {info['gold_variant']!r} with {info['pred_variant']!r}")
    sys.stdout.write(f"{verdict}: {a} / {b}: {matcher.name} score {info['score']:.2f} "
                     f"(threshold {info['threshold']})" + ("; " + "; ".join(why) if why else "") + "\n")
    return 0


def _print_eval_text(report, all_cases: bool = False, limit: int = 50) -> None:
    """Terminal rendering: rich tables that wrap long Chinese names instead of truncating them."""
    from rich.table import Table

    short = {"single_metric": "single", "multi_metric": "multi", "boundary_many_numbers_one_core": "boundary",
             "financial_vs_business_classification": "fin_vs_biz", "empty_output_background": "background",
             "mixed_financial_business": "mixed"}

    def pct(v):
        return "-" if v is None else f"{100 * v:.0f}%"

    def row(name, x):
        return [name, str(x.n), str(x.strict), str(x.loose), f"{x.total} {pct(x.total_rate)}", pct(x.precision),
                pct(x.recall), pct(x.f1), pct(x.type_accuracy), f"{x.json_valid}/{x.n}",
                f"{x.mean_pred_count:.2f}/{x.mean_gold_count:.2f}" if x.n else "-"]

    console.print(f"[bold]{report.pred_path}[/bold] vs {report.gold_path}: matcher {report.matcher} "
                  f"(threshold {report.threshold}), aligned by {report.alignment}")
    table = Table(show_edge=False, pad_edge=False)
    for i, column in enumerate(("scope", "n", "✅", "🟡", "total", "P", "R", "F1", "type", "json", "pred/gold")):
        table.add_column(column, overflow="fold", justify="left" if i == 0 else "right")
    table.add_row(*row("overall", report.overall), style="bold")
    for scenario, summary in report.by_scenario.items():
        table.add_row(*row(short.get(scenario, scenario), summary))
    console.print(table)
    from finsynth.eval.scoring import scoring_line

    console.print(scoring_line(report), markup=False)
    if report.reference_agreement:
        ra = report.reference_agreement
        console.print(f"recorded verdicts reproduced: {ra.agree}/{ra.compared}")
    rows = [c for c in report.cases if all_cases or c.verdict != "strict"]
    if not rows:
        return
    cases = Table(title="all cases" if all_cases else "cases not strictly correct", show_edge=False)
    for column in ("#", "", "scenario", "gold", "predicted", "missed", "extra"):
        cases.add_column(column, overflow="fold")
    for c in rows[:None if all_cases else limit]:
        cases.add_row(str(c.index), c.status, short.get(c.scenario, c.scenario), "、".join(c.gold_names) or "-",
                      "、".join(c.pred_names) or ("invalid JSON" if not c.json_valid else "-"),
                      "、".join(c.missed) or "-", "、".join(c.extra) or "-")
    console.print(cases)
    if not all_cases and len(rows) > limit:
        console.print(f"... and {len(rows) - limit} more (--cases lists all, --format json has everything)")


@command
def _diagnose_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diagnose", help="failure mode and cause of every bad case, and a data plan")
    p.add_argument("--pred", metavar="P", required=True, help="predictions (as for eval)")
    p.add_argument("--gold", metavar="G", required=True, help="gold test cases (JSONL)")
    p.add_argument("--train", metavar="DIR", nargs="+", required=True, help="training samples: files or directories")
    p.add_argument("--ood-quantile", type=float, default=0.1,
                   help="out-of-distribution below this quantile of training nearest-neighbour similarity (0.1)")
    p.add_argument("--augment-per-case", type=int, default=8, help="targeted samples to add per bad case (8)")
    p.add_argument("--out", metavar="FILE", help="also write the JSON diagnosis to FILE (atomically)")
    _add_matcher_args(p)
    _add_format(p, ("text", "md", "json"))
    p.set_defaults(func=_run_diagnose)


def _run_diagnose(args: argparse.Namespace) -> int:
    from pathlib import Path

    from finsynth.eval.diagnose import diagnose, render_markdown
    from finsynth.eval.scoring import evaluate, load_gold, load_predictions
    from finsynth.io import expand_paths, load_paths, write_json_atomic
    from finsynth.text.names import get_matcher

    _require(args.pred, "--pred")
    _require(args.gold, "--gold")
    matcher = get_matcher(args.matcher, threshold=args.threshold, model_path=args.model)
    gold = load_gold(args.gold)
    report = evaluate(load_predictions(args.pred), gold, matcher, pred_path=args.pred, gold_path=args.gold)
    # A training directory may also hold the test set and the predictions (as ../shared/corpus does):
    # those two files are not training data, so they are skipped rather than quarantined.
    skip = {Path(args.pred).resolve(), Path(args.gold).resolve()}
    train_files = [f for f in expand_paths(args.train) if f.resolve() not in skip]
    train = load_paths([str(f) for f in train_files]) if train_files else None
    if train:
        _print_warnings(train)
    samples = train.samples if train else []
    if train and train.quarantined:
        # One line per file, not per row: a directory may hold unrelated JSON (e.g. a TAT-QA dump).
        from collections import Counter

        for path, n in Counter(q.path for q in train.quarantined).items():
            first = next(q for q in train.quarantined if q.path == path)
            err_console.print(f"[yellow]skipped[/yellow] {n} row(s) of {path} that are not training samples "
                              f"(line {first.line}: {first.field}: {first.reason[:120]})")
    if not samples:
        raise UserError(f"no valid training samples under {' '.join(args.train)}")
    # Names of training labels are compared with the fuzzy matcher even when evaluation used the
    # reference one: the reference rule's containment would call 营收 and 营收增速 the same label.
    label_matcher = matcher if args.matcher != "reference" else get_matcher("fuzzy")
    result = diagnose(report, gold, samples, label_matcher, ood_quantile=args.ood_quantile,
                      augment_per_case=args.augment_per_case)
    if args.out:
        write_json_atomic(args.out, result)
    render(args.format, result, lambda: render_markdown(result))
    return 0


@command
def _lint_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lint", help="check samples against the GUIDE's lessons; exits 1 when any error is found")
    p.add_argument("paths", nargs="*", metavar="PATH", help="sample JSONL/JSON files or directories")
    p.add_argument("--list", action="store_true", help="print the rules table (id, scope, severity, rationale)")
    p.add_argument("--explain", metavar="RULE", help="print a rule's documentation: what, why, examples, fix")
    p.add_argument("--against", metavar="TESTSET", help="test cases: training paragraphs near them are split leakage")
    p.add_argument("--select", "--rules", nargs="+", metavar="RULE", dest="select",
                   help="run only these rules (space- or comma-separated ids)")
    p.add_argument("--ignore", nargs="+", metavar="RULE", help="skip these rules")
    p.add_argument("--max-tokens", type=int, default=None, metavar="N",
                   help="training max_length the length rule checks against (default: 2048)")
    p.add_argument("--max-chars", type=int, default=None, metavar="N",
                   help="character bound of paragraph + analysis (default: max-tokens x 1.7)")
    p.add_argument("--tokenizer", metavar="PATH", help="local tokenizer.json (or its directory): the length "
                   "rule then counts the rendered training row's tokens")
    p.add_argument("--show", type=int, default=20, metavar="N", help="findings listed in text output (default: 20)")
    _add_format(p, ("text", "md", "json"))
    p.set_defaults(func=_run_lint)


def _rule_ids(values: Sequence[str] | None) -> list[str] | None:
    return [part.strip() for v in values for part in v.split(",") if part.strip()] if values else None


def _run_lint(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.table import Table

    from finsynth.audit.lint import (
        DEFAULT_MAX_TOKENS,
        RULES,
        LintOptions,
        lint_loaded,
        rules_markdown,
        rules_table,
        select_rules,
    )
    from finsynth.io import UserError, load_paths

    if args.list:
        render(args.format, {"rules": rules_table()}, rules_markdown)
        return 0
    if args.explain:
        rule = RULES.get(args.explain)
        if rule is None:
            raise UserError(f"--explain {args.explain}: no such rule; known: {', '.join(RULES)}")
        render(args.format, {"id": rule.id, "severity": rule.severity, "scope": rule.scope, "summary": rule.summary,
                             "rationale": rule.rationale, "fix": rule.fix, "fires": rule.fires.describe(),
                             "passes": rule.passes.describe()}, rule.explain)
        return 0
    if not args.paths:
        raise UserError("lint needs at least one PATH (or --list, or --explain RULE)")
    select, ignore = _rule_ids(args.select), _rule_ids(args.ignore)
    ran = {r.id for r in select_rules(select, ignore)}  # an unknown id fails here, before any file is read
    tokenizer = None
    if args.tokenizer:
        from finsynth.audit.tokens import load_tokenizer

        tokenizer = load_tokenizer(args.tokenizer)
    options = LintOptions.for_max_tokens(args.max_tokens or DEFAULT_MAX_TOKENS, tokenizer, args.max_chars)
    loaded = load_paths(args.paths)
    tests = load_paths([args.against], kind="test") if args.against else None
    for source in (loaded, tests):
        if source is not None:
            _print_warnings(source)
    with _Ticker("linting", len(loaded.records) + 1, args.format == "text") as ticker:
        result = lint_loaded(loaded, tests, rules=select, ignore=ignore, options=options, on_progress=ticker.advance)
    if args.format == "json":
        print_json(result.to_json())
        return 1 if result.has_errors else 0
    if args.format == "md":
        render("md", result, lambda: _lint_markdown(result))
        return 1 if result.has_errors else 0
    severities = result.severity_counts()
    unreadable = result.counts.get("unreadable-row", 0)
    console.print(f"linted {len(loaded.records)} row(s) from {len(loaded.files)} file(s)"
                  + (f" against {len(tests.records)} test case(s)" if tests else "")
                  + (f", [red]{unreadable} row(s) did not load[/red]" if unreadable else "")
                  + f": [red]{severities['error']} error(s)[/red], [yellow]{severities['warning']} warning(s)[/yellow], "
                  f"{severities['info']} info")
    table = Table(title="findings per rule")
    for column in ("rule", "severity", "scope", "findings"):
        table.add_column(column, justify="right" if column == "findings" else "left")
    style = {"error": "red", "warning": "yellow", "info": "cyan"}
    for rule_id, rule in RULES.items():
        n = result.counts.get(rule_id, 0)
        table.add_row(rule_id, f"[{style[rule.severity]}]{rule.severity}[/]", rule.scope,
                      str(n) if rule_id in ran else "-", style=None if n else "dim")
    console.print(table)
    for rule_id, rule in RULES.items():
        if result.counts.get(rule_id):
            console.print(f"  [bold]{rule_id}[/bold]: {rule.rationale}  (finsynth lint --explain {rule_id})")
    if result.findings and args.show > 0:
        rank = {"error": 0, "warning": 1, "info": 2}
        first = sorted(result.findings, key=lambda f: rank[f.severity])[: args.show]
        # one finding a line, ruff-style ("path:line: severity rule: message"): paths stay whole for an editor
        console.print(f"first {len(first)} of {len(result.findings)} finding(s), errors first:")
        for f in first:
            where = f"{f.path}:{f.line}" if f.path else "(dataset)"
            console.print(f"{escape(where)}: [{style[f.severity]}]{f.severity}[/] [bold]{f.rule}[/bold]: {escape(f.message)}",
                          soft_wrap=True, markup=True, highlight=False)
    return 1 if result.has_errors else 0


def _lint_markdown(result) -> str:
    lines = ["| severity | rule | where | message |", "|---|---|---|---|"]
    for f in result.findings:
        where = f"{f.path}:{f.line}" if f.path else "(dataset)"
        lines.append(f"| {f.severity} | `{f.rule}` | {where} | " + f.message.replace("|", "\\|") + " |")
    return "\n".join(lines) + "\n"


# --- export (train/ integration) ------------------------------------------------------------------


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


@command
def _annotator_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("annotator", help="the offline annotator: fit its category model on your own labelled rows")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    fit = actions.add_parser("fit", help="fit the category model on labelled Type B/D rows (files or directories)")
    fit.add_argument("paths", nargs="+", help="labelled JSONL files or directories (e.g. data/raw)")
    fit.add_argument("--out", default=None,
                     help="where to store the model (default: .finsynth/annotator-model.json)")
    _add_format(fit)
    fit.set_defaults(func=_run_annotator_fit)


def _run_annotator_fit(args: argparse.Namespace) -> int:
    from finsynth.synth.annotators.model import DEFAULT_MODEL_PATH, fit_model, save_model

    for path in args.paths:
        _require(path, "paths")
    loaded = _load_or_exit(args.paths)
    model = fit_model(loaded.samples)
    path = save_model(model, args.out or DEFAULT_MODEL_PATH)
    summary = {"path": str(path), "rows": model.rows, "examples": model.examples,
               "features": len(model.vocabulary)}
    if args.format == "json":
        print_json(summary)
        return 0
    console.print(f"fitted on {model.examples} candidate item(s) from {model.rows} B/D row(s), "
                  f"{len(model.vocabulary)} features -> {path}")
    return 0


# --- ingest (documents -> paragraphs) ----------------------------------------------------------


@command
def _ingest_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="PDF, DOCX, Markdown and text documents -> clean chapter-aware paragraphs "
                                      "(JSONL for generate --from-paragraphs); exits 1 when a file could not be read")
    p.add_argument("paths", nargs="+", metavar="PATH", help="documents, or directories of them")
    p.add_argument("--out", required=True, metavar="FILE.jsonl", help="chunk rows (and FILE.outline.md beside it)")
    p.add_argument("--min-chars", type=int, default=100, help="a shorter chunk merges with its neighbour (100)")
    p.add_argument("--max-chars", type=int, default=2000, help="a longer chunk splits at sentence ends (2000)")
    p.add_argument("--target-chars", type=int, default=500, help="paragraphs under one heading merge up to this (500)")
    p.add_argument("--redact", action="store_true", help="replace phone, ID, bank card numbers and e-mails")
    p.add_argument("--candidates", action="store_true", help="add each chunk's mentions and a suggested sample type")
    p.add_argument("--workers", type=int, default=1, help="documents processed in parallel (1)")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local processes, or Ray Data (pip install 'finsynth[ray]')")
    p.add_argument("--no-ocr", action="store_true", help="do not OCR pages without a text layer")
    _add_format(p)
    p.set_defaults(func=_run_ingest)


def _run_ingest(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from finsynth.ingest import IngestOptions, ingest
    from finsynth.ingest.run import summary_markdown

    try:
        options = IngestOptions(min_chars=args.min_chars, max_chars=args.max_chars, target_chars=args.target_chars,
                                redact=args.redact, candidates=args.candidates, workers=args.workers,
                                engine=args.engine, ocr=not args.no_ocr)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = "--" + str(error["loc"][0]).replace("_", "-") if error["loc"] else "options"
        raise UserError(f"{field}: {error['msg'].removeprefix('Value error, ')}") from None
    result = ingest(args.paths, options, out=args.out)
    summary = result.summary
    for doc in summary.documents:
        if not doc.ok:
            err_console.print(Text.assemble(("not read:", "yellow"), f" {doc.file}: {doc.error}"))
    render(args.format, summary, lambda: summary_markdown(summary))
    return 1 if summary.files_failed else 0
