"""Shared by the benchmarks: where the shared corpus is, and what machine a run was on."""

from __future__ import annotations

import os
import platform
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("FINSYNTH_SHARED", REPO.parent / "shared")) / "corpus"


def machine_info() -> dict:
    """CPU model, core count, Python and OS; enough to tell two benchmark runs' machines apart."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "os": platform.platform()}
