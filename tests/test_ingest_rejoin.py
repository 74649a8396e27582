"""Issue 24 item 3: ingest output is safe to train on. Wrapped PDF lines are rejoined (two CJK columns, a
wrap before a number), lines never fuse two numbers, a tab-separated table in a .txt stays a table, and a
body line repeated at the foot of each page is not taken for a running footer."""

from __future__ import annotations

import pytest

from finsynth.ingest import IngestOptions, ingest
from finsynth.ingest.normalize import ends_sentence, join_lines

pytest.importorskip("reportlab")
pytest.importorskip("pdfplumber")

from ingest_helpers import build_flow_pdf, cjk_styles, tagged_sentences

WIDE = IngestOptions(min_chars=0, target_chars=500, max_chars=2000)


def _text(result) -> str:
    """Every chunk's text, chunks apart (a sentence cut between two chunks is not found whole)."""
    return "\n\n".join(row.paragraph for row in result.rows)


def _check_sentences(result, sentences: list[str]) -> None:
    text = _text(result)
    missing = [s for s in sentences if text.count(s) != 1]
    assert not missing, f"{len(missing)} of {len(sentences)} sentences not found whole exactly once: {missing[:3]}"


def test_two_column_cjk_pdf_has_no_break_inside_a_sentence(tmp_path):
    from reportlab.platypus import Paragraph

    body, head = cjk_styles(10.5, indent=21)
    story: list = []
    sentences: list[str] = []
    for s_index, (title, n) in enumerate([("一、公司概况", 9), ("二、盈利能力", 24), ("三、行业分析", 12)]):
        story.append(Paragraph(title, head))
        got = tagged_sentences(title[2:], n, s_index)
        sentences += got
        story += [Paragraph("".join(got[i : i + 3]), body) for i in range(0, n, 3)]
    path = tmp_path / "two_columns.pdf"
    build_flow_pdf(path, story, columns=2)
    got = ingest([path], WIDE)
    assert got.summary.documents[0].pages == 2
    _check_sentences(got, sentences)
    # the templated sentences put near-identical lines at the foot of both pages: body text, not a footer
    assert got.summary.blocks_dropped == {}


def _draw_lines(path, lines: list[str], size: float = 10.5) -> None:
    """One page of lines drawn at the left margin, one every 1.5 x size: the layout's wraps, exactly."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    c = canvas.Canvas(str(path), pagesize=A4)
    c.setFont("STSong-Light", size)
    for i, line in enumerate(lines):
        c.drawString(72, 760 - 1.5 * size * i, line)
    c.showPage()
    c.save()


def test_single_column_wrap_before_a_number_is_rejoined(tmp_path):
    # a layout wraps before a number that does not fit: the second line ends 29.9 pt short of the margin (more
    # than a character, less than "101.8%，" needs), as reportlab's own wrap leaves it
    lines = [
        "公司2025年经营稳健，营业收入与利润同步增长，高端产品占比持续提升，",
        "渠道结构进一步优化，海外业务同步放量，全年实现的归母净利润为",
        "101.8%，盈利能力显著增强，经营现金流同步改善。新产品放量带动收入",
        "12,345.67万元，占比提升至18.5%。",
    ]
    path = tmp_path / "one_column.pdf"
    _draw_lines(path, lines)
    got = ingest([path], WIDE)
    assert [r.paragraph for r in got.rows] == ["".join(lines)]


def test_single_column_paragraphs_still_end_at_a_short_sentence_end(tmp_path):
    lines = [
        "公司2025年经营稳健，营业收入与利润同步增长，高端产品占比持续提升，",
        "渠道结构进一步优化。",
        "展望2026年，公司将继续推进渠道下沉，新产品有望贡献收入增量，预计",
        "收入增速为15.0%。",
    ]
    path = tmp_path / "paragraphs.pdf"
    _draw_lines(path, lines)
    got = ingest([path], WIDE)
    assert got.rows[0].paragraph == "".join(lines[:2]) + "\n" + "".join(lines[2:])


def test_a_short_line_without_a_full_stop_still_ends_its_paragraph(tmp_path):
    # a source line under a chart, then a numbered heading and a paragraph in the body size
    lines = [
        "资料来源：Wind，公司公告",
        "二、盈利预测",
        "我们预计公司2026年营业收入为412.6亿元，同比增长15.0%，归母净利",
        "润为58.3亿元。",
    ]
    path = tmp_path / "caption.pdf"
    _draw_lines(path, lines)
    got = ingest([path], WIDE)
    assert [(r.chapter_title, r.paragraph) for r in got.rows] == [("", lines[0]), ("二、盈利预测", "".join(lines[2:]))]


def test_a_wrapped_line_that_looks_like_a_heading_is_text(tmp_path):
    path = tmp_path / "wrap.pdf"
    lines = [
        "公司持续推进渠道下沉，门店网络从一二线城市向",
        "三、四线城市延伸，全年新开门店320家，覆盖县域",
        "市场的比例提升至41.5%。",
    ]
    _draw_lines(path, lines)
    got = ingest([path], WIDE)
    assert [r.paragraph for r in got.rows] == ["".join(lines)]
    assert got.rows[0].source.heading_path == []


@pytest.mark.parametrize(
    "lines,joined",
    [
        (["同", "比增长"], "同比增长"),
        (["收入", "2023"], "收入2023"),
        (["2023 100", "2024 120"], "2023 100 2024 120"),
        (["net", "profit"], "net profit"),
        (["revenue rose", "8.2% to", "RMB 3,260 million."], "revenue rose 8.2% to RMB 3,260 million."),
        (["grew 12.5", "%, driven"], "grew 12.5%, driven"),
        (["year-", "on-year growth"], "year-on-year growth"),
    ],
)
def test_join_lines_never_fuses_two_numbers(lines, joined):
    assert join_lines(lines) == joined


@pytest.mark.parametrize(
    "text,ends",
    [
        ("持续推进。", True),
        ("他说：“增长。”", True),
        ("风险；", True),
        ("Revenue rose 8.2%.", True),
        ("同比增长", False),
        ("【T015】", False),
        ("营业收入（亿元）", False),
        ("Revenue grew in 2024.", True),
    ],
)
def test_ends_sentence(text, ends):
    assert ends_sentence(text) is ends


def test_tab_separated_table_in_text_is_one_table_chunk(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("一、收入\n\n公司收入稳步增长。\n\n年份\t收入\n2023\t100\n2024\t120\n", encoding="utf-8")
    got = ingest([path], WIDE)
    assert [r.paragraph for r in got.rows if r.source.kind == "text"] == ["公司收入稳步增长。"]
    (table,) = [r for r in got.rows if r.source.kind == "table"]
    assert table.source.table == [["年份", "收入"], ["2023", "100"], ["2024", "120"]]
    assert table.paragraph == "| 年份 | 收入 |\n| --- | --- |\n| 2023 | 100 |\n| 2024 | 120 |"
    assert table.source.lines == [5, 7] and table.chapter_title == "一、收入"
    assert got.summary.tables == 1 and got.summary.reconciles()


def test_a_line_indented_with_a_tab_is_not_a_table(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("\t公司收入稳步增长，\n\t毛利率为31.2%。\n", encoding="utf-8")
    got = ingest([path], WIDE)
    assert [(r.source.kind, r.paragraph) for r in got.rows] == [("text", "公司收入稳步增长，毛利率为31.2%。")]


def test_unruled_table_rows_stay_apart(tmp_path):
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    path = tmp_path / "rows.pdf"
    c = canvas.Canvas(str(path), pagesize=A4)
    c.setFont("STSong-Light", 10.5)
    c.drawString(72, 760, "公司近三年主要财务数据如下表所示")
    rows = [
        ("营业收入", "100.5", "120.3", "150.8"),
        ("净利润", "10.2", "12.5", "15.1"),
        ("毛利率", "31.2%", "32.5%", "33.0%"),
    ]
    for i, row in enumerate(rows):
        for k, cell in enumerate(row):
            c.drawString(72 + 110 * k, 740 - 16 * i, cell)  # columns apart, no rules
    c.showPage()
    c.save()
    got = ingest([path], WIDE)
    lines = "\n".join(r.paragraph for r in got.rows).splitlines()
    for row in rows:
        assert " ".join(row) in lines  # each row a line of its own, cells apart


@pytest.mark.parametrize(
    "previous,rows,expected",
    [
        ([["指标", "2023"], ["收入", "100"]], [["指标", "2023"], ["利润", "10"]], True),  # repeated header
        ([["指标", "2023"], ["收入", "100"]], [["利润", "10"]], True),  # body rows go on
        ([["指标", "2023年"], ["收入", "100"]], [["项目", "2024年"], ["利润", "10"]], False),  # a new header
        ([["项目", "说明"], ["开户", "免收"]], [["年费", "首年免收"]], True),  # a text table goes on
        ([["指标", "2023"], ["收入", "100"]], [["a", "b", "c"]], False),  # another width
    ],
)
def test_table_continuation(previous, rows, expected):
    from finsynth.ingest.tables import continues

    assert continues(previous, rows) is expected


@pytest.mark.parametrize("columns", [1, 2])
def test_real_corpus_paragraphs_laid_out_by_reportlab_come_back_whole(corpus_dir, tmp_path, columns):
    """Human-written research paragraphs (the shared corpus, not written here), laid out in STSong-Light 10.5 pt:
    every paragraph comes back whole, with no line break inside and nothing lost to header/footer rules."""
    import json
    from xml.sax.saxutils import escape

    from reportlab.platypus import Paragraph

    from finsynth.ingest.normalize import normalize

    rows = [json.loads(line) for line in (corpus_dir / "type_a.jsonl").read_text(encoding="utf-8").splitlines()[:60]]
    body, head = cjk_styles(10.5, indent=21)
    story: list = []
    expected: list[str] = []
    for i, row in enumerate(rows):
        if i % 6 == 0:
            story.append(Paragraph(f"{i // 6 + 1}.{i % 6 + 1} {escape(row['input']['chapter_title'])}", head))
        paragraph = row["input"]["paragraph"]
        story.append(Paragraph(escape(paragraph), body))
        expected.append(normalize(paragraph, squeeze=True))
    path = tmp_path / "corpus.pdf"
    build_flow_pdf(path, story, columns=columns)
    got = ingest([path], WIDE)
    assert got.summary.pages_read >= 4 and got.summary.blocks_dropped == {}
    text = _text(got)
    missing = [p for p in expected if p not in text]
    assert not missing, f"{len(missing)} of {len(expected)} paragraphs not whole: {missing[:2]}"


def test_a_right_column_holding_only_a_table_is_read_after_the_left_column(tmp_path):
    from reportlab.lib import colors
    from reportlab.platypus import FrameBreak, Paragraph, Table, TableStyle

    body, head = cjk_styles(10.5)
    sentences = tagged_sentences("经营回顾", 6, 4)
    rows = [["指标", "2024年", "2025年"], ["营业收入", "100.5", "120.3"], ["净利润", "10.2", "12.5"]]
    grid = Table(rows)
    grid.setStyle(
        TableStyle([("FONTNAME", (0, 0), (-1, -1), "STSong-Light"), ("GRID", (0, 0), (-1, -1), 0.5, colors.black)])
    )
    story = [
        Paragraph("一、经营回顾", head),
        Paragraph("".join(sentences[:3]), body),
        Paragraph("".join(sentences[3:]), body),
        FrameBreak(),
        grid,
    ]
    path = tmp_path / "table_column.pdf"
    build_flow_pdf(path, story, columns=2)
    got = ingest([path], WIDE)
    assert [r.source.kind for r in got.rows] == ["text", "table"]
    assert got.rows[1].source.table == rows
    _check_sentences(got, sentences)


def test_a_running_header_close_to_the_body_in_a_smaller_font_is_still_dropped(tmp_path):
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    path = tmp_path / "header.pdf"
    c = canvas.Canvas(str(path), pagesize=A4)
    for page in range(3):
        c.setFont("STSong-Light", 9)
        c.drawString(72, 772, "某某证券研究所 公司点评报告")  # 4 pt above the body: no gap, another size
        c.setFont("STSong-Light", 10.5)
        for k, sentence in enumerate(tagged_sentences(f"第{page + 1}页", 3, page)):
            c.drawString(72, 756 - 16 * k, sentence[:36])
        c.showPage()
    c.save()
    got = ingest([path], WIDE)
    assert got.summary.blocks_dropped == {"running_header": 3}
    assert all("研究所" not in r.paragraph for r in got.rows)


def test_docx_soft_line_break_inside_a_sentence_is_joined(tmp_path):
    docx = pytest.importorskip("docx")
    document = docx.Document()
    paragraph = document.add_paragraph("公司2025年营业收入为")
    paragraph.add_run().add_break()  # Shift+Enter: a line break inside the paragraph
    paragraph.add_run("101.8亿元，同比增长12.5%。")
    path = tmp_path / "soft_break.docx"
    document.save(str(path))
    got = ingest([path], WIDE)
    assert [r.paragraph for r in got.rows] == ["公司2025年营业收入为101.8亿元，同比增长12.5%。"]
