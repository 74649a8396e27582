"""Benchmark: the analysis-style lint rules on a hand-written HELD-OUT set.

`benchmarks/lint_heldout.jsonl` holds ~150 analyses written by hand, independently of the detectors
in `finsynth.audit.lint` and of the generator in `benchmarks/lint_variants.py` (the author saw neither).
Each row: {"id", "type", "analysis", "metrics": [names], "label": {"enumeration", "numbered",
"count_anchor"}, "note"}; at least half of the rows are negatives for all three labels (A/C prose,
B per-item exclusion lists, D hybrids, number-heavy prose, single heads, colons that are not lists,
counts of other things, ...). Ambiguous rows carry the reviewer's call and the reason in `note`.

    python benchmarks/lint_heldout.py [--file PATH] [--show N]

Per label: TP/FP/FN/TN, precision, recall, and the ids of misses (FN) and false alarms (FP) with
their analyses (stderr-free, human part first). The last line of output is one compact JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from finsynth.audit.lint import lint_sample
from finsynth.schema import Extraction, Metric, ParagraphInput, Sample

HELDOUT = Path(__file__).resolve().parent / "lint_heldout.jsonl"
LABEL_RULE = {
    "enumeration": "semicolon-enumeration",
    "numbered": "numbered-list",
    "count_anchor": "count-anchor",
}
RULES = list(LABEL_RULE.values())
_VALUES = [
    "31.2%，同比提升4.6个百分点",
    "12.5%，同比提升2.1个百分点",
    "约48亿元，同比增长12%",
    "1.05%，较年初下降0.08个百分点",
]


def paragraph_for(row: dict) -> str:
    """A plausible research-report paragraph that names every metric of the row."""
    names = row["metrics"]
    if not names:
        return (
            "2025年上半年行业整体需求偏弱，全国销售额同比下降约12%，价格指数环比小幅回落，"
            "多地出台了支持性政策，市场信心仍在修复之中。"
        )
    parts = [f"{name}为{_VALUES[i % len(_VALUES)]}" for i, name in enumerate(names)]
    return (
        "公司2025年上半年经营稳健，"
        + "；".join(parts)
        + "。营业收入约86亿元，同比增长14%，产能利用率维持在85%左右，行业景气度有所回升。"
    )


def to_sample(row: dict) -> Sample:
    metrics = [
        Metric(
            metric_name=name, metric_type="financial", score=round(0.95 - 0.05 * i, 2), reason="段落围绕该指标展开分析"
        )
        for i, name in enumerate(row["metrics"])
    ]
    return Sample(
        id=row["id"],
        type=row["type"],
        input=ParagraphInput(chapter_title="经营分析", paragraph=paragraph_for(row)),
        output=Extraction(analysis=row["analysis"], metrics=metrics),
    )


def ratio(a: int, b: int) -> float | None:
    return round(a / b, 3) if b else None


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, default=HELDOUT)
    ap.add_argument("--show", type=int, default=200, help="characters of each missed/false-alarm analysis")
    args = ap.parse_args(argv)

    rows = [json.loads(line) for line in args.file.read_text(encoding="utf-8").splitlines() if line.strip()]
    counts = {label: {"TP": 0, "FP": 0, "FN": 0, "TN": 0} for label in LABEL_RULE}
    misses: dict[str, list[str]] = {label: [] for label in LABEL_RULE}
    alarms: dict[str, list[str]] = {label: [] for label in LABEL_RULE}
    by_id: dict[str, dict] = {}
    messages: dict[tuple[str, str], str] = {}
    negatives = 0
    for row in rows:
        by_id[row["id"]] = row
        findings = lint_sample(to_sample(row), RULES)
        fired = {f.rule for f in findings}
        for f in findings:
            messages.setdefault((row["id"], f.rule), f.message)
        negatives += not any(row["label"].values())
        for label, rule in LABEL_RULE.items():
            want, got = bool(row["label"][label]), rule in fired
            cell = ("TP" if got else "FN") if want else ("FP" if got else "TN")
            counts[label][cell] += 1
            if cell == "FN":
                misses[label].append(row["id"])
            elif cell == "FP":
                alarms[label].append(row["id"])

    per_label = {}
    for label, c in counts.items():
        per_label[label] = {
            "rule": LABEL_RULE[label],
            "precision": ratio(c["TP"], c["TP"] + c["FP"]),
            "recall": ratio(c["TP"], c["TP"] + c["FN"]),
            **c,
            "misses": misses[label],
            "false_alarms": alarms[label],
        }

    print(f"held-out set: {args.file.name}, {len(rows)} rows, {negatives} all-negative")
    for label, r in per_label.items():
        print(
            f"{label:13s} ({r['rule']}) precision={r['precision']} recall={r['recall']} "
            f"TP={r['TP']} FP={r['FP']} FN={r['FN']} TN={r['TN']}"
        )
    for label in LABEL_RULE:  # noqa: PLC0206 (two dicts indexed by the same label)
        for kind, ids in (("MISS", misses[label]), ("FALSE ALARM", alarms[label])):
            for rid in ids:
                row = by_id[rid]
                text = row["analysis"].replace("\n", "⏎")[: args.show]
                msg = messages.get((rid, LABEL_RULE[label]), "")
                print(f"  [{label} {kind}] {rid} ({row['type']}): {text}")
                print(f"      note: {row['note']}" + (f" | finding: {msg}" if msg else ""))

    summary = {"benchmark": "lint_heldout", "rows": len(rows), "all_negative": negatives, "per_label": per_label}
    print(json.dumps(summary, ensure_ascii=False, separators=(",", ":")))
    return summary


if __name__ == "__main__":
    main()
