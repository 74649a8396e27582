"""QA lint quality on real TAT-QA dev rows: per-rule precision and recall over gold rows plus seeded mutations.

The gold rows (`import_tatqa` of the shared dev set) are the negatives: their answers are grounded and
their questions distinct, so every finding on one is a false positive (unless it really is a defect;
`examples` lists a few flagged gold rows to look at). Positives are mutations made with a fixed seed:

- `ungrounded-answer`: a number of the answer changed by 3-30% (same decimals; dropped when the new
  number happens to be written in the context), or a span answer swapped for another context's span
  that names something (a capitalised multi-word name) this context does not;
- `answer-in-question`: the answer appended to the question ("..., is it 12.6?");
- `duplicate-question`: a copy of a question, case and spacing changed;
- `near-duplicate-question`: a copy with one edit ("What is" -> "What was", "the" -> "the reported");
- `split-leakage`: 10% of the contexts are the test set; one question per test context is paraphrased
  into the training side (the other test rows stay out of training).

Prints per-rule precision/recall, the grounding false-positive rate on gold answers (with and without
the reasoning steps), timings and the machine; the last line is the JSON summary.

    .venv/bin/python benchmarks/qa_lint_quality.py [--seed 13]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import CORPUS, machine_info

from finsynth.qa.grounding import SMALL_COUNT, context_text, numbers, ungrounded
from finsynth.qa.lint import lint_qa
from finsynth.qa.schema import Context, Paragraph, QASample
from finsynth.qa.tatqa import import_tatqa

MEASURED = ("ungrounded-answer", "answer-in-question", "duplicate-question", "near-duplicate-question", "split-leakage")
_NAME = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+")


def _with(sample: QASample, suffix: str, **changes) -> QASample:
    data = sample.model_dump()
    data["id"] = f"{sample.id}:{suffix}"
    for key, value in changes.items():
        data[key] = value
    return QASample.model_validate(data)


def _format_like(value: float, decimals: int, commas: bool) -> str:
    text = f"{value:,.{decimals}f}" if commas else f"{value:.{decimals}f}"
    return text


def change_number(sample: QASample, rng: random.Random) -> QASample | None:
    """The answer with one of its numbers moved by 3-30% (None when no number, or when the moved
    number is written in the context anyway)."""
    candidates = [n for n in numbers(sample.answer.text) if not (n.decimals == 0 and abs(n.written) <= SMALL_COUNT)]
    if not candidates:
        return None
    n = rng.choice(candidates)
    factor = 1 + rng.choice((-1, 1)) * rng.uniform(0.03, 0.30)
    digits = n.text.lstrip("-−($€£¥ ").rstrip(")% ")
    number = re.match(r"[\d,]+(?:\.\d+)?", digits)
    if number is None:
        return None
    old = number.group(0)
    new = _format_like(abs(n.written) * factor, n.decimals, "," in old)
    if new == old or new in context_text(sample.context):
        return None
    text = sample.answer.text.replace(old, new, 1)
    answer = sample.answer.model_dump()
    answer.update(text=text, spans=[s.replace(old, new, 1) for s in sample.answer.spans])
    if answer["value"] is not None:
        answer["value"] = round(answer["value"] * factor, n.decimals)
    return _with(sample, "number", answer=answer)


def swap_entity(sample: QASample, donors: list[QASample], rng: random.Random) -> QASample | None:
    """The span answer replaced by another context's span answer naming something this context does not."""
    words = set(re.findall(r"[a-z0-9&]+", context_text(sample.context).lower()))
    for donor in rng.sample(donors, min(40, len(donors))):
        names = _NAME.findall(donor.answer.text)
        if (
            names
            and donor.context != sample.context
            and any(not set(re.findall(r"[a-z0-9&]+", name.lower())) <= words for name in names)
        ):
            answer = sample.answer.model_dump()
            answer.update(text=donor.answer.text, spans=list(donor.answer.spans), value=None)
            return _with(sample, "entity", answer=answer)
    return None


def leak(sample: QASample) -> QASample:
    return _with(sample, "leak", question=sample.question.rstrip(" ?") + f", is it {sample.answer.text}?")


def duplicate(sample: QASample) -> QASample:
    return _with(sample, "dup", question="  ".join(sample.question.lower().split()))


def paraphrase(sample: QASample) -> QASample | None:
    q = sample.question
    for old, new in (
        ("What is", "What was"),
        ("What was", "What is"),
        (" the ", " the reported "),
        ("How much", "How much in total"),
    ):
        if old in q:
            return _with(sample, "para", question=q.replace(old, new, 1))
    return None


def build(samples: list[QASample], seed: int) -> tuple[list[QASample], list[QASample], dict[str, set[str]]]:
    rng = random.Random(seed)
    keys = sorted({context_text(s.context) for s in samples})
    test_keys = set(rng.sample(keys, len(keys) // 10))
    train = [s for s in samples if context_text(s.context) not in test_keys]
    test = [s for s in samples if context_text(s.context) in test_keys]
    positives: dict[str, set[str]] = {rule: set() for rule in MEASURED}
    mutated: list[QASample] = []

    def add(rule: str, made: QASample | None) -> None:
        if made is not None:
            mutated.append(made)
            positives[rule].add(made.id)

    # answer and question edits replace their original (a copy would be a duplicate question); copies are
    # added; every gold row is picked for one mutation at most
    pool = rng.sample(train, len(train))
    replaced: dict[str, QASample] = {}

    def take(n: int, wanted) -> list[QASample]:
        picked = [s for s in pool if s.id not in replaced and wanted(s)][:n]
        for s in picked:
            replaced[s.id] = s
        return picked

    for s in take(300, lambda s: s.kind in ("arithmetic", "count", "span")):
        add("ungrounded-answer", change_number(s, rng))
    donors = [s for s in samples if s.kind in ("span", "multi-span") and _NAME.search(s.answer.text)]
    for s in take(150, lambda s: s.kind == "span"):
        add("ungrounded-answer", swap_entity(s, donors, rng))
    for s in take(200, lambda s: True):
        add("answer-in-question", leak(s))
    edited = {m.id.rsplit(":", 1)[0] for m in mutated}
    for s in take(100, lambda s: True):
        add("duplicate-question", duplicate(s))
    for s in take(100, lambda s: True):
        add("near-duplicate-question", paraphrase(s))
    kept = [s for s in train if s.id not in edited]
    first_per_context: dict[str, QASample] = {}
    for s in test:
        first_per_context.setdefault(context_text(s.context), s)
    for s in first_per_context.values():
        made = paraphrase(s) or duplicate(s)
        add("split-leakage", _with(made, "leak-to-train"))
    return kept + mutated, test, positives


def grounding_false_positives(gold: list[QASample], use_steps: bool) -> tuple[int, list[dict]]:
    flagged = []
    for s in gold:
        messages = ungrounded(
            s.answer.text,
            s.context,
            steps=s.reasoning.steps if use_steps else (),
            computed=s.kind not in ("span", "multi-span"),
        )  # as the lint rule calls it
        if messages:
            flagged.append(
                {
                    "id": s.id,
                    "kind": s.kind,
                    "question": s.question,
                    "answer": s.answer.text,
                    "steps": s.reasoning.steps,
                    "messages": messages,
                }
            )
    return len(flagged), flagged


def chinese_grounding(seed: int) -> dict:
    """`ungrounded` on the Chinese extraction corpus's paragraphs: every sentence as an answer over its own
    paragraph (all grounded: false positives), and the sentence with one number moved by 3-30% (positives;
    as a span, `computed=False`, and as a computed answer)."""
    rng = random.Random(seed)
    sentences = fp = 0
    moved = {"span": [0, 0], "computed": [0, 0]}
    for path in sorted(CORPUS.glob("type_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            paragraph = json.loads(line)["input"]["paragraph"]
            context = Context(paragraphs=[Paragraph(id="p", order=1, text=paragraph)])
            for sentence in re.findall(r"[^。；]+[。；]", paragraph):
                sentences += 1
                fp += bool(ungrounded(sentence, context, computed=False))
                found = [n for n in numbers(sentence) if not (n.decimals == 0 and abs(n.written) <= SMALL_COUNT)]
                if not found:
                    continue
                n = rng.choice(found)
                old = re.search(r"[\d,]+(?:\.\d+)?", n.text)
                if old is None:
                    continue
                new = _format_like(
                    abs(n.written) * (1 + rng.choice((-1, 1)) * rng.uniform(0.03, 0.30)),
                    n.decimals,
                    "," in old.group(0),
                )
                if new == old.group(0) or new in paragraph:
                    continue
                mutated = sentence[: n.start] + sentence[n.start :].replace(old.group(0), new, 1)
                for mode, computed in (("span", False), ("computed", True)):
                    moved[mode][0] += 1
                    moved[mode][1] += bool(ungrounded(mutated, context, computed=computed))
    return {
        "sentences": sentences,
        "false_positives": fp,
        "number_moved_recall": {m: round(hit / n, 4) if n else None for m, (n, hit) in moved.items()},
        "number_moved_n": moved["span"][0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--tatqa", default=str(CORPUS / "tatqa" / "tatqa_dataset_dev.json"))
    args = parser.parse_args(argv)
    gold, _ = import_tatqa(args.tatqa)
    start = time.perf_counter()
    fp_steps, flagged_steps = grounding_false_positives(gold, True)
    fp_answer_only, flagged_plain = grounding_false_positives(gold, False)
    grounding_s = time.perf_counter() - start
    start = time.perf_counter()
    chinese = chinese_grounding(args.seed)
    chinese["seconds"] = round(time.perf_counter() - start, 2)
    print("Chinese corpus sentences:", chinese)
    train, test, positives = build(gold, args.seed)
    start = time.perf_counter()
    result = lint_qa(train, test, rules=[*MEASURED, "fixed-question-count"])  # TAT-QA rows have no program
    lint_s = time.perf_counter() - start
    per_rule = {}
    for rule in MEASURED:
        predicted = {f.sample_id for f in result.findings if f.rule == rule and f.sample_id}
        truth = positives[rule]
        tp = len(predicted & truth)
        per_rule[rule] = {
            "positives": len(truth),
            "flagged": len(predicted),
            "tp": tp,
            "precision": round(tp / len(predicted), 4) if predicted else None,
            "recall": round(tp / len(truth), 4) if truth else None,
        }
        false = sorted(predicted - truth)[:3]
        print(f"{rule}: {per_rule[rule]}; false positives e.g. {false}")
    fixed = [f.model_dump() for f in lint_qa(gold, rules=["fixed-question-count"]).findings]
    print("fixed-question-count on the gold set:", fixed)
    flagged = {f.sample_id for f in result.findings if f.rule == "ungrounded-answer"}
    by_mutation = {}
    for kind in ("number", "entity"):
        made = [i for i in positives["ungrounded-answer"] if i.endswith(":" + kind)]
        by_mutation[kind] = {"n": len(made), "recall": round(sum(i in flagged for i in made) / len(made), 4)}
    per_rule["ungrounded-answer"]["by_mutation"] = by_mutation
    print("gold answers flagged by ungrounded() with steps:")
    for row in flagged_steps[:5]:
        print("  ", json.dumps(row, ensure_ascii=False))
    print("gold answers flagged by ungrounded() without steps (first 5):")
    for row in flagged_plain[:5]:
        print("  ", json.dumps(row, ensure_ascii=False))
    summary = {
        "seed": args.seed,
        "gold": len(gold),
        "train": len(train),
        "test": len(test),
        "grounding_gold_false_positives": {
            "with_steps": fp_steps,
            "answer_only": fp_answer_only,
            "rate_with_steps": round(fp_steps / len(gold), 4),
            "rate_answer_only": round(fp_answer_only / len(gold), 4),
        },
        "chinese_grounding": chinese,
        "per_rule": per_rule,
        "fixed_question_count": [f["severity"] + ": " + f["message"] for f in fixed],
        "seconds": {"grounding_gold_twice": round(grounding_s, 2), "lint_qa": round(lint_s, 2)},
        "machine": machine_info(),
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
