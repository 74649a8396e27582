"""Thin training wiring for finsynth data: QLoRA SFT (trl + peft + bitsandbytes), batched inference,
a tiny local Qwen3 for tests, and a GPU throughput benchmark. Entry point: `python -m train`."""

import os

# Training and inference never fetch kernels from a model hub: the device reaches no hub, and transformers with the
# `kernels` package installed swaps layers (rotary embeddings, RMSNorm) for hub kernels that then fail to verify
# ("kernels-community/rotary could not verify publisher trust status", issue 23). Set before transformers is
# imported (5.17 reads it at import); export USE_HUB_KERNELS=YES to opt in.
os.environ.setdefault("USE_HUB_KERNELS", "NO")
