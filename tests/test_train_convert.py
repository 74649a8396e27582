"""`python -m train convert-gguf`: a GGUF file this test writes itself (the gguf package) -> a dense checkpoint.

The file is a tiny qwen2 (2 layers, hidden 32) with random float32 tensors and a byte-level BPE tokenizer
(trained here, written as GGUF `tokenizer.ggml.*` keys with a ChatML template). The converted checkpoint
must load with plain transformers, give the same logits as a Qwen2ForCausalLM built from the same tensors,
tokenise like the original tokenizer and render the chat template. Unsupported architectures, non-GGUF files
and a missing gguf package are one-line user errors (exit 2).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
gguf = pytest.importorskip("gguf")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from train.cli import main as train_main

HIDDEN, LAYERS, HEADS, KV_HEADS, FFN = 32, 2, 4, 2, 64
TEXT = [
    "营业收入同比增长12.5%，毛利率提升至35.2%，净利润率为8.1%。",
    "公司经营活动现金流净额为23亿元，资产负债率56.3%，ROE为15.4%。",
    '{"analysis": "段落分析核心指标", "metrics": [{"metric_name": "毛利率", "score": 0.95}]}',
    "The quick brown fox jumps over the lazy dog 0123456789.",
] * 4
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _tokenizer():
    """A byte-level BPE with Qwen2's pre-tokenisation (the split GGUF's `qwen2` pre-tokenizer names)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIAL,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(TEXT, trainer=trainer)
    return tok


def _tensors(vocab: int, rng) -> dict[str, np.ndarray]:
    """GGUF-named float32 tensors in numpy (out, in) layout."""

    def r(*shape):
        return (rng.standard_normal(shape) * 0.08).astype(np.float32)

    head_dim = HIDDEN // HEADS
    t = {"token_embd.weight": r(vocab, HIDDEN), "output_norm.weight": 1 + r(HIDDEN)}
    for i in range(LAYERS):
        p = f"blk.{i}."
        t |= {
            p + "attn_norm.weight": 1 + r(HIDDEN),
            p + "attn_q.weight": r(HIDDEN, HIDDEN),
            p + "attn_q.bias": r(HIDDEN),
            p + "attn_k.weight": r(KV_HEADS * head_dim, HIDDEN),
            p + "attn_k.bias": r(KV_HEADS * head_dim),
            p + "attn_v.weight": r(KV_HEADS * head_dim, HIDDEN),
            p + "attn_v.bias": r(KV_HEADS * head_dim),
            p + "attn_output.weight": r(HIDDEN, HIDDEN),
            p + "ffn_norm.weight": 1 + r(HIDDEN),
            p + "ffn_gate.weight": r(FFN, HIDDEN),
            p + "ffn_up.weight": r(FFN, HIDDEN),
            p + "ffn_down.weight": r(HIDDEN, FFN),
        }
    return t


def write_tiny_gguf(
    path: Path, *, arch: str = "qwen2", tied: bool = True, tokenizer: bool = True, seed: int = 0
) -> tuple[dict[str, np.ndarray], object]:
    """Write a tiny GGUF; returns its tensors and the `tokenizers.Tokenizer` it carries."""
    tok = _tokenizer()
    vocab = tok.get_vocab_size()
    rng = np.random.default_rng(seed)
    tensors = _tensors(vocab, rng)
    if not tied:
        tensors["output.weight"] = (rng.standard_normal((vocab, HIDDEN)) * 0.08).astype(np.float32)
    w = gguf.GGUFWriter(str(path), arch=arch)
    w.add_name("finsynth tiny qwen2")
    w.add_block_count(LAYERS)
    w.add_context_length(2048)
    w.add_embedding_length(HIDDEN)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_rope_freq_base(1_000_000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    if tokenizer:
        model = json.loads(tok.to_str())["model"]
        by_id = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
        merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("qwen2")
        w.add_token_list([t for t, _ in by_id])
        w.add_token_types([gguf.TokenType.CONTROL if t in SPECIAL else gguf.TokenType.NORMAL for t, _ in by_id])
        w.add_token_merges(merges)
        w.add_eos_token_id(tok.token_to_id("<|im_end|>"))
        w.add_bos_token_id(tok.token_to_id("<|endoftext|>"))
        w.add_pad_token_id(tok.token_to_id("<|endoftext|>"))
        w.add_add_bos_token(False)
        w.add_chat_template(CHATML)
    for name, value in tensors.items():
        w.add_tensor(name, value)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return tensors, tok


def _reference_model(tensors: dict[str, np.ndarray], vocab: int, tied: bool):
    """Qwen2ForCausalLM holding the same weights, mapped by hand (what transformers must reproduce)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(
        vocab_size=vocab,
        hidden_size=HIDDEN,
        intermediate_size=FFN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS,
        rms_norm_eps=1e-6,
        rope_theta=1_000_000.0,
        max_position_embeddings=2048,
        tie_word_embeddings=tied,
    )
    model = Qwen2ForCausalLM(cfg)
    names = {
        "attn_norm.weight": "input_layernorm.weight",
        "ffn_norm.weight": "post_attention_layernorm.weight",
        "attn_q.weight": "self_attn.q_proj.weight",
        "attn_q.bias": "self_attn.q_proj.bias",
        "attn_k.weight": "self_attn.k_proj.weight",
        "attn_k.bias": "self_attn.k_proj.bias",
        "attn_v.weight": "self_attn.v_proj.weight",
        "attn_v.bias": "self_attn.v_proj.bias",
        "attn_output.weight": "self_attn.o_proj.weight",
        "ffn_gate.weight": "mlp.gate_proj.weight",
        "ffn_up.weight": "mlp.up_proj.weight",
        "ffn_down.weight": "mlp.down_proj.weight",
    }
    state = {
        "model.embed_tokens.weight": tensors["token_embd.weight"],
        "model.norm.weight": tensors["output_norm.weight"],
    }
    if "output.weight" in tensors:
        state["lm_head.weight"] = tensors["output.weight"]
    for key, value in tensors.items():
        if key.startswith("blk."):
            _, i, rest = key.split(".", 2)
            state[f"model.layers.{i}.{names[rest]}"] = value
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}
    model.tie_weights()
    return model.eval()


@pytest.mark.parametrize("tied", [True, False], ids=["slim-tied", "with-output"])
def test_convert_gguf_roundtrip(tmp_path: Path, tied: bool, capsys) -> None:
    gguf_file = tmp_path / "tiny.gguf"
    tensors, tok = write_tiny_gguf(gguf_file, tied=tied)
    out = tmp_path / "hf"
    assert train_main(["convert-gguf", str(gguf_file), str(out), "--dtype", "float32"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["architecture"] == "qwen2" and summary["model_type"] == "qwen2"
    assert summary["tokenizer"] and summary["chat_template"]
    assert summary["tie_word_embeddings"] is tied
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"} <= set(summary["files"])

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(out).eval()  # plain transformers: no gguf_file, no quantizer
    assert getattr(model.config, "quantization_config", None) is None
    assert model.config.tie_word_embeddings is tied
    tokenizer = AutoTokenizer.from_pretrained(out)
    text = "营业收入同比增长12.5%，毛利率35.2%"
    assert tokenizer(text, add_special_tokens=False)["input_ids"] == tok.encode(text).ids
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "毛利率"}], add_generation_prompt=True, tokenize=False
    )
    assert rendered == "<|im_start|>user\n毛利率<|im_end|>\n<|im_start|>assistant\n"
    assert tokenizer.eos_token == "<|im_end|>"

    ids = torch.tensor([tok.encode(text).ids])
    reference = _reference_model(tensors, tok.get_vocab_size(), tied)
    with torch.inference_mode():
        got = model(input_ids=ids).logits
        want = reference(input_ids=ids).logits
    assert got.shape == (1, ids.shape[1], tok.get_vocab_size())
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_convert_gguf_bf16_default_and_generate(tmp_path: Path, capsys) -> None:
    gguf_file = tmp_path / "tiny.gguf"
    write_tiny_gguf(gguf_file)
    out = tmp_path / "hf"
    assert train_main(["convert-gguf", str(gguf_file), str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["dtype"] == "bfloat16"
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.bfloat16}  # noqa: SIM118 - not a dict
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.bfloat16)
    tokenizer = AutoTokenizer.from_pretrained(out)
    enc = tokenizer(
        tokenizer.apply_chat_template(
            [{"role": "user", "content": "净利润率"}], tokenize=False, add_generation_prompt=True
        ),
        return_tensors="pt",
    )
    gen = model.generate(**enc, max_new_tokens=4, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert gen.shape[1] == enc["input_ids"].shape[1] + 4 or tokenizer.eos_token_id in gen[0].tolist()


def test_convert_gguf_without_tokenizer_writes_weights(tmp_path: Path, capsys) -> None:
    gguf_file = tmp_path / "bare.gguf"
    write_tiny_gguf(gguf_file, tokenizer=False)
    out = tmp_path / "hf"
    assert train_main(["convert-gguf", str(gguf_file), str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["tokenizer"] is False and "no tokenizer" in summary["note"]
    assert (out / "model.safetensors").is_file() and not (out / "tokenizer.json").exists()


def test_convert_gguf_unsupported_architecture_is_one_line(tmp_path: Path, capsys) -> None:
    gguf_file = tmp_path / "odd.gguf"
    write_tiny_gguf(gguf_file, arch="finsynth-nosuch-arch")
    assert train_main(["convert-gguf", str(gguf_file), str(tmp_path / "hf")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error:") and "finsynth-nosuch-arch" in err and "qwen2" in err
    assert not (tmp_path / "hf" / "model.safetensors").exists()


def test_convert_gguf_bad_inputs(tmp_path: Path, capsys) -> None:
    assert train_main(["convert-gguf", str(tmp_path / "missing.gguf"), str(tmp_path / "hf")]) == 2
    assert "no such file" in capsys.readouterr().err
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file at all" * 10)
    assert train_main(["convert-gguf", str(junk), str(tmp_path / "hf")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a readable GGUF file" in err


def test_convert_gguf_missing_gguf_package_is_one_line(tmp_path: Path) -> None:
    """With `gguf` unimportable (a None entry in sys.modules), the command says what to install."""
    gguf_file = tmp_path / "tiny.gguf"
    write_tiny_gguf(gguf_file)
    code = (
        "import sys; sys.modules['gguf'] = None\n"
        "from train.cli import main\n"
        f"sys.exit(main(['convert-gguf', {str(gguf_file)!r}, {str(tmp_path / 'hf')!r}]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install gguf" in lines[0], proc.stderr
