"""Thin training wiring for finsynth data: QLoRA SFT (trl + peft + bitsandbytes), batched inference,
a tiny local Qwen3 for tests, and a GPU throughput benchmark. Entry point: `python -m train`."""
