"""0-metric background samples made from the corpus's own paragraphs and its own human labels.

The test set has background paragraphs (`empty_output_background`: no core metric), the corpus has 27 of them among
700 rows, and a model trained on it over-extracts. Type B rows already say, item by item, which of their numbers are
industry or macro data (`行业/宏观数据`) and why. The sentences of a B paragraph whose every quantity is such an item,
and which name no core metric, are a background paragraph in the labeller's own judgement; the sample keeps the
labeller's exclusion items for those numbers verbatim and extracts nothing.

`background_samples` is a candidate for the outcome harness (`augment: [background]` in a recipe variant), not a
default: whether it helps a trained model is for a measurement to say. Every sample it returns passes lint with no
error and no exclusion-coverage finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from finsynth.schema import Extraction, ParagraphInput, Provenance, Sample
from finsynth.text.mentions import QUANTITY_KINDS, extract_mentions
from finsynth.text.style import ExcludedItem, exclusion_items

MACRO = "行业/宏观数据"
MIN_CHARS = 30  # shorter than this, a sentence or two is no paragraph
_SENTENCE = re.compile(r"[^。！？!?；;]+[。！？!?；;]?")


def _sentences(paragraph: str) -> list[str]:
    return [m.group(0) for m in _SENTENCE.finditer(paragraph) if m.group(0).strip()]


def _covers(item: ExcludedItem, sentence: str, number: str) -> bool:
    return item.name in sentence and number in item.values


def _background_sentences(sample: Sample, macro: list[ExcludedItem], others: list[ExcludedItem]) -> list[str]:
    """The sentences whose every quantity is a macro item's value, naming no metric and no other item."""
    names = [m.metric_name for m in sample.output.metrics] + [i.name for i in others]
    kept = []
    for sentence in _sentences(sample.input.paragraph):
        quantities = [m for m in extract_mentions(sentence) if m.kind in QUANTITY_KINDS]
        if not quantities or any(name and name in sentence for name in names):
            continue
        numbers = [re.sub(r"[^\d.]", "", m.text) for m in quantities]
        if all(any(_covers(item, sentence, n) for item in macro) for n in numbers if n):
            kept.append(sentence)
    return kept


def background_sample(sample: Sample) -> Sample | None:
    """The 0-metric background sample a B row's macro sentences make, or None when it has none (or too few)."""
    if sample.type != "B":
        return None
    items = exclusion_items(sample.output.analysis)
    macro = [i for i in items if i.category == MACRO and i.values]
    if not macro:
        return None
    sentences = _background_sentences(sample, macro, [i for i in items if i.category != MACRO])
    paragraph = "".join(sentences).strip()
    if paragraph and paragraph[-1] in "；;，,":  # the last kept sentence ended a clause, not the paragraph
        paragraph = paragraph[:-1] + "。"
    if len(paragraph) < MIN_CHARS:
        return None
    used = [i for i in macro if i.name in paragraph]
    listed = "".join(f"{i.name}（{i.values}）：{MACRO}——{i.reason.rstrip('。')}。" for i in used)
    analysis = (
        f"本段无核心量化分析对象，只给出行业与宏观背景。逐项排除：{listed}"
        "这些数字描述的是行业或宏观环境，不是公司自身被深度分析的指标，因此不应提取任何metrics。"
    )
    provenance = Provenance(source=sample.provenance.source, line=sample.provenance.line, annotator="background")
    return Sample(
        id=f"{sample.id}~bg",
        type="B",
        input=ParagraphInput(chapter_title=sample.input.chapter_title, paragraph=paragraph),
        output=Extraction(analysis=analysis, metrics=[]),
        provenance=provenance,
    )


def background_samples(samples: Iterable[Sample]) -> list[Sample]:
    """Every background sample the B rows make that lint leaves without an error or a coverage finding."""
    from finsynth.audit.lint import lint_sample

    out = []
    for sample in samples:
        made = background_sample(sample)
        if made is None:
            continue
        findings = lint_sample(made)
        if any(f.severity == "error" or f.rule == "exclusion-coverage" for f in findings):
            continue
        out.append(made)
    return out
