"""Issue 12, the review loop: decisions made on the pages, downloaded as a patch, applied by the build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finsynth.audit.review import ReviewDecision, apply_review
from finsynth.cli import main
from finsynth.io import load_paths, read_jsonl
from finsynth.schema import row_content_hash

TIME = "2026-12-01T10:00:00+00:00"


def _decision(record, decision: str, **extra) -> tuple[int, ReviewDecision]:
    body = {
        "id": record.item.id,
        "content_hash": row_content_hash(record.item),
        "decision": decision,
        "reviewer": "li",
        "time": TIME,
        **extra,
    }
    return extra.pop("line", 1), ReviewDecision.model_validate(body)


def test_apply_review_accept_reject_edit_stale_unknown_and_superseded(raw_dir):
    records = load_paths([raw_dir / "type_b.jsonl"]).records
    a, b, c, d = records[:4]
    stale = ReviewDecision(id=d.item.id, content_hash="0" * 64, decision="reject", reviewer="li", time=TIME)
    unknown = ReviewDecision(id="B-nonexistent", content_hash="1" * 64, decision="accept", reviewer="li", time=TIME)
    early = ReviewDecision(
        id=a.item.id,
        content_hash=row_content_hash(a.item),
        decision="reject",
        reviewer="wang",
        time="2026-12-01T09:00:00+00:00",
    )
    decisions = [
        (1, early),
        (2, _decision(a, "accept")[1]),
        (3, _decision(b, "reject", note="no metric here")[1]),
        (4, _decision(c, "edit", analysis="本段核心分析对象是毛利率。")[1]),
        (5, stale),
        (6, unknown),
    ]
    result = apply_review(records, decisions)
    by_id = {r.item.id: r.item for r in result.records}
    status = {o.line: (o.status, o.reason) for o in result.outcomes}
    assert status[1][0] == "superseded" and status[2][0] == "applied"
    assert by_id[a.item.id].provenance.review["decision"] == "accept"
    assert by_id[a.item.id].output == a.item.output
    assert b.item.id not in by_id and result.quarantined[0].stage == "review"
    assert "rejected by li" in result.quarantined[0].reason and "no metric here" in result.quarantined[0].reason
    assert by_id[c.item.id].output.analysis == "本段核心分析对象是毛利率。"
    assert by_id[c.item.id].output.metrics == c.item.output.metrics
    assert status[5][0] == "refused" and "changed since" in status[5][1]
    assert by_id[d.item.id] == d.item  # the stale decision touched nothing
    assert status[6][0] == "refused" and "no training row" in status[6][1]
    assert len(result.records) + len(result.quarantined) == len(records)
    assert result.counts() == {"accept": 1, "decisions": 6, "edit": 1, "refused": 2, "reject": 1, "superseded": 1}
    # deterministic: the same decisions in another order give the same outcome
    again = apply_review(records, list(reversed(decisions)))
    assert [r.item for r in again.records] == [r.item for r in result.records]


def test_a_malformed_patch_is_one_line_naming_file_and_line(offline, raw_dir, capsys):
    patch = offline / "review.jsonl"
    patch.write_text(
        json.dumps({"id": "B-x", "content_hash": "0" * 64, "decision": "maybe", "reviewer": "li", "time": TIME}) + "\n",
        encoding="utf-8",
    )
    assert main(["build", "--raw", str(raw_dir), "--out", str(offline / "o"), "--apply-review", str(patch)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{patch}:1" in err[0] and "decision" in err[0]


def _browser():
    pytest.importorskip("playwright.sync_api")
    from test_html_report import CHROMIUM_ARGS, _chromium

    return _chromium(), CHROMIUM_ARGS


@pytest.mark.slow
def test_review_in_chromium_downloads_a_patch_that_the_build_applies(offline, raw_dir):
    executable, args = _browser()
    from playwright.sync_api import sync_playwright

    first = offline / "first"
    assert main(["build", "--raw", str(raw_dir), "--out", str(first), "--relabel", "B", "--force"]) == 0
    page_path = first / "relabel.html"
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=args)
        page = browser.new_page(accept_downloads=True)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_path.resolve().as_uri(), wait_until="load")
        rows = page.locator("[data-review-id]")
        ids = [rows.nth(i).get_attribute("data-review-id") for i in range(3)]
        rows.nth(0).locator(".review-accept").click()
        rows.nth(1).locator(".review-reject").click()
        rows.nth(2).locator(".review-edit").click()
        editor = rows.nth(2).locator(".review-editor")
        edited = editor.input_value() + "（复核：结论不变。）"
        editor.fill(edited)
        editor.dispatch_event("change")
        assert page.inner_text("#review-count") == "3"
        page.fill("#reviewer", "reviewer-li")
        with page.expect_download() as info:
            page.click("#review-download")
        patch = offline / "review.jsonl"
        info.value.save_as(str(patch))
        browser.close()
    assert not errors, errors
    assert all(u.startswith(("file:", "blob:")) for u in requests), requests
    decisions = [json.loads(line) for line in patch.read_text(encoding="utf-8").splitlines()]
    assert {d["id"]: d["decision"] for d in decisions} == {ids[0]: "accept", ids[1]: "reject", ids[2]: "edit"}
    assert all(d["reviewer"] == "reviewer-li" and len(d["content_hash"]) == 64 and d["time"] for d in decisions)

    # a stale decision (made on another version of its row) rides along and is refused for that row only
    stale_row = read_jsonl(first / "relabel.diff.jsonl")[5]
    with patch.open("a", encoding="utf-8") as f:
        f.write(
            json.dumps(
                {
                    "id": stale_row["id"],
                    "content_hash": "f" * 64,
                    "decision": "reject",
                    "reviewer": "reviewer-li",
                    "time": TIME,
                }
            )
            + "\n"
        )
    second = offline / "second"
    assert (
        main(
            [
                "build",
                "--raw",
                str(raw_dir),
                "--out",
                str(second),
                "--relabel",
                "B",
                "--force",
                "--apply-review",
                str(patch),
            ]
        )
        == 0
    )
    outcomes = {o["id"]: o for o in read_jsonl(second / "review.jsonl")}
    assert {i: outcomes[i]["status"] for i in ids} == dict.fromkeys(ids, "applied")
    assert outcomes[stale_row["id"]]["status"] == "refused" and "changed since" in outcomes[stale_row["id"]]["reason"]
    built = {r["id"]: r for split in ("train", "val") for r in read_jsonl(second / f"{split}.jsonl")}
    assert ids[1] not in built and stale_row["id"] in built
    assert built[ids[2]]["sample"]["output"]["analysis"] == edited
    assert built[ids[0]]["sample"]["provenance"]["review"]["reviewer"] == "reviewer-li"
    quarantine = read_jsonl(second / "quarantine.jsonl")
    assert [q["extra"]["id"] for q in quarantine if q["stage"] == "review"] == [ids[1]]
    manifest = json.loads((second / "manifest.json").read_text())
    assert manifest["review"]["refused"] == 1 and manifest["review"]["reject"] == 1
    assert manifest["counts"]["reconciles"]
    # applying the same patch again gives byte-identical outputs
    third = offline / "third"
    assert (
        main(
            [
                "build",
                "--raw",
                str(raw_dir),
                "--out",
                str(third),
                "--relabel",
                "B",
                "--force",
                "--apply-review",
                str(patch),
            ]
        )
        == 0
    )
    for name in ("train.jsonl", "val.jsonl", "quarantine.jsonl", "review.jsonl", "manifest.json"):
        assert (second / name).read_bytes() == (third / name).read_bytes(), name


@pytest.mark.slow
def test_report_cards_carry_review_controls_for_training_rows(offline, corpus_dir):
    out = offline / "o"
    assert main(["build", "--raw", str(corpus_dir), "--out", str(out), "--allow-errors"]) == 0
    html = (out / "report.html").read_text()
    assert 'id="review-bar"' in html and html.count("data-review-hash=") > 10
    loaded = load_paths([corpus_dir])
    hashes = {row_content_hash(r.item) for r in loaded.records if hasattr(r.item, "provenance")}
    shown = {part.split('"')[1] for part in html.split("data-review-hash=")[1:]}
    assert shown <= hashes  # each control names the hash of a real row as read
    assert Path(out / "report.html").stat().st_size < 5_000_000
