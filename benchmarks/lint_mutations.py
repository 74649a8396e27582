"""Positives for the content rules, made from the real corpus by one mutation each.

For each rule below, the corpus rows on which the rule is quiet are taken as negatives, and each is
mutated so that it carries exactly that rule's defect:

- `exclusion-coverage` (B/D): drop the first exclusion item whose values are cited nowhere else in the
  analysis (as `dropped_items` cuts it);
- `metric-not-in-analysis`: replace every mention of the first metric's name in the analysis by 该指标;
- `ungrounded-metric`: rename the first metric the way the reference's 32B model did
  (泽布替尼全球销售额 -> 核心产品全球销售额): its leading characters become 核心产品 (or the whole name is
  replaced by one from another industry when it is short);
- `score-order`: reverse the scores of a row with two or more distinct scores;
- `length`: repeat the paragraph until paragraph + analysis pass the character bound.

One more family for `exclusion-coverage` (issue 24, item 2), `dropped_items`: from each human type B row
where the rule is quiet, every exclusion item that carries a number of the paragraph, one mutant per item,
dropped with its sentence, where none of its numbers is cited anywhere else in the analysis
("国内手机出货量（1,420万台，同比+18%）：子项拆分——…", "人民币汇率（从7.10贬值至7.28）：归因项——…").
`evaluate_dropped_items` scores recall per item and per row (the row's first such item), and counts the rule's
findings on the unmutated B rows (false positives: precision) and D rows.

`lint_rules.py` scores each rule on its mutants (recall) and on mutants + the unmutated rows
(precision). The mutants are derived from data this project did not write.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from finsynth.audit.lint import DEFAULT_MAX_CHARS, lint_sample
from finsynth.schema import Sample
from finsynth.text.mentions import numbers_in
from finsynth.text.style import exclusion_items

MUTATION_RULES = ("exclusion-coverage", "metric-not-in-analysis", "ungrounded-metric", "score-order", "length")
_FOREIGN = ("每用户平均收入", "单位座公里成本", "不良贷款率", "吨钢毛利", "同店销售增长率")


def _with(
    sample: Sample, *, analysis: str | None = None, metrics: list | None = None, paragraph: str | None = None
) -> Sample:
    output = sample.output.model_copy(
        update={k: v for k, v in (("analysis", analysis), ("metrics", metrics)) if v is not None}
    )
    inp = sample.input.model_copy(update={"paragraph": paragraph}) if paragraph is not None else sample.input
    return sample.model_copy(update={"output": output, "input": inp})


_ITEM_END = re.compile(r"[。；;！？!?\n]")  # an exclusion item is one sentence (`text.style.exclusion_items`)


def dropped_items(s: Sample, types: tuple[str, ...] = ("B",)) -> Iterator[tuple[str, Sample]]:
    """(item name, mutant) for each number-carrying exclusion item of a row of `types` that can be dropped
    (with its sentence) so that its numbers are cited nowhere in the analysis, while the paragraph still
    states one of them."""
    if s.type not in types:
        return
    analysis = s.output.analysis
    items = exclusion_items(analysis)
    paragraph_numbers = numbers_in(s.input.paragraph)
    for item in items:
        values = numbers_in(item.values)
        if not values & paragraph_numbers:
            continue
        head = re.search(re.escape(item.name) + r"\s*[（(]" + re.escape(item.values) + r"[）)]", analysis)
        end = _ITEM_END.search(analysis, head.end()) if head else None
        if head is None or end is None:
            continue
        rest = analysis[: head.start()] + analysis[end.end() :]
        if values & numbers_in(rest) or len(exclusion_items(rest)) != len(items) - 1:
            continue  # a number cited elsewhere, or the cut took more (or less) than this one item
        yield item.name, _with(s, analysis=rest)


def _drop_exclusion(s: Sample) -> Sample | None:
    return next((mutant for _, mutant in dropped_items(s, ("B", "D"))), None)


def evaluate_dropped_items(corpus: list[Sample]) -> dict:
    """`exclusion-coverage` on `dropped_items` mutants of the human B rows where it is quiet: recall per
    item and per row (first item), its findings on the unmutated B rows (FP) and D rows, and the recall of the
    same drop on the D rows where it is quiet."""
    rule = ["exclusion-coverage"]
    b_rows = [s for s in corpus if s.type == "B"]
    flagged_b = [s for s in b_rows if lint_sample(s, rule)]
    flagged_d = sum(bool(lint_sample(s, rule)) for s in corpus if s.type == "D")
    tp = fn = row_tp = row_fn = 0
    missed: list[str] = []
    for s in b_rows:
        if any(s is f for f in flagged_b):
            continue
        first = True
        for name, mutant in dropped_items(s):
            hit = bool(lint_sample(mutant, rule))
            tp, fn = tp + hit, fn + (not hit)
            if first:
                row_tp, row_fn, first = row_tp + hit, row_fn + (not hit), False
            if not hit:
                missed.append(name)
    fp = len(flagged_b)
    d_hits = [
        bool(lint_sample(m, rule))
        for s in corpus
        if s.type == "D" and not lint_sample(s, rule)
        for _, m in dropped_items(s, ("D",))
    ]
    return {
        "family": "drop one number-carrying item of a human B exclusion list, cited nowhere else",
        "b_rows": len(b_rows),
        "quiet_b_rows": len(b_rows) - fp,
        "mutants": tp + fn,
        "TP": tp,
        "FN": fn,
        "FP_b_rows": fp,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "rows": row_tp + row_fn,
        "rows_flagged": row_tp,
        "row_recall": round(row_tp / (row_tp + row_fn), 4) if row_tp + row_fn else None,
        "d_rows_flagged": flagged_d,
        "d_mutants": len(d_hits),
        "d_recall": round(sum(d_hits) / len(d_hits), 4) if d_hits else None,
        "missed_items": missed,
    }


def _hide_metric(s: Sample) -> Sample | None:
    if not s.output.metrics:
        return None
    name = s.output.metrics[0].metric_name
    core = re.sub(r"[（(].*?[）)]", "", name)
    analysis = s.output.analysis.replace(name, "该指标").replace(core, "该指标")
    return _with(s, analysis=analysis) if analysis != s.output.analysis else None


def _rename_metric(s: Sample) -> Sample | None:
    if not s.output.metrics:
        return None
    first = s.output.metrics[0]
    name = first.metric_name
    renamed = "核心产品" + name[2:] if len(name) >= 5 else next(f for f in _FOREIGN if f not in s.input.paragraph)
    metrics = [first.model_copy(update={"metric_name": renamed}), *s.output.metrics[1:]]
    return _with(s, metrics=metrics)


def _reverse_scores(s: Sample) -> Sample | None:
    scores = [m.score for m in s.output.metrics]
    if len(set(scores)) < 2:
        return None
    metrics = [m.model_copy(update={"score": sc}) for m, sc in zip(s.output.metrics, reversed(scores), strict=True)]
    return _with(s, metrics=metrics)


def _lengthen(s: Sample) -> Sample | None:
    times = DEFAULT_MAX_CHARS // max(1, len(s.input.paragraph)) + 1
    return _with(s, paragraph=s.input.paragraph * times)


MUTATIONS: dict[str, Callable[[Sample], Sample | None]] = {
    "exclusion-coverage": _drop_exclusion,
    "metric-not-in-analysis": _hide_metric,
    "ungrounded-metric": _rename_metric,
    "score-order": _reverse_scores,
    "length": _lengthen,
}


def evaluate_mutations(corpus: list[Sample]) -> dict:
    """Per rule: negatives (corpus rows where it is quiet), mutants made from them, precision, recall."""
    out = {}
    for rule in MUTATION_RULES:
        quiet = [s for s in corpus if not lint_sample(s, [rule])]
        mutants = [m for m in map(MUTATIONS[rule], quiet) if m is not None]
        tp = sum(bool(lint_sample(m, [rule])) for m in mutants)
        fn = len(mutants) - tp
        out[rule] = {
            "negatives": len(quiet),
            "mutants": len(mutants),
            "TP": tp,
            "FN": fn,
            "FP": 0,
            "precision": 1.0 if tp else None,
            "recall": round(tp / len(mutants), 4) if mutants else None,
            "quiet_on_corpus": f"{len(quiet)} of {len(corpus)}",
        }
    return out
