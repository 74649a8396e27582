"""What an LLM-assisted run over samples (relabel, generate) returns: rows, quarantine, usage and stats.

The engine (`finsynth.llm`) returns job results; these are the domain's view of a whole run.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from finsynth.io import QuarantineRow
from finsynth.llm.engine import EngineStats
from finsynth.llm.usage import Usage
from finsynth.schema import Sample


class RunStats(BaseModel):
    """What an LLM-assisted run (relabel, generate) reports beside its rows."""

    model: str | None = None
    quarantined: int = 0
    template_hashes: dict[str, str] = Field(default_factory=dict)
    engine: EngineStats | None = None
    endpoint: dict | None = None
    cost: float | None = None


class RunResult(BaseModel):
    """The rows an LLM-assisted run produced, the rows it quarantined, and the tokens it used."""

    samples: list[Sample] = Field(default_factory=list)
    quarantined: list[QuarantineRow] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
