"""`finsynth qa tables`: verified arithmetic QA from tables (offline)."""

from __future__ import annotations

import argparse


def register(qa: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    """Add `qa tables` to the `finsynth qa` subcommands; return the parsers added (for `--debug`)."""
    return []
