"""Progress hooks for the QA library's long loops: a caller (the CLI's `_Ticker`) passes `on_progress(n)`, told of
every `every` items done, so a bar of counts and ETA can run on stderr while the library prints nothing itself."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
ProgressHook = Callable[[int], None] | None


def ticking(items: Iterable[T], on_progress: ProgressHook, every: int = 500) -> Iterator[T]:
    """`items`, telling `on_progress` of each batch of `every` consumed (and of the remainder at the end)."""
    if on_progress is None:
        yield from items
        return
    pending = 0
    for item in items:
        yield item
        pending += 1
        if pending == every:
            on_progress(pending)
            pending = 0
    if pending:
        on_progress(pending)


def count_rows(paths: Iterable[str | os.PathLike[str]]) -> int:
    """Non-blank lines of JSONL files: what a progress bar over their rows is sized by, before they are parsed (a
    path that is not a readable file counts 0: its reader names the problem)."""
    total = 0
    for path in paths:
        if not os.path.isfile(path) or not os.access(path, os.R_OK):
            continue
        with open(path, "rb") as handle:
            total += sum(1 for line in handle if line.strip())
    return total
