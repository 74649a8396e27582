"""`finsynth qa judge`: judge QA samples and split into SFT and RL sets."""

from __future__ import annotations

import argparse

from rich.text import Text

from finsynth.cli.app import (
    _add_format,
    _require,
    _stop_if_aborted,
    _Ticker,
    console,
    err_console,
    print_json,
)


def register(qa: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    """Add `qa judge` to the `finsynth qa` subcommands; return the parsers added (for `--debug`)."""
    p = qa.add_parser("judge", help="score QA samples (offline checks + a rubric) and split into SFT and RL sets")
    p.add_argument("files", nargs="+", metavar="FILE", help="QA sample JSONL files (import-tatqa, generate, tables)")
    p.add_argument(
        "--out",
        metavar="DIR",
        required=True,
        help="output directory: sft/rl/quarantine/scores.jsonl, export/, grpo/, manifest.json, report.md",
    )
    p.add_argument("--test", metavar="T", help="test-set QA samples (JSONL): training rows leaking into it are errors")
    p.add_argument(
        "--human",
        metavar="H",
        help='human labels JSONL {"id", "grounding", "correctness", "completeness", "clarity"} (1-5, '
        "any subset): report the judge's agreement with them",
    )
    p.add_argument("--sft-min", type=int, default=4, metavar="N", help="SFT: every criterion >= N (default 4)")
    p.add_argument(
        "--rl-min",
        type=int,
        default=3,
        metavar="N",
        help="RL: a verifiable answer with grounding and correctness >= N (default 3)",
    )
    p.add_argument(
        "--rl-include-sft",
        action="store_true",
        help="also put the verifiable SFT samples that pass --rl-min in the RL set (default: disjoint, "
        "so a set where every verifiable sample passes SFT leaves RL empty: a warning says so)",
    )
    p.add_argument(
        "--judge",
        choices=["auto", "offline", "llm"],
        default="auto",
        help="auto: the LLM rubric when an endpoint is configured, else the offline one",
    )
    p.add_argument("--seed", type=int, default=0, help="seed (the engine's retry jitter; recorded in the manifest)")
    p.add_argument("--concurrency", type=int, default=None, help="parallel requests (default: config, 8)")
    p.add_argument("--max-reasks", type=int, default=None, help="re-asks of a malformed rubric (default: config, 2)")
    p.add_argument("--model", default=None, help="model name (default: FINSYNTH_MODEL or config)")
    p.add_argument("--cache", default=".finsynth/llm-cache.sqlite", metavar="PATH", help="response cache (SQLite)")
    p.add_argument("--templates", metavar="DIR", help="prompt template directory (default: shipped templates)")
    _add_format(p)
    p.set_defaults(func=_run_qa_judge)
    return [p]


def _run_qa_judge(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from finsynth.io import UserError, schema_errors
    from finsynth.llm.config import load_config
    from finsynth.prompts import Templates
    from finsynth.qa.judge import JudgeConfig, choose_judge, judge_files
    from finsynth.qa.progress import count_rows

    for path in args.files:
        _require(path, "FILE", "give QA sample JSONL files")
    if args.test:
        _require(args.test, "--test")
    if args.human:
        _require(args.human, "--human")
    try:
        config = JudgeConfig(
            sft_min=args.sft_min,
            rl_min=args.rl_min,
            seed=args.seed,
            judge=args.judge,
            rl_include_sft=args.rl_include_sft,
            concurrency=args.concurrency,
            max_reasks=args.max_reasks,
        )
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0]).replace("_", "-")
        raise UserError(f"--{field}: {schema_errors(exc)}") from exc
    endpoint = load_config(model=args.model)
    # the LLM rubric has the engine's own bar; the offline one a bar over rows read, linted and scored (3 each)
    offline = choose_judge(config.judge, endpoint)[0] == "offline"
    total = 3 * count_rows(args.files) if offline else 0
    with _Ticker("qa judge", total, args.format != "json") as ticker:
        result, doc = judge_files(
            args.files,
            args.out,
            endpoint,
            config,
            test_path=args.test,
            human_path=args.human,
            cache_path=args.cache,
            templates=Templates(args.templates),
            progress=args.format != "json",
            on_progress=ticker.advance,
        )
    failure = result.failure()
    for warning in doc["warnings"]:
        err_console.print(Text.assemble(("warning:", "yellow"), " ", warning))
    if args.format == "json":
        print_json({**doc, "out": args.out, "engine": result.engine})
    else:
        c = doc["counts"]
        console.print(f"judge: {doc['judge']} ({doc['judge_reason']})")
        also = f" (+{c['rl_from_sft']} from sft)" if c["rl_from_sft"] else ""
        console.print(
            f"read {c['read']}: sft {c['sft']}, rl {c['rl']}{also}, rejected {c['rejected']}, quarantined "
            f"{c['quarantined']} -> {args.out}"
        )
        for name, d in doc["distribution"].items():
            console.print(f"  {name}: " + " ".join(f"{k}:{v}" for k, v in d["counts"].items()) + f" mean {d['mean']}")
        if doc["human"] is not None:
            for name, a in doc["human"]["agreement"].items():
                console.print(
                    f"  human {name}: n {a['n']}, exact {a['exact']}, within-1 {a['within_one']}, "
                    f"kappa {a['quadratic_kappa']}, spearman {a['spearman']}"
                )
    _stop_if_aborted("qa judge", result.aborted, f"every row is in {args.out}/quarantine.jsonl")
    if failure:
        err_console.print(f"[red]qa judge failed:[/red] {failure}; every row is in {args.out}/quarantine.jsonl")
        return 1
    return 0
