"""The count-distribution report: what a reviewer checks before training on a set.

Lesson 1 of the GUIDE (a fixed count taught the model to pad) and the corpus's drift from the test set
(2.13 metrics per training paragraph vs 1.44 per test case) are both invisible in a sample-by-sample
review and obvious in these tables.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import polars as pl
from pydantic import BaseModel, Field
from scipy.spatial.distance import jensenshannon

from .schema import MAX_METRICS, Sample, TestCase
from .style import classify_analysis

COUNTS = list(range(MAX_METRICS + 1))
# |mean ratio - 1| beyond this gets a plain sentence: 15% more metrics per paragraph is roughly one
# extra metric every seven paragraphs, enough to show up as over-extraction in evaluation.
MEAN_RATIO_TOLERANCE = 0.15


class LengthStats(BaseModel):
    n: int
    min: int
    median: float
    mean: float
    p90: float
    max: int


class Comparison(BaseModel):
    """Training set vs test set count distributions."""

    test_n: int
    test_distribution: dict[int, int]
    test_by_scenario: dict[str, dict[int, int]]
    train_share: dict[int, float]
    test_share: dict[int, float]
    js_divergence: float = Field(description="Jensen-Shannon divergence, base 2, in [0, 1]")
    train_mean: float
    test_mean: float
    mean_ratio: float
    verdict: str


class Report(BaseModel):
    """Everything the report shows, as data; rendering is separate."""

    n_samples: int
    count_table: dict[str, dict[int, int]]
    mean_count_by_type: dict[str, float]
    mean_count: float
    metric_type_balance: dict[str, dict[str, int]]
    style_by_type: dict[str, dict[str, int]]
    analysis_length: dict[str, LengthStats]
    paragraph_length: dict[str, LengthStats]
    lint_counts: dict[str, int] | None = None
    lint_severity: dict[str, int] | None = None
    against: Comparison | None = None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_markdown(self) -> str:
        return render_markdown(self)

    def to_text(self) -> str:
        return render_markdown(self)


def _frame(samples: Sequence[Sample]) -> pl.DataFrame:
    rows = [
        {
            "type": s.type,
            "count": s.count,
            "financial": sum(m.metric_type == "financial" for m in s.output.metrics),
            "business": sum(m.metric_type == "business" for m in s.output.metrics),
            "style": classify_analysis(s.output.analysis),
            "analysis_len": len(s.output.analysis),
            "paragraph_len": len(s.input.paragraph),
        }
        for s in samples
    ]
    schema = {
        "type": pl.Utf8, "count": pl.Int64, "financial": pl.Int64, "business": pl.Int64,
        "style": pl.Utf8, "analysis_len": pl.Int64, "paragraph_len": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)


def _length_stats(series: pl.Series) -> LengthStats:
    if series.len() == 0:
        return LengthStats(n=0, min=0, median=0.0, mean=0.0, p90=0.0, max=0)
    return LengthStats(
        n=series.len(),
        min=int(series.min()),
        median=float(series.median()),
        mean=round(float(series.mean()), 1),
        p90=float(series.quantile(0.9, interpolation="nearest")),
        max=int(series.max()),
    )


def _distribution(counts: Sequence[int]) -> dict[int, int]:
    out = dict.fromkeys(COUNTS, 0)
    for c in counts:
        out[c] = out.get(c, 0) + 1
    return out


def _share(dist: dict[int, int]) -> dict[int, float]:
    total = sum(dist.values()) or 1
    return {k: round(v / total, 4) for k, v in dist.items()}


def _mean(dist: dict[int, int]) -> float:
    total = sum(dist.values())
    return sum(k * v for k, v in dist.items()) / total if total else 0.0


def compare_counts(train_counts: Sequence[int], tests: Sequence[TestCase]) -> Comparison:
    """Set the training count distribution beside the test set's, with JS divergence and mean ratio."""
    train_dist = _distribution(train_counts)
    test_dist = _distribution([t.count for t in tests])
    by_scenario: dict[str, dict[int, int]] = {}
    for case in tests:
        by_scenario.setdefault(case.scenario.value, dict.fromkeys(COUNTS, 0))[case.count] += 1
    train_share, test_share = _share(train_dist), _share(test_dist)
    keys = sorted(set(train_dist) | set(test_dist))
    js = jensenshannon([train_dist.get(k, 0) for k in keys], [test_dist.get(k, 0) for k in keys], base=2)
    js_div = 0.0 if math.isnan(js) else float(js) ** 2
    train_mean, test_mean = _mean(train_dist), _mean(test_dist)
    ratio = train_mean / test_mean if test_mean else math.inf
    return Comparison(
        test_n=len(tests),
        test_distribution=test_dist,
        test_by_scenario=dict(sorted(by_scenario.items())),
        train_share=train_share,
        test_share=test_share,
        js_divergence=round(js_div, 4),
        train_mean=round(train_mean, 3),
        test_mean=round(test_mean, 3),
        mean_ratio=round(ratio, 3) if math.isfinite(ratio) else ratio,
        verdict=_verdict(train_mean, test_mean, ratio, train_share, test_share),
    )


def _verdict(train_mean: float, test_mean: float, ratio: float, train_share, test_share) -> str:
    if not math.isfinite(ratio):
        return "The test set has no metrics at all; the mean-count ratio is undefined."
    if abs(ratio - 1) <= MEAN_RATIO_TOLERANCE:
        return (
            f"Training paragraphs carry {train_mean:.2f} metrics on average against {test_mean:.2f} in the "
            f"test set (ratio {ratio:.2f}): the count distributions are in line."
        )
    direction = "more" if ratio > 1 else "fewer"
    risk = "over-extract (pad weak metrics)" if ratio > 1 else "under-extract (drop real metrics)"
    worst = max(test_share, key=lambda k: test_share[k] - train_share.get(k, 0.0))
    return (
        f"Training extracts markedly {direction} metrics per paragraph than the test set expects: "
        f"{train_mean:.2f} vs {test_mean:.2f} (ratio {ratio:.2f}). A model trained on it will tend to "
        f"{risk}. The most under-represented count is {worst} "
        f"({train_share.get(worst, 0.0):.0%} of training vs {test_share[worst]:.0%} of test)."
    )


def build_report(
    samples: Sequence[Sample],
    lint: Any | None = None,
    against: Sequence[TestCase] | None = None,
) -> Report:
    """Compute the report for training samples, optionally with lint results and a test set."""
    frame = _frame(samples)
    types = sorted(frame["type"].unique().to_list())
    count_table: dict[str, dict[int, int]] = {}
    for t in types:
        sub = frame.filter(pl.col("type") == t)["count"].to_list()
        count_table[t] = _distribution(sub)
    count_table["all"] = _distribution(frame["count"].to_list())

    per_type = (
        frame.group_by("type")
        .agg(
            pl.col("count").mean().alias("mean"),
            pl.col("financial").sum(),
            pl.col("business").sum(),
        )
        .sort("type")
    )
    styles = frame.group_by(["type", "style"]).len().sort(["type", "style"])
    style_by_type: dict[str, dict[str, int]] = {t: {"prose": 0, "exclusion": 0, "hybrid": 0} for t in types}
    for row in styles.iter_rows(named=True):
        style_by_type[row["type"]][row["style"]] = row["len"]

    analysis_length = {t: _length_stats(frame.filter(pl.col("type") == t)["analysis_len"]) for t in types}
    analysis_length["all"] = _length_stats(frame["analysis_len"])
    paragraph_length = {t: _length_stats(frame.filter(pl.col("type") == t)["paragraph_len"]) for t in types}
    paragraph_length["all"] = _length_stats(frame["paragraph_len"])

    lint_counts = lint_severity = None
    if lint is not None:
        lint_counts = {rule: n for rule, n in sorted(lint.counts.items()) if n}
        lint_severity = {}
        for finding in lint.findings:
            lint_severity[finding.severity] = lint_severity.get(finding.severity, 0) + 1

    return Report(
        n_samples=frame.height,
        count_table=count_table,
        mean_count_by_type={r["type"]: round(r["mean"], 3) for r in per_type.iter_rows(named=True)},
        mean_count=round(float(frame["count"].mean() or 0.0), 3),
        metric_type_balance={
            r["type"]: {"financial": r["financial"], "business": r["business"]}
            for r in per_type.iter_rows(named=True)
        },
        style_by_type=style_by_type,
        analysis_length=analysis_length,
        paragraph_length=paragraph_length,
        lint_counts=lint_counts,
        lint_severity=lint_severity,
        against=compare_counts(frame["count"].to_list(), against) if against else None,
    )


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _bar(share: float, width: int = 20) -> str:
    return "█" * round(share * width)


def render_markdown(report: Report) -> str:
    """The report as Markdown (also what the terminal shows): tables first, then the verdict."""
    heading = (f"# Count-distribution report\n\n{report.n_samples} training samples, "
               f"{report.mean_count:.2f} metrics per paragraph on average.\n")
    out = [heading]
    out.append("## Metric count per type\n")
    rows = []
    for t, dist in report.count_table.items():
        total = sum(dist.values())
        mean = report.mean_count_by_type.get(t, report.mean_count)
        rows.append([t, *[dist.get(c, 0) for c in COUNTS], total, f"{mean:.2f}"])
    out.append(_table(["type", *[str(c) for c in COUNTS], "n", "mean"], rows) + "\n")

    if report.against:
        cmp = report.against
        out.append("## Against the test set\n")
        rows = [
            [c, f"{cmp.train_share[c]:.0%}", _bar(cmp.train_share[c]), f"{cmp.test_share[c]:.0%}",
             _bar(cmp.test_share[c])]
            for c in COUNTS
        ]
        out.append(_table(["count", "train", "", "test", ""], rows) + "\n")
        out.append(
            f"Jensen-Shannon divergence {cmp.js_divergence:.3f}; mean count {cmp.train_mean:.2f} (train) vs "
            f"{cmp.test_mean:.2f} (test), ratio {cmp.mean_ratio:.2f}.\n\n**{cmp.verdict}**\n"
        )
        rows = [[s, *[d.get(c, 0) for c in COUNTS]] for s, d in cmp.test_by_scenario.items()]
        out.append("Test cases per scenario and gold count:\n\n"
                   + _table(["scenario", *[str(c) for c in COUNTS]], rows) + "\n")

    out.append("## Financial / business balance and analysis style per type\n")
    rows = []
    for t in report.metric_type_balance:
        bal, sty = report.metric_type_balance[t], report.style_by_type[t]
        total = bal["financial"] + bal["business"] or 1
        rows.append([t, bal["financial"], bal["business"], f"{bal['financial'] / total:.0%}",
                     sty["prose"], sty["exclusion"], sty["hybrid"]])
    out.append(_table(["type", "financial", "business", "fin share", "prose", "exclusion", "hybrid"], rows)
               + "\n")

    out.append("## Lengths (characters)\n")
    rows = []
    for label, stats in (("analysis", report.analysis_length), ("paragraph", report.paragraph_length)):
        for t, s in stats.items():
            rows.append([label, t, s.n, s.min, s.median, s.mean, s.p90, s.max])
    out.append(_table(["text", "type", "n", "min", "median", "mean", "p90", "max"], rows) + "\n")

    if report.lint_counts is not None:
        out.append("## Lint summary\n")
        sev = ", ".join(f"{k}: {v}" for k, v in sorted((report.lint_severity or {}).items())) or "no findings"
        out.append(f"Findings by severity: {sev}.\n")
        if report.lint_counts:
            out.append(_table(["rule", "findings"], [[r, n] for r, n in report.lint_counts.items()]) + "\n")
    return "\n".join(out)


def plot_counts(report: Report, path: str) -> str:
    """Bar chart of the count distribution per type (and the test set's), saved as PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # optional extra
        raise RuntimeError("plots need matplotlib: pip install 'finsynth[plot]'") from exc
    series = {t: dist for t, dist in report.count_table.items() if t != "all"}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / max(len(series), 1)
    for i, (t, dist) in enumerate(series.items()):
        axes[0].bar([c + i * width for c in COUNTS], [dist[c] for c in COUNTS], width, label=f"type {t}")
    axes[0].set(title="Metric count per type", xlabel="metrics per sample", ylabel="samples")
    axes[0].set_xticks([c + width * (len(series) - 1) / 2 for c in COUNTS], [str(c) for c in COUNTS])
    axes[0].legend()
    if report.against:
        cmp = report.against
        axes[1].bar([c - 0.2 for c in COUNTS], [cmp.train_share[c] for c in COUNTS], 0.4, label="train")
        axes[1].bar([c + 0.2 for c in COUNTS], [cmp.test_share[c] for c in COUNTS], 0.4, label="test")
        axes[1].set(title=f"Share per count (JS {cmp.js_divergence:.3f}, mean ratio {cmp.mean_ratio:.2f})",
                    xlabel="metrics per sample", ylabel="share")
        axes[1].set_xticks(COUNTS)
        axes[1].legend()
    else:
        axes[1].axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
