"""`python -m train convert-gguf FILE OUT`: a dense Hugging Face checkpoint from a GGUF file.

transformers reads the GGUF (config from its metadata, tokenizer and chat template from its `tokenizer.*`
keys, every weight dequantised) and `save_pretrained` writes OUT: `config.json`, `model.safetensors` (bf16 by
default), `generation_config.json`, `tokenizer.json`, `tokenizer_config.json` and `chat_template.jinja`, a
directory `sft`/`infer --model` take as it is. A file whose output tensor is absent loads with tied
embeddings (transformers' rule), so a GGUF slimmed of its duplicate `output.weight` converts too.

transformers >= 5.17 keeps GGUF weights packed unless told otherwise; `GgufConfig(dequantize=True)` asks for
the dense model (older versions always dequantise, and take no such config). Errors are one line (exit 2):
a missing file, a file that is not GGUF, an architecture transformers cannot read, a missing `gguf` package.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finsynth.io import InputError

from .config import ConfigError, UnavailableError

DTYPES = ("bfloat16", "float16", "float32")


@dataclass
class GgufInfo:
    """What the converter needs to know of a GGUF file before transformers reads it."""

    architecture: str
    has_tokenizer: bool
    vocab_size: int | None  # rows of token_embd.weight
    special_tokens: dict[str, str] = field(default_factory=dict)  # eos_token/bos_token/pad_token -> token text


def read_gguf_info(path: Path) -> GgufInfo:
    """Architecture, tokenizer presence, vocabulary size and special tokens of a GGUF file (metadata only)."""
    try:
        import gguf
    except ImportError as exc:
        raise UnavailableError(
            "convert-gguf needs the gguf package: pip install gguf (it is in finsynth's train extra)"
        ) from exc
    try:
        reader = gguf.GGUFReader(str(path), "r")
    except (ValueError, OSError, IndexError) as exc:
        raise InputError(f"{path}: not a readable GGUF file ({exc})") from exc
    field_ = reader.get_field(gguf.Keys.General.ARCHITECTURE)
    if field_ is None:
        raise InputError(f"{path}: a GGUF file without general.architecture; transformers cannot read it")
    has_tokenizer = reader.get_field(gguf.Keys.Tokenizer.MODEL) is not None
    embd = next((t for t in reader.tensors if t.name == "token_embd.weight"), None)
    vocab = int(embd.shape[-1]) if embd is not None and len(embd.shape) == 2 else None  # GGUF order: (dim, rows)
    special: dict[str, str] = {}
    tokens = reader.get_field(gguf.Keys.Tokenizer.LIST)
    if has_tokenizer and tokens is not None:
        for name, key in (
            ("eos_token", gguf.Keys.Tokenizer.EOS_ID),
            ("bos_token", gguf.Keys.Tokenizer.BOS_ID),
            ("pad_token", gguf.Keys.Tokenizer.PAD_ID),
        ):
            f = reader.get_field(key)
            if f is not None:
                token_id = int(f.contents())
                if 0 <= token_id < len(tokens.data):
                    special[name] = str(tokens.contents(token_id))
    return GgufInfo(str(field_.contents()), has_tokenizer, vocab, special)


def supported_architectures() -> list[str]:
    """GGUF architectures this transformers reads (its legacy table and its packed-weights table)."""
    names: set[str] = set()
    try:
        from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

        names.update(GGUF_SUPPORTED_ARCHITECTURES)
    except ImportError:
        pass
    try:
        from transformers.integrations.gguf import GGUF_ARCHS

        names.update(GGUF_ARCHS)
    except ImportError:
        pass
    return sorted(names - {"general", "tokenizer"})


def _unsupported(arch: str, path: Path, exc: Exception) -> InputError:
    import transformers

    known = supported_architectures()
    listed = f" (it reads: {', '.join(known)})" if known else ""
    return InputError(
        f"{path}: GGUF architecture {arch!r} is not one transformers {transformers.__version__} can "
        f"read{listed}; convert it with its own tooling or pick another model"
    )


def _is_unsupported_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "not supported" in text or "unrecognized model" in text or "does not recognize" in text


def dequantize_kwargs() -> dict[str, Any]:
    """`quantization_config=GgufConfig(dequantize=True)` where this transformers has it, else nothing."""
    try:
        from transformers import GgufConfig
    except ImportError:
        return {}
    if "dequantize" not in inspect.signature(GgufConfig.__init__).parameters:
        return {}
    return {"quantization_config": GgufConfig(dequantize=True)}


def _drop_quantizer(model) -> None:
    """A dequantised model is dense: forget the GGUF quantizer so `save_pretrained` writes plain weights."""
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
    for cfg in (model.config, getattr(model.config, "get_text_config", lambda **_: None)(decoder=True)):
        if cfg is not None and getattr(cfg, "quantization_config", None) is not None:
            del cfg.quantization_config
    if hasattr(model, "is_quantized"):
        with contextlib.suppress(AttributeError):
            model.is_quantized = False


def _quiet_gguf_progress() -> None:
    """The legacy GGUF loader draws its own tqdm bar (not transformers' switchable one): silence it."""
    try:
        import functools

        import transformers.modeling_gguf_pytorch_utils as legacy
    except ImportError:
        return
    bar = getattr(legacy, "tqdm", None)
    if bar is not None and not isinstance(bar, functools.partial):
        legacy.tqdm = functools.partial(bar, disable=True)


def convert_gguf(
    gguf_file: str | Path, out: str | Path, dtype: str = "bfloat16", tokenizer: bool = True
) -> dict[str, Any]:
    """Convert `gguf_file` to a Hugging Face checkpoint in `out`; returns a summary (JSON-safe).

    `tokenizer=False`, or a GGUF without `tokenizer.*` metadata, writes the weights and config only.
    """
    path = Path(gguf_file)
    out = Path(out)
    if dtype not in DTYPES:
        raise ConfigError(f"--dtype must be one of {DTYPES}, got {dtype!r}")
    if not path.is_file():
        raise InputError(f"{path}: no such file; pass a .gguf file")
    info = read_gguf_info(path)
    arch, has_tokenizer, vocab = info.architecture, info.has_tokenizer, info.vocab_size
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory; pass a directory to write the checkpoint to")

    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.utils.logging.disable_progress_bar()
    _quiet_gguf_progress()
    started = time.time()
    directory, name = str(path.resolve().parent), path.name
    tok = None
    if tokenizer and has_tokenizer:
        try:
            tok = AutoTokenizer.from_pretrained(directory, gguf_file=name)
        except ValueError as exc:
            if _is_unsupported_error(exc):
                raise _unsupported(arch, path, exc) from exc
            raise
    extra = dequantize_kwargs()
    if not has_tokenizer and vocab:
        extra["vocab_size"] = vocab  # transformers reads it from the tokenizer keys, which this file lacks
    try:
        model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=getattr(torch, dtype), **extra)
    except ValueError as exc:
        if _is_unsupported_error(exc):
            raise _unsupported(arch, path, exc) from exc
        raise
    except ImportError as exc:
        raise UnavailableError(f"convert-gguf: {exc}") from exc
    _drop_quantizer(model)
    model = model.to(getattr(torch, dtype))
    if tok is not None:
        # The file's own special tokens win over the tokenizer class's defaults (transformers 5.17 gives a
        # Qwen2 file eos <|endoftext|>, 5.24 the file's <|im_end|>): the same checkpoint from either version.
        for name, token in info.special_tokens.items():
            if getattr(tok, name, None) != token:
                setattr(tok, name, token)
        for attr in ("eos_token_id", "bos_token_id", "pad_token_id"):
            value = getattr(tok, attr, None)
            if value is not None:
                setattr(model.config, attr, value)
                setattr(model.generation_config, attr, value)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    if tok is not None:
        tok.save_pretrained(str(out))
    files = sorted(p.name for p in out.iterdir() if p.is_file())
    return {
        "gguf": str(path),
        "out": str(out),
        "architecture": arch,
        "model_type": model.config.model_type,
        "parameters": sum(p.numel() for p in model.parameters()),
        "dtype": dtype,
        "tie_word_embeddings": bool(getattr(model.config, "tie_word_embeddings", False)),
        "tokenizer": tok is not None,
        "chat_template": bool(tok is not None and getattr(tok, "chat_template", None)),
        "note": None
        if tok is not None
        else (
            "the GGUF carries no tokenizer: weights and config only"
            if not has_tokenizer
            else "tokenizer skipped (--no-tokenizer)"
        ),
        "files": files,
        "bytes": sum((out / f).stat().st_size for f in files),
        "transformers": transformers.__version__,
        "seconds": round(time.time() - started, 2),
    }
