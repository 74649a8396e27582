"""OCR for PDF pages without a text layer, through Debian's `tesseract-ocr` + `tesseract-ocr-chi-sim`
(optional: when the binary or the chi_sim language is missing, the pages are listed as not read and the
summary says why)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

INSTALL_HINT = "apt-get install tesseract-ocr tesseract-ocr-chi-sim"


@lru_cache(maxsize=1)
def unavailable() -> str | None:
    """Why OCR cannot run here, or None when it can."""
    binary = shutil.which("tesseract")
    if binary is None:
        return f"OCR skipped: the tesseract binary is not installed ({INSTALL_HINT})"
    try:
        langs = subprocess.run([binary, "--list-langs"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"OCR skipped: tesseract does not run ({exc})"
    if "chi_sim" not in (langs.stdout + langs.stderr).split():
        return f"OCR skipped: tesseract has no chi_sim language data ({INSTALL_HINT})"
    return None


def ocr_page(page, resolution: int = 300) -> list[str]:
    """The text lines of a pdfplumber page read by tesseract (chi_sim+eng); "" marks a paragraph break."""
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "page.png"
        page.to_image(resolution=resolution).save(image)
        done = subprocess.run(
            ["tesseract", str(image), "stdout", "-l", "chi_sim+eng", "--psm", "4"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"tesseract failed: {done.stderr.strip()[:200]}")
    return [line.strip() for line in done.stdout.splitlines()]
