"""Regenerate `tatqa_official_cases.jsonl`: perturbed predictions on the TAT-QA dev set, each with the score the
official scorer gives it (NExTplusplus/TAT-QA `tatqa_metric.py` + `tatqa_utils.py`, which are not part of this
project: pass the directory that holds them).

    python tests/data/make_tatqa_official_cases.py PATH/TO/TAT-QA ../shared/corpus/tatqa/tatqa_dataset_dev.json

Each row: uid, the prediction (`answer`, `scale`) in the official prediction file's terms and the official `em`, `f1`
(per question, as `TaTQAEmAndF1.__call__` adds them up); a question with no row has no prediction (scores 0).
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path

SCALES = ["", "thousand", "million", "billion", "percent"]


def _rng(uid: str) -> random.Random:
    return random.Random(int(hashlib.sha256(uid.encode()).hexdigest()[:12], 16))


def _as_text(value: float) -> str:
    return f"{value:,.2f}" if abs(value) >= 1000 else str(value)


def perturb(q: dict, rng: random.Random):
    """(answer, scale) or None (no prediction); the families the issue lists and the formats users write."""
    gold, scale = q["answer"], q["scale"]
    family = rng.choice(
        [
            "exact",
            "exact",
            "scale",
            "round",
            "sign",
            "drop",
            "text",
            "format",
            "percent",
            "missing",
            "missing",
            "empty",
            "case",
        ]
    )
    number = gold if isinstance(gold, int | float) and not isinstance(gold, bool) else None
    spans = list(gold) if isinstance(gold, list) else [str(gold)]
    if family == "missing":
        return None
    if family == "empty":
        return rng.choice([[], "", None, 0]), scale
    if family == "exact":
        return (number if number is not None else spans), scale
    if family == "scale":
        return (number if number is not None else spans), rng.choice([s for s in SCALES if s != scale])
    if family == "round":
        if number is not None:
            return rng.choice([round(number), round(number, 1), round(number, 2), round(number, 3)]), scale
        return [s.split(".")[0] for s in spans], scale
    if family == "sign":
        if number is not None:
            return rng.choice([-number, f"({_as_text(abs(number))})", str(-number)]), scale
        return [f"-{s}" if s[:1].isdigit() else f"({s})" for s in spans], scale
    if family == "drop":
        if len(spans) > 1:
            drop = rng.randrange(len(spans))
            return [s for i, s in enumerate(spans) if i != drop], scale
        words = spans[0].split()
        return [" ".join(words[: max(1, len(words) // 2)])], scale
    if family == "text":
        if number is not None:
            return number + rng.choice([1, -1, 0.5, 10]), scale
        return [s + rng.choice([" total", " in 2019", " the"]) for s in spans][::-1], scale
    if family == "format":
        if number is not None:
            return rng.choice(
                [_as_text(number), f"${_as_text(number)}", f"{number} {scale}".strip(), [str(number)]]
            ), rng.choice([scale, ""])
        return list(reversed(spans)), scale
    if family == "percent":
        if number is not None and scale == "percent":
            return rng.choice([f"{number}%", round(number / 100, 4), number / 100]), rng.choice(["", "percent"])
        if number is not None:
            return f"{number}%", scale
        return [s.replace(",", "") for s in spans], scale
    if family == "case":
        return ([s.upper() for s in spans] if number is None else str(number)), scale
    raise AssertionError(family)


def main(official_dir: str, dev_path: str) -> None:
    sys.path.insert(0, official_dir)
    from tatqa_metric import TaTQAEmAndF1  # the official scorer, found at run time

    data = json.loads(Path(dev_path).read_text(encoding="utf-8"))
    rows = []
    for context in data:
        for q in context["questions"]:
            pred = perturb(q, _rng(q["uid"]))
            if pred is None:
                continue
            metric = TaTQAEmAndF1()
            metric(ground_truth=q, prediction=pred[0], pred_scale=pred[1])
            detail = metric.get_raw()[0]
            rows.append(
                {
                    "uid": q["uid"],
                    "answer": pred[0],
                    "scale": pred[1],
                    "em": float(detail["em"]),
                    "f1": float(detail["f1"]),
                }
            )
    out = Path(__file__).with_name("tatqa_official_cases.jsonl")
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} predictions -> {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
