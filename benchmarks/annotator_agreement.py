"""Benchmark: the offline annotator's Type B exclusions against the human-written ones (issue 12, item 1).

Gold: every Type B row of the corpus (`../shared/corpus/type_b.jsonl`, or `--data FILE`); its analysis's
per-item exclusions "X（值）：类别——理由。" after "逐项排除" are parsed by `finsynth.text.style.exclusion_items`
(name, values, category; the GUIDE's six categories). The annotator (`finsynth.synth.annotators.rules.annotate`)
runs on the same paragraph and core metrics, and its items are parsed the same way.

Matching, per row, one-to-one and greedy best-first (`finsynth.synth.annotators.model.pair_items`, the
same pairing the fitted model learns from). A gold and a predicted item may pair when
- their names are identical (score 1), or one contains the other (0.7 + 0.3 x length ratio), or their
  character-bigram Jaccard is >= 0.5 (the GUIDE's reference matcher, section 4); or
- they cite a common number (same absolute value) and their names share at least a quarter of
  their bigrams (Jaccard >= 0.25): "人民币汇率（从7.10贬值至7.28）" vs "人民币对美元汇率（从年初的7.10…）".
A shared number adds 0.3 to the score, so that of two similar names the one about the same quantity
wins; ties break on item order.

Scores:
- item recall = matched / gold items; item precision = matched / predicted items;
- category agreement = matched pairs with the same category / matched pairs;
- value fidelity = predicted items with values whose every number-bearing fragment (split at "，")
  is a verbatim span of the paragraph and whose signs and units agree with the paragraph
  (`finsynth.text.values.value_mismatches`: "同比-3%" must not become "3%", "4.6个百分点" not "4.6%") /
  predicted items with values. `gold_value_agreement` is the sign/unit part on the human items.

Folds: rows sorted by the sha256 of their paragraph, fold = rank mod 5 (deterministic, balanced).
Rules were developed looking at folds 0-3; fold 4 is the rules' held-out fifth. With `--mode fitted`
(or `both`) the category model (`finsynth.synth.annotators.model`) that scores fold k is fitted on the other
four folds only, so every row is scored by a model that never saw it; "overall" pools those held-out
predictions.

    python benchmarks/annotator_agreement.py [--data FILE] [--mode rules|fitted|both] [--limit N]

The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CORPUS, machine_info

from finsynth.io import load_paths
from finsynth.schema import Sample
from finsynth.synth.annotators.model import pair_items
from finsynth.synth.annotators.rules import annotate
from finsynth.text.style import ExcludedItem, exclusion_items
from finsynth.text.values import value_mismatches

FOLDS = 5
TARGETS = {"item_recall": 0.90, "item_precision": 0.90, "category_agreement": 0.75, "value_fidelity": 1.0}


def fold_of(samples: list[Sample]) -> list[int]:
    """Fold of each sample: rank of sha256(paragraph) mod FOLDS."""
    keys = [hashlib.sha256(s.input.paragraph.encode("utf-8")).hexdigest() for s in samples]
    order = sorted(range(len(samples)), key=lambda i: (keys[i], i))
    folds = [0] * len(samples)
    for rank, index in enumerate(order):
        folds[index] = rank % FOLDS
    return folds


def faithful(paragraph: str, item: ExcludedItem) -> bool:
    """Every number-bearing fragment verbatim in the paragraph, signs and units agreeing."""
    fragments = [f.strip() for f in item.values.split("，") if any(ch.isdigit() for ch in f)]
    if any(f not in paragraph for f in fragments):
        return False
    return not value_mismatches(paragraph, item.values, item.name)


def score_rows(rows: list[dict]) -> dict:
    gold = sum(r["gold"] for r in rows)
    pred = sum(r["pred"] for r in rows)
    matched = sum(r["matched"] for r in rows)
    agree = sum(r["agree"] for r in rows)
    with_values = sum(r["with_values"] for r in rows)
    fidelity = sum(r["faithful"] for r in rows)
    gold_with_values = sum(r["gold_with_values"] for r in rows)
    return {
        "rows": len(rows),
        "gold_items": gold,
        "pred_items": pred,
        "matched": matched,
        "item_recall": round(matched / gold, 4) if gold else None,
        "item_precision": round(matched / pred, 4) if pred else None,
        "category_agreement": round(agree / matched, 4) if matched else None,
        "value_fidelity": round(fidelity / with_values, 4) if with_values else None,
        "gold_value_agreement": round(sum(r["gold_agree"] for r in rows) / gold_with_values, 4)
        if gold_with_values
        else None,
    }


def evaluate_row(sample: Sample, model=None) -> dict:
    paragraph = sample.input.paragraph
    gold = exclusion_items(sample.output.analysis)
    pred = exclusion_items(annotate(sample, model=model).analysis if model is not None else annotate(sample).analysis)
    pairs = pair_items(gold, pred)
    confusion = Counter((gold[i].category, pred[j].category) for i, j in pairs if gold[i].category != pred[j].category)
    valued = [p for p in pred if p.values]
    gold_valued = [g for g in gold if g.values]
    return {
        "gold": len(gold),
        "pred": len(pred),
        "matched": len(pairs),
        "agree": sum(gold[i].category == pred[j].category for i, j in pairs),
        "with_values": len(valued),
        "faithful": sum(faithful(paragraph, p) for p in valued),
        "gold_with_values": len(gold_valued),
        "gold_agree": sum(not value_mismatches(paragraph, g.values, g.name) for g in gold_valued),
        "confusion": confusion,
        "missed": [gold[i].name for i in range(len(gold)) if i not in {a for a, _ in pairs}],
        "extra": [pred[j].name for j in range(len(pred)) if j not in {b for _, b in pairs}],
    }


def run_mode(samples: list[Sample], folds: list[int], mode: str) -> dict:
    per_row: list[dict] = [{}] * len(samples)
    models = {}
    if mode == "fitted":
        from finsynth.synth.annotators.model import fit_model

        for k in range(FOLDS):
            models[k] = fit_model([s for s, f in zip(samples, folds, strict=True) if f != k])
    for index, sample in enumerate(samples):
        per_row[index] = evaluate_row(sample, models.get(folds[index]))
    confusion: Counter = Counter()
    for row in per_row:
        confusion.update(row["confusion"])
    out = score_rows(per_row)
    out["folds"] = [
        {"fold": k, **score_rows([r for r, f in zip(per_row, folds, strict=True) if f == k])} for k in range(FOLDS)
    ]
    out["confusions"] = [{"gold": g, "annotator": p, "n": n} for (g, p), n in confusion.most_common(8)]
    out["meets_targets"] = all(
        scored[key] is not None and scored[key] >= target
        for scored in [out, *out["folds"]]
        if scored["rows"]
        for key, target in TARGETS.items()
    )
    out["_rows"] = per_row
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=CORPUS / "type_b.jsonl", help="Type B rows (JSONL)")
    parser.add_argument("--mode", choices=("rules", "fitted", "both"), default="both")
    parser.add_argument("--limit", type=int, default=0, help="only the first N rows (0 = all)")
    parser.add_argument("--examples", type=int, default=0, help="print N missed/extra names per mode")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(json.dumps({"skipped": f"{args.data} not found (set FINSYNTH_SHARED)"}))
        return 0
    samples = [s for s in load_paths([args.data]).samples if s.type == "B"]
    if args.limit:
        samples = samples[: args.limit]
    folds = fold_of(samples)
    began = time.perf_counter()
    result: dict = {"data": str(args.data), "rows": len(samples), "folds": FOLDS, "targets": TARGETS}
    for mode in ("rules", "fitted") if args.mode == "both" else (args.mode,):
        scored = run_mode(samples, folds, mode)
        rows = scored.pop("_rows")
        print(
            f"[{mode}] recall {scored['item_recall']} precision {scored['item_precision']} "
            f"category {scored['category_agreement']} fidelity {scored['value_fidelity']} "
            f"(gold {scored['gold_items']}, predicted {scored['pred_items']})",
            file=sys.stderr,
        )
        for fold in scored["folds"]:
            print(
                f"  fold {fold['fold']}: recall {fold['item_recall']} precision {fold['item_precision']} "
                f"category {fold['category_agreement']} fidelity {fold['value_fidelity']}",
                file=sys.stderr,
            )
        if args.examples:
            missed = [n for r in rows for n in r["missed"]][: args.examples]
            extra = [n for r in rows for n in r["extra"]][: args.examples]
            print(f"  missed: {missed}\n  extra: {extra}", file=sys.stderr)
        result[mode] = scored
    result["seconds"] = round(time.perf_counter() - began, 2)
    result["machine"] = machine_info()
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
