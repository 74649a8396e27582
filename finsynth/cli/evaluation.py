"""`finsynth eval` and `finsynth diagnose`: scoring predictions and explaining their errors."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.text import Text

from finsynth.cli.app import (
    _add_format,
    _print_warnings,
    _require,
    _Ticker,
    command,
    console,
    err_console,
    print_json,
    render,
)
from finsynth.io import UserError


def _add_matcher_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--matcher",
        choices=["fuzzy", "reference", "embedding"],
        default="fuzzy",
        help="metric-name matcher (default: fuzzy; reference reproduces the reference project)",
    )
    p.add_argument("--threshold", type=float, help="match threshold (fuzzy 0.75, reference 0.5, embedding 0.85)")
    p.add_argument("--model", metavar="DIR", help="local sentence-transformers model for --matcher embedding")


@command
def _eval_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score predictions against gold test cases, or compare runs per scenario")
    p.add_argument("--pred", metavar="P", help="predictions (JSON or JSONL; raw model text or parsed extractions)")
    p.add_argument("--gold", metavar="G", help="gold test cases (JSONL)")
    p.add_argument(
        "--compare",
        nargs="+",
        metavar="[LABEL=]RUN",
        help="compare runs: eval JSON reports, recorded-verdict files, or predictions (with --gold)",
    )
    p.add_argument("--cases", action="store_true", help="text/md: list every case, not only the failing ones")
    p.add_argument(
        "--partial",
        action="store_true",
        help="score only the gold cases that have a prediction (after `infer --limit N`); "
        "the others are counted and left out",
    )
    p.add_argument("--out", metavar="FILE", help="also write the JSON report to FILE (atomically)")
    p.add_argument(
        "--lexicon",
        metavar="FILE",
        action="append",
        default=[],
        help="a YAML lexicon file extending the built-in metric lexicon (repeatable; see "
        "finsynth/text/lexicon/*.yaml for the format)",
    )
    p.add_argument(
        "--explain-match",
        nargs=2,
        metavar=("A", "B"),
        help="say whether two metric names match under the matcher, and why (no --pred/--gold)",
    )
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
        comparison = compare_runs(
            args.compare,
            gold_path=args.gold,
            matcher=get_matcher(args.matcher, threshold=args.threshold, model_path=args.model, lexicon=lexicon)
            if args.gold
            else args.matcher,
            threshold=args.threshold,
            model_path=args.model,
        )
        if args.out:
            write_json_atomic(args.out, comparison)
        render(args.format, comparison, lambda: render_comparison_markdown(comparison))
        return 0
    if not args.pred or not args.gold:
        raise UserError("eval needs --pred and --gold (or --compare RUN ...)")
    _require(args.pred, "--pred", file=True)
    _require(args.gold, "--gold", file=True)
    matcher = get_matcher(args.matcher, threshold=args.threshold, model_path=args.model, lexicon=lexicon)
    gold = load_gold(args.gold)
    predictions = load_predictions(args.pred)
    with _Ticker("scoring", len(gold), args.format != "json") as ticker:
        report = evaluate(
            predictions,
            gold,
            matcher,
            pred_path=args.pred,
            gold_path=args.gold,
            progress=ticker.advance,
            partial=args.partial,
        )
    if report.missing:
        err_console.print(
            Text.assemble(
                ("partial:", "yellow"),
                f" {report.missing} of {len(gold)} gold case(s) had "
                f"no prediction and are left out; scores cover {len(report.cases)}",
            )
        )
    if args.out:
        write_json_atomic(args.out, report)
    if args.format == "json":
        print_json(report.model_dump(mode="json"))
        return 0
    text = render_markdown(report, failures=not args.cases, all_cases=args.cases)
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
    info: dict[str, Any]
    if isinstance(matcher, FuzzyMatcher):
        info = dict(matcher.explain(a, b))
    else:
        info = {
            "gold": a,
            "pred": b,
            "score": round(matcher.similarity(a, b), 4),
            "threshold": matcher.threshold,
            "same": matcher.same(a, b),
            "rewrites": [],
            "veto": None,
            "veto_rule": None,
        }
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
    sys.stdout.write(
        f"{verdict}: {a} / {b}: {matcher.name} score {info['score']:.2f} "
        f"(threshold {info['threshold']})" + ("; " + "; ".join(why) if why else "") + "\n"
    )
    return 0


def _print_eval_text(report, all_cases: bool = False, limit: int = 50) -> None:
    """Terminal rendering: rich tables that wrap long Chinese names instead of truncating them."""
    from rich.table import Table

    short = {
        "single_metric": "single",
        "multi_metric": "multi",
        "boundary_many_numbers_one_core": "boundary",
        "financial_vs_business_classification": "fin_vs_biz",
        "empty_output_background": "background",
        "mixed_financial_business": "mixed",
    }

    def pct(v):
        return "-" if v is None else f"{100 * v:.0f}%"

    def row(name, x):
        return [
            name,
            str(x.n),
            str(x.strict),
            str(x.loose),
            f"{x.total} {pct(x.total_rate)}",
            pct(x.precision),
            pct(x.recall),
            pct(x.f1),
            pct(x.type_accuracy),
            f"{x.json_valid}/{x.n}",
            f"{x.mean_pred_count:.2f}/{x.mean_gold_count:.2f}" if x.n else "-",
        ]

    console.print(
        f"[bold]{report.pred_path}[/bold] vs {report.gold_path}: matcher {report.matcher} "
        f"(threshold {report.threshold}), aligned by {report.alignment}"
    )
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
    for c in rows[: None if all_cases else limit]:
        cases.add_row(
            str(c.index),
            c.status,
            short.get(c.scenario, c.scenario),
            "、".join(c.gold_names) or "-",
            "、".join(c.pred_names) or ("invalid JSON" if not c.json_valid else "-"),
            "、".join(c.missed) or "-",
            "、".join(c.extra) or "-",
        )
    console.print(cases)
    if not all_cases and len(rows) > limit:
        console.print(f"... and {len(rows) - limit} more (--cases lists all, --format json has everything)")


@command
def _diagnose_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diagnose", help="failure mode and cause of every bad case, and a data plan")
    p.add_argument("--pred", metavar="P", required=True, help="predictions (as for eval)")
    p.add_argument("--gold", metavar="G", required=True, help="gold test cases (JSONL)")
    p.add_argument("--train", metavar="DIR", nargs="+", required=True, help="training samples: files or directories")
    p.add_argument(
        "--ood-quantile",
        type=float,
        default=0.1,
        help="out-of-distribution below this quantile of training nearest-neighbour similarity (0.1)",
    )
    p.add_argument("--augment-per-case", type=int, default=8, help="targeted samples to add per bad case (8)")
    p.add_argument("--out", metavar="FILE", help="also write the JSON diagnosis to FILE (atomically)")
    p.add_argument(
        "--recipe-out",
        metavar="DIR",
        help="also write the data plan as a recipe (DIR/plan.yaml + plan_compose.yaml) for "
        "benchmarks/outcome.py --recipe, so the plan is measured on the model",
    )
    _add_matcher_args(p)
    _add_format(p, ("text", "md", "json"))
    p.set_defaults(func=_run_diagnose)


def _run_diagnose(args: argparse.Namespace) -> int:
    from collections import Counter

    from finsynth.eval.diagnose import diagnose_files, render_markdown
    from finsynth.io import write_json_atomic

    _require(args.pred, "--pred", file=True)
    _require(args.gold, "--gold", file=True)
    result, train = diagnose_files(
        args.pred,
        args.gold,
        args.train,
        matcher=args.matcher,
        threshold=args.threshold,
        model_path=args.model,
        ood_quantile=args.ood_quantile,
        augment_per_case=args.augment_per_case,
    )
    _print_warnings(train)
    # one line per file, not per row: a directory may hold unrelated JSON (e.g. a TAT-QA dump)
    for path, n in Counter(q.path for q in train.quarantined).items():
        first = next(q for q in train.quarantined if q.path == path)
        err_console.print(
            f"[yellow]skipped[/yellow] {n} row(s) of {path} that are not training samples "
            f"(line {first.line}: {first.field}: {first.reason[:120]})"
        )
    if args.out:
        write_json_atomic(args.out, result)
    if args.recipe_out:
        from pathlib import Path

        from finsynth.eval.ablation import plan_recipe

        recipe, notes = plan_recipe(result, Path(args.recipe_out))
        err_console.print(f"data plan as a recipe: {recipe} (measure it: benchmarks/outcome.py --recipe {recipe})")
        for note in notes:
            err_console.print(f"[yellow]plan note:[/yellow] {note}")
    render(args.format, result, lambda: render_markdown(result))
    return 0
