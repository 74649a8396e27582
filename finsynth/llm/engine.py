"""The LLM engine: bounded-concurrency chat completions against any OpenAI-compatible endpoint.

A job is a conversation plus a validator. Jobs flow through an `asyncio.Queue` served by
`concurrency` workers; each worker makes one HTTP call at a time, so one slow call only occupies
its own worker and never stalls a batch. Each step of a job is one call:

* the reply is looked up in the content-addressed cache (`finsynth.llm.cache`) first; a live reply is
  committed there the moment it arrives, so a killed run resumes without repeating finished calls;
* transport failures (429 with Retry-After, 5xx, timeouts, connection resets) are retried with
  backoff (`finsynth.llm.retry`); the job waits *off* the queue (a timer puts it back), holding no slot;
* the reply is validated by the job's own validator; on failure the job's re-ask callable (instructor's
  shape: `reask(messages, raw, errors) -> messages`) extends the conversation, up to `max_reasks` times,
  each re-ask being one more step through the queue;
* a job that still fails ends with its last raw reply and errors, for the caller to quarantine;
* a circuit breaker (`finsynth.llm.breaker`) stops the run at persistent failure only (a 401/403, an
  endpoint that never answers, most jobs failing after their retries) and says why in `stats.aborted`;
  a retried transient fault never counts towards it.

The engine knows nothing of the domain: a validator returns any verdict with `ok` and `errors` (a pydantic
model; `finsynth.synth.validate.Validation` is the extraction tasks' one), and the callers turn results into
samples and quarantine rows (`finsynth.synth.run`).

Token usage is recorded per attempt (re-asks included). The OpenAI client is built with
`max_retries=0`, so this module's retry layer is the only one, and an explicit timeout.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

import openai
from pydantic import BaseModel, Field

from finsynth.llm.breaker import Limits, Tally, decide, explain
from finsynth.llm.cache import CachedReply, ResponseCache, cache_key
from finsynth.llm.config import EndpointConfig
from finsynth.llm.retry import RetryPolicy, classify
from finsynth.llm.usage import Usage


class Verdict(Protocol):
    """What a validator returns: a pydantic model with `errors` and an `ok` that is false while there are any."""

    errors: list[str]

    @property
    def ok(self) -> bool: ...

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Self: ...


Validator = Callable[[str], Any]  # raw reply -> Verdict
Reask = Callable[[list[dict[str, str]], str, list[str]], list[dict[str, str]]]
CUT_OFF = "reply was cut off (finish_reason=length)"


def plain_reask(messages: list[dict[str, str]], raw: str, errors: list[str]) -> list[dict[str, str]]:
    """The default re-ask: the failed reply, then a user turn listing its errors."""
    feedback = (
        "The reply above failed validation:\n"
        + "\n".join(f"- {e}" for e in errors)
        + "\nReply again, fixing every error."
    )
    return [*messages, {"role": "assistant", "content": raw}, {"role": "user", "content": feedback}]


@dataclass
class Job:
    """One unit of work: a conversation, the hash of the templates that made it, a validator and a re-ask."""

    id: str
    messages: list[dict[str, str]]
    template_hash: str
    validate: Validator
    reask: Reask = plain_reask


class JobResult(BaseModel):
    """How a job ended. `ok` with an extraction, or not with the last raw reply and the errors."""

    id: str
    ok: bool
    validation: Any = None  # the validator's verdict on the last reply
    raw: str | None = None
    errors: list[str] = Field(default_factory=list)
    failure: str | None = None  # "validation", "transport", "aborted" (never sent: the run stopped) or "error"
    calls: int = 0
    cache_hits: int = 0
    reasks: int = 0
    retries: int = 0
    transport_errors: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    messages: list[dict[str, str]] = Field(default_factory=list)


class EngineStats(BaseModel):
    """Counters for one engine run."""

    jobs: int = 0
    ok: int = 0
    failed: int = 0
    live_calls: int = 0
    cache_hits: int = 0
    retries: int = 0
    retries_by_kind: dict[str, int] = Field(default_factory=dict)
    reasks: int = 0
    elapsed_s: float = 0.0
    transport_failed: int = 0  # jobs that ended on a transport failure after their retries
    aborted: str | None = None  # why the run stopped early (`finsynth.llm.breaker`: auth, unreachable, failing)


@dataclass
class _State:
    job: Job
    messages: list[dict[str, str]]
    result: JobResult
    retries_this_call: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def make_client(config: EndpointConfig) -> openai.AsyncOpenAI:
    """An AsyncOpenAI client with the SDK's own retries off and an explicit timeout.

    It rides on aiohttp where installed (the `openai[aiohttp]` extra, a base dependency here): at high
    concurrency the default httpx transport costs about 1.6x the client CPU per request, which caps a
    small machine's throughput long before the endpoint does.
    """
    http_client = openai.DefaultAioHttpClient(timeout=config.timeout) if _has_aiohttp() else None
    return openai.AsyncOpenAI(
        api_key=config.secret() or "not-set",
        base_url=config.base_url,
        timeout=config.timeout,
        max_retries=0,
        http_client=http_client,
    )


def _has_aiohttp() -> bool:
    try:
        import httpx_aiohttp  # noqa: F401  (what openai.DefaultAioHttpClient needs)
    except ImportError:
        try:
            import aiohttp  # noqa: F401
            import openai._vendor.httpx_aiohttp  # noqa: F401
        except ImportError:
            return False
    return True


def run_coroutine(coro):
    """asyncio.run on uvloop where installed: a cheaper event loop for hundreds of open requests."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def parse_completion(body: bytes) -> CachedReply:
    """The reply text, token usage and finish reason of a chat-completion response body.

    A body that is not a chat completion (a proxy's HTML error page with status 200, say) reads as an
    empty reply, which validation then rejects and re-asks: never a crash that loses the row."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return CachedReply(content="", prompt_tokens=0, completion_tokens=0, finish_reason=None)
    choices = data.get("choices") if isinstance(data, dict) else None
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message: Any = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    usage: Any = data.get("usage") if isinstance(data, dict) and isinstance(data.get("usage"), dict) else {}
    return CachedReply(
        content=message.get("content") or "",
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        finish_reason=choice.get("finish_reason"),
    )


class _Progress:
    """A rich progress bar: done/total, cache hits, re-asks, failures, tokens, ETA."""

    def __init__(self, total: int | None, enabled: bool, description: str):
        self.enabled = enabled
        self.progress = None
        if not enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=16),
            MofNCompleteColumn(),
            TextColumn(
                "hit {task.fields[hits]} reask {task.fields[reasks]} retry {task.fields[retries]}"
                " [red]fail {task.fields[failed]}[/red] {task.fields[tokens]} tok"
            ),
            TextColumn("eta"),
            TimeRemainingColumn(),
            transient=False,
        )
        self.task = self.progress.add_task(description, total=total, hits=0, reasks=0, retries=0, failed=0, tokens="0")

    def __enter__(self) -> Self:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def update(self, stats: EngineStats, usage: Usage, done: int) -> None:
        if self.progress is not None:
            self.progress.update(
                self.task,
                completed=done,
                hits=stats.cache_hits,
                reasks=stats.reasks,
                retries=stats.retries,
                failed=stats.failed,
                tokens=_compact(usage.total_tokens),
            )


def _compact(n: int) -> str:
    """1234567 -> "1.2M": token counts that fit a progress bar."""
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


class LLMEngine:
    """Runs jobs against one endpoint with a cache, retries and re-asks."""

    def __init__(
        self,
        config: EndpointConfig,
        cache: ResponseCache | None = None,
        *,
        concurrency: int | None = None,
        max_reasks: int | None = None,
        policy: RetryPolicy | None = None,
        progress: bool = False,
        description: str = "llm",
        seed: int = 0,
        breaker: Limits | None = None,
    ):
        self.config = config
        self.cache = cache if cache is not None else ResponseCache(None)
        self.concurrency = max(1, concurrency or config.concurrency)
        self.max_reasks = config.max_reasks if max_reasks is None else max_reasks
        self.policy = policy or RetryPolicy(
            max_retries=config.max_retries,
            base=config.backoff_base,
            cap=config.backoff_max,
            retry_after_max=config.retry_after_max,
        )
        self.params = config.sampling_params()
        self.progress = progress
        self.description = description
        self.rng = random.Random(seed)
        self.usage = Usage()
        self.stats = EngineStats()
        # circuit breaker: a run whose endpoint never answers, refuses the key, or fails most jobs stops
        # instead of spending every row's retries (what to check is in `stats.aborted`); retried transient
        # faults never count (`finsynth.llm.breaker`)
        self.limits = breaker or Limits(min_jobs=2 * self.concurrency)
        self.tally = Tally()

    @staticmethod
    def _release(timers: dict, queue: asyncio.Queue) -> None:
        """After an abort: retries waiting for their backoff go back to the queue now, to end as aborted."""
        for key in list(timers):
            timer, waiting = timers.pop(key)
            timer.cancel()
            queue.put_nowait(waiting)

    def _abort(self, reason: str) -> None:
        if self.stats.aborted is None:
            self.stats.aborted = reason

    def _check_breaker(self) -> None:
        """Stop the run when the breaker's evidence says the endpoint cannot serve it."""
        if self.stats.aborted is not None:
            return
        trip = decide(self.tally, self.limits)
        if trip is not None:
            endpoint = self.config.base_url or "the default OpenAI endpoint"
            self._abort(explain(trip, self.tally, endpoint, self.config.timeout))

    def run(self, jobs: Iterable[Job], total: int | None = None) -> list[JobResult]:
        """Run `jobs` to completion (blocking); results come back in the order of `jobs`."""
        return run_coroutine(self.arun(jobs, total))

    async def arun(self, jobs: Iterable[Job], total: int | None = None) -> list[JobResult]:
        """Async form of `run`. `jobs` may be a lazy iterable: it is consumed as the queue drains, so
        the first requests go out while later prompts are still being rendered. Jobs with identical
        conversations are done once and their result shared."""
        started = time.perf_counter()
        if total is None and isinstance(jobs, Sized):
            total = len(jobs)
        order: list[tuple[str, str]] = []
        results: dict[str, JobResult] = {}
        client = make_client(self.config)
        try:
            await self._drain(iter(jobs), order, results, client, total)
        finally:
            await client.close()
        out = []
        for key, job_id in order:
            shared = results[key]
            out.append(shared if shared.id == job_id else shared.model_copy(update={"id": job_id}))
        self.stats.jobs += len(order)
        self.stats.elapsed_s = round(self.stats.elapsed_s + time.perf_counter() - started, 3)
        return out

    async def _drain(
        self,
        jobs: Iterator[Job],
        order: list[tuple[str, str]],
        results: dict[str, JobResult],
        client: Any,
        total: int | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_State | None] = asyncio.Queue()
        finished = asyncio.Event()
        timers: dict[int, tuple[asyncio.TimerHandle, _State]] = {}  # retries waiting for their backoff
        produced = {"unique": 0, "done": False}
        fatal: list[BaseException] = []
        self.tally = Tally(jobs=total or 0)  # the breaker judges each run on its own evidence

        def check_done() -> None:
            if produced["done"] and len(results) == produced["unique"]:
                finished.set()

        async def producer() -> None:
            seen: set[str] = set()
            for job in jobs:
                key = cache_key(self.config.model, job.template_hash, job.messages, self.params)
                order.append((key, job.id))
                if key not in seen:
                    seen.add(key)
                    produced["unique"] += 1
                    self.tally.jobs = max(self.tally.jobs, produced["unique"])
                    queue.put_nowait(
                        _State(
                            job=job,
                            messages=list(job.messages),
                            result=JobResult(id=job.id, ok=False),
                            extra={"key": key},
                        )
                    )
                    await asyncio.sleep(0)  # let the workers send what is queued while we render more
            produced["done"] = True
            self.tally.jobs = produced["unique"]  # `total` counted identical conversations, done once
            check_done()

        def finish(state: _State) -> None:
            state.result.messages = state.messages
            results[state.extra["key"]] = state.result
            if state.result.ok:
                self.stats.ok += 1
            else:
                self.stats.failed += 1
            bar.update(self.stats, self.usage, len(results))
            check_done()

        async def worker() -> None:
            while True:
                state = await queue.get()
                if state is None:
                    return
                try:
                    await self._step(state, client, queue, loop, timers, finish)
                except ImportError as exc:
                    # a missing dependency would fail every row the same way: stop loudly instead
                    # of quarantining the whole run
                    fatal.append(exc)
                    finished.set()
                    return
                except Exception as exc:  # noqa: BLE001 -- a bug in a validator must not lose the row
                    state.result.failure = "error"
                    state.result.errors.append(f"{type(exc).__name__}: {exc}")
                    finish(state)
                bar.update(self.stats, self.usage, len(results))

        n_workers = self.concurrency if total is None else max(1, min(self.concurrency, total))
        with _Progress(total, self.progress, self.description) as bar:
            workers = [asyncio.create_task(worker()) for _ in range(n_workers)]
            try:
                await producer()
                await finished.wait()
                if fatal:
                    raise fatal[0]
            finally:
                for timer, _ in timers.values():  # the dict's keys are state ids: cancel the handles
                    timer.cancel()
                for _ in workers:
                    queue.put_nowait(None)
                await asyncio.gather(*workers, return_exceptions=True)

    async def _step(
        self,
        state: _State,
        client: Any,
        queue: asyncio.Queue,
        loop: asyncio.AbstractEventLoop,
        timers: dict,
        finish: Callable[[_State], None],
    ) -> None:
        """One call for one job: cache or live, then finish, re-ask, or schedule a retry."""
        job, result = state.job, state.result
        key = cache_key(self.config.model, job.template_hash, state.messages, self.params)
        reply = self.cache.get(key)
        if reply is None and self.stats.aborted is not None:
            result.failure = "aborted"
            result.errors.append(f"not sent: the run stopped ({self.stats.aborted})")
            finish(state)
            return
        if reply is not None:
            result.cache_hits += 1
            self.stats.cache_hits += 1
            self.usage.add_call(reply.prompt_tokens, reply.completion_tokens, cached=True)
            result.usage.add_call(reply.prompt_tokens, reply.completion_tokens, cached=True)
        else:
            try:
                # the messages are plain JSON already: post them as they are (`chat.completions.create`
                # would re-walk them through its TypedDict transform, ~2 ms of CPU a request)
                # raw bytes back: the SDK's response models cost more CPU than the few fields we read
                body = await client.post(
                    "/chat/completions",
                    body={"model": self.config.model, "messages": state.messages, **self.params},
                    cast_to=bytes,
                )
                response = parse_completion(body)
            except Exception as exc:  # noqa: BLE001 -- classify() decides what is retryable
                decision = classify(exc)
                result.transport_errors.append(decision.kind)
                self.usage.failed_calls += 1
                self.tally.attempt_failed(decision)
                self._check_breaker()
                if self.stats.aborted is not None:
                    self._release(timers, queue)
                if self.stats.aborted is None and self.policy.should_retry(state.retries_this_call, decision):
                    state.retries_this_call += 1
                    result.retries += 1
                    self.stats.retries += 1
                    self.stats.retries_by_kind[decision.kind] = self.stats.retries_by_kind.get(decision.kind, 0) + 1
                    delay = self.policy.delay(state.retries_this_call, decision, self.rng)

                    def fire(waiting: _State = state) -> None:
                        timers.pop(id(waiting), None)
                        queue.put_nowait(waiting)

                    timers[id(state)] = (loop.call_later(delay, fire), state)
                    return
                result.failure = "transport"
                result.errors.append(f"transport: {decision.message} after {state.retries_this_call} retries")
                self.stats.transport_failed += 1
                self.tally.job_failed()
                finish(state)
                self._check_breaker()
                if self.stats.aborted is not None:
                    self._release(timers, queue)
                return
            state.retries_this_call = 0
            self.tally.attempt_answered()
            reply = response
            self.cache.put(
                key,
                model=self.config.model,
                template_hash=job.template_hash,
                messages=state.messages,
                params=self.params,
                reply=reply,
            )
            result.calls += 1
            self.stats.live_calls += 1
            self.usage.add_call(reply.prompt_tokens, reply.completion_tokens, cached=False)
            result.usage.add_call(reply.prompt_tokens, reply.completion_tokens, cached=False)
        result.raw = reply.content
        validation = job.validate(reply.content)
        if reply.finish_reason == "length" and validation.ok:
            validation = validation.model_copy(update={"errors": [*validation.errors, CUT_OFF]})
        result.validation = validation
        if validation.ok:
            result.ok = True
            result.errors = []
            finish(state)
            return
        result.errors = list(validation.errors)
        if result.reasks < self.max_reasks:
            result.reasks += 1
            self.stats.reasks += 1
            state.messages = job.reask(state.messages, reply.content, validation.errors)
            queue.put_nowait(state)
            return
        result.failure = "validation"
        finish(state)
