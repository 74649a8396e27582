"""Annotators that write analyses without an LLM endpoint.

`rules` is the deterministic offline Type B annotator (`finsynth.synth.annotators.rules.annotate`), the
default of `--llm auto` when no endpoint is configured.
"""

from finsynth.synth.annotators.rules import RULES_TEMPLATE, annotate

__all__ = ["RULES_TEMPLATE", "annotate"]
