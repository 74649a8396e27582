"""Batched generation on the built test set: the training prompt, thinking off, greedy by default.

Output rows are `{"id", "index", "output"}` (raw model text), which `finsynth eval` scores against the
test rows with the same ids. Backends: transformers (left padding, batched `generate`) and, when vLLM is
installed, vLLM with the LoRA adapter.

Defaults that follow the run (each announced on stderr as a `notice:` line and recorded in OUT.log.json):
`--quant auto` is the quant the adapter trained with (its `run_log.json`, in the adapter directory or the run
directory above it), `none` on a machine without CUDA (bitsandbytes needs a GPU; the LoRA deltas apply to the
unquantised base as well), `8bit` for an adapter without a run log, `none` for the bare base model.
`--max-new-tokens` defaults to 1.25 x the longest reply measured with the tokenizer: the run log's training and
validation replies, else the test split's gold replies, else 1024.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from finsynth.io import InputError, read_jsonl, write_json_atomic, write_jsonl_atomic

from .config import InferConfig, SFTArguments, UnavailableError
from .data import CHAT_TEMPLATE_KWARGS

RUN_LOG = "run_log.json"  # what `python -m train sft` writes next to RUN/adapter
REPLY_MARGIN = 1.25
FALLBACK_MAX_NEW_TOKENS = 1024


def notice(message: str) -> None:
    print(f"notice: {message}", file=sys.stderr, flush=True)


def adapter_run_log(adapter: str | None) -> tuple[dict[str, Any] | None, Path | None]:
    """The run log of the run that wrote `adapter`: ADAPTER/run_log.json or ADAPTER/../run_log.json."""
    if not adapter:
        return None, None
    for directory in (Path(adapter), Path(adapter).parent):
        path = directory / RUN_LOG
        if path.is_file():
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
            if isinstance(doc, dict):
                return doc, path
    return None, None


def resolve_quant(cfg: InferConfig, cuda: bool) -> tuple[str, str]:
    """(quant, why) for `--quant auto`; an explicit quant is kept as given."""
    if cfg.quant != "auto":
        return cfg.quant, "given"
    if not cuda:
        return "none", "no CUDA GPU here (8-bit/4-bit need one); the adapter applies to the unquantised base"
    if not cfg.adapter:
        return "none", "no adapter: the bf16 base"
    log, path = adapter_run_log(cfg.adapter)
    trained = ((log or {}).get("config") or {}).get("quant")
    if trained:
        return trained, f"the quant the adapter trained with ({path})"
    default = SFTArguments().quant
    return default, f"no run_log.json next to the adapter: the training default {default}"


def resolve_max_new_tokens(cfg: InferConfig, tokenizer, rows: list[dict[str, Any]]) -> tuple[int, str]:
    """(max_new_tokens, why): given, else 1.25 x the longest measured reply (run log, else the test gold)."""
    if cfg.max_new_tokens is not None:
        return cfg.max_new_tokens, "given"
    log, path = adapter_run_log(cfg.adapter)
    logged = [v.get("reply_max") for v in ((log or {}).get("lengths") or {}).values() if isinstance(v, dict)]
    longest = [n for n in logged if isinstance(n, int) and n > 0]
    if longest:
        return math.ceil(
            REPLY_MARGIN * max(longest)
        ), f"{REPLY_MARGIN} x the longest training reply ({max(longest)} tokens, {path})"
    if tokenizer is not None:
        from .data import full_ids, prompt_ids

        gold = [
            len(full_ids(tokenizer, r)) - len(prompt_ids(tokenizer, r))
            for r in rows
            if isinstance(r.get("prompt"), list) and isinstance(r.get("completion"), list)
        ]
        if gold:
            return (
                math.ceil(REPLY_MARGIN * max(gold)),
                f"{REPLY_MARGIN} x the longest gold reply of {cfg.test} ({max(gold)} tokens)",
            )
    return FALLBACK_MAX_NEW_TOKENS, "no measured reply lengths: the fallback"


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def _tokenizer_source(model_path: str, adapter: str | None) -> str:
    """The adapter's saved tokenizer (what training used) when there is one, else the base model's."""
    return adapter if adapter and (Path(adapter) / "tokenizer_config.json").is_file() else model_path


def load_for_inference(
    model_path: str,
    adapter: str | None,
    quant: str,
    attn_implementation: str = "sdpa",
    merge_adapter: bool = False,
    exact: bool = False,
):
    """Tokenizer (left padding) and model with the adapter attached (merged into a bf16 base when asked), in eval
    mode. Merging removes peft's extra kernels from every decoding step; a quantised base is never merged into
    (that would round the deltas into int8/nf4). `exact`: float32 weights with TF32 off, so batching and merging
    change no greedy output (in bf16 they do: the reduction order of a batch's kernels shifts the rounding)."""
    from transformers import AutoTokenizer

    from .sft import load_base_model

    tokenizer = AutoTokenizer.from_pretrained(_tokenizer_source(model_path, adapter), padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if exact:
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    model = load_base_model(model_path, quant, bf16=not exact, attn_implementation=attn_implementation)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
        if merge_adapter and quant == "none":
            model = model.merge_and_unload()
    if quant == "none":
        import torch

        if torch.cuda.is_available():
            model = model.to("cuda")
    model.eval()
    return tokenizer, model


def stop_token_ids(tokenizer, model) -> list[int]:
    """End-of-turn ids: the tokenizer's eos, <|im_end|> and <|endoftext|> when present, plus the model's own."""
    ids: list[int] = []
    gen = getattr(model, "generation_config", None)
    configured = getattr(gen, "eos_token_id", None) if gen is not None else None
    candidates = [tokenizer.eos_token_id, *(configured if isinstance(configured, list) else [configured])]
    for token in ("<|im_end|>", "<|endoftext|>"):
        tid = tokenizer.convert_tokens_to_ids(token)
        if isinstance(tid, int) and tid != tokenizer.unk_token_id:
            candidates.append(tid)
    for tid in candidates:
        if isinstance(tid, int) and tid not in ids:
            ids.append(tid)
    return ids


def render_prompts(tokenizer, rows: list[dict[str, Any]]) -> list[str]:
    """The training prompt (system + user) with the generation prompt, thinking off."""
    return [
        tokenizer.apply_chat_template(r["prompt"], add_generation_prompt=True, tokenize=False, **CHAT_TEMPLATE_KWARGS)
        for r in rows
    ]


def generate_transformers(tokenizer, model, rows: list[dict[str, Any]], cfg: InferConfig) -> list[str]:
    """Left-padded batches through `model.generate`; returns the decoded new text per row, in order."""
    import torch

    device = next(p for p in model.parameters()).device
    prompts = render_prompts(tokenizer, rows)
    # Longest first: fewer pad tokens per batch; results are put back in the input order.
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    outputs: list[str] = [""] * len(prompts)
    stops = stop_token_ids(tokenizer, model)
    gen_kwargs: dict[str, Any] = {
        "max_new_tokens": cfg.max_new_tokens or FALLBACK_MAX_NEW_TOKENS,
        "do_sample": cfg.do_sample,
        "eos_token_id": stops,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if cfg.cache_implementation != "dynamic":
        gen_kwargs["cache_implementation"] = cfg.cache_implementation
    if cfg.do_sample:
        gen_kwargs.update(temperature=cfg.temperature, top_p=cfg.top_p)
    else:
        gen_kwargs.update(temperature=None, top_p=None, top_k=None)
    torch.manual_seed(cfg.seed)
    for start in range(0, len(order), cfg.batch_size):
        idx = order[start : start + cfg.batch_size]
        enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(device) for k, v in enc.items()}
        with torch.inference_mode():
            out = model.generate(**enc, **gen_kwargs)
        new = out[:, enc["input_ids"].shape[1] :]
        for j, i in enumerate(idx):
            outputs[i] = tokenizer.decode(new[j], skip_special_tokens=True).strip()
    return outputs


def generate_vllm(rows: list[dict[str, Any]], cfg: InferConfig) -> list[str]:
    """vLLM with the LoRA adapter; the chat template's thinking switch set off."""
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    llm = LLM(
        model=cfg.model,
        enable_lora=bool(cfg.adapter),
        seed=cfg.seed,
        quantization="bitsandbytes" if cfg.quant != "none" else None,
    )
    params = SamplingParams(
        temperature=cfg.temperature if cfg.do_sample else 0.0,
        top_p=cfg.top_p if cfg.do_sample else 1.0,
        max_tokens=cfg.max_new_tokens or FALLBACK_MAX_NEW_TOKENS,
    )
    lora = LoRARequest("finsynth", 1, cfg.adapter) if cfg.adapter else None
    results = llm.chat(
        [r["prompt"] for r in rows], params, lora_request=lora, chat_template_kwargs=dict(CHAT_TEMPLATE_KWARGS)
    )
    return [r.outputs[0].text.strip() for r in results]


def run_infer(cfg: InferConfig) -> dict[str, Any]:
    """Generate for the first `limit` test rows and write predictions (+ `<out>.log.json`)."""
    cfg.check_paths()
    all_rows = read_jsonl(cfg.test)
    rows = all_rows[: cfg.limit] if cfg.limit is not None else all_rows
    if not rows:
        raise InputError(f"{cfg.test}: no test rows")
    import torch

    started = time.time()
    log_doc, log_path = adapter_run_log(cfg.adapter)
    if log_doc and log_doc.get("status") == "failed":
        notice(f"{log_path} says the run failed ({log_doc.get('reason')}); {cfg.adapter} is not from a finished run")
    quant, quant_why = resolve_quant(cfg, torch.cuda.is_available())
    if cfg.quant == "auto":
        notice(f"--quant auto -> {quant}: {quant_why}")
    if cfg.backend == "vllm" and not vllm_available():
        raise UnavailableError(
            "--backend vllm needs vllm installed (pip install vllm); the transformers backend always works"
        )
    tokenizer = model = None
    if cfg.backend == "vllm":
        if cfg.max_new_tokens is None:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(_tokenizer_source(cfg.model, cfg.adapter))
    else:
        tokenizer, model = load_for_inference(
            cfg.model, cfg.adapter, quant, cfg.attn_implementation, merge_adapter=cfg.merge_adapter, exact=cfg.exact
        )
    max_new, max_new_why = resolve_max_new_tokens(cfg, tokenizer, all_rows)  # the whole split, not --limit
    if cfg.max_new_tokens is None:
        notice(f"--max-new-tokens {max_new}: {max_new_why}")
    cfg = dataclasses.replace(cfg, quant=quant, max_new_tokens=max_new)
    loaded = time.time()
    outputs = generate_vllm(rows, cfg) if cfg.backend == "vllm" else generate_transformers(tokenizer, model, rows, cfg)
    generate_seconds = time.time() - loaded
    preds = [
        {"id": r.get("id", str(i)), "index": i, "output": text}
        for i, (r, text) in enumerate(zip(rows, outputs, strict=True))
    ]
    write_jsonl_atomic(cfg.out, preds)
    seconds = time.time() - started
    log = {
        "config": cfg.to_dict(),
        "resolved": {"quant": quant_why, "max_new_tokens": max_new_why},
        "rows": len(preds),
        "seconds": round(seconds, 2),
        "load_seconds": round(loaded - started, 2),
        "generate_seconds": round(generate_seconds, 2),
        "dtype": str(next(model.parameters()).dtype).removeprefix("torch.") if model is not None else None,
        "merged_adapter": bool(cfg.adapter and cfg.merge_adapter and quant == "none" and cfg.backend != "vllm"),
        "rows_per_second": round(len(preds) / seconds, 3) if seconds else None,
        "valid_json": sum(_is_json(p["output"]) for p in preds),
    }
    write_json_atomic(str(cfg.out) + ".log.json", log)
    return log


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except json.JSONDecodeError:
        return False
