"""`finsynth qa`: financial QA datasets (`import-tatqa`, `eval` here; `tables`, `generate`, `lint`, `judge`
each in its own module, registered below)."""

from __future__ import annotations

import argparse
import sys

from finsynth.cli.app import _add_format, _require, command, print_json


@command
def _qa_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("qa", help="financial QA datasets: import TAT-QA, score QA predictions")
    qa = p.add_subparsers(dest="qa_command", required=True, metavar="QA_COMMAND")
    imp = qa.add_parser("import-tatqa", help="turn a TAT-QA JSON file into QA samples (JSONL)")
    imp.add_argument("file", metavar="FILE", help="a TAT-QA dataset file, e.g. tatqa_dataset_dev.json")
    imp.add_argument("--out", metavar="DIR", required=True, help="output directory (writes qa.jsonl)")
    _add_format(imp)
    imp.set_defaults(func=_run_import_tatqa)
    ev = qa.add_parser("eval", help="TAT-QA exact match and numeracy-focused F1, per answer type and scale")
    ev.add_argument(
        "--pred",
        metavar="P",
        required=True,
        help='predictions: JSONL rows {"id" or "uid", "answer", optional "scale"} (QA sample rows too: '
        "their answer object is read), or the official {uid: [answer, scale]} JSON file",
    )
    ev.add_argument(
        "--gold", metavar="G", required=True, help="gold: QA samples JSONL (from import-tatqa) or a TAT-QA dataset file"
    )
    ev.add_argument(
        "--metric",
        choices=["official", "lenient"],
        default="official",
        help="official (default): TAT-QA's tatqa_eval.py, the leaderboard figure; lenient: also report "
        "finsynth's lenient EM/F1 (scale mismatches rescaled, spans as separate bags) beside it",
    )
    ev.add_argument(
        "--details",
        metavar="FILE",
        help="also write one JSONL row per gold question (prediction, EM, F1), to compare per question",
    )
    _add_format(ev)
    ev.set_defaults(func=_run_qa_eval)
    parsers = [imp, ev]
    from finsynth.cli import qa_generate, qa_judge, qa_lint, qa_tables

    for module in (qa_tables, qa_generate, qa_lint, qa_judge):
        parsers.extend(module.register(qa))
    for parser in parsers:  # `--debug` after the QA subcommand too (add_debug_flag reaches only `qa`)
        parser.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of an error"
        )


def _run_import_tatqa(args: argparse.Namespace) -> int:
    from pathlib import Path

    from finsynth.io import write_jsonl_atomic
    from finsynth.qa.tatqa import import_tatqa

    _require(args.file, "FILE")
    samples, summary = import_tatqa(args.file)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary["out"] = str(write_jsonl_atomic(out / "qa.jsonl", samples))
    if args.format == "json":
        print_json(summary)
    else:
        skipped = sum(summary["skipped"].values())
        sys.stdout.write(
            f"{summary['file']}: {summary['contexts']} contexts, {summary['questions']} questions"
            f" -> {summary['imported']} samples, {skipped} skipped -> {summary['out']}\n"
        )
        sys.stdout.write("by type: " + ", ".join(f"{k} {v}" for k, v in summary["by_kind"].items()) + "\n")
        sys.stdout.write("by scale: " + ", ".join(f"{k} {v}" for k, v in summary["by_scale"].items()) + "\n")
        shown = 20
        for q in summary["skipped_questions"][:shown]:
            sys.stdout.write(
                f"skipped {q['uid'] or '(no uid)'} (context {q['context']}, question {q['question']}): {q['reason']}\n"
            )
        if len(summary["skipped_questions"]) > shown:
            sys.stdout.write(
                f"... and {len(summary['skipped_questions']) - shown} more skipped (every one in --format json)\n"
            )
    return 0 if summary["reconciles"] else 1


def _run_qa_eval(args: argparse.Namespace) -> int:
    from finsynth.io import write_jsonl_atomic
    from finsynth.qa.tatqa import evaluate, load_gold, load_predictions, render_eval_text, score_questions

    _require(args.pred, "--pred")
    _require(args.gold, "--gold")
    predictions, gold = load_predictions(args.pred), load_gold(args.gold)
    report = evaluate(predictions, gold, metric=args.metric)
    if args.details:
        report["details"] = str(write_jsonl_atomic(args.details, score_questions(predictions, gold, args.metric)))
    if args.format == "json":
        print_json(report)
    else:
        sys.stdout.write(render_eval_text(report))
    return 0
