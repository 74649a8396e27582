"""Annotators that write analyses without an LLM endpoint.

`rules` is the deterministic offline Type B annotator (`finsynth.synth.annotators.rules.annotate`), the
default of `--llm auto` when no endpoint is configured.
"""

from finsynth.synth.annotators.rules import RULES_TEMPLATE, annotate

ANNOTATORS = {"rules": annotate}

__all__ = ["ANNOTATORS", "RULES_TEMPLATE", "annotate"]
