"""The command line: parse arguments, call the library, render. Nothing else lives here.

Each subcommand has a `_<name>_parser(sub)` that registers it and a `_run_<name>(args) -> int`.
Every reporting command accepts `--format json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console

from . import __version__

console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_json(payload: Any) -> None:
    """Machine-readable output: one JSON document on stdout, Chinese unescaped."""
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        err_console.print("[red]interrupted[/red]")
        return 130
    except (FileNotFoundError, ValueError) as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        return 2


# --- subcommands register below -------------------------------------------------------------
