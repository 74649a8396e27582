"""One reader per format: path in, `ReadDocument` (kept blocks in reading order plus counts) out."""

from __future__ import annotations

from pathlib import Path

from finsynth.ingest.models import SUFFIXES, ReadDocument


def read_document(path: Path, ocr: bool = True) -> ReadDocument:
    fmt = SUFFIXES[path.suffix.lower()]
    if fmt == "pdf":
        from finsynth.ingest.readers.pdf import read_pdf

        return read_pdf(path, ocr=ocr)
    if fmt == "docx":
        from finsynth.ingest.readers.docx import read_docx

        return read_docx(path)
    from finsynth.ingest.readers.text import read_text

    return read_text(path, markdown=fmt == "markdown")
