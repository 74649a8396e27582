"""A content-addressed response cache in SQLite.

The key is the sha256 of the canonical JSON of everything that determines a reply: the endpoint
model, the template hash, the rendered messages (re-ask turns included) and the sampling parameters.
The API key and the base URL are not part of it and nothing secret is stored.

Every reply is committed as soon as it arrives (WAL journal), so a run killed mid-way keeps all the
work that finished and a restart calls the endpoint only for what is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    template_hash TEXT NOT NULL,
    request TEXT NOT NULL,
    content TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    finish_reason TEXT,
    created REAL NOT NULL
)
"""


class CachedReply(BaseModel):
    """One stored reply with the usage it cost when it was made."""

    content: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None


def cache_key(model: str, template_hash: str, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
    """sha256 over the canonical JSON of (model, template hash, messages, sampling params)."""
    payload = {"model": model, "template_hash": template_hash, "messages": messages, "params": params}
    canonical = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache:
    """SQLite-backed, thread-safe map from cache key to reply. `path=None` keeps it in memory."""

    def __init__(self, path: str | os.PathLike[str] | None):
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(self.path) if self.path is not None else ":memory:",
            check_same_thread=False,
            isolation_level=None,
        )
        if self.path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute(SCHEMA)

    def get(self, key: str) -> CachedReply | None:
        """The stored reply for `key`, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT content, prompt_tokens, completion_tokens, finish_reason FROM responses WHERE key=?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        return CachedReply(content=row[0], prompt_tokens=row[1], completion_tokens=row[2], finish_reason=row[3])

    def put(
        self,
        key: str,
        *,
        model: str,
        template_hash: str,
        messages: list[dict[str, str]],
        params: dict[str, Any],
        reply: CachedReply,
    ) -> None:
        """Store a reply and commit at once (first write wins; a key's reply never changes)."""
        request = json.dumps({"messages": messages, "params": params}, ensure_ascii=False, sort_keys=True)
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO responses VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    key,
                    model,
                    template_hash,
                    request,
                    reply.content,
                    reply.prompt_tokens,
                    reply.completion_tokens,
                    reply.finish_reason,
                    time.time(),
                ),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
