"""Bad-case diagnosis: a failure mode and a cause for every case that is not strictly correct, and a
data plan tied to the counts.

Failure modes (what went wrong in the output): invalid JSON, extraction from a background paragraph,
over-extraction, under-extraction, wrong metric (right count, wrong names), type error.

Causes, in the sense of the bad-case method (seeds/003): *out-of-distribution* (no training paragraph
is near the test paragraph), *label conflict* (a similar training paragraph is labelled in a way that
disagrees with the gold, e.g. three metrics where the gold has one, or it labels the very metric the
model added), or *hard example* (in distribution, no conflicting neighbour: the model saw the pattern
and still failed).

Similarity is Jaccard over character shingles (`finsynth.text.similarity`). "Near" is calibrated on the
training set itself rather than fixed: a test paragraph is out-of-distribution when its nearest
training paragraph is farther than the `ood_quantile` of training paragraphs' own nearest-neighbour
similarities, and a neighbour is "similar" when it is at least as close as the median such similarity.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from finsynth.errors import InvalidInputError
from finsynth.eval.scoring import CaseResult, EvalReport
from finsynth.markdown import markdown_table, pct
from finsynth.schema import Sample, TestCase
from finsynth.text.lexicon import Lexicon, default_lexicon
from finsynth.text.names import Matcher, lexicon_of
from finsynth.text.similarity import NearDupIndex

Mode = Literal[
    "invalid_json", "background_extraction", "over_extraction", "under_extraction", "wrong_metric", "type_error"
]
Cause = Literal["out_of_distribution", "label_conflict", "hard_example"]
MODE_ORDER: tuple[Mode, ...] = (
    "invalid_json",
    "background_extraction",
    "over_extraction",
    "under_extraction",
    "wrong_metric",
    "type_error",
)

# Which sample type teaches what each scenario tests (GUIDE section 2).
SCENARIO_TYPES: dict[str, tuple[str, ...]] = {
    "single_metric": ("A", "C"),
    "multi_metric": ("A", "C"),
    "boundary_many_numbers_one_core": ("B",),
    "financial_vs_business_classification": ("D",),
    "empty_output_background": ("B",),
    "mixed_financial_business": ("D",),
}
# The seed's rule of thumb: 20-50 bad cases expanded to ~200 targeted samples, i.e. about 4-10 per case.
AUGMENT_PER_CASE = 8


class Neighbour(BaseModel):
    """A training sample near a test paragraph."""

    sample_id: str
    type: str
    source: str
    similarity: float
    count: int
    metrics: list[str]
    shares_gold: list[str] = Field(default_factory=list, description="gold metrics this sample also labels")
    labels_extra: list[str] = Field(default_factory=list, description="predicted extras this sample labels")


class CaseDiagnosis(BaseModel):
    """The diagnosis of one bad case."""

    index: int
    id: str
    scenario: str
    title: str
    verdict: str
    gold: list[str]
    pred: list[str]
    gold_count: int
    pred_count: int
    modes: list[Mode]
    primary: Mode
    cause: Cause
    cause_detail: str
    nearest_similarity: float
    neighbours: list[Neighbour]
    conflicts: list[Neighbour] = Field(default_factory=list)
    extra_in_training_labels: dict[str, int] = Field(
        default_factory=dict, description="predicted extras -> training samples labelling that metric"
    )
    train_share_of_gold_count: float | None = Field(
        None, description="share of training samples of the scenario's types whose count equals this gold count"
    )


class CountTie(BaseModel):
    """Training vs test count distribution, the usual root of over-extraction."""

    train_n: int
    test_n: int
    train_mean: float
    test_mean: float
    pred_mean: float
    train_distribution: dict[int, int]
    test_distribution: dict[int, int]
    train_share_at_most_1: float
    test_share_at_most_1: float
    by_type_mean: dict[str, float]
    by_type_distribution: dict[str, dict[int, int]]
    sentence: str


class PlanItem(BaseModel):
    """One line of the data plan."""

    action: Literal["add", "fix", "rebalance", "review"]
    sample_type: str
    count: int
    reason: str
    cases: list[int] = Field(default_factory=list)
    samples: list[str] = Field(default_factory=list, description="training samples to fix (source:line id)")
    metric_counts: list[int] = Field(default_factory=list, description="the metric counts the rows to add have")


class Diagnosis(BaseModel):
    """Everything `finsynth diagnose` reports, as data."""

    matcher: str
    n_cases: int
    n_bad: int
    n_fail: int
    predicted_metrics: int
    gold_metrics: int
    modes: dict[str, int] = Field(description="bad cases by primary failure mode")
    modes_any: dict[str, int] = Field(description="bad cases showing each mode at all")
    modes_fail_only: dict[str, int] = Field(description="failing (❌) cases by primary mode")
    leading_mode: str | None
    causes: dict[str, int]
    mode_by_scenario: dict[str, dict[str, int]]
    ood_threshold: float
    similar_threshold: float
    count_tie: CountTie
    extra_metric_names: dict[str, dict[str, int]] = Field(
        description="most frequent over-extracted names (canonical) -> bad cases adding it, "
        "training samples labelling it"
    )
    cases: list[CaseDiagnosis]
    plan: list[PlanItem]


# --- similarity to the training set ---------------------------------------------------------------


def _text(title: str, paragraph: str) -> str:
    return f"{title}\n{paragraph}"


# --- modes -----------------------------------------------------------------------------------------


def failure_modes(case: CaseResult) -> list[Mode]:
    """Every failure mode a case shows, most fundamental first."""
    modes: list[Mode] = []
    if not case.json_valid or not case.schema_valid:
        modes.append("invalid_json")
    if case.gold_count == 0 and case.pred_count > 0:
        modes.append("background_extraction")
    elif case.pred_count > case.gold_count:
        modes.append("over_extraction")
    if case.pred_count < case.gold_count and case.json_valid:
        modes.append("under_extraction")
    if case.missed and case.pred_count >= case.gold_count:
        modes.append("wrong_metric")
    if any(not p.type_ok for p in case.pairs):
        modes.append("type_error")
    return modes


# --- the diagnosis ---------------------------------------------------------------------------------


def _distribution(counts: Sequence[int]) -> dict[int, int]:
    tally = Counter(counts)
    return {k: tally.get(k, 0) for k in range(max([4, *counts]) + 1)}


def count_tie(samples: Sequence[Sample], gold: Sequence[TestCase], report: EvalReport) -> CountTie:
    """Training vs test count distributions and the predicted mean, with a one-line reading."""
    train_counts = [s.count for s in samples]
    test_counts = [c.count for c in gold]
    by_type: dict[str, list[int]] = {}
    for s in samples:
        by_type.setdefault(s.type, []).append(s.count)
    train_mean = float(np.mean(train_counts)) if train_counts else 0.0
    test_mean = float(np.mean(test_counts)) if test_counts else 0.0
    pred_mean = report.overall.mean_pred_count or 0.0
    low_train = sum(c <= 1 for c in train_counts) / len(train_counts) if train_counts else 0.0
    low_test = sum(c <= 1 for c in test_counts) / len(test_counts) if test_counts else 0.0
    sentence = (
        f"the training set averages {train_mean:.2f} metrics per paragraph against {test_mean:.2f} in the test "
        f"set, and only {100 * low_train:.0f}% of training paragraphs have 0-1 metrics against "
        f"{100 * low_test:.0f}% of test cases; the model predicts {pred_mean:.2f} per case, "
        + (
            "following the training prior"
            if abs(pred_mean - train_mean) < abs(pred_mean - test_mean)
            else "between the two"
        )
    )
    return CountTie(
        train_n=len(train_counts),
        test_n=len(test_counts),
        train_mean=round(train_mean, 3),
        test_mean=round(test_mean, 3),
        pred_mean=round(pred_mean, 3),
        train_distribution=_distribution(train_counts),
        test_distribution=_distribution(test_counts),
        train_share_at_most_1=round(low_train, 4),
        test_share_at_most_1=round(low_test, 4),
        by_type_mean={t: round(float(np.mean(v)), 3) for t, v in sorted(by_type.items())},
        by_type_distribution={t: _distribution(v) for t, v in sorted(by_type.items())},
        sentence=sentence,
    )


def _label_index(samples: Sequence[Sample], lexicon: Lexicon) -> dict[str, list[int]]:
    """Canonical metric name (by the matcher's lexicon) -> training samples labelling it."""
    index: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        for m in s.output.metrics:
            index.setdefault(lexicon.canonical(m.metric_name), []).append(i)
    return index


def _spellings(names: Iterable[str], canonical: Callable[[str], str]) -> dict[str, str]:
    """Canonical name -> the spelling the predictions used most for it (first seen on a tie): names are
    grouped by their canonical form but shown as written (`IVD业务毛利率`, not `ivd业务毛利率`)."""
    seen: dict[str, Counter[str]] = {}
    for name in names:
        seen.setdefault(canonical(name), Counter())[name] += 1
    return {key: counts.most_common(1)[0][0] for key, counts in seen.items()}


def _samples_labelling(name: str, labels: dict[str, list[int]], matcher: Matcher) -> set[int]:
    hits: set[int] = set()
    for label, ids in labels.items():
        if label == lexicon_of(matcher).canonical(name) or matcher.same(label, name):
            hits.update(ids)
    return hits


def diagnose(
    report: EvalReport,
    gold: Sequence[TestCase],
    samples: Sequence[Sample],
    matcher: Matcher,
    *,
    ood_quantile: float = 0.1,
    neighbours: int = 5,
    near_dup_threshold: float = 0.8,
    augment_per_case: int = AUGMENT_PER_CASE,
) -> Diagnosis:
    """Diagnose every bad case of `report` (not strictly correct, or a type error) against `samples`."""
    if not samples:
        raise InvalidInputError("train: no training samples were loaded; diagnosis needs them", setting="train")
    if len(gold) != len(report.cases):
        raise InvalidInputError(f"{len(gold)} gold cases but the evaluation has {len(report.cases)}")
    train_texts = [_text(s.input.chapter_title, s.input.paragraph) for s in samples]
    space = NearDupIndex(train_texts, threshold=near_dup_threshold)
    self_nn = space.self_nearest()
    ood_threshold = float(np.quantile(self_nn, ood_quantile)) if len(self_nn) > 1 else 0.0
    similar_threshold = float(np.median(self_nn)) if len(self_nn) > 1 else 1.0
    # A case is bad when it is not strictly correct, or when it is but calls a metric by the wrong type
    # (the verdict ignores types; the classification scenarios do not).
    bad = [c for c in report.cases if c.verdict != "strict" or any(not p.type_ok for p in c.pairs)]
    texts = [_text(gold[c.index - 1].input.chapter_title, gold[c.index - 1].input.paragraph) for c in bad]
    sims = space.similarities(texts) if bad else np.zeros((0, len(samples)))
    lexicon = lexicon_of(matcher)
    labels = _label_index(samples, lexicon)
    type_counts: dict[str, Counter[int]] = {}
    for s in samples:
        type_counts.setdefault(s.type, Counter())[s.count] += 1

    diagnoses: list[CaseDiagnosis] = []
    extra_names: Counter[str] = Counter()
    for row, case in enumerate(bad):
        modes = failure_modes(case) or ["wrong_metric"]
        order = np.argsort(-sims[row])[:neighbours]
        near: list[Neighbour] = []
        for j in order:
            s = samples[int(j)]
            names = [m.metric_name for m in s.output.metrics]
            near.append(
                Neighbour(
                    sample_id=s.id,
                    type=s.type,
                    source=f"{s.provenance.source}:{s.provenance.line}",
                    similarity=round(float(sims[row, j]), 4),
                    count=len(names),
                    metrics=names,
                    shares_gold=[g for g in case.gold_names if any(matcher.same(g, n) for n in names)],
                    labels_extra=[e for e in case.extra if any(matcher.same(n, e) for n in names)],
                )
            )
        nearest = near[0].similarity if near else 0.0
        conflicts = [
            n
            for n in near
            if n.similarity >= similar_threshold
            and (n.shares_gold or n.labels_extra)
            and (n.count != case.gold_count or n.labels_extra)
        ]
        # True near-duplicates (the index's threshold) conflict on any disagreement, shared names or not.
        for j, similarity in space.query(texts[row]):
            s = samples[j]
            names = [m.metric_name for m in s.output.metrics]
            matched = [g for g in case.gold_names if any(matcher.same(g, n) for n in names)]
            if (len(names) != case.gold_count or len(matched) != case.gold_count) and all(
                c.sample_id != s.id for c in conflicts
            ):
                conflicts.insert(
                    0,
                    Neighbour(
                        sample_id=s.id,
                        type=s.type,
                        source=f"{s.provenance.source}:{s.provenance.line}",
                        similarity=round(similarity, 4),
                        count=len(names),
                        metrics=names,
                        shares_gold=matched,
                        labels_extra=[e for e in case.extra if any(matcher.same(n, e) for n in names)],
                    ),
                )
        if nearest < ood_threshold:
            cause: Cause = "out_of_distribution"
            detail = (
                f"nearest training paragraph has similarity {nearest:.3f}, below the {ood_quantile:.0%} "
                f"quantile of training nearest-neighbour similarity ({ood_threshold:.3f})"
            )
        elif conflicts:
            cause = "label_conflict"
            c0 = conflicts[0]
            what = (
                f"labels the predicted extra {'、'.join(c0.labels_extra)}"
                if c0.labels_extra
                else f"labels {c0.count} metrics where the gold has {case.gold_count}"
            )
            detail = f"similar training sample {c0.source} (similarity {c0.similarity:.3f}) {what}"
        else:
            cause = "hard_example"
            detail = (
                f"in distribution (nearest similarity {nearest:.3f}) and no similar training sample "
                f"disagrees with the gold"
            )
        extra_counts = {e: len(_samples_labelling(e, labels, matcher)) for e in case.extra}
        for e in case.extra:
            extra_names[lexicon.canonical(e)] += 1
        types = SCENARIO_TYPES.get(case.scenario, ())
        pool = sum((type_counts.get(t, Counter()) for t in types), Counter())
        share = round(pool[case.gold_count] / sum(pool.values()), 4) if pool else None
        diagnoses.append(
            CaseDiagnosis(
                index=case.index,
                id=case.id,
                scenario=case.scenario,
                title=case.title,
                verdict=case.verdict,
                gold=case.gold_names,
                pred=case.pred_names,
                gold_count=case.gold_count,
                pred_count=case.pred_count,
                modes=modes,
                primary=modes[0],
                cause=cause,
                cause_detail=detail,
                nearest_similarity=nearest,
                neighbours=near,
                conflicts=conflicts,
                extra_in_training_labels=extra_counts,
                train_share_of_gold_count=share,
            )
        )

    primary: Counter[Mode | None] = Counter(d.primary for d in diagnoses)
    fail_primary = Counter(d.primary for d in diagnoses if d.verdict == "fail")
    any_mode = Counter(m for d in diagnoses for m in d.modes)
    by_scenario: dict[str, dict[str, int]] = {}
    for d in diagnoses:
        by_scenario.setdefault(d.scenario, {}).setdefault(d.primary, 0)
        by_scenario[d.scenario][d.primary] += 1
    tie = count_tie(samples, gold, report)
    shown = _spellings((e for d in diagnoses for e in d.extra_in_training_labels), lexicon.canonical)
    extras = {
        shown[name]: {"bad_cases": n, "training_samples": len(_samples_labelling(name, labels, matcher))}
        for name, n in extra_names.most_common(10)
    }
    plan = data_plan(diagnoses, tie, type_counts, augment_per_case=augment_per_case, lexicon=lexicon)
    leading = max(MODE_ORDER, key=lambda m: (primary.get(m, 0), -MODE_ORDER.index(m))) if diagnoses else None
    return Diagnosis(
        matcher=report.matcher,
        n_cases=len(report.cases),
        n_bad=len(diagnoses),
        n_fail=sum(d.verdict == "fail" for d in diagnoses),
        predicted_metrics=report.overall.pred_metrics,
        gold_metrics=report.overall.gold_metrics,
        modes={m: primary[m] for m in MODE_ORDER if primary[m]},
        modes_any={m: any_mode[m] for m in MODE_ORDER if any_mode[m]},
        modes_fail_only={m: fail_primary[m] for m in MODE_ORDER if fail_primary[m]},
        leading_mode=leading,
        causes=dict(Counter(d.cause for d in diagnoses).most_common()),
        mode_by_scenario=by_scenario,
        ood_threshold=round(ood_threshold, 4),
        similar_threshold=round(similar_threshold, 4),
        count_tie=tie,
        extra_metric_names=extras,
        cases=diagnoses,
        plan=plan,
    )


# --- the data plan ---------------------------------------------------------------------------------

_MODE_TYPE = {
    # (mode, scenario) -> sample type that teaches the missing behaviour; scenario None = any
    ("over_extraction", "boundary_many_numbers_one_core"): "B",
    ("over_extraction", "single_metric"): "C",
    ("over_extraction", "multi_metric"): "A",
    ("over_extraction", "financial_vs_business_classification"): "D",
    ("over_extraction", "mixed_financial_business"): "D",
    ("background_extraction", None): "B",
    ("under_extraction", None): "C",
    ("wrong_metric", None): "A",
    ("type_error", None): "D",
    ("invalid_json", None): "A",
}
_WHY = {
    "over_extraction": "the model adds metrics the gold treats as background; {t} samples with {k} metric(s) and "
    "{style} teach restraint",
    "background_extraction": "the model extracts from background paragraphs; type B samples with 0 metrics",
    "under_extraction": "the model stops short of the gold count; type C samples with 3-4 metrics break the habit",
    "wrong_metric": "the model names a different (or reworded) metric; type A samples whose metric names are "
    "copied verbatim from the paragraph, with prose analysis of why that metric is core",
    "type_error": "financial vs business confusion; type D samples with a short classification rationale",
    "invalid_json": "outputs that are not JSON (or not the schema); check the chat template and that "
    "every training target is one JSON object (analysis first)",
}


# Lesson 4: per-item exclusion helps B (and, as a hybrid, D) but hurts A and C, so the restraint a plan
# asks for is written in the analysis style of the type it adds.
_RESTRAINT_STYLE = {
    "A": "prose analyses that say why the other numbers are not core (no exclusion list: lesson 4)",
    "B": "per-item exclusion of the other numbers",
    "C": "prose analyses that say why the other numbers are not core (no exclusion list: lesson 4)",
    "D": "hybrid analyses (per-item exclusion plus a classification rationale per metric)",
}


def _mode_type(mode: str, scenario: str) -> str:
    return _MODE_TYPE.get((mode, scenario)) or _MODE_TYPE.get((mode, None)) or "A"


def data_plan(
    diagnoses: Sequence[CaseDiagnosis],
    tie: CountTie,
    type_counts: dict[str, Counter[int]],
    *,
    augment_per_case: int = AUGMENT_PER_CASE,
    lexicon: Lexicon | None = None,
) -> list[PlanItem]:
    """Which sample types to add or fix, how many and why, from the failure counts."""
    canonical = (lexicon or default_lexicon()).canonical
    plan: list[PlanItem] = []
    # 1. Targeted additions: one item per (primary mode, sample type, gold count), sized by its bad cases.
    groups: dict[tuple[str, str, int], list[CaseDiagnosis]] = {}
    for d in diagnoses:
        if d.cause == "label_conflict" and d.primary not in ("over_extraction", "background_extraction"):
            continue  # fixed by cleaning the conflicting samples (item 2), not by adding more
        groups.setdefault((d.primary, _mode_type(d.primary, d.scenario), d.gold_count), []).append(d)
    for (mode, sample_type, k), cases in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        have = type_counts.get(sample_type, Counter())
        total = sum(have.values())
        reason = _WHY[mode].format(t=sample_type, k=k, style=_RESTRAINT_STYLE.get(sample_type, ""))
        scen = Counter(d.scenario for d in cases).most_common(1)[0][0]
        reason += (
            f" ({len(cases)} bad case(s), mostly {scen}; the corpus has {have.get(k, 0)} of {total} type "
            f"{sample_type} samples with {k} metric(s))"
        )
        added = Counter(canonical(e) for d in cases for e in d.extra_in_training_labels)
        if mode in ("over_extraction", "background_extraction") and added:
            trained = {canonical(e): n for d in cases for e, n in d.extra_in_training_labels.items()}
            shown = _spellings((e for d in cases for e in d.extra_in_training_labels), canonical)
            reason += "; added most: " + "; ".join(
                f"{shown[name]} ×{k} (a label in {trained[name]} training samples)" for name, k in added.most_common(3)
            )
        plan.append(
            PlanItem(
                action="add",
                sample_type=sample_type,
                count=len(cases) * augment_per_case,
                reason=reason,
                cases=[d.index for d in cases],
                metric_counts=[k],
            )
        )
    # 2. Label conflicts: the exact training samples to review.
    conflicted = [d for d in diagnoses if d.cause == "label_conflict"]
    if conflicted:
        sources = sorted({n.source + " " + n.sample_id for d in conflicted for n in d.conflicts})
        types = Counter(n.type for d in conflicted for n in d.conflicts)
        plan.append(
            PlanItem(
                action="fix",
                sample_type=",".join(sorted(types)),
                count=len(sources),
                reason=(
                    f"{len(conflicted)} bad case(s) have a similar training paragraph labelled against the gold "
                    f"(another count, or the very metric the model over-extracted); review these samples for padded "
                    f"or inconsistent labels before adding data"
                ),
                cases=[d.index for d in conflicted],
                samples=sources,
            )
        )
    # 3. The count prior: how many 0-1 metric samples bring the training share of low counts to the test's.
    over = [d for d in diagnoses if d.primary in ("over_extraction", "background_extraction")]
    if over and tie.test_share_at_most_1 > tie.train_share_at_most_1:
        n = tie.train_n
        q = tie.test_share_at_most_1
        have_low = round(tie.train_share_at_most_1 * n)
        needed = math.ceil((q * n - have_low) / (1 - q)) if q < 1 else n
        half = math.ceil(
            (((q + tie.train_share_at_most_1) / 2) * n - have_low) / (1 - (q + tie.train_share_at_most_1) / 2)
        )
        plan.append(
            PlanItem(
                action="rebalance",
                sample_type="B,C",
                count=half,
                reason=(
                    f"over-extraction is a count prior: {tie.sentence}. Adding {half} samples with 0-1 metrics "
                    f"(type B boundary and type C single-metric) halves the gap in the share of 0-1 metric "
                    f"paragraphs ({100 * tie.train_share_at_most_1:.0f}% -> "
                    f"{50 * (q + tie.train_share_at_most_1):.0f}%); closing it fully takes {needed}. "
                    "Alternatively trim padded metrics from the "
                    f"{sum(type_counts.get('A', Counter())[c] for c in (3, 4))} "
                    f"type A samples with 3+ metrics (GUIDE lesson 1)"
                ),
                cases=[d.index for d in over],
                metric_counts=[0, 1],
            )
        )
    # 4. Out-of-distribution topics.
    ood = [d for d in diagnoses if d.cause == "out_of_distribution"]
    if ood:
        plan.append(
            PlanItem(
                action="add",
                sample_type="A",
                count=len(ood) * augment_per_case,
                reason=(
                    "no training paragraph resembles these test paragraphs (topics: "
                    + "、".join(sorted({d.title for d in ood}))
                    + "); add samples on these topics"
                ),
                cases=[d.index for d in ood],
            )
        )
    if plan:
        plan.append(
            PlanItem(
                action="review",
                sample_type="all",
                count=0,
                reason=(
                    "mix the targeted samples about 70/30 with existing data (seed 003) and re-evaluate per "
                    "scenario on >= 50 cases (GUIDE lesson 8)"
                ),
            )
        )
    return plan


# --- rendering -------------------------------------------------------------------------------------

MODE_LABEL = {
    "invalid_json": "invalid JSON or schema",
    "background_extraction": "extracted from a background paragraph",
    "over_extraction": "over-extraction",
    "under_extraction": "under-extraction",
    "wrong_metric": "wrong metric",
    "type_error": "type error",
}


def render_markdown(diag: Diagnosis) -> str:
    """The diagnosis as markdown: the headline, modes, causes, the count tie, the plan, then the cases."""
    tie = diag.count_tie
    lead = MODE_LABEL.get(diag.leading_mode or "", "none")
    out = [
        "## Bad-case diagnosis",
        "",
        (
            f"{diag.n_bad} of {diag.n_cases} cases are bad (not strictly correct, or a type error; "
            f"{diag.n_fail} fail). Leading failure mode: **{lead}** "
            f"({diag.modes.get(diag.leading_mode or '', 0)} cases); "
            f"predicted {diag.predicted_metrics} metrics against {diag.gold_metrics} gold."
        ),
        "",
        f"Count prior: {tie.sentence}.",
        "",
        "Most over-extracted names: "
        + (
            "; ".join(
                f"{n} ({v['bad_cases']} cases, {v['training_samples']} training labels)"
                for n, v in diag.extra_metric_names.items()
            )
            or "none"
        )
        + ".",
        "",
        markdown_table(
            ("failure mode", "bad cases (primary)", "failing cases", "cases showing it"),
            [
                [
                    MODE_LABEL[m],
                    str(diag.modes.get(m, 0)),
                    str(diag.modes_fail_only.get(m, 0)),
                    str(diag.modes_any.get(m, 0)),
                ]
                for m in MODE_ORDER
                if diag.modes_any.get(m)
            ],
        ),
        "",
        markdown_table(("cause", "cases"), [[c.replace("_", " "), str(n)] for c, n in diag.causes.items()]),
        "",
        f"Out-of-distribution below similarity {diag.ood_threshold:.3f}; similar from {diag.similar_threshold:.3f}.",
        "",
        markdown_table(
            ("count", "train", "test"),
            [
                [
                    str(k),
                    f"{tie.train_distribution.get(k, 0)} "
                    f"({pct(tie.train_distribution.get(k, 0) / max(tie.train_n, 1))})",
                    f"{tie.test_distribution.get(k, 0)} ({pct(tie.test_distribution.get(k, 0) / max(tie.test_n, 1))})",
                ]
                for k in sorted(set(tie.train_distribution) | set(tie.test_distribution))
            ],
        ),
        "",
        "### Data plan",
        "",
        markdown_table(
            ("action", "type", "how many", "why", "cases"),
            [
                [
                    p.action,
                    p.sample_type,
                    str(p.count) if p.count else "-",
                    p.reason,
                    ",".join(map(str, p.cases)) or "-",
                ]
                for p in diag.plan
            ],
        ),
        "",
        "### Cases",
        "",
        markdown_table(
            ("#", "verdict", "scenario", "mode(s)", "cause", "gold", "predicted", "why"),
            [
                [
                    str(d.index),
                    d.verdict,
                    d.scenario,
                    ", ".join(MODE_LABEL[m] for m in d.modes),
                    d.cause.replace("_", " "),
                    "、".join(d.gold) or "-",
                    "、".join(d.pred) or "-",
                    d.cause_detail,
                ]
                for d in diag.cases
            ],
        ),
    ]
    return "\n".join(out) + "\n"


def diagnose_files(
    pred: str,
    gold_path: str,
    train: Sequence[str],
    *,
    matcher: str = "fuzzy",
    threshold: float | None = None,
    model_path: str | None = None,
    ood_quantile: float = 0.1,
    augment_per_case: int = 3,
):
    """`finsynth diagnose` as a function: score `pred` against `gold_path`, load the training rows under
    `train` and diagnose. Returns (diagnosis, the training LoadResult, whose quarantine the caller reports).

    A training directory may also hold the test set and the predictions (as ../shared/corpus does): those two
    files are not training data, so they are skipped rather than quarantined. Training labels are compared
    with the fuzzy matcher even when evaluation used the reference one, whose containment rule would call
    营收 and 营收增速 the same label.
    """
    from pathlib import Path

    from finsynth.eval.scoring import evaluate, load_gold, load_predictions
    from finsynth.io import LoadResult, UserError, expand_paths, load_paths
    from finsynth.text.names import get_matcher

    scorer = get_matcher(matcher, threshold=threshold, model_path=model_path)
    gold = load_gold(gold_path)
    report = evaluate(load_predictions(pred), gold, scorer, pred_path=pred, gold_path=gold_path)
    skip = {Path(pred).resolve(), Path(gold_path).resolve()}
    train_files = [f for f in expand_paths(train) if f.resolve() not in skip]
    loaded = load_paths([str(f) for f in train_files]) if train_files else LoadResult()
    if not loaded.samples:
        raise UserError(f"no valid training samples under {' '.join(train)}")
    labels = scorer if matcher != "reference" else get_matcher("fuzzy")
    result = diagnose(
        report, gold, loaded.samples, labels, ood_quantile=ood_quantile, augment_per_case=augment_per_case
    )
    return result, loaded
