"""The count-distribution report: what a reviewer checks before training on a set.

Lesson 1 of the GUIDE (a fixed count taught the model to pad) and the corpus's drift from the test set
(2.13 metrics per training paragraph vs 1.44 per test case) are both invisible in a sample-by-sample
review and obvious in these tables.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

import polars as pl
from pydantic import BaseModel, Field
from scipy.spatial.distance import jensenshannon

from finsynth.audit.evidence import evidence_summary, for_rule, shipped_evidence
from finsynth.markdown import markdown_table
from finsynth.schema import MAX_METRICS, Sample, TestCase
from finsynth.text.style import classify_analysis

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


class Histogram(BaseModel):
    """Samples per length bin, per type: bin i holds lengths in [edges[i], edges[i+1]); the first and
    last bins also hold the tails beyond them (folded in, so the chart stays readable)."""

    unit: Literal["characters", "tokens"]
    edges: list[int]
    counts: dict[str, list[int]]


class CountComparison(BaseModel):
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


class CompositionSlice(BaseModel):
    """One named slice of a composition: its asked share, and its share before and after."""

    name: str
    where: dict[str, Any]
    share: float
    before: float
    added: int
    reached: float


class Composition(BaseModel):
    """What `finsynth build --compose` did to the training split (finsynth.synth.compose): the count
    distribution per type before and after, the target, and the mean-count ratio against the test set."""

    target_source: Literal["test", "explicit"]
    target: dict[int, float] = Field(description="asked share of each metric count")
    reachable_target: dict[int, float] = Field(description="the target renormalised over counts the split has")
    before: dict[str, dict[int, int]] = Field(description="type (and 'all') -> count -> rows, before")
    after: dict[str, dict[int, int]] = Field(description="type (and 'all') -> count -> rows, after")
    before_mean: float
    after_mean: float
    test_mean: float | None = None
    before_ratio: float | None = None
    after_ratio: float | None = None
    size_requested: int | str = "auto"
    max_upsample: float
    rows_before: int
    rows_after: int = Field(description="kept + copies + replay_rows")
    kept: int = Field(description="distinct training rows kept (each once)")
    copies: int = Field(description="whole-row copies of kept rows added by upsampling (ids ending ~dupK)")
    composed_out: int = Field(description="training rows dropped by downsampling (composed_out.jsonl)")
    replay_rows: int = 0
    slices: list[CompositionSlice] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    config_sha256: str = ""


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
    length_histograms: dict[str, Histogram] = Field(default_factory=dict)
    token_length: dict[str, dict[str, LengthStats]] | None = None
    lint_counts: dict[str, int] | None = None
    lint_errors: dict[str, int] | None = None
    lint_severity: dict[str, int] | None = None
    lint_rule_severity: dict[str, dict[str, int]] | None = Field(
        None, description="findings per rule and severity (a rule such as fixed-count reports at two severities)"
    )
    against: CountComparison | None = None
    unreadable_rows: int = Field(0, description="input rows that did not load (the unreadable-row rule)")
    composition: Composition | None = Field(None, description="the build's count composition, when it ran one")
    warnings: list[str] = Field(
        default_factory=list,
        description="the build's warnings on the output (type x count buckets quarantine emptied or halved)",
    )

    def to_json(self) -> dict[str, Any]:
        """The report's data plus `assessment`: {"fit": bool, "sentences": [...]}."""
        return {**self.model_dump(mode="json"), "assessment": assess(self).model_dump(mode="json")}

    def to_markdown(self) -> str:
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
        "type": pl.Utf8,
        "count": pl.Int64,
        "financial": pl.Int64,
        "business": pl.Int64,
        "style": pl.Utf8,
        "analysis_len": pl.Int64,
        "paragraph_len": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)


def _length_stats(series: pl.Series) -> LengthStats:
    if series.len() == 0:
        return LengthStats(n=0, min=0, median=0.0, mean=0.0, p90=0.0, max=0)
    # polars types a Series' min/max/median as any Python value or None; a non-empty length column holds ints
    s: Any = series
    return LengthStats(
        n=series.len(),
        min=int(s.min()),
        median=float(s.median()),
        mean=round(float(s.mean()), 1),
        p90=float(s.quantile(0.9, interpolation="nearest")),
        max=int(s.max()),
    )


HISTOGRAM_BINS = 24


def _stats_by_type(frame: pl.DataFrame, column: str, types: list[str]) -> dict[str, LengthStats]:
    """Length statistics of `column` for each type, then for all samples under "all"."""
    stats = {t: _length_stats(frame.filter(pl.col("type") == t)[column]) for t in types}
    stats["all"] = _length_stats(frame[column])
    return stats


def _nice_step(span: float, bins: int) -> int:
    """A round bin width (1, 2, 5 x 10^k) giving about `bins` bins over `span`."""
    raw = max(span / bins, 1.0)
    magnitude = 10 ** math.floor(math.log10(raw))
    return int(next(factor * magnitude for factor in (1, 2, 5, 10) if raw <= factor * magnitude))


def _histogram(frame: pl.DataFrame, column: str, types: list[str], unit: Literal["characters", "tokens"]) -> Histogram:
    """Fixed-width bins over the 1st to 99th percentile, each tail folded into its end bin: an
    aggregate whose size does not grow with the number of samples."""
    values = frame[column]
    if values.len() == 0:
        return Histogram(unit=unit, edges=[0, 1], counts={t: [0] for t in types})
    low = int(values.quantile(0.01, interpolation="lower") or 0)
    high = int(values.quantile(0.99, interpolation="higher") or 0) + 1
    step = _nice_step(high - low, HISTOGRAM_BINS)
    low = low // step * step
    n_bins = max(1, math.ceil((high - low) / step))
    binned = (
        frame.select(pl.col("type"), ((pl.col(column) - low) // step).clip(0, n_bins - 1).alias("bin"))
        .group_by(["type", "bin"])
        .len()
    )
    counts = {t: [0] * n_bins for t in types}
    for row in binned.iter_rows(named=True):
        counts[row["type"]][row["bin"]] = row["len"]
    return Histogram(unit=unit, edges=[low + i * step for i in range(n_bins + 1)], counts=counts)


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


def compare_counts(train_counts: Sequence[int], tests: Sequence[TestCase]) -> CountComparison:
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
    return CountComparison(
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
    token_lengths: Mapping[str, Sequence[int]] | None = None,
    unreadable_rows: int = 0,
    composition: Composition | None = None,
    warnings: Sequence[str] = (),
) -> Report:
    """Compute the report for training samples, optionally with lint results, a test set, token
    lengths ({"paragraph": [...], "analysis": [...]}, one per sample, from `tokens.token_lengths`),
    the number of input rows that did not load (the set is not fit while there are any), and the
    build's count composition (shown before and after)."""
    frame = _frame(samples)
    types = sorted(frame["type"].unique().to_list())
    histograms = {
        "paragraph": _histogram(frame, "paragraph_len", types, "characters"),
        "analysis": _histogram(frame, "analysis_len", types, "characters"),
    }
    token_stats = None
    if token_lengths:
        token_stats = {}
        for field, lengths in sorted(token_lengths.items()):
            if len(lengths) != frame.height:
                raise ValueError(f"token_lengths[{field!r}] has {len(lengths)} entries for {frame.height} samples")
            column = f"{field}_tokens"
            with_tokens = frame.with_columns(pl.Series(column, list(lengths), dtype=pl.Int64))
            histograms[column] = _histogram(with_tokens, column, types, "tokens")
            token_stats[field] = _stats_by_type(with_tokens, column, types)
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

    analysis_length = _stats_by_type(frame, "analysis_len", types)
    paragraph_length = _stats_by_type(frame, "paragraph_len", types)

    lint_counts = lint_errors = lint_severity = lint_rule_severity = None
    if lint is not None:
        per_rule: dict[str, Counter[str]] = {}
        for f in lint.findings:
            per_rule.setdefault(f.rule, Counter())[f.severity] += 1
        lint_rule_severity = {rule: dict(sorted(c.items())) for rule, c in sorted(per_rule.items())}
        lint_counts = {rule: n for rule, n in sorted(lint.counts.items()) if n}
        lint_severity = {severity: n for severity, n in lint.severity_counts().items() if n}
        errors = Counter(f.rule for f in lint.errors)
        lint_errors = dict(sorted(errors.items(), key=lambda kv: (-kv[1], kv[0])))

    return Report(
        n_samples=frame.height,
        count_table=count_table,
        mean_count_by_type={r["type"]: round(r["mean"], 3) for r in per_type.iter_rows(named=True)},
        mean_count=round(float(cast(float, frame["count"].mean()) or 0.0), 3),
        metric_type_balance={
            r["type"]: {"financial": r["financial"], "business": r["business"]} for r in per_type.iter_rows(named=True)
        },
        style_by_type=style_by_type,
        analysis_length=analysis_length,
        paragraph_length=paragraph_length,
        length_histograms=histograms,
        token_length=token_stats,
        lint_counts=lint_counts,
        lint_errors=lint_errors,
        lint_severity=lint_severity,
        lint_rule_severity=lint_rule_severity,
        against=compare_counts(frame["count"].to_list(), against) if against else None,
        warnings=list(warnings),
        unreadable_rows=unreadable_rows,
        composition=composition,
    )


class Assessment(BaseModel):
    """Whether the set is fit to train on, in two or three sentences: the biggest problem first, then
    what to fix first, then what can wait."""

    fit: bool | None = Field(description="None when lint was not run and nothing else rules the set out")
    sentences: list[str]

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


def _rules_listed(counts: dict[str, int], limit: int = 3) -> str:
    shown = [f"{rule} {n}" for rule, n in list(counts.items())[:limit]]
    more = len(counts) - limit
    return ", ".join(shown) + (f" and {more} more rule(s)" if more > 0 else "")


def _skew_fix(cmp: CountComparison) -> str:
    """What could close a count skew, in the GUIDE's terms, and what a real model said of it (the evidence file):
    the advice is a hypothesis until a recipe measures it."""
    low_train = cmp.train_share.get(0, 0.0) + cmp.train_share.get(1, 0.0)
    low_test = cmp.test_share.get(0, 0.0) + cmp.test_share.get(1, 0.0)
    if cmp.mean_ratio > 1:
        advice = (
            f"adding paragraphs with 0 or 1 core metrics (now {low_train:.0%} of training against "
            f"{low_test:.0%} of the test set) or dropping padded metrics is not measured"
        )
    else:
        high_train, high_test = 1 - low_train, 1 - low_test
        advice = (
            f"adding paragraphs with 2 or more core metrics (now {high_train:.0%} of training against "
            f"{high_test:.0%} of the test set) is not measured"
        )
    composed = [m for m in shipped_evidence().measurements if m.kind == "recipe" and "compose" in m.change]
    if composed:
        advice += "; re-weighting the split to the test prior was: " + "; ".join(
            f"{m.change.split('; ')[-1]} gave Δ total {m.delta_text} ({m.effect}, {m.model.split(' ')[0]})"
            for m in composed
        )
    return advice + (
        "; measure a change (benchmarks/outcome.py --recipe data/recipes/candidates.yaml) before you apply it"
    )


def assess(report: Report) -> Assessment:
    """Fit to train on or not, and what to fix first. Order of concern: a metric-count skew against
    the test set (it drove the reference project's over-extraction), then lint errors (the build
    refuses them), then warnings (reported, not blocking)."""
    cmp = report.against
    skewed = cmp is not None and math.isfinite(cmp.mean_ratio) and abs(cmp.mean_ratio - 1) > MEAN_RATIO_TOLERANCE
    errors = report.lint_errors or {}
    n_errors = sum(errors.values())
    n_warnings = (report.lint_severity or {}).get("warning", 0)
    warning_rules = {rule: n - errors.get(rule, 0) for rule, n in (report.lint_counts or {}).items()}
    warning_rules = dict(sorted(((r, n) for r, n in warning_rules.items() if n), key=lambda kv: (-kv[1], kv[0])))
    sentences: list[str] = []
    if report.unreadable_rows:
        # before anything else: the numbers below describe only the rows that loaded
        total = report.n_samples + report.unreadable_rows
        sentences.append(
            f"Not fit to train on yet: {report.unreadable_rows} of {total} input row(s) did not load "
            f"(unreadable-row), so this report describes only the {report.n_samples} that did; fix or "
            f"remove them first (finsynth lint names each file and line)."
        )
        if not skewed and not n_errors - errors.get("unreadable-row", 0):
            return Assessment(fit=False, sentences=sentences)
    if skewed and cmp is not None:  # skewed implies a comparison
        direction = "over-extract" if cmp.mean_ratio > 1 else "under-extract"
        opening = (
            f"Not fit to train on yet: lint finds {n_errors} error(s) ({_rules_listed(errors)}), which the "
            "build refuses, and the metric counts are skewed"
            if n_errors
            else "Fit to train on, with a caveat: the metric counts are skewed"
        )
        sentences.append(
            f"{opening} against the test set, "
            f"{cmp.train_mean:.2f} metrics per training paragraph against {cmp.test_mean:.2f} per test case "
            f"(ratio {cmp.mean_ratio:.2f}, Jensen-Shannon divergence {cmp.js_divergence:.3f}), "
            f"so a model trained on it is likely to {direction}."
        )
        sentences.append(f"On the count: {_skew_fix(cmp)}.")
    elif n_errors:
        sentences.append(
            f"Not fit to train on yet: lint finds {n_errors} error(s) ({_rules_listed(errors)}), "
            f"each a pattern that cost the reference project accuracy, and the build refuses them."
        )
        top = next(iter(errors))
        sentences.append(
            f"Fix the {errors[top]} {top} finding(s) first ({_evidence_note(top)}; "
            f"`finsynth lint` names each file and line)."
        )
    else:
        in_line = (
            f"the metric counts are in line with the test set (ratio {cmp.mean_ratio:.2f})"
            if cmp
            else "no test set was given, so the count distribution is unchecked (pass --against)"
        )
        if report.lint_counts is None:
            sentences.append(
                f"Not judged: lint was not run, so whether the set is fit to train on is unknown; {in_line}."
            )
            return Assessment(fit=None, sentences=sentences)
        sentences.append(f"Fit to train on: no lint errors, and {in_line}.")
    if n_warnings:
        sentences.append(
            f"{n_warnings} warning(s) ({_rules_listed(warning_rules)}) are worth a look but do not block training."
        )
    elif not skewed and not n_errors and report.lint_counts is not None:
        sentences.append("Lint finds no warnings either.")
    sentences = sentences[:3]
    if report.warnings:  # never cut: what quarantine did to the mix is what the numbers above hide
        sentences.append("Quarantine changed the mix: " + "; ".join(report.warnings) + ".")
    # a count skew alone does not rule the set out: no measured remedy of it has helped a real model yet
    return Assessment(fit=not n_errors and not report.unreadable_rows, sentences=sentences)


def _evidence_note(rule_id: str) -> str:
    """What a real model said of a rule, for the verdict: its measurements in short, or that there are none."""
    if not for_rule(rule_id):
        return "its effect on a trained model is not measured"
    return "measured: " + evidence_summary(rule_id)


def _bar(share: float, width: int = 20) -> str:
    return "█" * round(share * width)


def render_markdown(report: Report) -> str:
    """The report as Markdown (also what the terminal shows): tables first, then the verdict."""
    heading = (
        f"# Count-distribution report\n\n{report.n_samples} training samples, "
        f"{report.mean_count:.2f} metrics per paragraph on average.\n"
    )
    out = [heading, "**" + assess(report).text + "**\n"]
    out.append("## Metric count per type\n")
    rows = []
    for t, dist in report.count_table.items():
        total = sum(dist.values())
        mean = report.mean_count_by_type.get(t, report.mean_count)
        rows.append([t, *[dist.get(c, 0) for c in COUNTS], total, f"{mean:.2f}"])
    out.append(markdown_table(["type", *[str(c) for c in COUNTS], "n", "mean"], rows) + "\n")

    if report.against:
        cmp = report.against
        out.append("## Against the test set\n")
        rows = [
            [
                c,
                f"{cmp.train_share[c]:.0%}",
                _bar(cmp.train_share[c]),
                f"{cmp.test_share[c]:.0%}",
                _bar(cmp.test_share[c]),
            ]
            for c in COUNTS
        ]
        out.append(markdown_table(["count", "train", "", "test", ""], rows) + "\n")
        out.append(
            f"Jensen-Shannon divergence {cmp.js_divergence:.3f}; mean count {cmp.train_mean:.2f} (train) vs "
            f"{cmp.test_mean:.2f} (test), ratio {cmp.mean_ratio:.2f}.\n\n**{cmp.verdict}**\n"
        )
        rows = [[s, *[d.get(c, 0) for c in COUNTS]] for s, d in cmp.test_by_scenario.items()]
        out.append(
            "Test cases per scenario and gold count:\n\n"
            + markdown_table(["scenario", *[str(c) for c in COUNTS]], rows)
            + "\n"
        )

    if report.composition:
        out.append(render_composition(report.composition))

    out.append("## Financial / business balance and analysis style per type\n")
    rows = []
    for t in report.metric_type_balance:
        bal, sty = report.metric_type_balance[t], report.style_by_type[t]
        total = bal["financial"] + bal["business"] or 1
        rows.append(
            [
                t,
                bal["financial"],
                bal["business"],
                f"{bal['financial'] / total:.0%}",
                sty["prose"],
                sty["exclusion"],
                sty["hybrid"],
            ]
        )
    out.append(
        markdown_table(["type", "financial", "business", "fin share", "prose", "exclusion", "hybrid"], rows) + "\n"
    )

    sections = [("characters", {"analysis": report.analysis_length, "paragraph": report.paragraph_length})]
    if report.token_length:  # `report --tokenizer`: the same table in tokens
        sections.append(("tokens", report.token_length))
    for unit, by_text in sections:
        out.append(f"## Lengths ({unit})\n")
        rows = [
            [label, t, s.n, s.min, s.median, s.mean, s.p90, s.max]
            for label, stats in by_text.items()
            for t, s in stats.items()
        ]
        out.append(markdown_table(["text", "type", "n", "min", "median", "mean", "p90", "max"], rows) + "\n")

    if report.lint_counts is not None:
        out.append("## Lint summary\n")
        sev = ", ".join(f"{k}: {v}" for k, v in sorted((report.lint_severity or {}).items())) or "no findings"
        out.append(f"Findings by severity: {sev}.\n")
        if report.lint_counts:
            by_severity = report.lint_rule_severity or {}
            rows = [
                [r, sev, k, evidence_summary(r)]
                for r in report.lint_counts
                for sev, k in (by_severity.get(r) or {"": report.lint_counts[r]}).items()
            ]
            out.append(markdown_table(["rule", "severity", "findings", "measured Δ total [95% CI]"], rows) + "\n")
    return "\n".join(out)


def render_composition(comp: Composition) -> str:
    """The composition section: the training split's count distribution before, after and the target,
    the mean-count ratio against the test set before and after, per-type rows, slices, warnings."""
    source = "the test set's count prior (match: test)" if comp.target_source == "test" else "explicit shares"
    out = [
        "## Count composition (training split)\n",
        (
            f"Target: {source}. {comp.rows_before} training rows -> {comp.rows_after}: {comp.kept} kept, "
            f"{comp.copies} whole-row copies (ids ending ~dupK), {comp.replay_rows} replay rows; "
            f"{comp.composed_out} composed out (composed_out.jsonl). Validation keeps the natural distribution.\n"
        ),
    ]
    before, after = comp.before["all"], comp.after["all"]
    n_before, n_after = sum(before.values()) or 1, sum(after.values()) or 1
    rows = [
        [
            c,
            before.get(c, 0),
            f"{before.get(c, 0) / n_before:.0%}",
            after.get(c, 0),
            f"{after.get(c, 0) / n_after:.0%}",
            f"{comp.target.get(c, 0.0):.0%}",
        ]
        for c in COUNTS
    ]
    target_mean = sum(c * s for c, s in comp.reachable_target.items())
    rows.append(["mean", f"{comp.before_mean:.2f}", "", f"{comp.after_mean:.2f}", "", f"{target_mean:.2f}"])
    out.append(markdown_table(["count", "before", "share", "after", "share", "target"], rows) + "\n")
    if comp.test_mean is not None:
        out.append(
            f"Mean-count ratio against the test set ({comp.test_mean:.2f} metrics per case): "
            f"{comp.before_ratio:.2f} before, {comp.after_ratio:.2f} after.\n"
        )
    types = [t for t in comp.before if t != "all"]
    rows = []
    for t in types:
        b, a = comp.before[t], comp.after.get(t, {})
        rows.append(
            [
                t,
                sum(b.values()),
                f"{sum(b.values()) / n_before:.0%}",
                sum(a.values()),
                f"{sum(a.values()) / n_after:.0%}",
                " ".join(f"{c}:{b.get(c, 0)}->{a.get(c, 0)}" for c in COUNTS if b.get(c, 0) or a.get(c, 0)),
            ]
        )
    out.append(markdown_table(["type", "before", "share", "after", "share", "count: before->after"], rows) + "\n")
    if comp.slices:
        rows = [
            [
                s.name,
                ", ".join(f"{k}={v}" for k, v in s.where.items()),
                f"{s.share:.0%}",
                f"{s.before:.0%}",
                s.added,
                f"{s.reached:.0%}",
            ]
            for s in comp.slices
        ]
        out.append(markdown_table(["slice", "where", "asked", "before", "rows added", "reached"], rows) + "\n")
    for w in comp.warnings:
        out.append(f"- **warning:** {w}")
    for n in comp.notes:
        out.append(f"- note: {n}")
    if comp.warnings or comp.notes:
        out.append("")
    return "\n".join(out)
