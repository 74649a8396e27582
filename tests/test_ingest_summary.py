"""Issue 24 item 3: the ingest summary counts and names skipped files, shows a useful part of each path in a
narrow terminal, and long runs report progress."""

from __future__ import annotations

import json

import pytest

from finsynth.cli import main
from finsynth.ingest import IngestOptions, ingest
from finsynth.ingest.run import collect, shown_names, summary_markdown

TEXT = "一、收入\n\n公司收入稳步增长，毛利率为31.2%。\n"


@pytest.fixture
def folder(tmp_path):
    deep = tmp_path / "research" / "reports" / "2025" / "annual"
    deep.mkdir(parents=True)
    for name in ("company_alpha_annual_report.txt", "company_beta_annual_report.txt", "company_gamma_report.md"):
        (deep / name).write_text(TEXT, encoding="utf-8")
    (tmp_path / "research" / "prices.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (tmp_path / "research" / "README").write_text("notes\n", encoding="utf-8")
    (tmp_path / "research" / ".DS_Store").write_bytes(b"\x00")
    (tmp_path / "research" / ".git").mkdir()
    (tmp_path / "research" / ".git" / "notes.md").write_text(TEXT, encoding="utf-8")
    return tmp_path / "research"


def test_skipped_files_are_counted_and_named(folder):
    got = ingest([folder], IngestOptions())
    summary = got.summary
    assert summary.files == 3 and summary.files_skipped == 4
    reasons = {s.file.removeprefix(str(folder) + "/"): s.reason for s in summary.skipped}
    assert reasons == {
        "prices.csv": "unsupported type .csv",
        "README": "no extension",
        ".DS_Store": "hidden file",
        ".git": "hidden directory, not searched",
    }
    assert summary.reconciles()
    shown = summary_markdown(summary)
    assert "4 skipped" in shown and "prices.csv (unsupported type .csv)" in shown and "README (no extension)" in shown


def test_skipped_files_in_json(folder, tmp_path, capsys):
    assert main(["ingest", str(folder), "--out", str(tmp_path / "o.jsonl"), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["files_skipped"] == 4
    assert {"file": str(folder / "prices.csv"), "reason": "unsupported type .csv"} in summary["skipped"]


def test_a_folder_with_only_skipped_files_names_them(tmp_path, capsys):
    (tmp_path / "prices.csv").write_text("a,b\n", encoding="utf-8")
    assert main(["ingest", str(tmp_path), "--out", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "prices.csv (unsupported type .csv)" in err[0]


def test_text_summary_shows_the_part_of_each_path_that_tells_files_apart(folder, tmp_path, capsys):
    # rich renders the table at 80 columns here (not a terminal): the names must fit, not the folder
    assert main(["ingest", str(folder), "--out", str(tmp_path / "o.jsonl")]) == 0
    shown = capsys.readouterr().out
    for name in ("company_alpha_annual_report.txt", "company_beta_annual_report.txt", "company_gamma_report.md"):
        assert name in shown
    assert str(folder / "reports" / "2025" / "annual") in shown.replace("\n", "")


def test_shown_names_cut_long_paths_from_the_left_and_stay_distinct():
    root, names = shown_names(["/data/a/x/quarterly_results_company_alpha_2025_q3_final.pdf", "/data/b/y.pdf"])
    assert root == "/data"
    assert names["/data/b/y.pdf"] == "b/y.pdf"
    long = names["/data/a/x/quarterly_results_company_alpha_2025_q3_final.pdf"]
    assert long.startswith("…") and long.endswith("company_alpha_2025_q3_final.pdf") and len(long) == 36
    same_tail = ["/d/one/" + "x" * 40 + ".pdf", "/d/two/" + "x" * 40 + ".pdf"]
    _, names = shown_names(same_tail)
    assert len(set(names.values())) == 2  # cut names would collide: the relative paths are shown whole


def test_progress_is_reported_per_file(folder):
    ticks: list[int] = []
    ingest([folder], IngestOptions(), on_progress=ticks.append)
    assert sum(ticks) == len(collect([folder])[0]) == 3


def test_progress_with_a_process_pool(folder):
    ticks: list[int] = []
    ingest([folder], IngestOptions(workers=2), on_progress=ticks.append)
    assert ticks == [1, 1, 1]


def test_cli_shows_a_progress_bar_on_stderr(folder, tmp_path, monkeypatch):
    from finsynth.cli import ingest as cli_ingest

    seen: list[tuple[str, int, bool]] = []

    class Recorder:
        def __init__(self, description: str, total: int, enabled: bool, minimum: int = 2000):
            seen.append((description, total, enabled and total >= minimum))
            self.advance = lambda n: None

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

    monkeypatch.setattr(cli_ingest, "_Ticker", Recorder)
    assert main(["ingest", str(folder), "--out", str(tmp_path / "o.jsonl")]) == 0
    assert seen == [("ingesting files", 3, True)]
