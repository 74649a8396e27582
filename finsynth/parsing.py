"""Turning raw model text into an `Extraction`, robustly and honestly.

Used by the LLM engine (replies) and by evaluation (predictions). JSON validity is reported, not
hidden: a reply that needed a code fence or a `<think>` block removed is still valid JSON, but a reply
with no decodable object is `json_valid=False`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from finsynth.io import schema_errors
from finsynth.schema import Extraction

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_OPEN_THINK = re.compile(r"^\s*<think>.*", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


class ParsedReply(BaseModel):
    """What was recovered from one raw reply."""

    extraction: Extraction | None = None
    data: Any = None
    json_valid: bool = False
    schema_valid: bool = False
    error: str | None = None


def strip_wrappers(raw: str) -> str:
    """Remove `<think>...</think>` blocks (also an unterminated one) and unwrap a code fence."""
    text = _THINK.sub("", raw)
    if "</think>" not in text.lower():
        text = _OPEN_THINK.sub("", text) if text.lstrip().lower().startswith("<think>") else text
    fence = _FENCE.search(text)
    if fence:
        text = fence.group(1)
    return text.strip()


def find_json_object(text: str) -> Any:
    """The first decodable JSON object in `text`, tolerating prose before and after it."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    last_error: json.JSONDecodeError | None = None
    while start != -1:
        try:
            obj, _ = decoder.raw_decode(text, start)
            if isinstance(obj, dict):
                return obj
        except json.JSONDecodeError as exc:
            last_error = exc
        start = text.find("{", start + 1)
    raise last_error or json.JSONDecodeError("no JSON object found", text, 0)


def parse_reply(raw: str | dict | None) -> ParsedReply:
    """Parse a model reply (raw text or an already-parsed object) into an Extraction."""
    if raw is None:
        return ParsedReply(error="empty reply")
    if isinstance(raw, dict):
        data = raw
    else:
        try:
            data = find_json_object(strip_wrappers(raw))
        except json.JSONDecodeError as exc:
            return ParsedReply(error=f"invalid JSON: {exc.msg}")
    try:
        extraction = Extraction.model_validate(data)
    except ValidationError as exc:
        return ParsedReply(data=data, json_valid=True, error=f"schema: {schema_errors(exc)}")
    return ParsedReply(extraction=extraction, data=data, json_valid=True, schema_valid=True)
