"""`finsynth report` and `finsynth lint`: what a dataset looks like and what is wrong with it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from finsynth.cli.app import (
    _add_format,
    _print_warnings,
    _show_loaded,
    _Ticker,
    command,
    console,
    err_console,
    print_json,
    render,
)
from finsynth.io import UserError


@command
def _report_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="count distribution per type (and against a test set), styles, lengths, lint; "
        "--format html for the reviewer's visual report",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="training JSONL/JSON files or directories")
    p.add_argument("--against", metavar="TESTSET", help="test cases to compare the count distribution with")
    p.add_argument("--no-lint", action="store_true", help="skip the lint summary (and the findings browser)")
    p.add_argument(
        "--tokenizer",
        metavar="PATH",
        help="local tokenizer (model directory or tokenizer.json) for token-length distributions",
    )
    p.add_argument("--plot", metavar="PNG", help="also save a bar chart of the count distributions")
    p.add_argument(
        "--max-findings",
        type=int,
        metavar="N",
        help="findings shown in the HTML browser, shared fairly between rules (default 400)",
    )
    p.add_argument("-o", "--out", metavar="FILE", help="write the report to FILE (atomically) instead of stdout")
    _add_format(p, ("text", "md", "json", "html"))
    p.set_defaults(func=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    if args.max_findings is not None and args.max_findings < 0:
        raise UserError("--max-findings must be 0 or more")
    from finsynth.audit.run import audit_dataset, lint_units, load_dataset, render_audit
    from finsynth.io import write_text_atomic

    loaded, tests = load_dataset(args.paths, args.against)
    for result in (loaded, tests):
        if result is not None:
            _show_loaded(result)
    with _Ticker("linting", lint_units(loaded), args.format != "json" and not args.no_lint) as ticker:
        audit = audit_dataset(
            loaded,
            tests,
            against=args.against,
            lint=not args.no_lint,
            tokenizer=args.tokenizer,
            paths=args.paths,
            on_progress=ticker.advance,
        )
    if args.plot:
        from finsynth.audit.html.charts import save_count_plot

        save_count_plot(audit.report, args.plot)
        err_console.print(f"plot written to {args.plot}")
    if args.format == "text" and not args.out:
        render(args.format, audit.report.to_json(), audit.report.to_markdown)
        return 0
    text = render_audit(
        audit,
        args.format if args.format in ("html", "json") else "md",
        paths=args.paths,
        max_findings=args.max_findings,
    )
    if args.out:
        write_text_atomic(args.out, text)
        err_console.print(f"report written to {args.out}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


@command
def _lint_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lint", help="check samples against the GUIDE's lessons; exits 1 when any error is found")
    p.add_argument("paths", nargs="*", metavar="PATH", help="sample JSONL/JSON files or directories")
    p.add_argument("--list", action="store_true", help="print the rules table (id, scope, severity, rationale)")
    p.add_argument("--explain", metavar="RULE", help="print a rule's documentation: what, why, examples, fix")
    p.add_argument("--against", metavar="TESTSET", help="test cases: training paragraphs near them are split leakage")
    p.add_argument(
        "--select",
        "--rules",
        nargs="+",
        metavar="RULE",
        dest="select",
        help="run only these rules (space- or comma-separated ids)",
    )
    p.add_argument("--ignore", nargs="+", metavar="RULE", help="skip these rules")
    p.add_argument(
        "--preview",
        action="store_true",
        help="also run the rules in preview (new, not yet stable; `--list --format json` shows each status)",
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        metavar="N",
        help="training max_length the length rule checks against (default: 2048)",
    )
    p.add_argument(
        "--max-chars",
        type=int,
        default=None,
        metavar="N",
        help="character bound of paragraph + analysis (default: max-tokens x 1.7)",
    )
    p.add_argument(
        "--tokenizer",
        metavar="PATH",
        help="local tokenizer.json (or its directory): the length rule then counts the rendered training row's tokens",
    )
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
    from finsynth.audit.run import load_dataset
    from finsynth.io import UserError

    if args.list:
        render(args.format, {"rules": rules_table()}, rules_markdown)
        return 0
    if args.explain:
        rule = RULES.get(args.explain)
        if rule is None:
            raise UserError(f"--explain {args.explain}: no such rule; known: {', '.join(RULES)}")
        render(args.format, rule.doc(), rule.explain)
        return 0
    if not args.paths:
        raise UserError("lint needs at least one PATH (or --list, or --explain RULE)")
    select, ignore = _rule_ids(args.select), _rule_ids(args.ignore)
    # an unknown id (or a preview rule without --preview) fails here, before any file is read
    ran = {r.id for r in select_rules(select, ignore, preview=args.preview)}
    tokenizer = None
    if args.tokenizer:
        from finsynth.audit.tokens import load_tokenizer

        tokenizer = load_tokenizer(args.tokenizer)
    options = LintOptions.for_max_tokens(args.max_tokens or DEFAULT_MAX_TOKENS, tokenizer, args.max_chars)
    loaded, tests = load_dataset(args.paths, args.against)
    for source in (loaded, tests):
        if source is not None:
            _print_warnings(source)
    with _Ticker("linting", len(loaded.records) + 1, args.format == "text") as ticker:
        result = lint_loaded(
            loaded,
            tests,
            rules=select,
            ignore=ignore,
            options=options,
            on_progress=ticker.advance,
            preview=args.preview,
        )
    if args.format == "json":
        print_json(result.to_json())
        return 1 if result.has_errors else 0
    if args.format == "md":
        render("md", result, lambda: _lint_markdown(result))
        return 1 if result.has_errors else 0
    severities = result.severity_counts()
    unreadable = result.counts.get("unreadable-row", 0)
    console.print(
        f"linted {len(loaded.records)} row(s) from {len(loaded.files)} file(s)"
        + (f" against {len(tests.records)} test case(s)" if tests else "")
        + (f", [red]{unreadable} row(s) did not load[/red]" if unreadable else "")
        + f": [red]{severities['error']} error(s)[/red], [yellow]{severities['warning']} warning(s)[/yellow], "
        f"{severities['info']} info"
    )
    table = Table(title="findings per rule")
    for column in ("rule", "severity", "scope", "findings"):
        table.add_column(column, justify="right" if column == "findings" else "left")
    style = {"error": "red", "warning": "yellow", "info": "cyan"}
    for rule_id, rule in RULES.items():
        n = result.counts.get(rule_id, 0)
        table.add_row(
            rule_id,
            f"[{style[rule.severity]}]{rule.severity}[/]",
            rule.scope,
            str(n) if rule_id in ran else "-",
            style=None if n else "dim",
        )
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
            console.print(
                f"{escape(where)}: [{style[f.severity]}]{f.severity}[/] [bold]{f.rule}[/bold]: {escape(f.message)}",
                soft_wrap=True,
                markup=True,
                highlight=False,
            )
    return 1 if result.has_errors else 0


def _lint_markdown(result) -> str:
    from finsynth.markdown import markdown_table

    rows = [
        (f.severity, f"`{f.rule}`", f"{f.path}:{f.line}" if f.path else "(dataset)", f.message) for f in result.findings
    ]
    return markdown_table(("severity", "rule", "where", "message"), rows) + "\n"


@command
def _review_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("review", help="review patches: `review hash PATH...` gives each row's id and content_hash")
    actions = p.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    h = actions.add_parser(
        "hash",
        help="each training row's id and content_hash, for writing a review patch "
        "(build --apply-review) without report.html",
    )
    h.add_argument("paths", nargs="+", metavar="PATH", help="sample JSONL/JSON files or directories (e.g. data/built)")
    _add_format(h)
    h.set_defaults(func=_run_review_hash)


def _run_review_hash(args: argparse.Namespace) -> int:
    from finsynth.audit.review import row_hashes
    from finsynth.audit.run import load_dataset

    loaded, _ = load_dataset(args.paths)
    _show_loaded(loaded)
    rows = row_hashes(loaded.records)
    if args.format == "json":
        print_json(rows)
    else:  # one row a line, tab-separated: id, content_hash, type, where it was read
        sys.stdout.write(
            "".join(f"{r['id']}\t{r['content_hash']}\t{r['type']}\t{r['path']}:{r['line']}\n" for r in rows)
        )
    return 0


# --- export (train/ integration) ------------------------------------------------------------------
