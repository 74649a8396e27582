"""A real OpenAI-compatible HTTP server on 127.0.0.1 with scripted replies, for tests and benchmarks.

It speaks HTTP/1.1 with keep-alive over asyncio streams and serves `POST /v1/chat/completions`
(and `GET /v1/models`). What each request gets is decided by a *script*: a callable receiving a
`Request` (the parsed body, the key of its messages, how many times that exact conversation has been
asked) and returning a `Reply`: a completion text, an HTTP error with headers (429 + Retry-After,
500), a delay, a hang past the client's timeout, or a dropped connection (connection reset).

Everything is logged: every request with its key and outcome, every key's request count, which keys
got a complete reply, and the Authorization headers seen (to prove the key reached the server).

In-process use (tests)::

    with FakeOpenAI(script) as server:
        server.base_url  # "http://127.0.0.1:PORT/v1"

As a separate process (benchmarks, kill/resume tests)::

    python tests/fake_openai.py --answers answers.jsonl --latency-ms 100 --fault-rate 0.1 --port-file p.txt
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

PARAGRAPH = re.compile(r"【段落内容】(.*?)(?:\n|$)", re.DOTALL)


def messages_key(messages: list[dict[str, Any]]) -> str:
    """Stable key of a conversation (what the server counts duplicates by)."""
    canonical = json.dumps(messages, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def paragraph_of(body: dict[str, Any]) -> str | None:
    """The paragraph quoted in the first user turn after 【段落内容】, if any."""
    for message in body.get("messages", []):
        if message.get("role") == "user":
            match = PARAGRAPH.search(str(message.get("content", "")))
            return match.group(1).strip() if match else None
    return None


@dataclass
class Request:
    """One request as the script sees it."""

    body: dict[str, Any]
    key: str
    attempt: int  # 1 for the first time this exact conversation is asked
    headers: dict[str, str]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages", [])

    @property
    def turn(self) -> int:
        """1 for a first ask, 2 for the first re-ask, ... (counts user turns)."""
        return sum(1 for m in self.messages if m.get("role") == "user")

    @property
    def paragraph(self) -> str | None:
        return paragraph_of(self.body)


@dataclass
class Reply:
    """What the server does with one request."""

    content: str | None = None
    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hang: bool = False  # sleep far past any client timeout
    drop: bool = False  # close the connection without answering (connection reset)
    finish_reason: str = "stop"


Script = Callable[[Request], Reply]


def completion_body(content: str, model: str, prompt_chars: int, finish_reason: str = "stop") -> dict[str, Any]:
    """A chat.completion object with deterministic token usage (about 2 chars per token)."""
    prompt_tokens = max(1, prompt_chars // 2)
    completion_tokens = max(1, len(content) // 2)
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


@dataclass
class LogEntry:
    key: str
    attempt: int
    outcome: str  # "ok", "http_429", "http_500", "hang", "drop", "served"
    t: float


class FakeOpenAI:
    """The server: start() in a background thread, or serve_forever() in the current one."""

    def __init__(self, script: Script, host: str = "127.0.0.1", port: int = 0):
        self.script = script
        self.host = host
        self.port = port
        self.lock = threading.Lock()
        self.log: list[LogEntry] = []
        self.counts: Counter[str] = Counter()
        self.served: Counter[str] = Counter()  # complete 200 replies written, per key
        self.auth_headers: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._writers: set[asyncio.StreamWriter] = set()

    # -- observation ------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def total_requests(self) -> int:
        with self.lock:
            return sum(self.counts.values())

    def outcomes(self) -> Counter[str]:
        with self.lock:
            return Counter(entry.outcome for entry in self.log)

    def reset_log(self) -> None:
        with self.lock:
            self.log.clear()
            self.counts.clear()
            self.served.clear()

    # -- lifecycle -------------------------------------------------------------------------
    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    def start(self) -> FakeOpenAI:
        """Serve from a daemon thread; returns once the port is bound."""

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            self._ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._shutdown())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="fake-openai", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake OpenAI server did not start")
        return self

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in asyncio.all_tasks(self._loop):
            if task is not asyncio.current_task():
                task.cancel()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def serve_forever(self, port_file: str | None = None) -> None:
        await self._start()
        if port_file:
            Path(port_file).write_text(str(self.port))
        async with self._server:
            await self._server.serve_forever()

    # -- HTTP ------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = ([*lines[0].split(" ", 2), "", ""])[:3]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                raw = await reader.readexactly(length) if length else b""
                keep = await self._respond(method, path, headers, raw, writer)
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # client went away, or the server is shutting down
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()

    async def _write(
        self, writer: asyncio.StreamWriter, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        reason = {
            200: "OK",
            404: "Not Found",
            429: "Too Many Requests",
            500: "Internal Server Error",
            503: "Service Unavailable",
            400: "Bad Request",
        }.get(status, "Status")
        out = [
            f"HTTP/1.1 {status} {reason}",
            "Content-Type: application/json",
            f"Content-Length: {len(data)}",
            "Connection: keep-alive",
        ]
        out += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + data)
        await writer.drain()

    async def _respond(
        self, method: str, path: str, headers: dict[str, str], raw: bytes, writer: asyncio.StreamWriter
    ) -> bool:
        if "authorization" in headers:
            with self.lock:
                self.auth_headers.add(headers["authorization"])
        if method == "GET" and path.rstrip("/").endswith("/models"):
            await self._write(writer, 200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
            return True
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            await self._write(writer, 404, {"error": {"message": f"no route {method} {path}"}})
            return True
        body = json.loads(raw.decode("utf-8"))
        key = messages_key(body.get("messages", []))
        with self.lock:
            self.counts[key] += 1
            attempt = self.counts[key]
        reply = self.script(Request(body=body, key=key, attempt=attempt, headers=headers))
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.hang:
            self._record(key, attempt, "hang")
            await asyncio.sleep(3600)
            return False
        if reply.drop:
            self._record(key, attempt, "drop")
            transport = writer.transport
            sock = transport.get_extra_info("socket")
            if sock is not None:  # RST instead of FIN: a real connection reset
                import socket
                import struct

                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
            return False
        if reply.status != 200:
            self._record(key, attempt, f"http_{reply.status}")
            payload = reply.body or {"error": {"message": f"scripted {reply.status}", "type": "server_error"}}
            await self._write(writer, reply.status, payload, reply.headers)
            return True
        prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
        payload = completion_body(reply.content or "", body.get("model", "fake"), prompt_chars, reply.finish_reason)
        await self._write(writer, 200, payload, reply.headers)
        self._record(key, attempt, "ok")
        with self.lock:
            self.served[key] += 1
        return True

    def _record(self, key: str, attempt: int, outcome: str) -> None:
        with self.lock:
            self.log.append(LogEntry(key=key, attempt=attempt, outcome=outcome, t=time.monotonic()))


# -- a script for benchmarks and subprocess tests --------------------------------------------


def _fraction(key: str, attempt: int, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}:{key}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def answer_script(
    answers: dict[str, str],
    *,
    latency: float = 0.0,
    fault_rate: float = 0.0,
    gate: threading.Event | None = None,
    gate_after: int = 0,
) -> Script:
    """Answer each paragraph with its stored reply after `latency` seconds.

    `fault_rate` of the requests (chosen deterministically by key and attempt) fail with a transport
    fault instead, rotating 500 (after the full latency), 503 and 429 with Retry-After: 0 (at once, as a
    gateway sheds load) and a connection reset (half-way through the latency). With `gate`, only
    the first `gate_after` distinct conversations are answered until the event is set; the rest hang.
    """
    admitted: set[str] = set()
    lock = threading.Lock()

    def script(request: Request) -> Reply:
        if gate is not None and not gate.is_set():
            with lock:
                if request.key not in admitted and len(admitted) >= gate_after:
                    return Reply(hang=True)
                admitted.add(request.key)
        if fault_rate and _fraction(request.key, request.attempt, "fault") < fault_rate:
            kind = int(_fraction(request.key, request.attempt, "kind") * 4)
            if kind == 0:  # the backend failed while working: after the full latency
                return Reply(status=500, delay=latency)
            if kind == 1:  # a gateway sheds load at once
                return Reply(status=503)
            if kind == 2:  # rate limited at the door
                return Reply(status=429, headers={"Retry-After": "0"})
            return Reply(drop=True, delay=latency / 2)  # connection reset mid-request
        paragraph = request.paragraph
        content = answers.get(paragraph or "")
        if content is None:
            return Reply(status=400, body={"error": {"message": "unknown paragraph", "type": "invalid_request"}})
        return Reply(content=content, delay=latency)

    return script


def load_answers(path: str | Path) -> dict[str, str]:
    """JSONL rows {"paragraph": ..., "content": ...} -> {paragraph: content}."""
    answers = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                answers[row["paragraph"].strip()] = row["content"]
    return answers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="scripted OpenAI-compatible server on 127.0.0.1")
    parser.add_argument("--answers", required=True, help="JSONL of {paragraph, content}")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", help="write the bound port here once listening")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--log", help="on SIGTERM, write the per-key request counts here as JSON")
    args = parser.parse_args(argv)
    server = FakeOpenAI(
        answer_script(load_answers(args.answers), latency=args.latency_ms / 1000, fault_rate=args.fault_rate),
        port=args.port,
    )

    async def run() -> None:
        import signal

        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        serving = asyncio.create_task(server.serve_forever(args.port_file))
        await stop.wait()
        serving.cancel()
        if args.log:
            with server.lock:
                payload = {
                    "counts": dict(server.counts),
                    "served": dict(server.served),
                    "outcomes": dict(Counter(e.outcome for e in server.log)),
                }
            Path(args.log).write_text(json.dumps(payload))

    asyncio.run(run())


if __name__ == "__main__":
    main()
