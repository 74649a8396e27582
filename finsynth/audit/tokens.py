"""Token lengths for the report, from a local tokenizer (never a model hub).

A Qwen3 checkpoint directory holds `tokenizer.json`; pass the directory or the file. The `tokenizers`
package comes with the `train` extra.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from finsynth.schema import Sample

BATCH = 4096


def load_tokenizer(path: str | os.PathLike[str]) -> Any:
    """A fast tokenizer from `path`: a `tokenizer.json` file, or a directory that holds one."""
    file = Path(path)
    if file.is_dir():
        file = file / "tokenizer.json"
    if not file.is_file():
        raise FileNotFoundError(f"no tokenizer.json at {path} (give a model directory or the file itself)")
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise RuntimeError("token lengths need the tokenizers package: pip install 'finsynth[train]'") from exc
    try:
        return Tokenizer.from_file(str(file))
    except Exception as exc:  # tokenizers raises a bare Exception on a malformed file
        raise ValueError(f"{file}: not a tokenizers JSON file ({exc})") from exc


def _lengths(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    out: list[int] = []
    for start in range(0, len(texts), BATCH):
        batch = tokenizer.encode_batch(list(texts[start:start + BATCH]), add_special_tokens=False)
        out.extend(len(encoding.ids) for encoding in batch)
    return out


def token_lengths(samples: Sequence[Sample], tokenizer: Any) -> dict[str, list[int]]:
    """{"paragraph": [...], "analysis": [...]}: token counts per sample, in order, for `build_report`."""
    return {
        "paragraph": _lengths(tokenizer, [s.input.paragraph for s in samples]),
        "analysis": _lengths(tokenizer, [s.output.analysis for s in samples]),
    }


def qwen_chat_text(messages: Sequence[dict[str, str]]) -> str:
    """The text Qwen3's chat template renders for a whole training row with thinking off: each turn
    framed by <|im_start|>role ... <|im_end|>, the assistant reply behind an empty think block (the
    build trains and infers with enable_thinking=False)."""
    parts = []
    for message in messages:
        content = message["content"]
        if message["role"] == "assistant":
            content = "<think>\n\n</think>\n\n" + content
        parts.append(f"<|im_start|>{message['role']}\n{content}<|im_end|>\n")
    return "".join(parts)


def chat_row_tokens(item: Any, tokenizer: Any) -> int:
    """Tokens of `item`'s training row (system, user and assistant turns) as the trainer renders it;
    a tokenizer.json carries Qwen's special tokens, so the framing counts as the model sees it."""
    from finsynth.prompts import chat_row

    row = chat_row(item)
    text = qwen_chat_text(list(row["prompt"]) + list(row["completion"]))
    return len(tokenizer.encode(text, add_special_tokens=False).ids)
