"""The command line: parse arguments, call the library, render. Nothing else lives here.

Each subcommand has a `_<name>_parser(sub)` that registers it and a `_run_<name>(args) -> int`.
Every reporting command accepts `--format json`.

Exit codes (`finsynth.errors`): 0 ok, 1 findings or a failed run (lint errors, a stopped build, nothing
generated), 2 a user error, 70 an internal error (a bug), 130 interrupted.

Errors take one path (`run_command`, shared with `python -m train`). Library code raises a
`finsynth.errors.UserError` (`InputError`, `ConfigError`, ...) for whatever the user can fix; `run_command`
also counts as user errors the edge exceptions of the outside world: an `OSError` (a missing or unreadable
path, a full disk), undecodable bytes, a bad template, a missing optional package, and a pydantic
`ValidationError` (a value that broke a model's contract, named by model and field; a command whose options
are a model words them as flags with `settings_error`). A user error prints
one line, `error: MESSAGE`, on stderr and exits 2; with `--debug` (before or after the subcommand) its
traceback comes first; a setting the error names (`UserError.setting`) is shown as its flag. A
`finsynth.errors.Failure` (a stopped build, a diverged run) is one line and exit 1. Any other exception,
a bare `ValueError` included, is a bug: its traceback is always printed, then one line, and the exit code
is 70. `_run_*` functions raise rather than print their own errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, Self

from rich.console import Console
from rich.text import Text

from finsynth import __version__
from finsynth.errors import EXIT_FINDINGS, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USER_ERROR, Failure, UserError

console = Console(stderr=False, highlight=False)
# soft_wrap: an error names a file path, which must survive copy and paste whole, not folded at 80 columns
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def json_text(payload: Any) -> str:
    """One JSON document as the CLI prints it: indented, Chinese unescaped, newline-terminated."""
    return json.dumps(payload, ensure_ascii=False, indent=2) + "\n"


def print_json(payload: Any) -> None:
    """Machine-readable output: one JSON document on stdout."""
    sys.stdout.write(json_text(payload))


def render(fmt: str, payload: Any, markdown: Callable[[], str]) -> None:
    """Emit a result as JSON (a Pydantic model or plain data), raw Markdown, or Markdown on the terminal."""
    if fmt == "json":
        print_json(payload.model_dump(mode="json") if hasattr(payload, "model_dump") else payload)
    elif fmt == "md":
        text = markdown()
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        from rich.markdown import Markdown

        console.print(Markdown(markdown()))


class _Ticker:
    """A rich progress bar (count, rate, ETA) on stderr for long work; silent for small or JSON runs."""

    def __init__(self, description: str, total: int, enabled: bool, minimum: int = 2000):
        self.bar = None
        if enabled and total >= minimum:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            )
            self.task = self.bar.add_task(description, total=total)

    def __enter__(self) -> Self:
        if self.bar:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar:
            self.bar.stop()

    @property
    def advance(self) -> Callable[[int], None] | None:
        """A callback for library functions' progress hooks, or None when no bar is shown."""
        bar = self.bar
        if bar is None:
            return None
        return lambda n: bar.advance(self.task, n)


def _add_format(parser: argparse.ArgumentParser, choices: Sequence[str] = ("text", "json")) -> None:
    parser.add_argument("--format", choices=list(choices), default=choices[0], help="output format")


PARSERS: list[Callable[[argparse._SubParsersAction], None]] = []


def command(register: Callable[[argparse._SubParsersAction], None]):
    """Decorator: add a subcommand registration function to the CLI."""
    PARSERS.append(register)
    return register


COMMAND_MODULES = ("audit", "build", "synth", "evaluation", "ingest", "qa")  # each registers its commands on import


def build_parser() -> argparse.ArgumentParser:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"finsynth.cli.{name}")
    parser = argparse.ArgumentParser(
        prog="finsynth",
        description="Build, audit and evaluate SFT data for Chinese financial-report metric extraction.",
    )
    parser.add_argument("--version", action="version", version=f"finsynth {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in PARSERS:
        register(sub)
    add_debug_flag(parser, sub)
    return parser


def add_debug_flag(parser: argparse.ArgumentParser, sub: argparse._SubParsersAction) -> None:
    """`--debug` on the program and on every subcommand, so it works before or after COMMAND."""
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    for subparser in {id(p): p for p in sub.choices.values()}.values():
        # SUPPRESS: a subcommand that was not given --debug must not reset one given before it
        subparser.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of an error"
        )


# optional package (top-level module) -> the extra that installs it (None: install it by name)
OPTIONAL_PACKAGES: dict[str, str | None] = {
    "torch": "train",
    "transformers": "train",
    "peft": "train",
    "trl": "train",
    "bitsandbytes": "train",
    "accelerate": "train",
    "tokenizers": "train",
    "datasets": "train",
    "sentence_transformers": "embedding",
    "vllm": None,
}


def _missing_package(exc: BaseException | None) -> str | None:
    """The optional package whose absence raised `exc` (directly or as the cause of a wrapper), if any."""
    while exc is not None:
        if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in OPTIONAL_PACKAGES:
            return (exc.name or "").split(".")[0]
        exc = exc.__cause__
    return None


# a library setting (`UserError.setting`) -> its flag, where the flag is not `--` + the name with dashes
SETTING_FLAGS = {
    "sample_type": "--type",
    "raw_dir": "--raw",
    "review": "--apply-review",
    "languages": "--lang",
    "model_path": "--model",
}


def flag_of(setting: str) -> str:
    """The command-line flag that sets the library setting `setting` (a keyword argument or config field)."""
    return SETTING_FLAGS.get(setting, "--" + setting.replace("_", "-"))


def settings_error(exc: BaseException) -> UserError:
    """A pydantic validation of a command's settings (its options model) as one `UserError` naming the flags."""
    from pydantic import ValidationError

    assert isinstance(exc, ValidationError)
    parts = []
    for error in exc.errors():
        flag = flag_of(str(error["loc"][0])) if error["loc"] else "options"
        parts.append(f"{flag}: {error['msg'].removeprefix('Value error, ')}")
    return UserError("; ".join(parts))


def user_error_message(exc: BaseException) -> str | None:
    """The one-line message for an error the user can fix, or None when `exc` is a bug."""
    from jinja2 import TemplateError, TemplateSyntaxError
    from pydantic import ValidationError

    package = _missing_package(exc)
    if isinstance(exc, TemplateSyntaxError):  # a bad --templates file
        text = f"{exc.filename or exc.name}: line {exc.lineno}: bad template: {exc.message}"
    elif isinstance(exc, TemplateError):
        text = f"template error: {exc.message or type(exc).__name__} (check --templates)"
    elif isinstance(exc, ModuleNotFoundError) and package:
        extra = OPTIONAL_PACKAGES[package]
        text = f"the optional package {package} is not installed: " + (
            f"pip install 'finsynth[{extra}]'" if extra else f"pip install {package}"
        )
    elif isinstance(exc, UserError):
        text = exc.worded(flag_of(exc.setting)) if exc.setting else str(exc)
    elif isinstance(exc, UnicodeDecodeError) or package:
        text = str(exc)
    elif isinstance(exc, ValidationError):  # a value broke a model's contract: a setting or a file's content
        from finsynth.io import schema_errors

        text = f"{exc.title}: {schema_errors(exc)}"
    elif isinstance(exc, OSError):
        text = f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc)
    else:
        return None
    return "; ".join(line.strip() for line in text.splitlines() if line.strip()) or type(exc).__name__


def print_error(message: str) -> None:
    """`error: MESSAGE` on stderr, one line (Text: no markup or emoji codes read into the message)."""
    err_console.print(Text.assemble(("error:", "red"), " ", message))


def run_command(func: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """Run a subcommand under the error convention of the module docstring; returns the exit code."""
    import traceback

    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        err_console.print("[red]interrupted[/red]")
        return EXIT_INTERRUPTED
    except Exception as exc:
        message = user_error_message(exc)
        code = EXIT_USER_ERROR
        if message is None and isinstance(exc, Failure):
            message, code = exc.describe(), EXIT_FINDINGS
        if message is not None:
            if getattr(args, "debug", False):
                traceback.print_exc()
            print_error(message)
            return code
        traceback.print_exc()  # a bug: the traceback is the report, with or without --debug
        sys.stderr.flush()
        print_error(
            f"internal error (a bug in finsynth {__version__}, not in your input): {type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:300]}; please report it with the traceback above"
        )
        return EXIT_INTERNAL


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(args.func, args)


# --- shared by the command modules ------------------------------------------------------------


def _require(path: str, flag: str, hint: str = "", file: bool = False) -> None:
    """A path given with `flag` must exist (`file`: and be a file, not a directory): the error names the
    flag as well as the path."""
    from pathlib import Path

    from finsynth.io import InputError, require_file

    if file:
        require_file(path, flag, hint)
    elif not Path(path).exists():
        raise InputError(f"{flag} {path}: no such file or directory" + (f"; {hint}" if hint else ""))


def _stop_if_aborted(command: str, aborted: str | None, rows: str) -> None:
    """An LLM run the engine's circuit breaker stopped (a refused key, an endpoint that never answers, most
    jobs failing after their retries) is the user's to fix: exit 2 with what to check, as `build --relabel`
    does. Called after the command has written and shown what it has; `rows` says where the rows went."""
    if aborted:
        raise UserError(f"{command} stopped early: {aborted}; {rows}")


def _print_warnings(result) -> None:
    for warning in result.warnings:
        err_console.print(Text.assemble(("warning:", "yellow"), " ", warning))


def _show_loaded(result) -> None:
    """A load's warnings and quarantined rows, on stderr."""
    _print_warnings(result)
    for q in result.quarantined:
        err_console.print(f"[yellow]quarantined[/yellow] {q.path}:{q.line} [{q.field}] {q.reason}")


def _load_or_exit(paths: Sequence[str], kind: str = "auto"):
    from finsynth.io import load_paths

    result = load_paths(paths, kind=kind)  # type: ignore[arg-type]
    _show_loaded(result)
    return result
