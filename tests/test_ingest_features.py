"""`finsynth ingest` features beyond reading: redaction, candidates, encodings, OCR's skip path, the
Ray engine, and feeding `generate --from-paragraphs`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finsynth.cli import main
from finsynth.ingest import IngestOptions, ingest
from finsynth.ingest.candidates import candidate
from finsynth.ingest.normalize import decode, normalize
from finsynth.ingest.redact import luhn, redact


def _with_luhn(prefix: str) -> str:
    return next(prefix + str(d) for d in range(10) if luhn(prefix + str(d)))


CARD = _with_luhn("622202123456789012")  # 19 digits
FIGURES = ["营收12.5亿元", "同比+15.3%", "2025年", "3,260万头", "600519.SH", "毛利率31.2%", "-8.4个百分点"]


def test_redaction_replaces_personal_data_and_leaves_figures():
    grouped = " ".join(CARD[i : i + 4] for i in range(0, 16, 4)) + " " + CARD[16:]
    text = (
        "投资者关系联系人电话13812345678，座机010-62345678，邮箱ir.office@example.com.cn，"
        f"身份证号11010519491231002X，收款卡号{CARD}（{grouped}）。"
        "公司2025年" + "，".join(FIGURES) + "。"
    )
    out, counts = redact(text)
    assert counts == {"phone": 2, "email": 1, "id_number": 1, "bank_card": 2}
    for secret in ("13812345678", "62345678", "ir.office", "11010519491231002X", CARD, grouped):
        assert secret not in out
    assert out.count("<PHONE>") == 2 and "<EMAIL>" in out and "<ID_NUMBER>" in out and out.count("<BANK_CARD>") == 2
    for figure in FIGURES:
        assert figure in out


def test_a_number_failing_luhn_is_not_a_card_and_long_figures_are_kept():
    not_card = CARD[:-1] + str((int(CARD[-1]) + 1) % 10)
    out, counts = redact(f"编号{not_card}，总资产123456789012.5元，2025年12月31日")
    assert not counts and not_card in out


def test_ingest_redacts_and_counts(tmp_path):
    path = tmp_path / "contact.md"
    path.write_text(
        "# 联系方式\n\n如有疑问请致电13912345678或发邮件至 a.b@corp.cn，公司营收12.5亿元，同比+15.3%。\n",
        encoding="utf-8",
    )
    got = ingest([path], IngestOptions(min_chars=0, redact=True))
    assert got.summary.redactions == {"email": 1, "phone": 1}
    assert got.rows[0].paragraph == "如有疑问请致电<PHONE>或发邮件至 <EMAIL>，公司营收12.5亿元，同比+15.3%。"
    plain = ingest([path], IngestOptions(min_chars=0))
    assert "13912345678" in plain.rows[0].paragraph and not plain.summary.redactions


@pytest.mark.parametrize(
    "paragraph,expected_type,scenario",
    [
        ("公司深耕调味品行业多年，品牌影响力持续提升，渠道网络覆盖全国。", "B", "empty_output_background"),
        (
            (
                "2025年公司毛利率为31.2%，同比提升4.6个百分点，毛利率改善主要来自原材料成本回落，毛利率创近五年新高达到31.2%，"
                "其中主力产品毛利率35.1%。"
            ),
            "B",
            "boundary_many_numbers_one_core",
        ),
        ("公司2025年毛利率为31.2%，主要得益于产品结构优化。", "C", "single_metric"),
        ("公司2025年营业收入为12.5亿元，净利润为2.1亿元。", "A", "multi_metric"),
    ],
)
def test_candidate_suggestions(paragraph, expected_type, scenario):
    got = candidate(paragraph)
    assert (got.suggested_type, got.scenario) == (expected_type, scenario), got


def test_candidates_flag_adds_mentions(tmp_path, capsys):
    path = tmp_path / "a.txt"
    path.write_text("一、盈利能力\n公司2025年营业收入为12.5亿元，净利润为2.1亿元。\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    assert main(["ingest", str(path), "--out", str(out), "--candidates", "--min-chars", "0", "--format", "json"]) == 0
    row = json.loads(out.read_text(encoding="utf-8"))
    assert [m["text"] for m in row["candidates"]["mentions"]] == ["12.5亿元", "2.1亿元"]
    assert row["candidates"]["suggested_type"] == "A" and row["chapter_title"] == "一、盈利能力"


@pytest.mark.parametrize(
    "encoding,expected",
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"), ("gb18030", "gb18030"), ("utf-16", "utf-16")],
)
def test_encodings_are_detected(encoding, expected):
    text = "公司毛利率为31.2%，同比提升。"
    assert decode(text.encode(encoding)) == (text, expected)


def test_undecodable_text_is_reported(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"abc\x80\x81\xfe\xff" * 10)
    good = tmp_path / "good.txt"
    good.write_text("公司营收12.5亿元。\n", encoding="utf-8")
    got = ingest([bad, good], IngestOptions(min_chars=0))
    failed = [d for d in got.summary.documents if not d.ok]
    assert [d.file for d in failed] == [str(bad)] and "UTF-8" in failed[0].error
    assert got.summary.reconciles() and len(got.rows) == 1


def test_width_normalisation_matches_mentions():
    assert normalize("营收１２．５亿元，同比＋１５．３％，ＲＯＥ") == "营收12.5亿元，同比+15.3%，ROE"
    assert normalize("营收增长,同比提升;3,260万头") == "营收增长，同比提升；3,260万头"


def _scanned_pdf(path: Path) -> None:
    from PIL import Image, ImageDraw
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    c = canvas.Canvas(str(path), pagesize=A4)
    c.setFont("STSong-Light", 12)
    c.drawString(96, 760, "公司是国内领先的调味品企业，2025年营业收入为12.5亿元。")
    c.showPage()
    image = Image.new("RGB", (600, 200), "white")
    ImageDraw.Draw(image).rectangle((20, 20, 580, 180), outline="black")
    c.drawImage(ImageReader(image), 72, 500, width=400, height=130)
    c.showPage()
    c.save()


def test_scanned_page_without_tesseract_is_listed_with_a_reason(tmp_path, monkeypatch):
    pytest.importorskip("PIL")
    from finsynth.ingest import ocr

    path = tmp_path / "scan.pdf"
    _scanned_pdf(path)
    monkeypatch.setattr(ocr.shutil, "which", lambda name: None)
    ocr.unavailable.cache_clear()
    try:
        got = ingest([path], IngestOptions(min_chars=0))
    finally:
        ocr.unavailable.cache_clear()
    doc = got.summary.documents[0]
    assert doc.pages_without_text == [2] and doc.pages_ocr == [] and doc.blocks_dropped == {"no_text_layer": 1}
    assert "tesseract" in (got.summary.ocr or "") and got.summary.pages_without_text == 1
    assert got.summary.reconciles() and len(got.rows) == 1


def test_scanned_page_is_ocred_when_tesseract_is_installed(tmp_path):
    pytest.importorskip("PIL")
    from finsynth.ingest import ocr

    if ocr.unavailable():
        pytest.skip(ocr.unavailable())
    path = tmp_path / "scan.pdf"
    _scanned_pdf(path)
    got = ingest([path], IngestOptions(min_chars=0))
    assert got.summary.documents[0].pages_ocr == [2]


@pytest.mark.slow
def test_ray_engine_gives_identical_output(tmp_path):
    pytest.importorskip("ray")
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(3):
        (docs / f"n{i}.md").write_text(f"# 标题{i}\n\n公司第{i}年营收12.5亿元，同比+15.3%。\n", encoding="utf-8")
    local, ray_out = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    ingest([docs], IngestOptions(min_chars=0), out=local)
    got = ingest([docs], IngestOptions(min_chars=0, engine="ray", workers=2), out=ray_out)
    assert got.summary.engine == "ray" and got.summary.chunks_written == 3
    assert ray_out.read_bytes() == local.read_bytes()


def test_ray_engine_missing_is_one_clear_error(tmp_path, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ModuleNotFoundError("No module named 'ray'", name="ray")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    path = tmp_path / "a.md"
    path.write_text("# t\n\n正文。\n", encoding="utf-8")
    assert main(["ingest", str(path), "--out", str(tmp_path / "o.jsonl"), "--engine", "ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "finsynth[ray]" in err[0]


def test_output_feeds_generate_from_paragraphs(tmp_path, capsys):
    path = tmp_path / "report.md"
    paragraph = "公司2025年上半年毛利率为31.2%，同比提升4.6个百分点，主要受益于原材料价格回落与产品结构优化。"
    path.write_text(f"# 盈利能力分析\n\n{paragraph}\n", encoding="utf-8")
    out = tmp_path / "paragraphs.jsonl"
    assert main(["ingest", str(path), "--out", str(out), "--min-chars", "0"]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "generate",
                "--type",
                "A",
                "--from-paragraphs",
                str(out),
                "--dry-run",
                "--format",
                "json",
                "--examples",
                str(Path(__file__).resolve().parents[1] / "data" / "raw"),
            ]
        )
        == 0
    )
    prompt = json.loads(capsys.readouterr().out)
    user = "\n".join(m["content"] for m in prompt["messages"] if m["role"] == "user")
    assert paragraph in user and "盈利能力分析" in user
