"""The engine's circuit breaker: stop a run its endpoint cannot serve, never one that is only busy.

A transient fault that is retried (a 429, with or without Retry-After, a 5xx, a reset connection) says
nothing about the run. Real endpoints shed load in bursts, and such failures come back at once while
answers take the model's latency, so at high concurrency the first attempts to *complete* are often all
failures. The breaker therefore counts no attempt that is retried and no job still being retried; it
trips only on evidence that does not depend on the order in which attempts complete:

* ``auth``: a 401 or 403, since every call would fail the same way;
* ``unreachable``: no HTTP response of any kind yet, and `Limits.unreachable_attempts` attempts could not
  even connect (connection refused, unknown host: nothing listens there; a reset is not counted);
* ``silent``: no HTTP response of any kind yet, and an attempt got nothing within the client timeout
  (answers that arrive within the timeout complete before it, whatever the order);
* ``failing``: more than `Limits.failed_share` of the run's jobs ended on transport failure after their
  retries, in a run of at least `Limits.min_jobs` jobs. The share is of *all* the run's jobs, not of those
  finished so far, so the jobs that happen to end first cannot decide it: the count only grows, and it
  crosses the line in some order exactly when it does in every order.

`decide` is a pure function of a `Tally`, so the rules can be tested over any order of events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from finsynth.llm.retry import RetryDecision

Trip = Literal["auth", "unreachable", "silent", "failing"]
AUTH_KINDS = ("http_401", "http_403")


@dataclass(frozen=True)
class Limits:
    """When the breaker trips (see the module docstring)."""

    unreachable_attempts: int = 16
    failed_share: float = 0.5
    min_jobs: int = 16  # the engine passes 2 x its concurrency


@dataclass
class Tally:
    """What the breaker has seen in one run."""

    jobs: int = 0  # the run's jobs: as announced, or as submitted so far when more
    responses: int = 0  # attempts the endpoint answered with any HTTP status (200 or an error)
    unreachable: int = 0  # attempts that could not connect
    timed_out: int = 0  # attempts with no response within the client timeout
    failed_jobs: int = 0  # jobs that ended on transport failure after their retries
    auth: str | None = None  # the first 401/403 ("HTTP 401")
    last_error: str | None = None  # the last failed attempt's message, for the abort reason

    def attempt_answered(self) -> None:
        self.responses += 1

    def attempt_failed(self, decision: RetryDecision) -> None:
        """One failed attempt, whether or not it will be retried."""
        self.last_error = decision.message
        if decision.kind.startswith("http_") or decision.kind == "rate_limit":
            self.responses += 1  # the server is there and said something
            if decision.kind in AUTH_KINDS and self.auth is None:
                self.auth = decision.message
        elif decision.kind == "unreachable":
            self.unreachable += 1
        elif decision.kind == "timeout":
            self.timed_out += 1

    def job_failed(self) -> None:
        """A job ended on transport failure: its retries are spent (or the error is not retryable)."""
        self.failed_jobs += 1


def decide(tally: Tally, limits: Limits) -> Trip | None:
    """Why the run must stop now, or None to go on."""
    if tally.auth is not None:
        return "auth"
    if not tally.responses and tally.unreachable >= limits.unreachable_attempts:
        return "unreachable"
    if not tally.responses and tally.timed_out:
        return "silent"
    if tally.jobs >= limits.min_jobs and tally.failed_jobs > limits.failed_share * tally.jobs:
        return "failing"
    return None


def explain(trip: Trip, tally: Tally, endpoint: str, timeout: float) -> str:
    """The abort reason a user reads: what happened and what to check."""
    if trip == "auth":
        return (
            f"authentication failed ({tally.auth}) at {endpoint}: check OPENAI_API_KEY "
            "(or the variable api_key_env names) and that the key may use this model"
        )
    if trip == "unreachable":
        return (
            f"no call answered: {tally.unreachable} attempts could not connect ({tally.last_error}) at "
            f"{endpoint}: check OPENAI_BASE_URL and that the server is up"
        )
    if trip == "silent":
        return (
            f"no call answered within the {timeout:g} s timeout at {endpoint}: check OPENAI_BASE_URL and that "
            "the server is up, or raise the timeout (FINSYNTH_TIMEOUT)"
        )
    return (
        f"{tally.failed_jobs} of {tally.jobs} jobs failed on transport after their retries at {endpoint} "
        f"(last: {tally.last_error}): check the server, its rate limits and --concurrency"
    )
