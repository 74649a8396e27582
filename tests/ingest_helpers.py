"""Fixture documents for the ingest tests, built from code: a Chinese PDF (reportlab, CID font
STSong-Light), a DOCX (python-docx), a GBK text file and Markdown. Each builder returns the body
sentences it wrote, so a test can check that every one reaches exactly one chunk."""

from __future__ import annotations

from pathlib import Path

HEADER = "华泰证券研究所｜公司深度研究报告"
FOOTER = "请务必阅读正文之后的免责声明"
WATERMARK = "内部资料"


def _sentences(topic: str, n: int, seed: int) -> list[str]:
    """n distinct body sentences about `topic` (numbers vary with the seed so no two are equal)."""
    out = []
    for i in range(n):
        k = seed * 100 + i
        out.append(
            f"{topic}第{k + 1}项观察显示，公司相关业务收入达到{10 + k % 7}.{k % 10}亿元，"
            f"同比增长{5 + k % 11}.{(k * 3) % 10}%，主要受益于产品结构优化与渠道下沉持续推进。"
        )
    return out


PDF_SECTIONS: list[tuple[str, int]] = [
    ("一、公司概况", 6),
    ("（一）主营业务", 14),
    ("（二）盈利能力", 30),
    ("二、行业分析", 8),
]


def build_pdf(path: Path) -> dict:
    """A multi-page report: running header, "第 N 页" footers, a rotated watermark, indented wrapped
    paragraphs (one of them long enough to cross a page break), numbered headings, and a ruled table
    long enough to continue on the next page (header row repeated there)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    body = ParagraphStyle(
        "body", fontName="STSong-Light", fontSize=10.5, leading=16, wordWrap="CJK", firstLineIndent=21, spaceAfter=4
    )
    head = ParagraphStyle("head", fontName="STSong-Light", fontSize=14, leading=22, spaceBefore=6, spaceAfter=4)

    def decorate(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont("STSong-Light", 9)
        canvas.drawString(72, A4[1] - 40, HEADER)
        canvas.drawString(72, 42, FOOTER)
        canvas.drawCentredString(A4[0] / 2, 28, f"第 {doc.page} 页")
        canvas.translate(A4[0] / 2, A4[1] / 2)
        canvas.rotate(40)
        canvas.setFillGray(0.85)
        canvas.setFont("STSong-Light", 48)
        canvas.drawCentredString(0, 0, WATERMARK)
        canvas.restoreState()

    sentences: list[str] = []
    story: list = []
    paragraphs: list[str] = []
    for s_index, (title, n) in enumerate(PDF_SECTIONS):
        story.append(Paragraph(title, head))
        got = _sentences(title.split("、")[-1].split("）")[-1], n, s_index)
        sentences += got
        # paragraphs of 3 sentences, the (二) section as one long paragraph (it crosses a page break)
        groups = [got] if title.startswith("（二）") else [got[i : i + 3] for i in range(0, n, 3)]
        for group in groups:
            paragraphs.append("".join(group))
            story.append(Paragraph("".join(group), body))
        if title.startswith("（一）"):
            rows = [["指标", "2023年", "2024年", "2025年E"]]
            rows += [[f"细分业务{i + 1}收入（亿元）", f"{i + 1}.5", f"{i + 2}.1", f"{i + 3}.4"] for i in range(30)]
            table = Table(rows, repeatRows=1)
            table.setStyle(
                TableStyle(
                    [
                        ("FONTNAME", (0, 0), (-1, -1), "STSong-Light"),
                        ("FONTSIZE", (0, 0), (-1, -1), 9),
                        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                    ]
                )
            )
            story += [Spacer(1, 6), table, Spacer(1, 6)]
    doc = SimpleDocTemplate(str(path), pagesize=A4, topMargin=72, bottomMargin=72)
    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return {
        "sentences": sentences,
        "paragraphs": paragraphs,
        "headings": [t for t, _ in PDF_SECTIONS],
        "table_header": rows[0],
        "table_rows": len(rows),
        "pages": doc.page,
    }


def build_docx(path: Path) -> dict:
    """Headings (Heading 1/2 styles), body paragraphs, a bulleted list, a table, a header and a footer,
    and a page break."""
    import docx
    from docx.enum.text import WD_BREAK

    document = docx.Document()
    section = document.sections[0]
    section.header.paragraphs[0].text = "某某银行 运营手册（内部）"
    section.footer.paragraphs[0].text = "第 1 页 机密文件"
    sentences: list[str] = []
    document.add_heading("第一章 业务概述", level=1)
    got = _sentences("业务概述", 4, 7)
    sentences += got
    document.add_paragraph("".join(got[:2]))
    document.add_paragraph("".join(got[2:]))
    document.add_heading("1.1 操作流程", level=2)
    items = ["客户提交开户申请材料。", "柜员核验身份信息并录入系统。", "主管复核后完成开户。"]
    for item in items:
        document.add_paragraph(item, style="List Bullet")
    sentences += items
    got = _sentences("操作流程", 3, 8)
    sentences += got
    document.add_paragraph("".join(got)).runs[-1].add_break(WD_BREAK.PAGE)
    document.add_heading("第二章 费用标准", level=1)
    rows = [["项目", "标准", "备注"], ["开户费", "0元", "免收"], ["年费", "10元", "首年免收"]]
    table = document.add_table(rows=len(rows), cols=3)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            table.cell(r, c).text = cell
    got = _sentences("费用标准", 2, 9)
    sentences += got
    document.add_paragraph("".join(got))
    document.save(str(path))
    return {
        "sentences": sentences,
        "headings": ["第一章 业务概述", "1.1 操作流程", "第二章 费用标准"],
        "header": "某某银行 运营手册（内部）",
        "footer": "第 1 页 机密文件",
        "table_header": rows[0],
        "items": items,
    }


def build_gbk_text(path: Path) -> dict:
    """A GBK plain-text report: numbered headings, one paragraph a line, full-width digits, a decoration rule."""
    sentences = _sentences("经营分析", 3, 11) + _sentences("风险提示", 2, 12)
    full = "公司毛利率为３１．２％，同比提升４．６个百分点。"
    text = (
        "一、经营分析\n"
        + "".join(sentences[:3])
        + "\n━━━━━━━━━━\n二、风险提示\n"
        + full
        + "".join(sentences[3:])
        + "\n"
    )
    path.write_bytes(text.encode("gbk"))
    return {
        "sentences": [*sentences, "公司毛利率为31.2%，同比提升4.6个百分点。"],
        "headings": ["一、经营分析", "二、风险提示"],
    }


def build_markdown(path: Path) -> dict:
    sentences = _sentences("市场回顾", 3, 13) + _sentences("投资建议", 2, 14)
    text = (
        "# 2025年中期策略\n\n## 市场回顾\n\n" + "".join(sentences[:2]) + "\n\n" + sentences[2] + "\n\n"
        "| 指数 | 涨跌幅 |\n|---|---|\n| 沪深300 | +5.2% |\n| 创业板指 | -3.1% |\n\n"
        "## 投资建议\n\n" + "".join(sentences[3:]) + "\n\n- 关注**高股息**板块\n- 关注科技成长\n"
    )
    path.write_text(text, encoding="utf-8-sig")
    return {
        "sentences": [*sentences, "- 关注高股息板块", "- 关注科技成长"],
        "headings": ["2025年中期策略", "市场回顾", "投资建议"],
        "table_header": ["指数", "涨跌幅"],
    }


def cjk_styles(size: float = 10.5, indent: float = 0) -> tuple:
    """reportlab body and heading styles in the CID font STSong-Light (registered here), CJK wrapping."""
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    body = ParagraphStyle(
        "body",
        fontName="STSong-Light",
        fontSize=size,
        leading=size * 1.5,
        wordWrap="CJK",
        firstLineIndent=indent,
        spaceAfter=4,
    )
    head = ParagraphStyle("head", fontName="STSong-Light", fontSize=14, leading=22, spaceBefore=6, spaceAfter=4)
    return body, head


def build_flow_pdf(path: Path, story: list, columns: int = 1) -> None:
    """A platypus story on A4 in one column or two (two frames with an 18 pt gutter), as reportlab lays it out."""
    from reportlab.lib.pagesizes import A4
    from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate

    width, height = A4
    gutter = 18
    frame_width = (width - 144 - gutter * (columns - 1)) / columns
    frames = [Frame(72 + i * (frame_width + gutter), 72, frame_width, height - 144, id=f"c{i}") for i in range(columns)]
    doc = BaseDocTemplate(str(path), pagesize=A4)
    doc.addPageTemplates([PageTemplate(id="body", frames=frames)])
    doc.build(story)


def tagged_sentences(topic: str, n: int, seed: int) -> list[str]:
    """`_sentences` with a bracketed tag ("【T015】") in each: a token the wrap can cut inside."""
    return [
        s.replace("项观察", f"项观察【T{seed * 100 + i:03d}】", 1) for i, s in enumerate(_sentences(topic, n, seed))
    ]
