"""Token usage per attempt, summed per run, priced with an optional table.

Every HTTP attempt that returns a reply counts (first asks and re-asks alike). Replies served from the
cache are counted apart: they cost nothing in this run, but the tokens they once cost are reported so a
re-run shows what the cache saved.
"""

from __future__ import annotations

from pydantic import BaseModel

from finsynth.llm.config import Price


class Usage(BaseModel):
    """Token and call counters for one run."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_calls: int = 0
    cached_prompt_tokens: int = 0
    cached_completion_tokens: int = 0
    failed_calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add_call(self, prompt_tokens: int, completion_tokens: int, *, cached: bool) -> None:
        """Record one reply (live or from the cache)."""
        if cached:
            self.cached_calls += 1
            self.cached_prompt_tokens += prompt_tokens
            self.cached_completion_tokens += completion_tokens
        else:
            self.calls += 1
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens

    def merge(self, other: Usage) -> Usage:
        """A new Usage with both sets of counters summed."""
        return Usage(**{name: getattr(self, name) + getattr(other, name) for name in Usage.model_fields})

    def cost(self, model: str, prices: dict[str, Price]) -> float | None:
        """Cost of the live tokens at `prices[model]` per million tokens; None without a price."""
        price = prices.get(model)
        if price is None:
            return None
        return (self.prompt_tokens * price.input + self.completion_tokens * price.output) / 1_000_000

    def summary(self, model: str | None = None, prices: dict[str, Price] | None = None, currency: str = "USD") -> dict:
        """JSON-ready counters plus total tokens and, when priced, the cost."""
        data = self.model_dump()
        data["total_tokens"] = self.total_tokens
        if model is not None and prices:
            cost = self.cost(model, prices)
            if cost is not None:
                data["cost"] = round(cost, 6)
                data["currency"] = currency
        return data
