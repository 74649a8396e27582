"""The reviewer's visual report: one self-contained HTML file.

Everything is inline (CSS, a small script, SVG charts); a Content-Security-Policy forbids the page any
request, so it opens from disk on a machine with no network and leaks nothing. Chinese renders with
the first CJK font the reader's machine has (see `charts.CJK_FONTS`).
"""

from __future__ import annotations

import json
import os
from difflib import SequenceMatcher
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from finsynth.audit.evidence import evidence_summary
from finsynth.audit.html.browser import FindingsBrowser
from finsynth.audit.html.charts import CJK_FONTS, TYPE_NAMES, report_charts
from finsynth.audit.lint import RULES, SEVERITIES, Span
from finsynth.audit.report import COUNTS, Report, assess
from finsynth.io import write_text_atomic

ASSETS = Path(__file__).parent / "assets"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(ASSETS)),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["pct"] = lambda x: f"{x:.0%}"
    return env


MARK_ORDER = (*SEVERITIES, "diff")  # the first listed wins where marks overlap


Mark = tuple[Span, str, str]  # a span, its class (a severity or "diff"), and the label shown on hover


def highlight(text: str, marks: list[Mark]) -> Markup:
    """`text` escaped, with each mark's span wrapped in <mark> (the most severe finding's colour, or
    "diff" for text that differs from a near-duplicate; the labels in its title). Overlapping spans
    are split at every boundary, so marks never nest."""
    bounds = (max(0, min(len(text), p)) for span, _, _ in marks for p in (span.start, span.end))
    cuts = sorted({0, len(text), *bounds})
    out: list[str] = []
    for a, b in pairwise(cuts):
        piece = escape(text[a:b])
        covering = [(kind, label) for span, kind, label in marks if span.start <= a and b <= span.end]
        if not covering:
            out.append(piece)
            continue
        kind = min((k for k, _ in covering), key=MARK_ORDER.index)
        title = ", ".join(sorted({label for _, label in covering}))
        out.append(f'<mark class="sev-{kind}" title="{escape(title)}">{piece}</mark>')
    return Markup("".join(out))


def _differences(a: str, b: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Character ranges of `a` and of `b` that the other text does not share (difflib opcodes)."""
    ours, theirs = [], []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            ours.append((i1, i2))
            theirs.append((j1, j2))
    return ours, theirs


def _sample_cards(browser: FindingsBrowser) -> list[dict]:
    """Each sample with its findings and both texts highlighted; for pair findings (duplicates, label
    conflicts, leaks) the other row too, with the characters that differ marked on both sides."""
    by_sample: dict[str, list] = {}
    for finding in browser.findings:
        if finding.sample_key:
            by_sample.setdefault(finding.sample_key, []).append(finding)
    cards = []
    for index, (key, sample) in enumerate(browser.samples.items()):
        found = by_sample.get(key, [])
        marks: dict[str, list[Mark]] = {"paragraph": [], "analysis": []}
        for f in found:
            for span in f.spans:
                marks[span.field].append((span, f.severity, f.rule))
        related = []
        for other_key in dict.fromkeys(f.related_key for f in found if f.related_key):
            other = browser.related[other_key]
            ours, theirs = _differences(sample.paragraph, other.paragraph)
            label = f"differs from {other.sample_id}"
            marks["paragraph"] += [(Span(field="paragraph", start=a, end=b), "diff", label) for a, b in ours]
            other_marks = [
                (Span(field="paragraph", start=a, end=b), "diff", f"differs from {sample.sample_id}") for a, b in theirs
            ]
            related.append({"sample": other, "paragraph": highlight(other.paragraph, other_marks)})
        cards.append(
            {
                "anchor": f"s{index}",
                "key": key,
                "sample": sample,
                "findings": found,
                "related": related,
                "paragraph": highlight(sample.paragraph, marks["paragraph"]),
                "analysis": highlight(sample.analysis, marks["analysis"]),
            }
        )
    return cards


def _json_for_script(payload: dict) -> str:
    """JSON safe inside <script>: no "</" can close the element early."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True).replace("</", "<\\/")


def render_html(
    report: Report, browser: FindingsBrowser | None = None, title: str = "finsynth data report", source: str = ""
) -> str:
    """The whole report page as a string (deterministic for the same inputs)."""
    assessment = assess(report)
    charts = report_charts(report)
    cards = _sample_cards(browser) if browser else []
    # one row per rule and severity found (fixed-count reports an error for the set and warnings per type), so the
    # rows of a severity add up to the page's total of that severity
    by_severity = report.lint_rule_severity or {}
    rules = [
        {"id": r.id, "severity": severity, "rationale": r.rationale, "count": n, "evidence": evidence_summary(r.id)}
        for r in RULES.values()
        for severity, n in (by_severity.get(r.id) or {r.severity: 0}).items()
    ]
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            title=title,
            source=source,
            report=report,
            assessment=assessment,
            charts={k: Markup(v) for k, v in charts.items()},
            counts=COUNTS,
            type_names=TYPE_NAMES,
            rules=rules,
            browser=browser,
            cards=cards,
            anchors={card["key"]: card["anchor"] for card in cards},
            rule_ids=sorted(browser.total_by_rule) if browser else [],
            types=sorted({s.type for s in browser.samples.values()}) if browser else [],
            severities=SEVERITIES,
            data=Markup(_json_for_script(report.to_json())),
            css=page_css(),
            script=Markup((ASSETS / "report.js").read_text(encoding="utf-8")),
            review_script=review_script(),
        )
    )


def review_script() -> Markup:
    """The review controls' script (finsynth.audit.review), shared by the report and the relabel page."""
    return Markup((ASSETS / "review.js").read_text(encoding="utf-8"))


def page_css() -> Markup:
    font_stack = ", ".join(f'"{f}"' for f in CJK_FONTS) + ", sans-serif"
    return Markup((ASSETS / "report.css").read_text(encoding="utf-8").replace("FONT_STACK", font_stack))


def environment() -> Environment:
    return _environment()


def write_html(
    path: str | os.PathLike[str],
    report: Report,
    browser: FindingsBrowser | None = None,
    title: str = "finsynth data report",
    source: str = "",
) -> Path:
    """Render the report and write it atomically to `path`."""
    path = Path(path)
    write_text_atomic(path, render_html(report, browser, title=title, source=source))
    return path
