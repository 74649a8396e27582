"""`finsynth qa generate`: grounded QA from text chunks through an LLM endpoint."""

from __future__ import annotations

import argparse

from finsynth.cli.app import _add_format, _require, _stop_if_aborted, console, err_console, print_json
from finsynth.io import UserError


def register(qa: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    """Add `qa generate` to the `finsynth qa` subcommands; return the parsers added (for `--debug`)."""
    from finsynth.qa.schema import Difficulty, Kind

    kinds, levels = ", ".join(_literal(Kind)), ", ".join(_literal(Difficulty))
    p = qa.add_parser("generate", help="grounded QA samples from text chunks through the configured LLM endpoint")
    p.add_argument(
        "chunks",
        metavar="CHUNKS",
        help='chunks JSONL: what `finsynth ingest` writes, or {"id", "text", optional "source"} rows',
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        required=True,
        help="output directory (writes qa.jsonl, quarantine.jsonl and summary.json)",
    )
    p.add_argument(
        "--qtypes",
        nargs="+",
        metavar="KIND",
        default=None,
        help=f"question kinds to ask (space- or comma-separated; default all: {kinds})",
    )
    p.add_argument(
        "--difficulty", nargs="+", metavar="LEVEL", default=None, help=f"difficulties to ask (default all: {levels})"
    )
    p.add_argument("--language", choices=["zh", "en"], default="zh", help="language of questions and answers")
    p.add_argument("--style", default="", help="question style, free text (e.g. 像卖方分析师一样具体)")
    p.add_argument("--length", choices=["short", "medium", "long"], default="short", help="question length")
    p.add_argument(
        "--punct-rate",
        type=float,
        default=0.0,
        metavar="R",
        help="share of chunks whose sample context has its punctuation removed (0-1, default 0)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for the augmentation draw and retry jitter")
    p.add_argument("--concurrency", type=int, default=None, help="parallel requests (default: config, 8)")
    p.add_argument("--max-reasks", type=int, default=None, help="validation re-asks per reply (default: config, 2)")
    p.add_argument("--model", default=None, help="model name (default: FINSYNTH_MODEL or config)")
    p.add_argument("--cache", default=".finsynth/llm-cache.sqlite", metavar="PATH", help="response cache (SQLite)")
    p.add_argument("--templates", metavar="DIR", help="prompt template directory (default: shipped templates)")
    _add_format(p)
    p.set_defaults(func=_run_qa_generate)
    return [p]


def _literal(alias) -> list[str]:
    from typing import get_args

    return list(get_args(alias))


def _split(values: list[str] | None) -> list[str] | None:
    """`--qtypes span arithmetic` and `--qtypes span,arithmetic` alike."""
    if values is None:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _options(args: argparse.Namespace):
    from pydantic import ValidationError

    from finsynth.io import schema_errors
    from finsynth.qa.generate import QAGenConfig

    fields = {
        "qtypes": _split(args.qtypes),
        "difficulties": _split(args.difficulty),
        "language": args.language,
        "style": args.style,
        "question_length": args.length,
        "punct_rate": args.punct_rate,
        "seed": args.seed,
        "concurrency": args.concurrency,
        "max_reasks": args.max_reasks,
    }
    flags = {"qtypes": "--qtypes", "difficulties": "--difficulty", "punct_rate": "--punct-rate"}
    try:
        return QAGenConfig.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0])
        raise UserError(f"{flags.get(field, field)}: {error['input']!r}: {schema_errors(exc)}") from exc


def _run_qa_generate(args: argparse.Namespace) -> int:
    from finsynth.llm.config import load_config
    from finsynth.prompts import Templates
    from finsynth.qa.generate import generate_qa_file, require_endpoint

    options = _options(args)
    config = load_config(model=args.model)
    require_endpoint(config)
    _require(args.chunks, "CHUNKS", "give the chunks JSONL that `finsynth ingest` wrote")
    result = generate_qa_file(
        args.chunks,
        args.out,
        config,
        options,
        cache_path=args.cache,
        progress=args.format != "json",
        templates=Templates(args.templates),
    )
    failure = result.failure()
    if args.format == "json":
        print_json(result.summary())
    else:
        s = result.stats
        console.print(
            f"{s.chunks} chunk(s): {s.chunks_with_questions} with questions, {s.chunks_without_questions}"
            f" with none, {s.chunks_quarantined} quarantined; {s.questions} question(s): {s.answered}"
            f" answered, {s.questions_quarantined} quarantined ({s.unanswerable} unanswerable)"
        )
        console.print(
            f"samples -> {result.out_path}; {len(result.quarantined)} quarantine row(s) -> {result.quarantine_path}"
        )
        if s.rows_quarantined:
            console.print(f"[yellow]{s.rows_quarantined} input row(s) were not chunks[/yellow] (see the quarantine)")
        if s.augmented:
            console.print(f"punctuation removed in the context of {s.augmented} chunk(s)' samples")
        usage = result.usage
        console.print(
            f"calls {usage.calls} (+{usage.cached_calls} from cache), tokens {usage.total_tokens}, re-asks {s.reasks}"
        )
    _stop_if_aborted("qa generate", result.stats.aborted, f"every row is in {result.quarantine_path}")
    if failure:
        err_console.print(f"[red]qa generate failed:[/red] {failure}; every row is in {result.quarantine_path}")
        return 1
    return 0 if result.reconciles() else 1
