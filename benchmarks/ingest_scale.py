"""Benchmark: `finsynth ingest` throughput on generated documents, with 1 and 2 workers.

Builds N PDF pages (reportlab, CID font STSong-Light: a running header, page numbers, numbered
headings, wrapped paragraphs and a ruled table per document) and N DOCX pages (python-docx, page breaks
between sections) split over several files, then times `ingest` on each set with 1 and 2 local
workers. Building the documents is not timed. Outputs of the two worker counts are compared byte for
byte.

    python benchmarks/ingest_scale.py [--pages 200] [--docs 8]

The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import machine_info
from finsynth.ingest import IngestOptions, ingest


def _sentence(k: int) -> str:
    return (
        f"第{k}项经营观察显示，公司相关业务收入达到{10 + k % 7}.{k % 10}亿元，同比增长{5 + k % 11}.{k % 9}%，"
        "主要受益于产品结构优化、渠道下沉与成本管控持续推进。"
    )


def build_pdfs(folder: Path, pages: int, docs: int) -> int:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Table, TableStyle

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    body = ParagraphStyle("b", fontName="STSong-Light", fontSize=10.5, leading=16, wordWrap="CJK", firstLineIndent=21)
    head = ParagraphStyle("h", fontName="STSong-Light", fontSize=14, leading=22)

    def decorate(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont("STSong-Light", 9)
        canvas.drawString(72, A4[1] - 40, "某某证券研究所｜行业深度报告")
        canvas.drawCentredString(A4[0] / 2, 28, f"第 {doc.page} 页")
        canvas.restoreState()

    total = 0
    per_doc = pages // docs
    for d in range(docs):
        story: list = []
        for p in range(per_doc):
            story.append(
                Paragraph(
                    f"{['一', '二', '三', '四', '五', '六', '七', '八', '九', '十'][p % 10]}、第{p + 1}部分", head
                )
            )
            story += [
                Paragraph("".join(_sentence(d * 1000 + p * 30 + s * 3 + i) for i in range(3)), body) for s in range(6)
            ]
            rows = [["指标", "2024年", "2025年E"]] + [[f"业务{i}", f"{i}.1", f"{i}.9"] for i in range(6)]
            table = Table(rows)
            table.setStyle(
                TableStyle(
                    [("FONTNAME", (0, 0), (-1, -1), "STSong-Light"), ("GRID", (0, 0), (-1, -1), 0.5, colors.black)]
                )
            )
            story += [table, PageBreak()]
        doc = SimpleDocTemplate(str(folder / f"report_{d:02d}.pdf"), pagesize=A4)
        doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
        total += doc.page
    return total


def build_docx(folder: Path, pages: int, docs: int) -> int:
    import docx
    from docx.enum.text import WD_BREAK

    per_doc = pages // docs
    for d in range(docs):
        document = docx.Document()
        document.sections[0].header.paragraphs[0].text = "运营手册（内部）"
        for p in range(per_doc):
            document.add_heading(f"第{p + 1}章 业务说明", level=1)
            for s in range(6):
                document.add_paragraph("".join(_sentence(d * 1000 + p * 30 + s * 3 + i) for i in range(3)))
            table = document.add_table(rows=4, cols=3)
            for r in range(4):
                for c in range(3):
                    table.cell(r, c).text = f"项{r}{c}"
            document.add_paragraph("附注。").runs[0].add_break(WD_BREAK.PAGE)
        document.save(str(folder / f"manual_{d:02d}.docx"))
    return per_doc * docs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--docs", type=int, default=8)
    args = parser.parse_args()
    results: dict = {"machine": machine_info(), "pages": args.pages, "docs": args.docs, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for kind, build in (("pdf", build_pdfs), ("docx", build_docx)):
            folder = root / kind
            folder.mkdir()
            built = build(folder, args.pages, args.docs)
            outputs = {}
            for workers in (1, 2):
                out = root / f"{kind}-{workers}.jsonl"
                start = time.perf_counter()
                got = ingest([folder], IngestOptions(workers=workers), out=out)
                seconds = time.perf_counter() - start
                assert got.summary.reconciles() and got.summary.files_failed == 0
                outputs[workers] = out.read_bytes()
                run = {
                    "pages": got.summary.pages_read,
                    "chunks": got.summary.chunks_written,
                    "seconds": round(seconds, 2),
                    "pages_per_s": round(got.summary.pages_read / seconds, 1),
                }
                results["runs"][f"{kind}_workers_{workers}"] = run
                print(f"{kind}: {built} pages built, workers={workers}: {run}", flush=True)
            results[f"{kind}_identical_output"] = outputs[1] == outputs[2]
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
