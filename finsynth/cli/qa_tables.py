"""`finsynth qa tables`: verified arithmetic QA from tables (offline)."""

from __future__ import annotations

import argparse
import sys

from finsynth.cli.app import _add_format, _require, print_json


def register(qa: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    """Add `qa tables` to the `finsynth qa` subcommands; return the parsers added (for `--debug`)."""
    p = qa.add_parser("tables", help="arithmetic QA computed from table cells, each answer rechecked (offline)")
    p.add_argument(
        "file",
        metavar="FILE",
        help="a TAT-QA JSON file, a QA samples JSONL (import-tatqa) or `finsynth ingest` chunks JSONL",
    )
    p.add_argument("--out", metavar="DIR", required=True, help="output directory (writes table_qa.jsonl)")
    p.add_argument("--lang", default="zh,en", metavar="LANGS", help="question languages, comma-separated (zh,en)")
    _add_format(p)
    p.set_defaults(func=_run_qa_tables)
    return [p]


def _run_qa_tables(args: argparse.Namespace) -> int:
    from pathlib import Path

    from finsynth.io import write_jsonl_atomic
    from finsynth.qa.tables import generate_table_qa

    _require(args.file, "FILE", "give a TAT-QA .json, a QA .jsonl or `finsynth ingest` chunks")
    languages = [lang.strip() for lang in args.lang.split(",") if lang.strip()]
    result = generate_table_qa(args.file, languages=languages)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = dict(result.summary, out=str(write_jsonl_atomic(out / "table_qa.jsonl", result.samples)))
    if args.format == "json":
        print_json(summary)
    else:
        sys.stdout.write(
            f"{summary['file']}: {summary['tables_read']} tables, {summary['tables_with_questions']} "
            f"with questions -> {summary['questions']} checked questions -> {summary['out']}\n"
        )
        sys.stdout.write(
            "by op/language: " + ", ".join(f"{k} {v}" for k, v in summary["by_op_language"].items()) + "\n"
        )
        for reason, n in summary["tables_skipped"].items():
            sys.stdout.write(f"tables skipped {n}: {reason}\n")
        for reason, n in summary["skipped"].items():
            sys.stdout.write(f"questions skipped {n}: {reason}\n")
    return 0 if summary["questions"] else 1
