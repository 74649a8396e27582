"""Dataset rules: what only the whole set shows (lessons 1, 8 and 9): a dominant metric count, repeated and
near-duplicate paragraphs, conflicting labels, training paragraphs that leak the test set."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from finsynth.audit.kit import (
    FIXED_COUNT_ERROR,
    FIXED_COUNT_WARNING,
    NEAR_DUP_THRESHOLD,
    Finding,
    Related,
    Severity,
    dominant_count,
)
from finsynth.audit.rules.base import B_PARAGRAPH, LABEL_MATCHER, PROSE, RULES, Example, Item, example, rule
from finsynth.io import Record
from finsynth.schema import Sample, TestCase
from finsynth.text.similarity import NearDupSearch


def metric_sets_agree(a: Item, b: Item) -> bool:
    """Same number of metrics and a one-to-one match of names by the lexicon's (fuzzy) matcher, the
    one evaluation uses: 营收 and 营收增速 are two labels, 营收 and 营业收入 one."""
    names_a = [m.metric_name for m in a.output.metrics]
    names_b = [m.metric_name for m in b.output.metrics]
    if len(names_a) != len(names_b):
        return False
    return len(LABEL_MATCHER.match(names_a, names_b)) == len(names_a)


def _rows(*examples: Example) -> tuple[dict[str, Any], ...]:
    return tuple(row for ex in examples for row in ex.rows)


_LONG = (
    "公司2025H1实现营收623亿元，同比增长11.3%，其中运营商网络业务收入346亿元，毛利率为35.8%，"
    "同比提升2.3个百分点，主要受益于产品结构升级和海外市场放量。"
)
_COUNT_METRICS = (("营收", "financial", 0.95), ("毛利率", "financial", 0.9), ("运营商网络业务收入", "financial", 0.8))


def _count_example(counts: Sequence[int], note: str) -> Example:
    """Samples with the given metric counts, each paragraph distinct (fixed-count's examples)."""
    rows = _rows(
        *(
            example(
                "段落围绕营收、毛利率和运营商网络业务收入展开。",
                paragraph=f"第{i}段：" + _LONG,
                metrics=_COUNT_METRICS[:n],
            )
            for i, n in enumerate(counts)
        )
    )
    return Example(rows=rows, note=note)


class DatasetView:
    """What dataset rules see: the linted records, the test set, and (computed once, lazily) each
    record's link to the earlier record it repeats or near-duplicates on its side, and each training
    sample's nearest-in-order test case (`links`, `leaks`)."""

    def __init__(
        self, records: Sequence[Record], against: Sequence[Record] | None = None, threshold: float = NEAR_DUP_THRESHOLD
    ) -> None:
        self.records = list(records)
        self.threshold = threshold
        in_records = [r for r in self.records if isinstance(r.item, TestCase)]
        # test cases passed as records count as the test side too
        self.against = list(against) if against is not None else []
        seen = {id(r) for r in self.against}
        self.against += [r for r in in_records if id(r) not in seen]

    @property
    def samples(self) -> list[Record]:
        return [r for r in self.records if isinstance(r.item, Sample)]

    @cached_property
    def combined(self) -> list[tuple[Record, bool]]:
        """(record, is_linted) for the records, then test-set records not already among them."""
        ids = {id(r) for r in self.records}
        return [(r, True) for r in self.records] + [(r, False) for r in self.against if id(r) not in ids]

    @cached_property
    def _training(self) -> tuple[list[int], Any]:
        """Positions (in `records`) of the training samples, and a `NearDupSearch` over their paragraphs."""
        where = [k for k, r in enumerate(self.records) if isinstance(r.item, Sample)]
        return where, NearDupSearch([self.records[k].item.input.paragraph for k in where], threshold=self.threshold)

    @cached_property
    def links(self) -> list[PairLink]:
        """One link per linted record that repeats or near-duplicates an earlier record on its side
        (training samples among training samples, test cases among test cases), by record: per-side
        near-duplicate clusters (`text.similarity.NearDupSearch.clusters`) link a copy to the earliest
        identical record, any other member to its cluster's representative (the earliest member),
        or, in a chain A ~ B ~ C where C is not near A, to the earlier member it is near. A cluster
        of k records gives k - 1 links, not k * (k - 1) / 2 pairs."""
        training, search = self._training
        tests = [k for k, r in enumerate(self.records) if isinstance(r.item, TestCase)]
        sides = [
            (training, search),
            (tests, NearDupSearch([self.records[k].item.input.paragraph for k in tests], threshold=self.threshold)),
        ]
        out: list[tuple[int, PairLink]] = []
        for where, side in sides:
            for cluster in side.clusters():
                for m in cluster.members:
                    out.append(
                        (
                            where[m.index],
                            PairLink(
                                self.records[where[m.index]], self.records[where[m.anchor]], m.similarity, m.identical
                            ),
                        )
                    )
        out.sort(key=lambda item: item[0])
        return [link for _, link in out]

    @cached_property
    def leaks(self) -> list[PairLink]:
        """Training samples identical or near (Jaccard >= threshold) to a test-set paragraph, by
        record, each linked to the first such test case (test cases among the records first, then
        `against`), found without comparing every sample with every test case."""
        training, search = self._training
        tests = [r for r, _ in self.combined if isinstance(r.item, TestCase)]
        if not training or not tests:
            return []
        found = search.earliest_near([r.item.input.paragraph for r in tests])
        return [
            PairLink(self.records[k], tests[hit[0]], hit[1], False)
            for k, hit in zip(training, found, strict=True)
            if hit is not None
        ]


@dataclass(slots=True)
class PairLink:
    """A pair finding's two rows: `record` (the one reported) repeats or near-duplicates `other`."""

    record: Record
    other: Record
    similarity: float
    identical: bool


def _finding(
    rule_id: str, record: Record | None, message: str, severity: Severity | None = None, related: Record | None = None
) -> Finding:
    return Finding(
        rule=rule_id,
        severity=severity or RULES[rule_id].severity,
        path=record.path if record else None,
        line=record.line if record else None,
        sample_id=record.item.id if record else None,
        message=message,
        related=Related(path=related.path, line=related.line, sample_id=related.item.id) if related else None,
    )


def _where(record: Record) -> str:
    return f"{record.item.id} ({record.path}:{record.line})"


@rule(
    id="fixed-count",
    severity="error",
    rationale="Lesson 1: 260 samples all with 2 metrics taught the model to pad or cut to 2 (29% perfect match)",
    fix="Let each paragraph decide its count: add 0-, 1-, 3- and 4-metric paragraphs (type C exists for this) "
    "and drop padded weak metrics; `finsynth report` shows the distribution against the test set.",
    fires=_count_example([2] * 20, "20 samples, all with 2 metrics"),
    passes=_count_example([1, 2, 3, 1, 2] * 4, "20 samples with 1, 2 and 3 metrics"),
    scope="dataset",
)
def fixed_count(view: DatasetView) -> Iterator[Finding]:
    """One metric count dominates: error when it holds >= 90% of the dataset's samples, warning
    per type when it holds >= 80% of that type's (each needs >= 20 samples to judge)."""
    samples = [r.item for r in view.samples]
    dominant = dominant_count([s.count for s in samples])
    if dominant is not None and dominant[2] >= FIXED_COUNT_ERROR:
        count, n, share = dominant
        yield _finding(
            "fixed-count",
            None,
            f"{n} of {len(samples)} samples ({share:.0%}) have exactly {count} metric(s); "
            f"the model will learn to pad or cut to {count}",
        )
    by_type: dict[str, list[int]] = {}
    for s in samples:
        by_type.setdefault(s.type, []).append(s.count)
    for sample_type in sorted(by_type):
        counts = by_type[sample_type]
        dominant = dominant_count(counts)
        if dominant is not None and dominant[2] >= FIXED_COUNT_WARNING:
            count, n, share = dominant
            yield _finding(
                "fixed-count",
                None,
                f"type {sample_type}: {n} of {len(counts)} samples ({share:.0%}) have exactly {count} metric(s)",
                severity="warning",
            )


@rule(
    id="duplicate",
    severity="warning",
    rationale="Lesson 9 (data quality first): a repeated paragraph over-weights one example; the build keeps one copy",
    fix="Keep one copy (the build does); if the copies differ in their labels, label-conflict says which to keep.",
    fires=Example(rows=_rows(example(PROSE, paragraph=_LONG), example(PROSE, paragraph=_LONG))),
    passes=Example(rows=_rows(example(PROSE, paragraph=_LONG), example(PROSE, paragraph=B_PARAGRAPH))),
    scope="dataset",
)
def duplicate(view: DatasetView) -> Iterator[Finding]:
    """A paragraph identical (after normalisation) to an earlier one."""
    for link in view.links:
        if link.identical:
            yield _finding(
                "duplicate", link.record, f"paragraph is identical to {_where(link.other)}", related=link.other
            )


@rule(
    id="near-duplicate",
    severity="warning",
    rationale="Lesson 9 (data quality first): lightly edited copies over-weight one example and hide in splits",
    fix="Keep one of the copies (the build keeps the first), or rewrite the other into a genuinely "
    "different paragraph.",
    fires=Example(
        rows=_rows(example(PROSE, paragraph=_LONG), example(PROSE, paragraph=_LONG.replace("623", "641"))),
        note="one number changed",
    ),
    passes=Example(rows=_rows(example(PROSE, paragraph=_LONG), example(PROSE, paragraph=B_PARAGRAPH))),
    scope="dataset",
)
def near_duplicate(view: DatasetView) -> Iterator[Finding]:
    """A paragraph whose character-trigram Jaccard with an earlier one is >= 0.8 (not identical)."""
    for link in view.links:
        if not link.identical:
            yield _finding(
                "near-duplicate",
                link.record,
                f"paragraph near-duplicates {_where(link.other)} (Jaccard {link.similarity:.2f})",
                related=link.other,
            )


@rule(
    id="label-conflict",
    severity="error",
    rationale="Lesson 9 (data quality first): one paragraph with two different metric sets teaches both answers",
    fix="Decide which metric set is right for the paragraph and keep only that row.",
    fires=Example(
        rows=_rows(
            example(PROSE, paragraph=_LONG), example(PROSE, paragraph=_LONG, metrics=(("营收", "financial", 0.95),))
        ),
        note="the same paragraph labelled 毛利率 and 营收",
    ),
    passes=Example(rows=_rows(example(PROSE, paragraph=_LONG), example(PROSE, paragraph=_LONG))),
    scope="dataset",
)
def label_conflict(view: DatasetView) -> Iterator[Finding]:
    """Duplicate or near-duplicate paragraphs whose metric sets disagree (count, or names by the
    reference matcher)."""
    for link in view.links:
        ri, rj, similarity = link.other, link.record, link.similarity
        if not metric_sets_agree(ri.item, rj.item):
            names_i = [m.metric_name for m in ri.item.output.metrics] or ["(none)"]
            names_j = [m.metric_name for m in rj.item.output.metrics] or ["(none)"]
            yield _finding(
                "label-conflict",
                rj,
                f"metrics [{'、'.join(names_j)}] disagree with [{'、'.join(names_i)}] of "
                f"{_where(ri)}, a near-duplicate paragraph (Jaccard {similarity:.2f})",
                related=ri,
            )


@rule(
    id="split-leakage",
    severity="error",
    rationale="Lesson 8: scores must be honest; a training paragraph that near-duplicates a test case inflates them",
    fix="Drop the training row (the build does with --allow-errors) or replace the test case; "
    "never train on the test set.",
    fires=Example(rows=_rows(example(PROSE, paragraph=_LONG)), against=_rows(example(PROSE, paragraph=_LONG))),
    passes=Example(rows=_rows(example(PROSE, paragraph=_LONG)), against=_rows(example(PROSE, paragraph=B_PARAGRAPH))),
    scope="dataset",
)
def split_leakage(view: DatasetView) -> Iterator[Finding]:
    """A training paragraph identical or near-identical (Jaccard >= 0.8) to a test-set paragraph."""
    for leak in view.leaks:
        yield _finding(
            "split-leakage",
            leak.record,
            f"training paragraph near-duplicates test case {_where(leak.other)} (Jaccard {leak.similarity:.2f})",
            related=leak.other,
        )
