"""What the extraction rules share: their registry (`RULES`, filled by `@rule`), the item they check, the
runnable example of a sample row, and small helpers the families use (spans, listings, the label matcher)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from finsynth.audit import kit
from finsynth.audit.kit import Registry, Span
from finsynth.schema import Sample, TestCase
from finsynth.text.lexicon import default_lexicon
from finsynth.text.names import FuzzyMatcher

Item = Sample | TestCase

RULES: Registry[Item] = Registry("lint rule", measured=True, fix_command="finsynth build --fix")
rule = RULES.rule

MAX_LISTED = 5  # items named in one message

# the lexicon's (fuzzy) matcher, the one evaluation uses: 营收 and 营业收入 are one label, 营收 and 营收增速 two
LABEL_MATCHER = FuzzyMatcher(lexicon=default_lexicon())


@dataclass(frozen=True)
class Example(kit.Example):
    """A rule's documented example, runnable: `rows` are sample rows as JSON objects (one for a
    sample rule, several for a dataset rule), `against` a test set, `raw` a JSONL line (load rules)."""

    def shown(self) -> str:
        """The example as a reader sees it: the analysis (or the raw line, or the paragraphs)."""
        if self.raw is not None:
            return self.raw if len(self.raw) <= 160 else self.raw[:160] + "…"
        if len(self.rows) == 1:
            analysis = self.rows[0]["output"]["analysis"]
            shown = analysis if len(analysis) <= 160 else analysis[:160] + f"… ({len(analysis):,} characters)"
            paragraph = self.rows[0]["input"]["paragraph"]
            if len(paragraph) > 2000:
                shown += f" [paragraph of {len(paragraph):,} characters]"
            return shown
        shown = " / ".join(r["input"]["paragraph"][:40] + "…" for r in self.rows)
        if self.against:
            shown += " | test set: " + " / ".join(r["input"]["paragraph"][:40] + "…" for r in self.against)
        return shown


def example(
    analysis: str,
    *,
    type: str = "A",
    paragraph: str | None = None,
    metrics: Sequence[tuple[str, str, float]] = (("毛利率", "financial", 0.95),),
    title: str = "盈利能力分析",
    note: str = "",
) -> Example:
    """A one-row example for a sample rule: the analysis under test in an otherwise plain sample."""
    if paragraph is None:
        paragraph = "公司2025H1毛利率为35.8%，同比提升2.3个百分点，主要受益于产品结构升级。"
    row = {
        "type": type,
        "input": {"chapter_title": title, "paragraph": paragraph},
        "output": {
            "analysis": analysis,
            "metrics": [
                {"metric_name": n, "metric_type": t, "score": s, "reason": "段落核心分析对象"} for n, t, s in metrics
            ],
        },
    }
    return Example(rows=(row,), note=note)


# example texts several families use
B_PARAGRAPH = (
    "受益于原材料价格大幅下降，中国巨石2025H1毛利率提升至31.2%，同比改善4.6个百分点。"
    "玻纤纱均价同比下降约12%，叶腊石采购价同比下降22%。"
)
B_ANALYSIS = (
    "本段核心分析对象是毛利率（31.2%，同比+4.6pct）。逐项排除：玻纤纱均价（同比-12%）：归因项——是毛利率"
    "提升的收入端背景。叶腊石采购价（同比-22%）：归因项——是成本端原因之一，不是分析主体。"
)
PROSE = "段落围绕毛利率展开，35.8%的水平和2.3个百分点的提升都来自产品结构升级，是段落唯一的分析主体。"


def text_spans(field: str, bounds: Iterable[tuple[int, int]]) -> tuple[Span, ...]:
    """Spans of one text field of the row ("analysis", "paragraph"), empty bounds dropped."""
    return tuple(Span(field=field, start=a, end=b) for a, b in bounds if b > a)


def listed(items: Sequence[str]) -> str:
    """At most MAX_LISTED items joined with 、, and how many more there are."""
    shown = "、".join(items[:MAX_LISTED])
    return shown + (f" (+{len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else "")


def bigrams(text: str) -> list[str]:
    return [text[i : i + 2] for i in range(len(text) - 1)] or [text]
