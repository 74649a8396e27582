"""`finsynth ingest`: documents in, chapter-aware paragraphs out."""

from __future__ import annotations

import argparse
import re

from rich.text import Text

from finsynth.cli.app import (
    _add_format,
    _Ticker,
    command,
    err_console,
    flag_of,
    render,
)
from finsynth.io import UserError

PROGRESS_MIN_FILES = 2  # a bar (files done, ETA) on stderr once there is more than one file; transient


@command
def _ingest_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ingest",
        help="PDF, DOCX, Markdown and text documents -> clean chapter-aware paragraphs "
        "(JSONL for generate --from-paragraphs); exits 1 when a file could not be read",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="documents, or directories of them")
    p.add_argument("--out", required=True, metavar="FILE.jsonl", help="chunk rows (and FILE.outline.md beside it)")
    p.add_argument("--min-chars", type=int, default=100, help="a shorter chunk merges with its neighbour (100)")
    p.add_argument("--max-chars", type=int, default=2000, help="a longer chunk splits at sentence ends (2000)")
    p.add_argument("--target-chars", type=int, default=500, help="paragraphs under one heading merge up to this (500)")
    p.add_argument("--redact", action="store_true", help="replace phone, ID, bank card numbers and e-mails")
    p.add_argument("--candidates", action="store_true", help="add each chunk's mentions and a suggested sample type")
    p.add_argument("--workers", type=int, default=1, help="documents processed in parallel (1)")
    p.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local processes, or Ray Data (pip install 'finsynth[ray]')",
    )
    p.add_argument("--no-ocr", action="store_true", help="do not OCR pages without a text layer")
    _add_format(p)
    p.set_defaults(func=_run_ingest)


def _run_ingest(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from finsynth.ingest import IngestOptions, ingest
    from finsynth.ingest.run import collect, summary_markdown

    try:
        options = IngestOptions(
            min_chars=args.min_chars,
            max_chars=args.max_chars,
            target_chars=args.target_chars,
            redact=args.redact,
            candidates=args.candidates,
            workers=args.workers,
            engine=args.engine,
            ocr=not args.no_ocr,
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        field = flag_of(str(error["loc"][0])) if error["loc"] else "options"
        message = error["msg"].removeprefix("Value error, ")
        for name in IngestOptions.model_fields:  # the library names its settings; the command line has flags
            message = re.sub(rf"\b{name}\b", flag_of(name), message)
        raise UserError(f"{field}: {message}") from None
    files, _ = collect(args.paths)
    with _Ticker("ingesting files", len(files), args.format != "json", minimum=PROGRESS_MIN_FILES) as ticker:
        result = ingest(args.paths, options, out=args.out, on_progress=ticker.advance)
    summary = result.summary
    for doc in summary.documents:
        if not doc.ok:
            err_console.print(Text.assemble(("not read:", "yellow"), f" {doc.file}: {doc.error}"))
    render(args.format, summary, lambda: summary_markdown(summary))
    return 1 if summary.files_failed else 0
