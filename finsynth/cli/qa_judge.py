"""`finsynth qa judge`: judge QA samples and split into SFT and RL sets."""

from __future__ import annotations

import argparse


def register(qa: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    """Add `qa judge` to the `finsynth qa` subcommands; return the parsers added (for `--debug`)."""
    return []
