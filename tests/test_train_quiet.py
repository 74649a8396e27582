"""`python -m train` on a CPU does not print bitsandbytes' "kernels-community" warning (issue 24, item 5).

peft imports bitsandbytes whenever it is installed (every `sft`, `grpo` and `infer`), and bitsandbytes' CPU
backend logs that warning at import on CPUs with AVX512-BF16. Each check runs in a fresh interpreter, where
bitsandbytes has not been imported yet."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOISE = "kernels-community"

pytestmark = pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None, reason="bitsandbytes not installed")


def _stderr(script: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr


def test_a_train_command_then_bitsandbytes_import_is_quiet():
    bare = _stderr("import bitsandbytes")
    if NOISE not in bare:
        pytest.skip("this CPU's bitsandbytes backend does not try the hub kernel (no AVX512-BF16)")
    # a user error returns before torch loads; the peft import of bitsandbytes then comes later in the process
    quiet = _stderr(
        "from train.cli import main\n"
        "assert main(['lengths', '--data', '/no/such/dir', '--tokenizer', '/no/such/tok']) == 2\n"
        "import bitsandbytes"
    )
    assert NOISE not in quiet and "error:" in quiet


def test_other_records_of_that_logger_still_show():
    script = (
        "import logging\nfrom train.cli import BNB_CPU_LOGGER, quiet_bitsandbytes_cpu_kernel\n"
        "quiet_bitsandbytes_cpu_kernel(); quiet_bitsandbytes_cpu_kernel()\n"
        "log = logging.getLogger(BNB_CPU_LOGGER)\n"
        "assert len(log.filters) == 1\n"
        "log.warning('Failed to load CPU gemm_4bit_forward from kernels-community: x')\n"
        "log.warning('another warning')"
    )
    err = _stderr(script)
    assert NOISE not in err and "another warning" in err
