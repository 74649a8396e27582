"""Batched generation on the built test set: the training prompt, thinking off, greedy by default.

Output rows are `{"id", "index", "output"}` (raw model text), which `finsynth eval` scores against the
test rows with the same ids. Backends: transformers (left padding, batched `generate`) and, when vLLM is
installed, vLLM with the LoRA adapter.
"""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from typing import Any

from finsynth.io import InputError, read_jsonl, write_json_atomic, write_jsonl_atomic

from .config import InferConfig, UnavailableError
from .data import CHAT_TEMPLATE_KWARGS


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def load_for_inference(model_path: str, adapter: str | None, quant: str, attn_implementation: str = "sdpa"):
    """Tokenizer (left padding) and model with the adapter attached, in eval mode."""
    from transformers import AutoTokenizer

    from .sft import load_base_model

    tok_source = adapter if adapter and (Path(adapter) / "tokenizer_config.json").is_file() else model_path
    tokenizer = AutoTokenizer.from_pretrained(tok_source, padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = load_base_model(model_path, quant, attn_implementation=attn_implementation)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
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
        tokenizer.apply_chat_template(r["prompt"], add_generation_prompt=True, tokenize=False,
                                      **CHAT_TEMPLATE_KWARGS)
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
        "max_new_tokens": cfg.max_new_tokens,
        "do_sample": cfg.do_sample,
        "eos_token_id": stops,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if cfg.do_sample:
        gen_kwargs.update(temperature=cfg.temperature, top_p=cfg.top_p)
    else:
        gen_kwargs.update(temperature=None, top_p=None, top_k=None)
    torch.manual_seed(cfg.seed)
    for start in range(0, len(order), cfg.batch_size):
        idx = order[start:start + cfg.batch_size]
        enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(device) for k, v in enc.items()}
        with torch.inference_mode():
            out = model.generate(**enc, **gen_kwargs)
        new = out[:, enc["input_ids"].shape[1]:]
        for j, i in enumerate(idx):
            outputs[i] = tokenizer.decode(new[j], skip_special_tokens=True).strip()
    return outputs


def generate_vllm(rows: list[dict[str, Any]], cfg: InferConfig) -> list[str]:
    """vLLM with the LoRA adapter; the chat template's thinking switch set off."""
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    llm = LLM(model=cfg.model, enable_lora=bool(cfg.adapter), seed=cfg.seed,
              quantization="bitsandbytes" if cfg.quant != "none" else None)
    params = SamplingParams(
        temperature=cfg.temperature if cfg.do_sample else 0.0,
        top_p=cfg.top_p if cfg.do_sample else 1.0,
        max_tokens=cfg.max_new_tokens,
    )
    lora = LoRARequest("finsynth", 1, cfg.adapter) if cfg.adapter else None
    results = llm.chat([r["prompt"] for r in rows], params, lora_request=lora,
                       chat_template_kwargs=dict(CHAT_TEMPLATE_KWARGS))
    return [r.outputs[0].text.strip() for r in results]


def run_infer(cfg: InferConfig) -> dict[str, Any]:
    """Generate for the first `limit` test rows and write predictions (+ `<out>.log.json`)."""
    cfg.check_paths()
    rows = read_jsonl(cfg.test)
    if cfg.limit is not None:
        rows = rows[: cfg.limit]
    if not rows:
        raise InputError(f"{cfg.test}: no test rows")
    started = time.time()
    if cfg.backend == "vllm":
        if not vllm_available():
            raise UnavailableError("--backend vllm needs vllm installed (pip install vllm); "
                                   "the transformers backend always works")
        outputs = generate_vllm(rows, cfg)
    else:
        tokenizer, model = load_for_inference(cfg.model, cfg.adapter, cfg.quant, cfg.attn_implementation)
        outputs = generate_transformers(tokenizer, model, rows, cfg)
    preds = [{"id": r.get("id", str(i)), "index": i, "output": text} for i, (r, text) in enumerate(zip(rows, outputs))]
    write_jsonl_atomic(cfg.out, preds)
    seconds = time.time() - started
    log = {"config": cfg.to_dict(), "rows": len(preds), "seconds": round(seconds, 2),
           "rows_per_second": round(len(preds) / seconds, 3) if seconds else None,
           "valid_json": sum(_is_json(p["output"]) for p in preds)}
    write_json_atomic(str(cfg.out) + ".log.json", log)
    return log


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except json.JSONDecodeError:
        return False
