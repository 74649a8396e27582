"""The ingest contract: options in, output rows and a reconciling summary out (Pydantic models).

A *block* is the unit a reader emits before cleaning: a PDF text line or table, a DOCX paragraph or
table, a Markdown/plain-text paragraph (lines up to a blank line), list or table. Every block read is
either kept or dropped with a reason, so `blocks_read == blocks_kept + sum(blocks_dropped)` per file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from finsynth.errors import UnreadableFile as UnreadableFile  # re-exported
from finsynth.schema import ParagraphInput

ChunkKind = Literal["text", "table"]
DocFormat = Literal["pdf", "docx", "markdown", "text"]
Engine = Literal["local", "ray"]
SUFFIXES: dict[str, DocFormat] = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
}


class IngestOptions(BaseModel):
    """What `finsynth ingest` does with the documents (the CLI flags, one field each)."""

    model_config = ConfigDict(extra="forbid")

    min_chars: int = Field(default=100, ge=0)
    max_chars: int = Field(default=2000, ge=20)
    target_chars: int = Field(default=500, ge=1)
    redact: bool = False
    candidates: bool = False
    workers: int = Field(default=1, ge=1)
    engine: Engine = "local"
    ocr: bool = True  # OCR pages without a text layer when tesseract is installed

    @model_validator(mode="after")
    def _bounds(self) -> IngestOptions:
        if not self.min_chars <= self.target_chars <= self.max_chars:
            raise ValueError(
                f"chunk bounds must satisfy min_chars ({self.min_chars}) <= target_chars "
                f"({self.target_chars}) <= max_chars ({self.max_chars})"
            )
        return self


class Source(BaseModel):
    """Where a chunk came from. `pages` are 1-based (PDF pages; DOCX pages counted from explicit page
    breaks); `lines` are 1-based line numbers for Markdown and plain text."""

    model_config = ConfigDict(extra="forbid")

    file: str
    format: DocFormat
    pages: list[int] = Field(default_factory=list)
    lines: list[int] = Field(default_factory=list)  # [first, last]
    heading_path: list[str] = Field(default_factory=list)
    kind: ChunkKind = "text"
    table: list[list[str]] | None = None  # the rows, header row first (kind "table" only)
    index: int = 0  # the chunk's position in its document


class MentionOut(BaseModel):
    text: str
    value: float | None
    unit: str
    kind: str
    subject: str


class Candidate(BaseModel):
    """`--candidates`: the quantitative mentions of a chunk and the sample type it suggests."""

    mentions: list[MentionOut] = Field(default_factory=list)
    subjects: list[str] = Field(default_factory=list)
    suggested_type: Literal["A", "B", "C"]
    scenario: str
    reason: str


class ChunkRow(ParagraphInput):
    """One output row: loads as `ParagraphInput` (chapter_title, paragraph) plus id and provenance."""

    id: str
    source: Source
    candidates: Candidate | None = None

    def as_input(self) -> ParagraphInput:
        return ParagraphInput(chapter_title=self.chapter_title, paragraph=self.paragraph)


class OutlineEntry(BaseModel):
    level: int
    title: str
    page: int | None = None
    line: int | None = None


class DocumentReport(BaseModel):
    """What happened to one file."""

    file: str
    format: DocFormat | None = None
    ok: bool = True
    error: str | None = None
    encoding: str | None = None
    pages: int = 0
    pages_ocr: list[int] = Field(default_factory=list)
    pages_without_text: list[int] = Field(default_factory=list)  # scanned pages left unread (no OCR)
    blocks_read: int = 0
    blocks_kept: int = 0
    blocks_dropped: dict[str, int] = Field(default_factory=dict)
    headings: int = 0
    tables: int = 0
    chunks: int = 0
    redactions: dict[str, int] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)

    def reconciles(self) -> bool:
        return self.blocks_read == self.blocks_kept + sum(self.blocks_dropped.values())


class DocumentResult(BaseModel):
    report: DocumentReport
    rows: list[ChunkRow] = Field(default_factory=list)
    outline: list[OutlineEntry] = Field(default_factory=list)


class SkippedFile(BaseModel):
    """A file under a named directory that was not ingested, and why (a type no reader takes, no extension,
    hidden)."""

    file: str
    reason: str


class IngestSummary(BaseModel):
    files: int = 0
    files_failed: int = 0
    files_skipped: int = 0  # under the named directories, not ingested (`skipped` names them)
    skipped: list[SkippedFile] = Field(default_factory=list)
    pages_read: int = 0
    pages_ocr: int = 0
    pages_without_text: int = 0
    blocks_read: int = 0
    blocks_kept: int = 0
    blocks_dropped: dict[str, int] = Field(default_factory=dict)
    tables: int = 0
    chunks_written: int = 0
    redactions: dict[str, int] = Field(default_factory=dict)
    ocr: str | None = None  # why pages were not OCRed, when some were not
    engine: str = "local"
    workers: int = 1
    out: str | None = None
    outline: str | None = None
    documents: list[DocumentReport] = Field(default_factory=list)

    def reconciles(self) -> bool:
        """Totals equal the sum of the files, and every file's blocks are kept or dropped."""
        docs = self.documents
        dropped: dict[str, int] = {}
        for doc in docs:
            for reason, n in doc.blocks_dropped.items():
                dropped[reason] = dropped.get(reason, 0) + n
        return (
            all(d.reconciles() for d in docs)
            and self.files == len(docs)
            and self.files_skipped == len(self.skipped)
            and self.files_failed == sum(not d.ok for d in docs)
            and self.pages_read == sum(d.pages for d in docs)
            and self.blocks_read == sum(d.blocks_read for d in docs)
            and self.blocks_kept == sum(d.blocks_kept for d in docs)
            and self.blocks_dropped == dropped
            and self.chunks_written == sum(d.chunks for d in docs)
            and self.blocks_read == self.blocks_kept + sum(self.blocks_dropped.values())
        )


class IngestResult(BaseModel):
    rows: list[ChunkRow] = Field(default_factory=list)
    summary: IngestSummary
    outline_md: str = ""


# --- internal, between reader and chunker (dataclasses: there are many of them) ----------------


BlockKind = Literal["heading", "text", "list", "table"]


@dataclass
class Block:
    """A kept unit of content in reading order."""

    kind: BlockKind
    text: str = ""
    level: int = 0  # headings: smaller is higher
    pages: list[int] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    rows: list[list[str]] | None = None  # tables


@dataclass
class ReadDocument:
    """A reader's output: kept blocks plus the counts the summary needs."""

    format: DocFormat
    blocks: list[Block]
    pages: int = 0
    blocks_read: int = 0
    blocks_kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    encoding: str | None = None
    pages_ocr: list[int] = field(default_factory=list)
    pages_without_text: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def drop(self, reason: str, n: int = 1) -> None:
        if n:
            self.dropped[reason] = self.dropped.get(reason, 0) + n
