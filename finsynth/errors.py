"""The error taxonomy of finsynth and `python -m train`, and the exit code each kind of outcome gets.

- `UserError`: something the user can fix (a path, a file, a setting, a missing package or GPU). The CLIs
  print its message as one line, `error: MESSAGE`, and exit 2 (`EXIT_USER_ERROR`). Its kinds:
  `InputError` (an input that cannot be used as a whole: a missing path, an unreadable or empty file;
  `InvalidInputError` when its content is the trouble; bad rows are quarantined, never raised),
  `ConfigError` (a bad setting: a value, a YAML key, a combination of settings) and `UnavailableError`
  (what the setting needs is missing here: an optional package, a model directory, a CUDA GPU). The
  domain's own kinds (`AlignmentError`, `LexiconError`, `MatcherUnavailable`, `SampleTooLongError`,
  `RunAbortedError`, `RelabelAbortedError`, `UnreadableFile`) are here too, so there is one list to read.
- `Failure`: the command ran and what it found stops it (lint errors that stop a build, a diverged
  training run): one line, exit 1 (`EXIT_FINDINGS`), like a lint that finds errors.
- Anything else is a bug (a `ValueError` included: the library raises it only for a programming error,
  such as a rule registered twice): the CLIs print its traceback, always, and exit 70 (`EXIT_INTERNAL`,
  the BSD sysexits code for an internal software error).

The library never names a CLI flag: an error about one setting passes `setting=` (the keyword argument or
config field) and begins its message with that name (or names it in backticks); a CLI swaps the name for its flag
(`finsynth.cli.app.user_error_message`). The classes that replace a former `ValueError` still derive from
it, so pydantic validators (which only wrap `ValueError`) and callers that catch `ValueError` keep working.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1  # the command ran and found errors (lint errors, a stopped build, a diverged run)
EXIT_USER_ERROR = 2  # a UserError: one line on stderr, the traceback only with --debug
EXIT_INTERNAL = 70  # a bug (EX_SOFTWARE): always with its traceback
EXIT_INTERRUPTED = 130  # Ctrl-C


class UserError(Exception):
    """Something the user can fix: the message names the thing and what to do (the CLIs print it, exit 2).

    `setting`: the library name of the setting at fault (a keyword argument or config field), with which
    the message begins, or which it names in backticks (a hint: "`partial` scores the cases that have one");
    a CLI shows its flag in its place."""

    def __init__(self, *args: object, setting: str | None = None):
        super().__init__(*args)
        self.setting = setting

    def worded(self, name: str) -> str:
        """The message with the setting called `name` (a CLI flag) instead of its library name."""
        message = str(self)
        if not self.setting:
            return message
        if message.startswith(self.setting):
            message = name + message[len(self.setting) :]
        return message.replace(f"`{self.setting}`", name)


class InputError(UserError):
    """A whole input is unusable (missing path, unreadable file); rows never raise this."""


class InvalidInputError(InputError, ValueError):
    """An input whose content cannot be used (not a built row, not a tokenizer file, invalid TOML, no rows to
    train on): a `ValueError` too, as these were before the taxonomy, so callers that catch one still do."""


class ConfigError(UserError, ValueError):
    """A bad setting: an unknown or invalid flag, YAML key or value, or a combination the code refuses."""


class UnavailableError(UserError, RuntimeError):
    """The setting needs what this machine lacks (a CUDA GPU, an optional package, a local model)."""


class AlignmentError(InputError, ValueError):
    """Predictions and gold cases cannot be paired safely."""


class LexiconError(InputError):
    """A lexicon file that cannot be used (bad YAML, unknown key, a contradiction)."""


class MatcherUnavailable(UnavailableError, ValueError):
    """A matcher cannot be built here (missing optional package or local model)."""


class SampleTooLongError(InputError, ValueError):
    """A sample's rendered token count exceeds the allowed `max_length` (it would be truncated)."""


class RunAbortedError(UserError):
    """An LLM run its circuit breaker stopped (a refused key, an endpoint that never answers, most jobs
    failing after their retries): the user's to fix."""


class RelabelAbortedError(RunAbortedError):
    """The relabel's LLM run stopped early (auth failure, unreachable endpoint, most calls failing)."""


class UnreadableFile(InputError):
    """A file its reader cannot open or parse (ingest reports it by name; the other files go on)."""


class Failure(Exception):
    """The command ran and what it found stops it (exit 1): not the user's mistake, not a bug."""

    def describe(self) -> str:
        """The one line a CLI prints."""
        return str(self)
