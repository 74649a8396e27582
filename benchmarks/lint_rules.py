"""Benchmark: precision and recall of the analysis-style lint rules on a labelled set (issue 10, item 2).

The labelled set is built independently of the detector:

- generated positives per defect family (`lint_variants.positives`: semicolon-enumeration,
  numbered-list, count-anchor, style-mismatch), `--n` each;
- generated negatives (`lint_variants.negatives`: clean A/C prose, B exclusion lists, D hybrids,
  number-heavy prose, single semicolons, single heads, mid-prose counts, ...), `--n` per kind;
- the real corpus (types A-D, 700 rows), when present: negative for numbered-list,
  semicolon-enumeration and style-mismatch; for count-anchor the C rows opening
  "本段有N个指标被深度分析" / "本段只有1个指标被深度分析" are positives, all other rows negatives;
- the content rules (exclusion-coverage, metric-not-in-analysis, ungrounded-metric, score-order,
  length) on one-defect mutants of the corpus rows where each is quiet (`lint_mutations.py`),
  reported under `corpus_mutations` without a target; and exclusion-coverage on every number-carrying
  item dropped from a human B row (`corpus_mutations["exclusion-coverage: dropped B items"]`, issue 24:
  target recall >= 0.90 with at most 1 finding on the human B rows).

A label may be None for a rule (not asserted either way, e.g. whether a numbered list is also a
semicolon enumeration); such samples count for neither precision nor recall of that rule.

    python benchmarks/lint_rules.py [--n 60] [--seed 0] [--examples 3]

Per rule: TP/FP/FN/TN, precision, recall; per family: recall (and by sub-kind); per negative kind:
false alarms; corpus findings of the enumeration rules (target 0); a few misses and false alarms per
family for debugging. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import lint_variants as lv
from _common import CORPUS, machine_info
from lint_mutations import evaluate_dropped_items, evaluate_mutations

from finsynth.audit.lint import lint_sample
from finsynth.schema import Sample

RULES = lv.TARGET_RULES
CORPUS_ANCHOR = re.compile(r"^\s*本段(?:有\d+个|只有1个)指标被深度分析")  # the corpus's own two openings


def corpus_samples() -> tuple[list[Sample], str | None]:
    """The real corpus rows, labelled; (rows, note) - note says why there are none."""
    if not (CORPUS / "type_a.jsonl").is_file():
        return [], f"shared corpus not found at {CORPUS} (set FINSYNTH_SHARED); corpus part skipped"
    from finsynth.io import load_paths

    loaded = load_paths([CORPUS / f"type_{t}.jsonl" for t in "abcd"])
    out = []
    for rec in loaded.records:
        item = rec.item
        anchored = item.type == "C" and bool(CORPUS_ANCHOR.match(item.output.analysis))
        labels = {
            "numbered-list": False,
            "semicolon-enumeration": False,
            "style-mismatch": False,
            "count-anchor": anchored,
        }
        prov = item.provenance.model_dump()
        prov.update(
            family="corpus",
            kind=f"corpus_{item.type}" + ("_anchor" if anchored else ""),
            variant={},
            labels=labels,
            source=rec.path,
            line=rec.line,
        )
        out.append(item.model_copy(update={"provenance": type(item.provenance)(**prov)}))
    return out, None


def _short(text: str, n: int = 160) -> str:
    text = text.replace("\n", "⏎")
    return text if len(text) <= n else text[:n] + "…"


def evaluate(samples: list[Sample], examples: int = 3) -> dict:
    counts = {r: Counter() for r in RULES}
    family_recall: dict[str, Counter] = defaultdict(Counter)
    kind_recall: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    axis_misses: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    neg_alarms: dict[str, Counter] = defaultdict(Counter)
    neg_totals: Counter = Counter()
    misses: dict[str, list] = defaultdict(list)
    false_alarms: dict[str, list] = defaultdict(list)
    corpus = {
        "rows": 0,
        "enumeration_findings": Counter(),
        "rows_with_enumeration_findings": 0,
        "count_anchor": Counter(),
        "style_mismatch_findings": 0,
    }
    other_rules: Counter = Counter()
    generated = 0
    for s in samples:
        fam, kind = lv.family_of(s), lv.kind_of(s)
        findings = lint_sample(s)
        fired = {f.rule for f in findings}
        if fam != "corpus":
            generated += 1
            other_rules.update(f.rule for f in findings if f.rule not in RULES)
        labels = lv.labels_of(s)
        for rule in RULES:
            want = labels.get(rule)
            if want is None:
                continue
            got = rule in fired
            cell = "TP" if want and got else "FN" if want else "FP" if got else "TN"
            counts[rule][cell] += 1
            if cell == "FP":
                bucket = false_alarms[fam]
                if len(bucket) < examples * 4:
                    msg = next(f.message for f in findings if f.rule == rule)
                    bucket.append(
                        {
                            "rule": rule,
                            "kind": kind,
                            "type": s.type,
                            "analysis": _short(s.output.analysis),
                            "message": _short(msg, 120),
                        }
                    )
        if fam in RULES:
            hit = fam in fired
            family_recall[fam]["hit" if hit else "miss"] += 1
            kind_recall[fam][kind]["hit" if hit else "miss"] += 1
            if not hit:
                for axis, value in lv.variant_of(s).items():
                    axis_misses[fam][f"{axis}={value!r}"]["miss"] += 1
                if len(misses[fam]) < examples:
                    misses[fam].append(
                        {
                            "kind": kind,
                            "type": s.type,
                            "variant": lv.variant_of(s),
                            "analysis": _short(s.output.analysis),
                        }
                    )
        elif fam == "negative":
            neg_totals[kind] += 1
            for rule in fired & set(RULES):
                neg_alarms[kind][rule] += 1
        elif fam == "corpus":
            corpus["rows"] += 1
            enum = [f.rule for f in findings if f.rule in ("numbered-list", "semicolon-enumeration")]
            corpus["enumeration_findings"].update(enum)
            corpus["rows_with_enumeration_findings"] += bool(enum)
            corpus["style_mismatch_findings"] += "style-mismatch" in fired
            want = labels["count-anchor"]
            got = "count-anchor" in fired
            corpus["count_anchor"]["TP" if want and got else "FN" if want else "FP" if got else "TN"] += 1
            if want and not got and len(misses["count-anchor (corpus)"]) < examples:
                misses["count-anchor (corpus)"].append({"kind": kind, "analysis": _short(s.output.analysis, 60)})

    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    per_rule = {}
    for rule, c in counts.items():
        per_rule[rule] = {
            "precision": ratio(c["TP"], c["TP"] + c["FP"]),
            "recall": ratio(c["TP"], c["TP"] + c["FN"]),
            "TP": c["TP"],
            "FP": c["FP"],
            "FN": c["FN"],
            "TN": c["TN"],
        }
    per_family = {}
    for fam in RULES:
        c = family_recall[fam]
        per_family[fam] = {
            "recall": ratio(c["hit"], c["hit"] + c["miss"]),
            "n": c["hit"] + c["miss"],
            "by_kind": {k: ratio(v["hit"], v["hit"] + v["miss"]) for k, v in sorted(kind_recall[fam].items())},
            "top_miss_axes": dict(Counter({k: v["miss"] for k, v in axis_misses[fam].items()}).most_common(6)),
        }
    ca = corpus["count_anchor"]
    corpus_out = {
        "rows": corpus["rows"],
        "enumeration_findings": sum(corpus["enumeration_findings"].values()),
        "enumeration_findings_by_rule": dict(corpus["enumeration_findings"]),
        "rows_with_enumeration_findings": corpus["rows_with_enumeration_findings"],
        "style_mismatch_findings": corpus["style_mismatch_findings"],
        "count_anchor": {
            "TP": ca["TP"],
            "FN": ca["FN"],
            "FP": ca["FP"],
            "TN": ca["TN"],
            "recall": ratio(ca["TP"], ca["TP"] + ca["FN"]),
        },
        "target": {"enumeration_findings": 0},
    }
    return {
        "per_rule": per_rule,
        "per_family": per_family,
        "negatives": {k: {"n": neg_totals[k], "false_alarms": dict(neg_alarms[k])} for k in sorted(neg_totals)},
        "corpus": corpus_out,
        "other_rule_findings_on_generated": dict(other_rules),
        "generated": generated,
        "examples": {"misses": dict(misses), "false_alarms": dict(false_alarms)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=int, default=60, help="generated positives per family and negatives per kind (default 60)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples", type=int, default=3, help="example misses/false alarms kept per family")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    samples: list[Sample] = []
    for fam in RULES:
        samples += lv.positives(fam, args.n, args.seed)
    samples += lv.negatives(args.n * len(lv.NEGATIVE_KINDS), args.seed)
    corpus, note = corpus_samples()
    samples += corpus
    variants = {
        fam: len(
            {
                json.dumps(lv.variant_of(s), sort_keys=True, ensure_ascii=False)
                for s in samples
                if lv.family_of(s) == fam
            }
        )
        for fam in RULES
    }
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    result = evaluate(samples, args.examples)
    # the content rules (warnings and length), on one-defect mutants of the real corpus: measured, no target
    mutations = evaluate_mutations([s for s in corpus]) if corpus else {}
    if corpus:
        mutations["exclusion-coverage: dropped B items"] = evaluate_dropped_items(corpus)
    lint_s = time.perf_counter() - t1

    for rule, r in result["per_rule"].items():
        print(
            f"{rule:24s} precision={r['precision']} recall={r['recall']} TP={r['TP']} FP={r['FP']} FN={r['FN']}",
            file=sys.stderr,
        )
    for fam, r in result["per_family"].items():
        print(f"family {fam:24s} recall={r['recall']} by_kind={r['by_kind']}", file=sys.stderr)
    print(f"corpus: {result['corpus']}", file=sys.stderr)
    dropped = mutations.get("exclusion-coverage: dropped B items")
    if dropped:
        print(
            f"exclusion-coverage, dropped B items: recall={dropped['recall']} ({dropped['TP']}/{dropped['mutants']}) "
            f"rows {dropped['rows_flagged']}/{dropped['rows']} FP(B rows)={dropped['FP_b_rows']} "
            f"D rows flagged={dropped['d_rows_flagged']}",
            file=sys.stderr,
        )
    if note:
        print(note, file=sys.stderr)

    targets = {"family_recall_min": 0.95, "corpus_enumeration_findings": 0}
    summary = {
        "benchmark": "lint_rules",
        "n_per_family": args.n,
        "seed": args.seed,
        "samples": len(samples),
        "generated": result["generated"],
        "distinct_variants": variants,
        "variant_space": {fam: lv.variant_space(fam) for fam in RULES},
        **{k: v for k, v in result.items() if k != "generated"},
        "corpus_mutations": mutations,
        "corpus_note": note,
        "targets": targets,
        "meets_targets": (
            all((r["recall"] or 0) >= targets["family_recall_min"] for r in result["per_family"].values())
            and (note is not None or result["corpus"]["enumeration_findings"] == 0)
        ),
        "seconds": {"build": round(build_s, 2), "lint": round(lint_s, 2)},
        "machine": machine_info(),
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
