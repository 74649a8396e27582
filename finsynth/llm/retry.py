"""Transport retries: which failures are worth another try, and how long to wait before it.

Transport retries are about getting *a* reply (429, 5xx, timeouts, connection resets); they are kept
apart from validation re-asks (`finsynth.synth.validate`), which are about getting a *good* reply. A 429's
`Retry-After` is honoured (seconds or an HTTP date, capped); otherwise the wait is exponential backoff
with full jitter. The engine waits without holding a concurrency slot, so a backing-off request never
blocks the others.
"""

from __future__ import annotations

import email.utils
import random
import socket
import time

import openai
from pydantic import BaseModel


class RetryDecision(BaseModel):
    """How to treat one failed attempt."""

    retryable: bool
    kind: str
    message: str
    retry_after: float | None = None


def _retry_after(headers: object) -> float | None:
    """Seconds to wait from `retry-after-ms` / `Retry-After` (delta seconds or HTTP date)."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    millis = get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        return max(0.0, parsed.timestamp() - time.time())


def _reset_cause(exc: BaseException) -> BaseException | None:
    """The OS-level connection failure behind an exception, if any. The aiohttp transport reports a
    reset connection as a *timeout*; the cause chain says what really happened."""
    seen = 0
    cause = exc.__cause__ or exc.__context__
    while cause is not None and seen < 8:
        if isinstance(cause, ConnectionError) or (
            isinstance(cause, OSError) and not isinstance(cause, TimeoutError) and cause.errno is not None
        ):
            return cause
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return None


# what a connection that could not be made looks like in the cause chain: the OS refused it or the name did not
# resolve (`socket.gaierror`), or the transport said so (aiohttp's ClientConnectorError, httpx's ConnectError)
_CONNECT_FAILURES = ("ClientConnectorError", "ClientConnectorDNSError", "ConnectError")


def _connect_failure(exc: BaseException) -> BaseException | None:
    """The cause of a connection that was never made (nothing listens there), if that is what failed.
    A reset or a dropped connection is not one: the server was there."""
    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 8:
        if isinstance(cause, (ConnectionRefusedError, socket.gaierror)) or type(cause).__name__ in _CONNECT_FAILURES:
            return cause
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return None


def classify(exc: BaseException) -> RetryDecision:
    """Map an exception from the OpenAI client to a retry decision. A connection that could not be made is
    kind "unreachable" (still retried: a server may be restarting), apart from a reset ("connection")."""
    if isinstance(exc, (openai.APIConnectionError, ConnectionError, OSError)):  # APITimeoutError included
        unreachable = _connect_failure(exc)
        if unreachable is not None:
            return RetryDecision(retryable=True, kind="unreachable", message=f"connection failed: {unreachable}")
    if isinstance(exc, openai.APITimeoutError):
        reset = _reset_cause(exc)
        if reset is not None:
            return RetryDecision(retryable=True, kind="connection", message=f"connection error: {reset}")
        return RetryDecision(retryable=True, kind="timeout", message="request timed out")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f": {type(cause).__name__}" if cause is not None else ""
        return RetryDecision(retryable=True, kind="connection", message=f"connection error{detail}")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message = f"HTTP {status}"
        if status == 429:
            return RetryDecision(
                retryable=True, kind="rate_limit", message=message, retry_after=_retry_after(exc.response.headers)
            )
        if status in (408, 409) or status >= 500:
            return RetryDecision(
                retryable=True, kind=f"http_{status}", message=message, retry_after=_retry_after(exc.response.headers)
            )
        return RetryDecision(retryable=False, kind=f"http_{status}", message=message)
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return RetryDecision(retryable=True, kind="connection", message=type(exc).__name__)
    return RetryDecision(retryable=False, kind="error", message=f"{type(exc).__name__}: {exc}")


class RetryPolicy(BaseModel):
    """Capped exponential backoff with full jitter; Retry-After wins when the server sends one."""

    max_retries: int = 6
    base: float = 0.5
    cap: float = 30.0
    retry_after_max: float = 120.0

    def delay(self, retry_number: int, decision: RetryDecision, rng: random.Random) -> float:
        """Seconds before retry number `retry_number` (1-based)."""
        if decision.retry_after is not None:
            return min(decision.retry_after, self.retry_after_max)
        ceiling = min(self.cap, self.base * (2 ** (retry_number - 1)))
        return rng.uniform(0.0, ceiling)

    def should_retry(self, retries_done: int, decision: RetryDecision) -> bool:
        return decision.retryable and retries_done < self.max_retries
