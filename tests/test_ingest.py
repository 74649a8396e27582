"""`finsynth ingest`: fixture documents built here (PDF via reportlab STSong-Light, DOCX via python-docx,
GBK text, Markdown), ingested, and checked against what was written into them."""

from __future__ import annotations

import json
import re

import pytest

from finsynth.cli import main
from finsynth.ingest import ChunkRow, IngestOptions, ingest
from finsynth.ingest.models import DocumentReport
from finsynth.ingest.run import outline_path
from finsynth.schema import ParagraphInput, content_id

pytest.importorskip("reportlab")
pytest.importorskip("docx")
pytest.importorskip("pdfplumber")

from ingest_helpers import (
    FOOTER,
    HEADER,
    WATERMARK,
    build_docx,
    build_gbk_text,
    build_markdown,
    build_pdf,
)

OPTS = IngestOptions(min_chars=100, max_chars=2000, target_chars=500)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("docs")
    info = {
        "pdf": build_pdf(root / "report.pdf"),
        "docx": build_docx(root / "manual.docx"),
        "text": build_gbk_text(root / "notes_gbk.txt"),
        "markdown": build_markdown(root / "strategy.md"),
    }
    return {"root": root, "info": info}


@pytest.fixture(scope="module")
def result(corpus):
    out = corpus["root"].parent / "out" / "chunks.jsonl"
    return ingest([corpus["root"]], OPTS, out=out), out


def _rows(result, fmt: str) -> list[ChunkRow]:
    return [r for r in result[0].rows if r.source.format == fmt]


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("fmt", ["pdf", "docx", "text", "markdown"])
def test_every_body_sentence_is_in_exactly_one_chunk(corpus, result, fmt):
    rows = _rows(result, fmt)
    assert rows
    texts = [_squash(r.paragraph) for r in rows if r.source.kind == "text"]
    for sentence in corpus["info"][fmt]["sentences"]:
        hits = sum(t.count(_squash(sentence)) for t in texts)
        assert hits == 1, (sentence, hits)


def test_pdf_paragraph_across_a_page_break_is_one_paragraph(corpus, result):
    rows = [r for r in _rows(result, "pdf") if r.source.kind == "text"]
    long_paragraph = max(corpus["info"]["pdf"]["paragraphs"], key=len)
    (holder,) = [r for r in rows if long_paragraph in r.paragraph.replace("\n", "")]
    assert len(holder.source.pages) == 2  # it was written across a page break, and re-joined
    assert "\n" not in holder.paragraph  # one paragraph: no break inside it


def test_no_header_footer_or_watermark_text_survives(corpus, result):
    docx_info = corpus["info"]["docx"]
    for row in result[0].rows:
        text = row.paragraph + row.chapter_title
        assert HEADER not in text and FOOTER not in text and WATERMARK not in text
        assert not re.search(r"第\s*\d+\s*页", text), text
        assert docx_info["header"] not in text and "机密文件" not in text
    doc = next(d for d in result[0].summary.documents if d.format == "pdf")
    pages = corpus["info"]["pdf"]["pages"]
    assert pages >= 4
    # one running header, one footer line and one page number per page, and one watermark per page
    assert doc.blocks_dropped == {
        "page_number": pages,
        "running_footer": pages,
        "running_header": pages,
        "watermark": pages,
    }


@pytest.mark.parametrize("fmt", ["pdf", "docx", "text", "markdown"])
def test_headings_appear_only_as_chapter_title(corpus, result, fmt):
    rows = _rows(result, fmt)
    headings = [_squash(h) for h in corpus["info"][fmt]["headings"]]
    titles = {_squash(r.chapter_title) for r in rows}
    paths = {_squash(h) for r in rows for h in r.source.heading_path}
    leaf_headings = set(headings) - {headings[0]} if fmt == "markdown" else set(headings)
    assert leaf_headings <= titles  # every heading with content under it titles its chunks
    assert set(headings) <= paths
    for row in rows:
        lines = [_squash(line) for line in row.paragraph.splitlines()]
        for heading in headings:
            assert heading not in lines, (heading, row.paragraph[:80])
        assert row.chapter_title == (row.source.heading_path[-1] if row.source.heading_path else "")


def test_pdf_heading_path_nests(result):
    rows = _rows(result, "pdf")
    paths = {tuple(r.source.heading_path) for r in rows}
    assert ("一、公司概况", "（一）主营业务") in paths and ("一、公司概况", "（二）盈利能力") in paths
    assert ("二、行业分析",) in paths


def test_pdf_table_is_one_chunk_with_its_header_across_pages(corpus, result):
    info = corpus["info"]["pdf"]
    (table,) = [r for r in _rows(result, "pdf") if r.source.kind == "table"]
    assert table.source.table[0] == info["table_header"]
    assert len(table.source.table) == info["table_rows"]  # the repeated header on page 2 is not a row
    assert len(table.source.pages) == 2
    lines = table.paragraph.splitlines()
    assert lines[0] == "| " + " | ".join(info["table_header"]) + " |" and set(lines[1]) <= set("|- ")
    assert len(lines) == info["table_rows"] + 1
    assert table.chapter_title == "（一）主营业务"


@pytest.mark.parametrize("fmt", ["docx", "markdown"])
def test_docx_and_markdown_tables(corpus, result, fmt):
    (table,) = [r for r in _rows(result, fmt) if r.source.kind == "table"]
    assert table.source.table[0] == corpus["info"][fmt]["table_header"]
    assert table.paragraph.startswith("| " + " | ".join(corpus["info"][fmt]["table_header"]) + " |")


def test_docx_list_items_in_order(corpus, result):
    items = corpus["info"]["docx"]["items"]
    (holder,) = [r for r in _rows(result, "docx") if items[0] in r.paragraph]
    positions = [holder.paragraph.index("- " + item) for item in items]
    assert positions == sorted(positions)
    assert holder.chapter_title == "1.1 操作流程"
    assert max(holder.source.pages) == 1
    (fees,) = [r for r in _rows(result, "docx") if r.source.kind == "table"]
    assert fees.source.pages == [2]  # after the page break


def test_gbk_text_is_decoded_and_width_normalised(result):
    doc = next(d for d in result[0].summary.documents if d.format == "text")
    assert doc.encoding == "gb18030" and doc.blocks_dropped == {"decoration": 1}
    text = "".join(r.paragraph for r in _rows(result, "text"))
    assert "毛利率为31.2%" in text and "４" not in text
    from finsynth.text.mentions import extract_mentions

    assert [m.value for m in extract_mentions(text) if m.subject == "毛利率"] == [31.2, 4.6]


def test_markdown_bom_and_inline_markup(result):
    doc = next(d for d in result[0].summary.documents if d.format == "markdown")
    assert doc.encoding == "utf-8-sig"
    text = "\n".join(r.paragraph for r in _rows(result, "markdown"))
    assert "**" not in text and "\ufeff" not in text


def test_chunk_lengths_respect_the_bounds(result):
    rows = result[0].rows
    for row in rows:
        if row.source.kind == "table":
            continue
        assert len(row.paragraph) <= OPTS.max_chars
        if len(row.paragraph) < OPTS.min_chars:
            # short only when nothing under the same heading path could take it within max_chars
            same = [
                r
                for r in rows
                if r.source.file == row.source.file
                and r.source.kind == "text"
                and r.source.heading_path == row.source.heading_path
                and r is not row
            ]
            neighbours = [r for r in same if abs(r.source.index - row.source.index) == 1]
            assert all(len(n.paragraph) + 1 + len(row.paragraph) > OPTS.max_chars for n in neighbours)


def test_long_paragraphs_split_at_sentence_ends_and_short_ones_merge(corpus, tmp_path):
    opts = IngestOptions(min_chars=150, max_chars=400, target_chars=300)
    got = ingest([corpus["root"] / "report.pdf"], opts)
    texts = [r for r in got.rows if r.source.kind == "text"]
    assert all(len(r.paragraph) <= 400 for r in texts)
    assert all(r.paragraph.endswith("。") for r in texts)  # cut at sentence ends only
    # the chunks still hold every sentence once
    joined = [_squash(r.paragraph) for r in texts]
    for sentence in corpus["info"]["pdf"]["sentences"]:
        assert sum(t.count(_squash(sentence)) for t in joined) == 1
    # chunks under min_chars exist only when a neighbour would have overflowed max_chars
    for r in texts:
        if len(r.paragraph) < 150:
            same = [
                o
                for o in texts
                if o.source.heading_path == r.source.heading_path and abs(o.source.index - r.source.index) == 1
            ]
            assert all(len(o.paragraph) + 1 + len(r.paragraph) > 400 for o in same)


def test_summary_reconciles_and_rows_match_the_file(result):
    got, out = result
    summary = got.summary
    assert summary.reconciles()
    assert summary.files == 4 and summary.files_failed == 0
    assert summary.pages_read == sum(d.pages for d in summary.documents)
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(written) == summary.chunks_written == len(got.rows)
    for raw in written:
        row = ChunkRow.model_validate(raw)
        inp = ParagraphInput.model_validate({"chapter_title": raw["chapter_title"], "paragraph": raw["paragraph"]})
        assert row.id == content_id("P", inp)
    assert summary.blocks_dropped["watermark"] >= 1 and summary.blocks_dropped["decoration"] == 1
    outline = outline_path(out).read_text(encoding="utf-8")
    assert "- 一、公司概况 (p. 1)" in outline and "  - （一）主营业务 (p. 1)" in outline


def test_summary_reconcile_check_can_fail():
    broken = DocumentReport(file="x.pdf", blocks_read=5, blocks_kept=3, blocks_dropped={"toc": 1})
    assert not broken.reconciles()


def test_output_is_the_same_bytes_with_two_workers(corpus, result, tmp_path):
    out2 = tmp_path / "two.jsonl"
    ingest([corpus["root"]], OPTS.model_copy(update={"workers": 2}), out=out2)
    assert out2.read_bytes() == result[1].read_bytes()
    assert outline_path(out2).read_bytes() == outline_path(result[1]).read_bytes()


def test_toc_and_blank_pages_are_dropped_by_reason(tmp_path):
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    path = tmp_path / "toc.pdf"
    c = canvas.Canvas(str(path), pagesize=A4)
    c.setFont("STSong-Light", 12)
    c.drawString(72, 760, "目录")
    for i, title in enumerate(["一、公司概况", "二、行业分析", "三、盈利预测"]):
        c.drawString(72, 730 - 20 * i, f"{title} ........................ {i + 3}")
    c.showPage()
    c.showPage()  # a blank page
    c.setFont("STSong-Light", 12)
    c.drawString(72, 760, "一、公司概况")
    c.drawString(96, 730, "公司是国内领先的调味品企业，2025年营业收入为12.5亿元，同比增长15.3%。")
    c.showPage()
    c.save()
    got = ingest([path], IngestOptions(min_chars=10, target_chars=100, max_chars=200))
    doc = got.summary.documents[0]
    assert doc.blocks_dropped == {"toc": 4, "blank_page": 1}
    assert doc.reconciles() and doc.pages == 3
    assert [r.paragraph for r in got.rows] == ["公司是国内领先的调味品企业，2025年营业收入为12.5亿元，同比增长15.3%。"]
    assert got.rows[0].source.pages == [3]


def test_two_column_page_reads_left_column_first(tmp_path):
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    path = tmp_path / "cols.pdf"
    c = canvas.Canvas(str(path), pagesize=A4)
    c.setFont("STSong-Light", 10)
    left = ["左栏第一行营业收入增长", "左栏第二行毛利率提升明显", "左栏第三行费用率下降。"]
    right = ["右栏第一行行业需求回暖", "右栏第二行竞争格局改善", "右栏第三行价格企稳。"]
    for i in range(12):
        c.drawString(60, 760 - 16 * i, left[i % 3] if i < 3 else f"左栏正文第{i}行内容延续说明")
        c.drawString(330, 760 - 16 * i, right[i % 3] if i < 3 else f"右栏正文第{i}行内容延续说明")
    c.showPage()
    c.save()
    got = ingest([path], IngestOptions(min_chars=0, target_chars=2000, max_chars=4000))
    text = "".join(r.paragraph for r in got.rows).replace("\n", "")
    assert text.index("左栏第三行") < text.index("左栏正文第11行") < text.index("右栏第一行")


def test_unreadable_file_is_reported_by_name_and_the_rest_go_on(corpus, tmp_path, capsys):
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"this is not a pdf at all")
    good = corpus["root"] / "strategy.md"
    out = tmp_path / "o.jsonl"
    code = main(["ingest", str(bad), str(good), "--out", str(out), "--format", "json"])
    captured = capsys.readouterr()
    assert code == 1  # a partial run: the rows of the readable files are written, and the run says it failed
    summary = json.loads(captured.out)
    assert summary["files"] == 2 and summary["files_failed"] == 1
    failed = next(d for d in summary["documents"] if not d["ok"])
    assert failed["file"] == str(bad) and "not a readable PDF" in failed["error"]
    assert str(bad) in captured.err
    assert out.read_text(encoding="utf-8").count("\n") == summary["chunks_written"] > 0


def test_all_files_unreadable_is_a_user_error(tmp_path, capsys):
    bad = tmp_path / "broken.docx"
    bad.write_bytes(b"PK not really a zip")
    bad2 = tmp_path / "broken.pdf"
    bad2.write_bytes(b"%PDF-1.4 garbage")
    out = tmp_path / "o.jsonl"
    assert main(["ingest", str(bad), str(bad2), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and str(bad) in err[-1] and "1 more" in err[-1]
    assert not out.exists()


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["ingest", "{missing}", "--out", "{tmp}/o.jsonl"], "{missing}"),
        (["ingest", "{xls}", "--out", "{tmp}/o.jsonl"], "unsupported file type .xls"),
        (["ingest", "{md}", "--out", "{tmp}/o.jsonl", "--min-chars", "900", "--target-chars", "500"], "--min-chars"),
    ],
)
def test_user_errors_are_one_line_exit_2(argv, needle, tmp_path, capsys):
    (tmp_path / "a.xls").write_bytes(b"x")
    (tmp_path / "a.md").write_text("# t\n\n正文。\n", encoding="utf-8")
    fill = {"missing": tmp_path / "nope.pdf", "tmp": tmp_path, "xls": tmp_path / "a.xls", "md": tmp_path / "a.md"}
    assert main([a.format(**fill) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle.format(**fill) in err[0]


def test_text_summary_renders(corpus, tmp_path, capsys):
    out = tmp_path / "o.jsonl"
    assert main(["ingest", str(corpus["root"] / "notes_gbk.txt"), "--out", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "chunk(s) written" in shown and "decoration 1" in shown
