"""Benchmark: lint (near-duplicate search included), the count report and the HTML report on 100,000 samples.

The shared corpus (700 annotated samples) is replicated with perturbed text until there are N samples:

- most copies are "heavy" variants: every number redrawn with the same shape (consistently in the
  paragraph, the analysis and the metric reasons, so exclusion coverage still holds), and ~15% of the
  paragraph's other Chinese characters replaced by characters drawn from the corpus (metric names are
  kept). Two heavy variants of one sample share ~25% of their character trigrams: not near-duplicates,
  but the LSH has real work;
- ~3% are "light" variants (one number changed): near-duplicates of their original, a tenth of them
  with a metric dropped (label conflicts);
- ~0.5% are exact copies (duplicates), and a few light copies of test paragraphs go into training
  (split leakage against the 50 test cases).

`--workload clustered` builds what repeated generation produces instead: every corpus paragraph
copied ~140 times (100,000 / 700), each copy with a short prefix ("据公司公告，", varied) and one changed
number (in the paragraph, the analysis and the reasons alike), 2% of the copies with a metric
dropped (label conflicts), plus the same planted test paragraphs. Each paragraph's copies form one
near-duplicate cluster of ~140, which all-pairs search turns into ~10,000 pairs per paragraph.

Samples are built in memory (not timed); `lint_records`, `report.build_report` and the HTML report
(findings browser selection, charts, page render, written to a temp file) are timed, all within one
budget. Peak RSS is the whole process's; the HTML file's size is reported, since it must not grow
with the data.

    python benchmarks/lint_scale.py [--n 100000] [--seed 0] [--workload perturbed|clustered]
                                    [--no-report] [--html-out FILE]

The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CORPUS, machine_info

from finsynth.audit.lint import lint_records
from finsynth.io import Record, load_paths
from finsynth.schema import Sample

NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
YEARLIKE = re.compile(r"(?:19|20)\d{2}(?=[年HQhq])|(?<=[A-Za-z])\d+")  # years and codes (H1, A100) stay
CJK = re.compile(r"[\u4e00-\u9fff]")
LIGHT, EXACT, LEAK_PER_TEST = 0.03, 0.005, 1
PREFIXES = (
    "据公司公告，",
    "据年报披露，",
    "公告显示，",
    "据悉，",
    "报告期内，",
    "据半年报，",
    "数据显示，",
    "据公司披露，",
    "据业绩快报，",
    "财报显示，",
)
CLUSTER_CONFLICT = 0.02


def _redraw(number: str, rng: random.Random) -> str:
    """A random number of the same shape: digit count, decimals and thousands separators kept."""
    whole, _, frac = number.replace(",", "").partition(".")
    first = str(rng.randint(1, 9)) if len(whole) > 1 or whole != "0" else "0"
    new_whole = first + "".join(str(rng.randint(0, 9)) for _ in range(len(whole) - 1))
    if "," in number:
        new_whole = f"{int(new_whole):,}"
    return new_whole + ("." + "".join(str(rng.randint(0, 9)) for _ in frac) if frac else "")


def _renumber(row: dict, rng: random.Random, only_one: bool) -> dict:
    """Redraw the paragraph's numbers (all, or one) and apply the same mapping to the output."""
    paragraph = row["input"]["paragraph"]
    numbers = [m.group() for m in NUMBER.finditer(paragraph) if not YEARLIKE.match(paragraph, m.start())]
    if not numbers:
        return row
    mapping: dict[str, str] = {}
    if only_one:
        chosen = rng.choice(numbers)
        mapping[chosen] = _redraw(chosen, rng)

    def swap(match: re.Match[str]) -> str:
        text = match.group()
        if YEARLIKE.match(match.string, match.start()):
            return text
        if only_one:
            return mapping.get(text, text)
        got = mapping.get(text)
        if got is None:
            got = mapping[text] = _redraw(text, rng)
        return got

    out = {"type": row["type"], "input": dict(row["input"]), "output": dict(row["output"])}
    out["input"]["paragraph"] = NUMBER.sub(swap, paragraph)
    out["output"]["analysis"] = NUMBER.sub(swap, row["output"]["analysis"])
    out["output"]["metrics"] = [dict(m, reason=NUMBER.sub(swap, m["reason"])) for m in row["output"]["metrics"]]
    return out


def _scramble(row: dict, rng: random.Random, pool: list[str], rate: float = 0.15) -> dict:
    """Replace ~rate of the paragraph's Chinese characters outside metric names."""
    paragraph = row["input"]["paragraph"]
    protected = [False] * len(paragraph)
    for metric in row["output"]["metrics"]:
        for m in re.finditer(re.escape(metric["metric_name"]), paragraph):
            protected[m.start() : m.end()] = [True] * (m.end() - m.start())
    chars = list(paragraph)
    for i, ch in enumerate(chars):
        if not protected[i] and CJK.match(ch) and rng.random() < rate:
            chars[i] = rng.choice(pool)
    row["input"] = dict(row["input"], paragraph="".join(chars))
    return row


def _clustered(original: dict, rng: random.Random) -> tuple[dict, str]:
    """A copy as repeated generation makes it: a short prefix and one number changed."""
    row = _renumber(original, rng, only_one=True)
    if row is original:
        row = {"type": row["type"], "input": dict(row["input"]), "output": dict(row["output"])}
    row["input"] = dict(row["input"], paragraph=rng.choice(PREFIXES) + row["input"]["paragraph"])
    if rng.random() < CLUSTER_CONFLICT and row["output"]["metrics"]:
        row["output"] = dict(row["output"], metrics=row["output"]["metrics"][:-1])
        return row, "cluster-conflict"
    return row, "cluster-copy"


def make_records(n: int, seed: int, workload: str = "perturbed") -> tuple[list[Record], list[Record], Counter]:
    rng = random.Random(seed)
    train = load_paths([CORPUS / f"type_{t}.jsonl" for t in "abcd"])
    tests = load_paths([CORPUS / "test_cases.jsonl"], kind="test")
    base = [r.item.model_dump(mode="json") for r in train.records]
    pool = sorted({ch for row in base for ch in CJK.findall(row["input"]["paragraph"])})
    kinds: Counter = Counter()
    rows: list[dict] = []
    for test in tests.records[: max(0, min(len(tests.records), n // 2000))]:
        leak = test.item.model_dump(mode="json")
        leak = _renumber({"type": "A", "input": leak["input"], "output": leak["output"]}, rng, only_one=True)
        rows.append(leak)
        kinds["leak"] += LEAK_PER_TEST
    while len(rows) < n:
        k = len(rows)
        original = base[k % len(base)]
        if k < len(base):
            row, kind = original, "original"
        elif workload == "clustered":
            row, kind = _clustered(original, rng)
        else:
            roll = rng.random()
            if roll < EXACT:
                row, kind = original, "exact"
            elif roll < EXACT + LIGHT:
                row, kind = _renumber(original, rng, only_one=True), "light"
                if rng.random() < 0.1 and row["output"]["metrics"]:
                    row["output"]["metrics"] = row["output"]["metrics"][:-1]
                    kind = "light-conflict"
            else:
                row, kind = _scramble(_renumber(original, rng, only_one=False), rng, pool), "heavy"
        kinds[kind] += 1
        rows.append(row)
    records = []
    for line, row in enumerate(rows, start=1):
        row = {k: v for k, v in row.items() if k in ("type", "input", "output")}
        sample = Sample.model_validate(row)
        records.append(Record(path=f"bench/type_{sample.type.lower()}.jsonl", line=line, item=sample))
    return records, tests.records, kinds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="samples (default 100000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workload",
        choices=("perturbed", "clustered"),
        default="perturbed",
        help="perturbed copies (default) or near-duplicate clusters of ~140 copies per paragraph",
    )
    parser.add_argument("--no-report", action="store_true", help="time lint only")
    parser.add_argument("--html-out", metavar="FILE", help="keep the HTML report here (default: a temp file)")
    args = parser.parse_args(argv)
    if not (CORPUS / "type_a.jsonl").is_file():
        print(json.dumps({"skipped": f"shared corpus not found at {CORPUS} (set FINSYNTH_SHARED)"}))
        return 0

    t0 = time.perf_counter()
    records, tests, kinds = make_records(args.n, args.seed, args.workload)
    build_s = time.perf_counter() - t0
    print(f"built {len(records)} samples in {build_s:.1f}s: {dict(kinds)}", file=sys.stderr)

    t1, c1 = time.perf_counter(), time.process_time()
    result = lint_records(records, against=tests)
    lint_s, lint_cpu = time.perf_counter() - t1, time.process_time() - c1
    print(f"lint: {lint_s:.1f}s, {len(result.findings)} findings", file=sys.stderr)

    report_s, report_cpu, report_note = 0.0, 0.0, None
    html_s, html_bytes = 0.0, None
    if args.no_report:
        report_note = "skipped (--no-report)"
    else:
        from finsynth.audit.html.browser import browse_findings
        from finsynth.audit.html.page import write_html
        from finsynth.audit.report import build_report

        t2, c2 = time.perf_counter(), time.process_time()
        report = build_report([r.item for r in records], lint=result, against=[r.item for r in tests])
        report_s = time.perf_counter() - t2
        print(f"report: {report_s:.1f}s", file=sys.stderr)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(args.html_out or Path(tmp) / "report.html")
            t3 = time.perf_counter()
            write_html(path, report, browse_findings(records, result, against=tests), source="benchmarks/lint_scale.py")
            html_s, html_bytes = time.perf_counter() - t3, path.stat().st_size
        report_cpu = time.process_time() - c2
        print(f"html report: {html_s:.1f}s, {html_bytes / 1e6:.2f} MB", file=sys.stderr)

    seconds = lint_s + report_s + html_s
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = {
        "benchmark": "lint_scale",
        "workload": args.workload,
        "samples": len(records),
        "seconds": round(seconds, 2),
        "samples_per_s": round(len(records) / seconds, 1) if seconds else None,
        "peak_rss_mib": round(peak_rss_mib, 1),
        "cpu_seconds": round(lint_cpu + report_cpu, 2),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "lint_seconds": round(lint_s, 2),
        "report_seconds": round(report_s, 2),
        "html_seconds": round(html_s, 2),
        "html_bytes": html_bytes,
        "report": report_note or "included",
        "build_seconds": round(build_s, 2),
        "variants": dict(kinds),
        "findings": {k: v for k, v in result.counts.items() if v},
        "target": {"seconds": 60, "peak_rss_mib": 2048},
        "machine": machine_info(),
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
