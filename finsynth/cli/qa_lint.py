"""`finsynth qa lint`: lint QA samples."""

from __future__ import annotations

import argparse


def register(qa: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    """Add `qa lint` to the `finsynth qa` subcommands; return the parsers added (for `--debug`)."""
    return []
