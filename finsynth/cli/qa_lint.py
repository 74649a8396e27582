"""`finsynth qa lint`: lint QA samples (grounding, leaks, duplicates, split leakage, fixed counts)."""

from __future__ import annotations

import argparse
import sys

from finsynth.cli.app import _add_format, _require, _Ticker, print_json


def register(qa: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    """Add `qa lint` to the `finsynth qa` subcommands; return the parsers added (for `--debug`)."""
    p = qa.add_parser("lint", help="lint QA samples (JSONL); exits 1 when any error is found")
    p.add_argument("files", nargs="*", metavar="FILE", help="QA sample JSONL files")
    p.add_argument("--test", metavar="T", help="test-set QA samples: training samples near them are split leakage")
    p.add_argument("--rules", action="store_true", help="list the rules (id, scope, severity, rationale)")
    p.add_argument("--explain", metavar="RULE", help="print a rule's documentation: what, why, examples, fix")
    _add_format(p)
    p.set_defaults(func=_run_qa_lint)
    return [p]


def _run_qa_lint(args: argparse.Namespace) -> int:
    from finsynth.io import UserError
    from finsynth.markdown import markdown_table
    from finsynth.qa.lint import QA_RULES, lint_qa, rules_table
    from finsynth.qa.progress import count_rows
    from finsynth.qa.tatqa import load_gold

    if args.rules:
        rows = rules_table()
        if args.format == "json":
            print_json({"rules": rows})
        else:
            sys.stdout.write(
                markdown_table(["rule", "scope", "severity", "rationale"], [list(r.values()) for r in rows]) + "\n"
            )
        return 0
    if args.explain:
        rule = QA_RULES.get(args.explain)
        if rule is None:
            raise UserError(f"--explain {args.explain}: no such rule; known: {', '.join(QA_RULES)}")
        if args.format == "json":
            print_json(rule.doc())
        else:
            sys.stdout.write(rule.explain())
        return 0
    if not args.files:
        raise UserError("qa lint needs at least one FILE (or --rules, or --explain RULE)")
    for path in args.files:
        _require(path, "FILE")
    if args.test:
        _require(args.test, "--test")
    # progress on stderr: every training row read, then linted; every test row read
    total = 2 * count_rows(args.files) + (count_rows([args.test]) if args.test else 0)
    with _Ticker("qa lint", total, args.format != "json") as ticker:
        samples = [s for path in args.files for s in load_gold(path, ticker.advance)]
        test = load_gold(args.test, ticker.advance) if args.test else None
        result = lint_qa(samples, test, on_progress=ticker.advance)
    if args.format == "json":
        print_json(result.model_dump())
        return 1 if result.errors else 0
    for f in result.findings:
        sys.stdout.write(f"{f.sample_id or '(dataset)'}: {f.severity} {f.rule}: {f.message}\n")
    sys.stdout.write(
        f"linted {len(samples)} sample(s)"
        + (f" against {len(test)} test sample(s)" if test else "")
        + f": {result.errors} error(s), {result.warnings} warning(s)\n\n"
    )
    sys.stdout.write(
        markdown_table(
            ["rule", "severity", "findings"], [[r.id, r.severity, result.by_rule[r.id]] for r in QA_RULES.values()]
        )
        + "\n"
    )
    return 1 if result.errors else 0
