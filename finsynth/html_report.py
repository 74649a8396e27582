"""The reviewer's visual report: one self-contained HTML file.

Everything is inline (CSS, a small script, SVG charts); a Content-Security-Policy forbids the page any
request, so it opens from disk on a machine with no network and leaks nothing. Chinese renders with
the first CJK font the reader's machine has (see `charts.CJK_FONTS`).
"""

from __future__ import annotations

import os
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from .charts import CJK_FONTS, TYPE_NAMES, report_charts
from .findings import FindingsBrowser
from .io import write_text_atomic
from .lint import RULES, SEVERITIES, Span
from .report import COUNTS, Report, assess

ASSETS = Path(__file__).parent / "assets"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(ASSETS)), autoescape=select_autoescape(["html", "j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    env.filters["pct"] = lambda x: f"{x:.0%}"
    return env


def highlight(text: str, spans: list[Span], severities: list[str], rules: list[str]) -> Markup:
    """`text` escaped, with each span wrapped in <mark> (the most severe finding's colour; the rules in
    its title). Overlapping spans are split at every boundary, so marks never nest."""
    cuts = sorted({0, len(text), *(max(0, min(len(text), p)) for s in spans for p in (s.start, s.end))})
    out: list[str] = []
    for a, b in pairwise(cuts):
        piece = escape(text[a:b])
        covering = [i for i, s in enumerate(spans) if s.start <= a and b <= s.end]
        if not covering:
            out.append(piece)
            continue
        severity = min((severities[i] for i in covering), key=SEVERITIES.index)
        title = ", ".join(sorted({rules[i] for i in covering}))
        out.append(f'<mark class="sev-{severity}" title="{escape(title)}">{piece}</mark>')
    return Markup("".join(out))


def _sample_cards(browser: FindingsBrowser) -> list[dict]:
    """Each sample with its findings and both texts highlighted."""
    by_sample: dict[str, list] = {}
    for finding in browser.findings:
        if finding.sample_key:
            by_sample.setdefault(finding.sample_key, []).append(finding)
    cards = []
    for index, (key, sample) in enumerate(browser.samples.items()):
        found = by_sample.get(key, [])
        texts = {}
        for field in ("paragraph", "analysis"):
            spans, severities, rules = [], [], []
            for f in found:
                for span in f.spans:
                    if span.field == field:
                        spans.append(span)
                        severities.append(f.severity)
                        rules.append(f.rule)
            texts[field] = highlight(getattr(sample, field), spans, severities, rules)
        cards.append({"anchor": f"s{index}", "key": key, "sample": sample, "findings": found, **texts})
    return cards


def _anchor_map(browser: FindingsBrowser) -> dict[str, str]:
    return {key: f"s{index}" for index, key in enumerate(browser.samples)}


def render_html(report: Report, browser: FindingsBrowser | None = None, title: str = "finsynth data report",
                source: str = "") -> str:
    """The whole report page as a string (deterministic for the same inputs)."""
    assessment = assess(report)
    charts = report_charts(report)
    font_stack = ", ".join(f'"{f}"' for f in CJK_FONTS) + ", sans-serif"
    rules = [{"id": r.id, "severity": r.severity, "rationale": r.rationale,
              "count": (report.lint_counts or {}).get(r.id, 0)} for r in RULES.values()]
    return _environment().get_template("report.html.j2").render(
        title=title,
        source=source,
        report=report,
        assessment=assessment,
        charts={k: Markup(v) for k, v in charts.items()},
        counts=COUNTS,
        type_names=TYPE_NAMES,
        rules=rules,
        browser=browser,
        cards=_sample_cards(browser) if browser else [],
        anchors=_anchor_map(browser) if browser else {},
        rule_ids=sorted(browser.total_by_rule) if browser else [],
        types=sorted({s.type for s in browser.samples.values()}) if browser else [],
        severities=SEVERITIES,
        css=Markup((ASSETS / "report.css").read_text(encoding="utf-8").replace("FONT_STACK", font_stack)),
        script=Markup((ASSETS / "report.js").read_text(encoding="utf-8")),
    )


def write_html(path: str | os.PathLike[str], report: Report, browser: FindingsBrowser | None = None,
               title: str = "finsynth data report", source: str = "") -> Path:
    """Render the report and write it atomically to `path`."""
    path = Path(path)
    write_text_atomic(path, render_html(report, browser, title=title, source=source))
    return path

