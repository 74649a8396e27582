"""`ingest(paths, options)`: documents in, chunk rows, an outline and a reconciling summary out.

One pure function, `process_document(path, options)`, does all the work of one file; the engines only
decide where it runs: in this process (`workers=1`), in a process pool (`workers=N`), or as a Ray Data
`map` over the file list (`engine="ray"`, the `finsynth[ray]` extra). Results are put back in sorted file
order whatever finished first, so the output has the same bytes for any engine and worker count.

A file that cannot be read is reported with its reason in the summary and the other files go on; when
no file at all can be read, `ingest` raises `UserError` naming the first one.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from finsynth.ingest.candidates import candidate
from finsynth.ingest.chunk import chunk_blocks
from finsynth.ingest.models import (
    SUFFIXES,
    Block,
    ChunkRow,
    DocumentReport,
    DocumentResult,
    IngestOptions,
    IngestResult,
    IngestSummary,
    SkippedFile,
    Source,
    UnreadableFile,
)
from finsynth.ingest.redact import redact
from finsynth.io import InputError, UserError, write_jsonl_atomic, write_text_atomic
from finsynth.schema import ParagraphInput, content_id

ID_PREFIX = "P"


def collect(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[SkippedFile]]:
    """Files named directly (a supported suffix), and every supported file under named directories, sorted,
    each once; and the files under those directories that are skipped, each with its reason (a suffix no
    reader takes, no suffix, a hidden file or directory, which is not searched)."""
    out: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                for name in sorted(dirs):
                    if name.startswith("."):
                        skipped[str(Path(root) / name)] = "hidden directory, not searched"
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in names:
                    found = Path(root) / name
                    if name.startswith("."):
                        skipped[str(found)] = "hidden file"
                    elif found.suffix.lower() in SUFFIXES:
                        out[str(found)] = found
                    elif found.is_file():
                        skipped[str(found)] = f"unsupported type {found.suffix}" if found.suffix else "no extension"
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                raise InputError(
                    f"{path}: unsupported file type {path.suffix or '(none)'}; give .pdf, .docx, "
                    ".md or .txt files (or a directory of them)"
                )
            out[str(path)] = path
        else:
            raise InputError(f"{path}: no such file or directory")
    return (
        [out[key] for key in sorted(out)],
        [SkippedFile(file=key, reason=skipped[key]) for key in sorted(skipped) if key not in out],
    )


def _redact_blocks(blocks: list[Block], counts: Counter[str]) -> None:
    for block in blocks:
        if block.text:
            block.text, found = redact(block.text)
            counts.update(found)
        if block.rows:
            new_rows = []
            for row in block.rows:
                new_row = []
                for cell in row:
                    cell, found = redact(cell)
                    counts.update(found)
                    new_row.append(cell)
                new_rows.append(new_row)
            block.rows = new_rows


def process_document(path: str | os.PathLike[str], options: IngestOptions) -> DocumentResult:
    """Read, clean, redact and chunk one file. Never raises for an unreadable file: the report says why."""
    from finsynth.ingest.readers import read_document

    path = Path(path)
    fmt = SUFFIXES.get(path.suffix.lower())
    report = DocumentReport(file=str(path), format=fmt)
    try:
        doc = read_document(path, ocr=options.ocr)
    except UnreadableFile as exc:
        report.ok, report.error = False, str(exc)
        return DocumentResult(report=report)
    except OSError as exc:
        report.ok, report.error = False, f"cannot read it ({exc.strerror or exc})"
        return DocumentResult(report=report)
    redactions: Counter[str] = Counter()
    if options.redact:
        _redact_blocks(doc.blocks, redactions)
    chunks, outline = chunk_blocks(doc.blocks, options.min_chars, options.max_chars, options.target_chars)
    rows = []
    for index, chunk in enumerate(chunks):
        title = chunk.heading_path[-1] if chunk.heading_path else ""
        inp = ParagraphInput(chapter_title=title, paragraph=chunk.text)
        source = Source(
            file=str(path),
            format=doc.format,
            pages=chunk.pages,
            lines=chunk.lines,
            heading_path=chunk.heading_path,
            kind="table" if chunk.kind == "table" else "text",
            table=chunk.rows,
            index=index,
        )
        rows.append(
            ChunkRow(
                id=content_id(ID_PREFIX, inp),
                chapter_title=inp.chapter_title,
                paragraph=inp.paragraph,
                source=source,
                candidates=candidate(inp.paragraph) if options.candidates else None,
            )
        )
    report.encoding = doc.encoding
    report.pages = doc.pages
    report.pages_ocr = doc.pages_ocr
    report.pages_without_text = doc.pages_without_text
    report.blocks_read = doc.blocks_read
    report.blocks_kept = doc.blocks_kept
    report.blocks_dropped = dict(sorted(doc.dropped.items()))
    report.headings = sum(b.kind == "heading" for b in doc.blocks)
    report.tables = sum(b.kind == "table" for b in doc.blocks)
    report.chunks = len(rows)
    report.redactions = dict(sorted(redactions.items()))
    report.notes = doc.notes
    return DocumentResult(report=report, rows=rows, outline=outline)


def _process_json(path: str, options_json: str) -> str:
    """The pool/Ray task: JSON in and out (no pickling of library objects across processes)."""
    return process_document(path, IngestOptions.model_validate_json(options_json)).model_dump_json()


def _run_local(files: list[str], options: IngestOptions, tick: Callable[[int], None]) -> list[DocumentResult]:
    if options.workers == 1 or len(files) == 1:
        results = []
        for f in files:
            results.append(process_document(f, options))
            tick(1)
        return results
    from concurrent.futures import ProcessPoolExecutor

    options_json = options.model_dump_json()
    dumped = []
    with ProcessPoolExecutor(max_workers=min(options.workers, len(files))) as pool:
        for d in pool.map(_process_json, files, [options_json] * len(files)):
            dumped.append(d)
            tick(1)
    return [DocumentResult.model_validate_json(d) for d in dumped]


def _ray_task(row: dict) -> dict:
    return {"file": row["file"], "result": _process_json(row["file"], row["options"])}


def _run_ray(files: list[str], options: IngestOptions) -> list[DocumentResult]:
    try:
        import ray
    except ImportError as exc:
        raise UserError(
            "engine ray needs Ray, which is not installed: pip install 'finsynth[ray]' "
            "(or use the local engine with N workers on one machine)",
            setting="engine",
        ) from exc
    started = False
    if not ray.is_initialized():
        ray.init(num_cpus=options.workers, include_dashboard=False, log_to_driver=False)
        started = True
    try:
        options_json = options.model_dump_json()
        dataset = ray.data.from_items([{"file": f, "options": options_json} for f in files])
        out = dataset.map(_ray_task, num_cpus=1).take_all()
    finally:
        if started:
            ray.shutdown()
    by_file = {row["file"]: DocumentResult.model_validate_json(row["result"]) for row in out}
    return [by_file[f] for f in files]


def _summary(results: list[DocumentResult], options: IngestOptions) -> IngestSummary:
    summary = IngestSummary(engine=options.engine, workers=options.workers, documents=[r.report for r in results])
    dropped: Counter[str] = Counter()
    redactions: Counter[str] = Counter()
    reasons: set[str] = set()
    for r in results:
        doc = r.report
        summary.files += 1
        summary.files_failed += not doc.ok
        summary.pages_read += doc.pages
        summary.pages_ocr += len(doc.pages_ocr)
        summary.pages_without_text += len(doc.pages_without_text)
        summary.blocks_read += doc.blocks_read
        summary.blocks_kept += doc.blocks_kept
        summary.tables += doc.tables
        summary.chunks_written += doc.chunks
        dropped.update(doc.blocks_dropped)
        redactions.update(doc.redactions)
        if doc.pages_without_text:
            reasons.update(n.split("; ", 1)[-1] for n in doc.notes if n.startswith("pages without a text layer"))
    summary.blocks_dropped = dict(sorted(dropped.items()))
    summary.redactions = dict(sorted(redactions.items()))
    summary.ocr = "; ".join(sorted(reasons)) or None
    return summary


def outline_markdown(results: list[DocumentResult]) -> str:
    """One section per document: its headings as a nested list, with the page (or line) each starts on."""
    lines = ["# Outline", ""]
    for r in results:
        doc = r.report
        if not doc.ok:
            lines += [f"## {doc.file}", "", f"not read: {doc.error}", ""]
            continue
        lines += [f"## {doc.file}", "", f"{doc.format}, {doc.pages} page(s), {doc.chunks} chunk(s)", ""]
        for entry in r.outline:
            where = f" (p. {entry.page})" if entry.page else (f" (line {entry.line})" if entry.line else "")
            lines.append(f"{'  ' * (entry.level - 1)}- {entry.title}{where}")
        if not r.outline:
            lines.append("(no headings)")
        lines.append("")
    return "\n".join(lines)


def outline_path(out: str | os.PathLike[str]) -> Path:
    out = Path(out)
    return out.with_name(out.name.removesuffix(".jsonl") + ".outline.md")


def ingest(
    paths: Iterable[str | os.PathLike[str]],
    options: IngestOptions | None = None,
    out: str | os.PathLike[str] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> IngestResult:
    """Ingest documents; with `out`, write the rows (JSONL) and `<out>.outline.md` atomically.
    `on_progress(n)` is told of every `n` files done (for a progress bar sized by `len(collect(paths)[0])`;
    the Ray engine tells it once, at the end)."""
    options = options or IngestOptions()
    paths = list(paths)
    found, skipped = collect(paths)
    files = [str(f) for f in found]
    if not files:
        seen = f" (skipped {len(skipped)}: {_names(skipped)})" if skipped else ""
        raise InputError(
            "no .pdf, .docx, .md or .txt file found in "
            + ", ".join(str(p) for p in paths)
            + seen
            + "; name the documents to ingest"
        )
    tick = on_progress or (lambda _n: None)
    if options.engine == "ray":
        results = _run_ray(files, options)
        tick(len(files))
    else:
        results = _run_local(files, options, tick)
    results.sort(key=lambda r: r.report.file)
    summary = _summary(results, options)
    summary.skipped, summary.files_skipped = skipped, len(skipped)
    failed = [r.report for r in results if not r.report.ok]
    if failed and len(failed) == len(results):
        more = f" (and {len(failed) - 1} more file(s) that could not be read)" if len(failed) > 1 else ""
        raise UserError(f"{failed[0].file}: {failed[0].error}{more}")
    rows = [row for r in results for row in r.rows]
    outline_md = outline_markdown(results)
    if out is not None:
        write_jsonl_atomic(out, [row.model_dump(mode="json", exclude_none=True) for row in rows])
        write_text_atomic(outline_path(out), outline_md)
        summary.out, summary.outline = str(out), str(outline_path(out))
    return IngestResult(rows=rows, summary=summary, outline_md=outline_md)


SHOWN_NAME_CHARS = 36  # a file name in the summary table: the tail of its path under the files' common folder


def _names(skipped: list[SkippedFile], limit: int = 10) -> str:
    shown = ", ".join(f"{Path(s.file).name} ({s.reason})" for s in skipped[:limit])
    return shown + (f" and {len(skipped) - limit} more" if len(skipped) > limit else "")


def shown_names(files: list[str]) -> tuple[str, dict[str, str]]:
    """The files' common folder, and each file as the summary table shows it: its path under that folder,
    cut to its last `SHOWN_NAME_CHARS` characters ("…", then the part that tells the files apart) when the
    cut names stay distinct. A long absolute path in a narrow terminal would otherwise be cut by the table
    to its first characters, the same for every row."""
    if not files:
        return "", {}
    parents = [str(Path(f).parent) for f in files]
    root = os.path.commonpath(parents) if len(files) > 1 else parents[0]
    relative = {f: os.path.relpath(f, root) for f in files}
    cut = {f: (r if len(r) <= SHOWN_NAME_CHARS else "…" + r[-(SHOWN_NAME_CHARS - 1) :]) for f, r in relative.items()}
    return root, cut if len(set(cut.values())) == len(cut) else relative


def summary_markdown(summary: IngestSummary) -> str:
    """The summary as the CLI prints it."""
    dropped = ", ".join(f"{reason} {n}" for reason, n in summary.blocks_dropped.items()) or "none"
    lines = [
        f"**ingest**: {summary.files} file(s), {summary.files_failed} not read, {summary.files_skipped} skipped; "
        f"{summary.pages_read} page(s) read; "
        f"{summary.blocks_read} block(s): {summary.blocks_kept} kept, dropped {dropped}; "
        f"{summary.tables} table(s); **{summary.chunks_written} chunk(s) written**"
        + (f" -> `{summary.out}` (outline `{summary.outline}`)" if summary.out else ""),
        "",
    ]
    if summary.skipped:
        lines += [f"skipped {summary.files_skipped} file(s) under the named folders: {_names(summary.skipped)}", ""]
    if summary.redactions:
        lines += ["redacted: " + ", ".join(f"{k} {n}" for k, n in summary.redactions.items()), ""]
    if summary.pages_ocr:
        lines += [f"OCR: {summary.pages_ocr} page(s)", ""]
    if summary.ocr:
        lines += [f"{summary.pages_without_text} page(s) without a text layer not read: {summary.ocr}", ""]
    root, names = shown_names([doc.file for doc in summary.documents])
    lines += [f"files under `{root}`:", ""]
    ocr_column = any(doc.pages_ocr for doc in summary.documents)
    lines += [
        "| file | pages |" + (" OCR pages |" if ocr_column else "") + " read | kept | dropped | chunks |",
        "|---|---|" + ("---|" if ocr_column else "") + "---|---|---|---|",
    ]
    for doc in summary.documents:
        name = names[doc.file]
        if not doc.ok:
            lines.append(f"| {name} | not read: {doc.error} |" + (" |" if ocr_column else "") + " | | | |")
            continue
        d = ", ".join(f"{k} {n}" for k, n in doc.blocks_dropped.items()) or "-"
        ocr = (" " + (",".join(map(str, doc.pages_ocr)) or "-") + " |") if ocr_column else ""
        lines.append(f"| {name} | {doc.pages} |{ocr} {doc.blocks_read} | {doc.blocks_kept} | {d} | {doc.chunks} |")
    return "\n".join(lines) + "\n"
