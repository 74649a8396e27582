"""Document ingestion (`finsynth ingest`): research reports and manuals in, clean chapter-aware paragraphs out.

Modules, one concern each: `readers/` (PDF via pdfplumber, DOCX via python-docx, Markdown and text),
`normalize.py` (encoding and width), `clean.py` (headers, footers, page numbers, TOC, watermarks),
`headings.py`, `tables.py`, `chunk.py` (chapter-aware chunking), `redact.py`, `candidates.py`, `ocr.py`
and `run.py` (the `ingest` entry function and its local/Ray engines).
"""

from finsynth.ingest.models import (
    ChunkRow,
    DocumentReport,
    IngestOptions,
    IngestResult,
    IngestSummary,
    Source,
)
from finsynth.ingest.run import ingest, process_document

__all__ = [
    "ChunkRow",
    "DocumentReport",
    "IngestOptions",
    "IngestResult",
    "IngestSummary",
    "Source",
    "ingest",
    "process_document",
]
