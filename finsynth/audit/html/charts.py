"""The report's charts: matplotlib figures from `Report` data, as inline SVG (or PNG for --plot).

Charts are drawn from aggregates only (counts per bin, per type, per rule), so their size does not
grow with the data. SVG text stays text (`svg.fonttype: none`) and names a CJK font stack, so the
browser draws Chinese with whatever CJK font the machine has; the hash salt and the absent date make
the output byte-identical from run to run.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib
from matplotlib.figure import Figure

from finsynth.audit.lint import EXPECTED_STYLES, RULES
from finsynth.audit.report import COUNTS, Histogram, Report
from finsynth.text.style import STYLES

# Fonts that exist on plain Linux machines (Noto CJK, WenQuanYi, Droid), macOS and Windows, then the
# generic family: the first one installed draws the Chinese.
CJK_FONTS = [
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "PingFang SC",
    "Microsoft YaHei",
    "DejaVu Sans",
]
TYPE_COLOURS = {"A": "#4C78A8", "B": "#F58518", "C": "#54A24B", "D": "#B279A2"}
TEST_COLOUR = "#333333"
SEVERITY_COLOURS = {"error": "#D62728", "warning": "#F2A93B", "info": "#9E9E9E"}
STYLE_COLOURS = {"prose": "#4C78A8", "exclusion": "#F58518", "hybrid": "#54A24B"}
METRIC_TYPE_COLOURS = {"financial": "#4C78A8", "business": "#72B7B2"}
TYPE_NAMES = {"A": "standard positive", "B": "boundary negative", "C": "count variation", "D": "mixed type"}

_RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "finsynth",
    "font.family": "sans-serif",
    "font.sans-serif": CJK_FONTS,
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
}


@contextmanager
def _style() -> Iterator[None]:
    with matplotlib.rc_context(_RC), warnings.catch_warnings():  # type: ignore[arg-type]  # rc keys typed as Literals
        # matplotlib measures with its own fonts; the browser draws the CJK glyphs it lacks
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from font")
        yield


def _type_colour(t: str) -> str:
    return TYPE_COLOURS.get(t, "#777777")


_SVG_START = re.compile(r"<svg\b")
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_SIZE = re.compile(r'<svg([^>]*?) width="(?P<width>[^"]+)" height="[^"]+"')


def to_svg(fig: Figure, label: str) -> str:
    """Inline SVG markup: no XML prologue or metadata, scaled to its container, labelled for readers."""
    buf = io.StringIO()
    with _style():
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = buf.getvalue()
    text = text[_SVG_START.search(text).start() :]  # type: ignore[union-attr]  # matplotlib SVG always has <svg
    text = _METADATA.sub("", text, count=1)
    # natural width, shrinking to fit a narrow window; the viewBox keeps the aspect ratio
    text = _SIZE.sub(r'<svg\1 style="width:\g<width>;max-width:100%;height:auto"', text, count=1)
    safe = label.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return text.replace("<svg", f'<svg class="chart" role="img" aria-label="{safe}"', 1)


def _figure(width: float, height: float) -> Figure:
    with _style():
        return Figure(figsize=(width, height), layout="constrained")


def count_figure(report: Report) -> Figure:
    """Share of samples per metric count: every type beside the test set, and one panel per type."""
    types = [t for t in report.count_table if t != "all"]
    cmp = report.against
    panels = ["all", *types]
    fig = _figure(2.2 * len(panels), 2.9)
    with _style():
        axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
        for ax, key in zip(axes, panels, strict=True):
            dist = report.count_table[key]
            total = sum(dist.values()) or 1
            share = [dist[c] / total for c in COUNTS]
            colour = "#555599" if key == "all" else _type_colour(key)
            offset = 0.2 if cmp else 0.0
            ax.bar([c - offset for c in COUNTS], share, 0.4 if cmp else 0.7, color=colour, label="training")
            if cmp:
                ax.bar(
                    [c + offset for c in COUNTS],
                    [cmp.test_share[c] for c in COUNTS],
                    0.4,
                    color="white",
                    edgecolor=TEST_COLOUR,
                    hatch="///",
                    label="test set (all cases)",
                )
            mean = report.mean_count if key == "all" else report.mean_count_by_type[key]
            title = "all types" if key == "all" else f"type {key}: {TYPE_NAMES.get(key, '')}"
            ax.set_title(f"{title}\nn={total}, mean {mean:.2f}", fontsize=9)
            ax.set_xticks(COUNTS)
            ax.set_xlabel("metrics per sample")
        axes[0].set_ylabel("share of samples")
        axes[0].yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        if cmp:
            axes[0].legend(loc="upper right", frameon=False)
            fig.suptitle(
                f"Metric count: training vs test set (mean {cmp.train_mean:.2f} vs {cmp.test_mean:.2f}, "
                f"ratio {cmp.mean_ratio:.2f}, JS divergence {cmp.js_divergence:.3f})",
                fontsize=10,
            )
        else:
            fig.suptitle("Metric count per type (no test set given)", fontsize=10)
    return fig


def _stacked_shares(
    ax, rows: dict[str, dict[str, int]], keys: list[str], colours: dict[str, str], labels: dict[str, str]
) -> None:
    names = list(rows)
    left = [0.0] * len(names)
    for key in keys:
        totals = [sum(rows[n].values()) or 1 for n in names]
        widths = [rows[n].get(key, 0) / t for n, t in zip(names, totals, strict=True)]
        bars = ax.barh([labels[n] for n in names], widths, left=left, color=colours[key], label=key)
        for bar, n in zip(bars, names, strict=True):
            value = rows[n].get(key, 0)
            if bar.get_width() >= 0.08:
                ax.text(
                    bar.get_x() + bar.get_width() / 2,
                    bar.get_y() + bar.get_height() / 2,
                    str(value),
                    ha="center",
                    va="center",
                    color="white",
                    fontsize=8,
                )
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(keys), frameon=False)


def balance_figure(report: Report) -> Figure:
    """Financial vs business metrics per type (share of the type's metrics; counts on the bars)."""
    rows = report.metric_type_balance
    fig = _figure(6.5, 0.5 + 0.45 * len(rows))
    with _style():
        ax = fig.subplots()
        _stacked_shares(ax, rows, ["financial", "business"], METRIC_TYPE_COLOURS, {t: f"type {t}" for t in rows})
        ax.set_xlabel("share of the type's metrics")
    return fig


def style_figure(report: Report) -> Figure:
    """Analysis style per type, with the style each type should have in its label."""
    rows = report.style_by_type
    fig = _figure(6.5, 0.5 + 0.45 * len(rows))
    with _style():
        ax = fig.subplots()
        labels = {t: f"type {t} (wants {'/'.join(EXPECTED_STYLES.get(t, ('any',)))})" for t in rows}
        _stacked_shares(ax, rows, list(STYLES), STYLE_COLOURS, labels)
        ax.set_xlabel("share of the type's samples")
    return fig


def length_figure(histograms: dict[str, Histogram]) -> Figure:
    """One panel per length histogram (paragraph and analysis characters, tokens when measured)."""
    names = list(histograms)
    fig = _figure(3.3 * len(names), 2.6)
    with _style():
        axes = fig.subplots(1, len(names), squeeze=False)[0]
        for ax, name in zip(axes, names, strict=True):
            hist = histograms[name]
            for t, counts in hist.counts.items():
                ax.stairs(counts, hist.edges, color=_type_colour(t), linewidth=1.6, label=f"type {t}")
            field = name.removesuffix("_tokens")
            ax.set_title(f"{field} length ({hist.unit})")
            ax.set_xlabel(hist.unit)
        axes[0].set_ylabel("samples")
        axes[-1].legend(frameon=False, fontsize=8)
    return fig


def lint_figure(report: Report) -> Figure:
    """Findings per rule (every registered rule, zeros included), split by severity."""
    counts = report.lint_counts or {}
    errors = report.lint_errors or {}
    rules = list(RULES)
    fig = _figure(6.5, 0.6 + 0.26 * len(rules))
    with _style():
        ax = fig.subplots()
        err = [errors.get(r, 0) for r in rules]
        rest = [counts.get(r, 0) - e for r, e in zip(rules, err, strict=True)]
        rest_colour = [SEVERITY_COLOURS["info" if RULES[r].severity == "info" else "warning"] for r in rules]
        ax.barh(rules, err, color=SEVERITY_COLOURS["error"], label="error")
        ax.barh(rules, rest, left=err, color=rest_colour, label="warning")
        for i, r in enumerate(rules):
            total = counts.get(r, 0)
            ax.text(total, i, f" {total}", va="center", fontsize=8, color="#333333" if total else "#AAAAAA")
        ax.invert_yaxis()
        ax.set_xlabel("findings")
        ax.legend(frameon=False, loc="lower right")
        ax.margins(x=0.12)
    return fig


def report_charts(report: Report) -> dict[str, str]:
    """Every chart of the HTML report as inline SVG, by section id."""
    charts = {
        "counts": to_svg(count_figure(report), "Metric count distribution per type, training vs test set"),
        "balance": to_svg(balance_figure(report), "Financial vs business metrics per type"),
        "style": to_svg(style_figure(report), "Analysis style per type"),
        "lengths": to_svg(length_figure(report.length_histograms), "Paragraph and analysis length distributions"),
    }
    if report.lint_counts is not None:
        charts["lint"] = to_svg(lint_figure(report), "Lint findings per rule")
    return charts


def save_count_plot(report: Report, path: str) -> str:
    """The count chart as a PNG file (`finsynth report --plot`)."""
    fig = count_figure(report)
    with _style():
        fig.savefig(path, dpi=110)
    return path
