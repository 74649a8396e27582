"""The local paths a command needs, checked before any heavy import (nothing here imports trl or torch, so
`python -m train` reports a mistyped path even where the training stack is missing)."""

from __future__ import annotations

from pathlib import Path

from finsynth.io import InputError


def check_model_dir(
    path: str,
    flag: str = "--model",
    hint: str = "pass a local model directory (e.g. a downloaded Qwen3-14B; hub ids are not fetched)",
) -> None:
    """`path` must be a local directory (a model, an adapter): nothing is downloaded from a hub."""
    if not Path(path).is_dir():
        raise InputError(f"{flag} {path}: no such directory; {hint}")


def check_file(path: str, flag: str, hint: str = "") -> None:
    if not Path(path).is_file():
        raise InputError(f"{flag} {path}: no such file" + (f"; {hint}" if hint else ""))
