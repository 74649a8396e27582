"""`finsynth generate` and `finsynth annotator fit`: new candidate rows and the offline annotator's model."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from finsynth.cli.app import (
    _add_format,
    _load_or_exit,
    _require,
    _stop_if_aborted,
    command,
    console,
    print_json,
)
from finsynth.io import UserError


@command
def _generate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate new candidate samples of a type with the LLM, for review")
    p.add_argument("--type", required=True, type=str.upper, choices=list("ABCD"), help="sample type to generate")
    p.add_argument("--n", type=int, default=20, help="how many candidates (with --from-paragraphs: at most)")
    p.add_argument(
        "--from-paragraphs",
        metavar="FILE",
        help="annotate these paragraphs (JSONL with paragraph/chapter_title, or one per line)",
    )
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
    from finsynth.prompts import Templates
    from finsynth.synth.generate import build_jobs, generate

    if args.dry_run:
        jobs, _ = build_jobs(
            args.type,
            min(args.n, 1) or 1,
            from_paragraphs=args.from_paragraphs,
            examples_dir=args.examples,
            templates=Templates(args.templates),
            seed=args.seed,
        )
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
        args.type,
        args.n,
        from_paragraphs=args.from_paragraphs,
        examples_dir=args.examples,
        out_dir=args.out,
        quarantine_dir=args.quarantine_dir,
        config=config,
        concurrency=args.concurrency,
        cache_path=args.cache,
        templates=Templates(args.templates),
        progress=args.format != "json",
        seed=args.seed,
        max_reasks=args.max_reasks,
    )
    summary = {
        "type": result.stats.type,
        "requested": result.stats.requested,
        "accepted": result.stats.accepted,
        "quarantined": result.stats.quarantined,
        "out": result.out_path,
        "quarantine": result.quarantine_path,
        "usage": result.usage.summary(config.model, config.prices, config.currency),
        "engine": result.stats.engine.model_dump() if result.stats.engine else None,
        "model": config.model,
        "template_hashes": result.stats.template_hashes,
    }
    if args.format == "json":
        print_json(summary)
    else:
        console.print(
            f"generated {summary['accepted']}/{summary['requested']} type {summary['type']} candidates"
            f" -> {summary['out']}"
        )
        if summary["quarantined"]:
            console.print(f"[yellow]{summary['quarantined']} rejected[/yellow] -> {summary['quarantine']}")
        usage: dict[str, Any] = summary["usage"]  # type: ignore[assignment]  # the summary's usage is a dict
        cost = f", cost {usage['cost']} {usage['currency']}" if "cost" in usage else ""
        console.print(
            f"calls {usage['calls']} (+{usage['cached_calls']} from cache), tokens {usage['total_tokens']}{cost}"
        )
    engine = result.stats.engine
    _stop_if_aborted(
        "generate", engine.aborted if engine else None, f"the rows it could not do are in {summary['quarantine']}"
    )
    return 0 if result.stats.accepted or not result.stats.requested else 1


# --- eval / diagnose (evaluation and bad-case diagnosis) -------------------------------------


@command
def _annotator_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("annotator", help="the offline annotator: fit its category model on your own labelled rows")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    fit = actions.add_parser("fit", help="fit the category model on labelled Type B/D rows (files or directories)")
    fit.add_argument("paths", nargs="+", help="labelled JSONL files or directories (e.g. data/raw)")
    fit.add_argument("--out", default=None, help="where to store the model (default: .finsynth/annotator-model.json)")
    _add_format(fit)
    fit.set_defaults(func=_run_annotator_fit)


def _run_annotator_fit(args: argparse.Namespace) -> int:
    from finsynth.synth.annotators.model import DEFAULT_MODEL_PATH, fit_model, save_model

    for path in args.paths:
        _require(path, "paths")
    loaded = _load_or_exit(args.paths)
    try:
        model = fit_model(loaded.samples)
    except ValueError as error:
        raise UserError(f"{', '.join(args.paths)}: {error}") from error
    path = save_model(model, args.out or DEFAULT_MODEL_PATH)
    summary = {"path": str(path), "rows": model.rows, "examples": model.examples, "features": len(model.vocabulary)}
    if args.format == "json":
        print_json(summary)
        return 0
    console.print(
        f"fitted on {model.examples} candidate item(s) from {model.rows} B/D row(s), "
        f"{len(model.vocabulary)} features -> {path}"
    )
    return 0


# --- ingest (documents -> paragraphs) ----------------------------------------------------------
