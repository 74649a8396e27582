"""A tiny random-weight Qwen3 and a locally trained tokenizer, for CPU tests and GPU smoke runs.

Nothing comes from a model hub: the tokenizer is a byte-level BPE (the `tokenizers` library, Qwen's
pre-tokenisation scheme) trained on the raw corpus text, with Qwen3's special tokens and a ChatML chat
template that has Qwen3's `enable_thinking` switch; the model is `Qwen3ForCausalLM` from a small
`Qwen3Config` with `head_dim` set explicitly.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]

# The structure of Qwen3's own template: reasoning is rendered inside <think>...</think> for assistant turns
# after the last user query; with enable_thinking=False the generation prompt carries an empty think block, so
# the rendered prompt is a prefix of the rendered prompt + reply (what completion-only loss relies on).
CHAT_TEMPLATE = """\
{%- set ns = namespace(last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
{%- set index = (messages|length - 1) - loop.index0 %}
{%- if message.role == 'user' and ns.last_query_index == messages|length - 1 %}
{%- set ns.last_query_index = index %}
{%- endif %}
{%- endfor %}
{%- for message in messages %}
{%- if message.role == 'system' or message.role == 'user' %}
{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
{%- elif message.role == 'assistant' %}
{%- set content = message.content %}
{%- set reasoning_content = '' %}
{%- if message.reasoning_content is defined and message.reasoning_content is string %}
{%- set reasoning_content = message.reasoning_content %}
{%- elif '</think>' in content %}
{%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}
{%- set content = content.split('</think>')[-1].lstrip('\\n') %}
{%- endif %}
{%- if loop.index0 > ns.last_query_index and (loop.last or reasoning_content) %}
{{- '<|im_start|>assistant\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + \
content.lstrip('\\n') }}
{%- else %}
{{- '<|im_start|>assistant\\n' + content }}
{%- endif %}
{{- '<|im_end|>\\n' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<|im_start|>assistant\\n' }}
{%- if enable_thinking is defined and enable_thinking is false %}
{{- '<think>\\n\\n</think>\\n\\n' }}
{%- endif %}
{%- endif %}
"""

FALLBACK_TEXT = [
    "营业收入同比增长12.5%，毛利率提升至35.2%，净利润率为8.1%。",
    "公司经营活动现金流净额为23亿元，资产负债率56.3%，ROE为15.4%。",
    "产能利用率提升至88%，市占率约22%，出货量同比增长30%。",
    (
        '{"analysis": "段落分析核心指标", "metrics": [{"metric_name": "毛利率", "metric_type": "financial", '
        '"score": 0.95, "reason": "深度分析"}]}'
    ),
]


def _shared_corpus() -> Path:
    root = Path(__file__).resolve().parents[1]
    return Path(os.environ.get("FINSYNTH_SHARED", root.parent / "shared")) / "corpus"


def _strings(obj: object) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _strings(value)


def corpus_texts(paths: Iterable[str | os.PathLike[str]] | None = None) -> list[str]:
    """Training text for the tokenizer: every string (and the raw JSON line) of the given JSONL files.

    Default: `data/raw/*.jsonl`, else the shared corpus, else a few built-in lines; the prompt templates'
    text is always added so the system prompt tokenises compactly.
    """
    root = Path(__file__).resolve().parents[1]
    if paths is None:
        files = sorted((root / "data" / "raw").glob("*.jsonl")) or sorted(_shared_corpus().glob("*.jsonl"))
    else:
        files = []
        for p in map(Path, paths):
            files.extend(sorted(p.glob("*.jsonl")) if p.is_dir() else [p])
    texts: list[str] = []
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            texts.append(line)
            with contextlib.suppress(json.JSONDecodeError):
                texts.extend(_strings(json.loads(line)))
    template_dir = root / "templates"
    if template_dir.is_dir():
        texts.extend(p.read_text(encoding="utf-8") for p in sorted(template_dir.glob("*.j2")))
    return texts or list(FALLBACK_TEXT)


def build_tokenizer(texts: list[str], vocab_size: int = 4000):
    """A byte-level BPE tokenizer with Qwen3's special tokens and chat template, as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:2] + SPECIAL_TOKENS[3:],
        model_max_length=32768,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(
    out: str | os.PathLike[str],
    texts: list[str] | None = None,
    *,
    vocab_size: int = 4000,
    hidden_size: int = 64,
    intermediate_size: int = 128,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 4,
    num_key_value_heads: int = 2,
    head_dim: int = 16,
    seed: int = 0,
) -> Path:
    """Write a tiny random Qwen3ForCausalLM plus tokenizer to `out`; returns the path."""
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(texts if texts is not None else corpus_texts(), vocab_size=vocab_size)
    eos_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        num_key_value_heads=num_key_value_heads,
        head_dim=head_dim,
        max_position_embeddings=32768,
        tie_word_embeddings=False,
        bos_token_id=pad_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=[eos_id, pad_id], pad_token_id=pad_id, bos_token_id=pad_id, do_sample=False
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
