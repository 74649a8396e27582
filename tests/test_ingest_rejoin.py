

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
    rows = [("营业收入", "100.5", "120.3", "150.8"), ("净利润", "10.2", "12.5", "15.1"), ("毛利率", "31.2%", "32.5%", "33.0%")]
    for i, row in enumerate(rows):
        for k, cell in enumerate(row):
            c.drawString(72 + 110 * k, 740 - 16 * i, cell)  # columns apart, no rules
    c.showPage()
    c.save()
    got = ingest([path], WIDE)
    text = "\n".join(r.paragraph for r in got.rows)
    for row in rows:
        assert " ".join(row) in text.splitlines()  # each row a line of its own, cells apart


@pytest.mark.parametrize("previous,rows,expected", [
    ([["指标", "2023"], ["收入", "100"]], [["指标", "2023"], ["利润", "10"]], True),  # repeated header
    ([["指标", "2023"], ["收入", "100"]], [["利润", "10"]], True),  # body rows go on
    ([["指标", "2023年"], ["收入", "100"]], [["项目", "2024年"], ["利润", "10"]], False),  # a new header
    ([["项目", "说明"], ["开户", "免收"]], [["年费", "首年免收"]], True),  # a text table goes on
    ([["指标", "2023"], ["收入", "100"]], [["a", "b", "c"]], False),  # another width
])
def test_table_continuation(previous, rows, expected):
    from finsynth.ingest.tables import continues

    assert continues(previous, rows) is expected
