"""Labelled metric-name pairs: precision and recall of each matcher (issue 13).

`matcher_pairs.jsonl` holds pairs of metric names labelled same / different, written by hand:
`origin: corpus` pairs take at least one name from the shared corpus's own labels and predictions
(type_a..d, test_cases, predictions_v11) paired with another corpus name or a spelling a model or an
annotator writes; `origin: category` pairs exercise each lexicon category with spellings other than the
lexicon's own `examples`. The labels come from financial meaning, not from what any matcher says.

    python benchmarks/matcher_pairs.py [--model DIR]   # DIR: a local sentence-transformers model

Positive = "same metric". Recall is over same pairs, precision over pairs a matcher calls the same; a
false match is a different pair called the same. Targets for the default (fuzzy) matcher: recall >=
0.95, no false match. The embedding matcher runs only with a local model (nothing is downloaded);
otherwise it is reported as skipped. The last line of output is the JSON result.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import contextlib

from _common import CORPUS, machine_info

from finsynth.text.names import MatcherUnavailable, get_matcher

PAIRS = Path(__file__).with_name("matcher_pairs.jsonl")
TARGET_RECALL = 0.95


def load_pairs(path: Path = PAIRS) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for number, row in enumerate(rows, start=1):
        if set(row) != {"a", "b", "same", "origin", "category"} or not isinstance(row["same"], bool):
            raise SystemExit(f"{path}: line {number}: expected a, b, same (bool), origin, category")
    return rows


def corpus_names(corpus: Path = CORPUS) -> set[str]:
    """Every metric name the corpus labels or predicts."""
    names: set[str] = set()
    for file in sorted(corpus.glob("*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                names.update(m["metric_name"] for m in json.loads(line)["output"]["metrics"])
    pred = corpus / "predictions_v11.json"
    if pred.is_file():
        for row in json.loads(pred.read_text(encoding="utf-8")):
            with contextlib.suppress(json.JSONDecodeError, TypeError, KeyError, AttributeError):
                names.update(m["metric_name"] for m in json.loads(row["pred_raw"]).get("metrics", []))
    return names


def score(matcher, pairs: list[dict]) -> dict:
    said = [matcher.same(p["a"], p["b"]) for p in pairs]
    same = [p["same"] for p in pairs]
    tp = sum(s and y for s, y in zip(said, same, strict=True))
    fp = sum(s and not y for s, y in zip(said, same, strict=True))
    fn = sum(not s and y for s, y in zip(said, same, strict=True))
    out = {
        "same_pairs": sum(same),
        "different_pairs": len(same) - sum(same),
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "false_matches": fp,
        "misses": fn,
        "missed": [[p["a"], p["b"]] for p, s in zip(pairs, said, strict=True) if p["same"] and not s],
        "falsely_matched": [[p["a"], p["b"]] for p, s in zip(pairs, said, strict=True) if not p["same"] and s],
        "by_origin": {},
    }
    for origin in sorted({p["origin"] for p in pairs}):
        idx = [i for i, p in enumerate(pairs) if p["origin"] == origin]
        o_tp = sum(said[i] and same[i] for i in idx)
        o_same = sum(same[i] for i in idx)
        o_fp = sum(said[i] and not same[i] for i in idx)
        out["by_origin"][origin] = {
            "pairs": len(idx),
            "recall": round(o_tp / o_same, 4) if o_same else None,
            "false_matches": o_fp,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="local sentence-transformers model directory for the embedding matcher")
    args = parser.parse_args(argv)
    pairs = load_pairs()
    known = corpus_names()
    corpus_pairs = [p for p in pairs if p["origin"] == "corpus"]
    grounded = sum(p["a"] in known or p["b"] in known for p in corpus_pairs)
    both = sum(p["a"] in known and p["b"] in known for p in corpus_pairs)
    result: dict = {
        "pairs": len(pairs),
        "same_pairs": sum(p["same"] for p in pairs),
        "different_pairs": sum(not p["same"] for p in pairs),
        "corpus_pairs": len(corpus_pairs),
        "corpus_pairs_with_a_corpus_name": grounded,
        "corpus_pairs_both_corpus_names": both,
        "category_pairs": len(pairs) - len(corpus_pairs),
        "categories": sorted({p["category"] for p in pairs if p["category"]}),
        "matchers": {},
        "skipped": {},
        "machine": machine_info(),
    }
    for name in ("reference", "fuzzy", "embedding"):
        try:
            matcher = get_matcher(name, model_path=args.model)
        except MatcherUnavailable as exc:
            result["skipped"][name] = str(exc)
            continue
        start = time.perf_counter()
        result["matchers"][name] = score(matcher, pairs)
        result["matchers"][name]["seconds"] = round(time.perf_counter() - start, 3)
    fuzzy = result["matchers"]["fuzzy"]
    result["targets_met"] = bool(
        fuzzy["recall"] is not None and fuzzy["recall"] >= TARGET_RECALL and fuzzy["false_matches"] == 0
    )
    for name, r in result["matchers"].items():
        print(
            f"{name:9s} recall {r['recall']:.3f} precision {r['precision']:.3f} "
            f"misses {r['misses']}/{r['same_pairs']} false matches {r['false_matches']}/{r['different_pairs']}"
        )
        for a, b in r["missed"]:
            print(f"  missed    {a} / {b}")
        for a, b in r["falsely_matched"]:
            print(f"  false     {a} / {b}")
    for name, why in result["skipped"].items():
        print(f"{name:9s} skipped: {why}")
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["targets_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
