"""`finsynth qa generate`: grounded QA from text chunks through an LLM endpoint."""

from __future__ import annotations

import argparse


def register(qa: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    """Add `qa generate` to the `finsynth qa` subcommands; return the parsers added (for `--debug`)."""
    return []
