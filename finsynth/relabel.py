"""Relabelling: regenerate the analyses of Type B (per-item exclusion) and D (hybrid) samples.

The core metrics of a sample are kept exactly as labelled; what is regenerated is the `analysis`
in the style of its type. Two annotators:

* ``openai``: the LLM engine (`finsynth.llm`) on the `relabel_<type>.j2` templates, each reply
  validated (schema + lint errors + the type's style/coverage rules + same metrics as given), with
  re-asks and a response cache;
* ``rules``: the deterministic offline annotator (`finsynth.annotators.rules`), Type B only.

``auto`` picks ``openai`` when an endpoint is configured, else ``rules``. Rows that fail go to
quarantine with the raw reply and the errors; every input row ends either in `samples` or in
`quarantined` (`RelabelResult.reconciles()`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from .cache import ResponseCache
from .config import EndpointConfig, load_config
from .io import QuarantineRow
from .llm import Job, LLMEngine, RunResult, RunStats
from .prompts import render, template_hash
from .reask import REASK_TEMPLATE, Validation, lint_errors, validate_extraction
from .schema import Extraction, Sample
from .usage import Usage

ANNOTATOR_SYSTEM = "annotator_system.j2"
RELABEL_TEMPLATES = {"B": "relabel_b.j2", "D": "relabel_d.j2"}
LLMChoice = Literal["auto", "rules", "openai"]


class RelabelStats(RunStats):
    """What a relabel run did."""

    annotator: str
    requested: int = 0
    relabelled: int = 0
    passed_through: int = 0
    reasks: int = 0


class RelabelResult(RunResult):
    """Relabelled (and passed-through) samples in input order, plus quarantine, usage and stats."""

    stats: RelabelStats
    read: int = 0

    def reconciles(self) -> bool:
        return self.read == len(self.samples) + len(self.quarantined)


def resolve_annotator(llm: str, config: EndpointConfig) -> str:
    """`auto` -> `openai` when an endpoint is configured, else `rules`."""
    if llm not in ("auto", "rules", "openai"):
        raise ValueError(f"--llm must be auto, rules or openai, not {llm!r}")
    if llm == "auto":
        return "openai" if config.configured else "rules"
    if llm == "openai" and not config.configured:
        raise ValueError("--llm openai needs an endpoint: set OPENAI_BASE_URL and/or OPENAI_API_KEY")
    return llm


def combined_hash(names: Iterable[str], template_dir: str | os.PathLike[str] | None = None) -> str:
    """One hash over several templates (system + task + re-ask): the cache key's template part."""
    digest = hashlib.sha256()
    for name in names:
        digest.update(f"{name}:{template_hash(name, template_dir)}\n".encode())
    return digest.hexdigest()


def mention_hints(sample: Sample) -> list[str]:
    """The quantitative items of the paragraph, as hints to cover, excluding the core metrics' own."""
    from .mentions import extract_mentions

    hints = []
    for mention in extract_mentions(sample.input.paragraph):
        label = f"{mention.subject}（{mention.text}）" if mention.subject else mention.text
        if label not in hints:
            hints.append(label)
    return hints


def exclusion_categories() -> list[str]:
    from .style import EXCLUSION_CATEGORIES

    return list(EXCLUSION_CATEGORIES)


def relabel_messages(sample: Sample, template_dir: str | os.PathLike[str] | None = None) -> list[dict[str, str]]:
    """System + user messages asking for a new analysis of `sample` in its type's style."""
    name = RELABEL_TEMPLATES[sample.type]
    metrics = [m.model_dump() for m in sample.output.metrics]
    user = render(
        name,
        template_dir,
        chapter_title=sample.input.chapter_title,
        paragraph=" ".join(sample.input.paragraph.split("\n")),
        metrics=metrics,
        metrics_json=json.dumps(metrics, ensure_ascii=False),
        mentions=mention_hints(sample),
        categories=exclusion_categories(),
    )
    return [{"role": "system", "content": render(ANNOTATOR_SYSTEM, template_dir)}, {"role": "user", "content": user}]


def _same_metrics(original: Sample):
    wanted = [(m.metric_name, m.metric_type) for m in original.output.metrics]

    def check(extraction: Extraction) -> list[str]:
        got = [(m.metric_name, m.metric_type) for m in extraction.metrics]
        if sorted(got) != sorted(wanted):
            names = json.dumps([n for n, _ in wanted], ensure_ascii=False)
            got_names = json.dumps([n for n, _ in got], ensure_ascii=False)
            return [f"metrics must be exactly {names} with their metric_type unchanged; got {got_names}"]
        return []

    return check


def _keep_metrics(original: Sample):
    def transform(extraction: Extraction) -> Extraction:
        return Extraction(analysis=extraction.analysis, metrics=original.output.metrics)

    return transform


def relabel_validator(sample: Sample):
    """The validator for one relabel reply: schema, same metrics, lint errors and style rules."""

    def validate(raw: str) -> Validation:
        return validate_extraction(raw, sample.type, sample.input, checks=[_same_metrics(sample)],
                                   transform=_keep_metrics(sample), sample_id=sample.id)

    return validate


def _quarantine(sample: Sample, reason: str, raw: str, **extra: object) -> QuarantineRow:
    return QuarantineRow(
        path=sample.provenance.source or "<relabel>",
        line=sample.provenance.line,
        field="output.analysis",
        reason=reason,
        raw=raw,
        stage="relabel",
        extra={"id": sample.id, "type": sample.type, **extra},
    )


def _with_provenance(sample: Sample, analysis: str, annotator: str, thash: str, model: str | None) -> Sample:
    provenance = sample.provenance.model_copy(update={"annotator": annotator, "template_hash": thash, "model": model})
    output = Extraction(analysis=analysis, metrics=sample.output.metrics)
    return sample.model_copy(update={"output": output, "provenance": provenance})


def relabel(
    samples: list[Sample],
    *,
    types: Iterable[str] = frozenset({"B"}),
    llm: LLMChoice | str = "auto",
    concurrency: int = 8,
    cache_path: str | os.PathLike[str] | None = None,
    template_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    config: EndpointConfig | None = None,
    max_reasks: int | None = None,
) -> RelabelResult:
    """Regenerate the analyses of the samples whose type is in `types`; others pass through.

    Samples keep their ids; relabelled ones get `provenance.annotator`, `.template_hash` and `.model`.
    A sample that cannot be relabelled (reply still invalid after the re-asks, transport failure,
    rules output failing lint) is quarantined with its raw reply and errors, never silently kept.
    """
    types = {t.upper() for t in types}
    unknown = types - set(RELABEL_TEMPLATES)
    if unknown:
        raise ValueError(f"relabel supports types {sorted(RELABEL_TEMPLATES)}, not {sorted(unknown)}")
    config = config or load_config()
    annotator = resolve_annotator(llm, config)
    if annotator == "rules" and types - {"B"}:
        raise ValueError("the offline rules annotator relabels Type B only; configure an endpoint for D")
    targets = [i for i, s in enumerate(samples) if s.type in types]
    stats = RelabelStats(annotator=annotator, requested=len(targets), passed_through=len(samples) - len(targets))
    out: dict[int, Sample] = {i: s for i, s in enumerate(samples) if s.type not in types}
    quarantined: list[QuarantineRow] = []
    usage = Usage()

    if annotator == "rules":
        from .annotators.rules import RULES_TEMPLATE, annotate

        thash = combined_hash([RULES_TEMPLATE], template_dir)
        stats.template_hashes = {RULES_TEMPLATE: template_hash(RULES_TEMPLATE, template_dir)}
        for i in targets:
            sample = samples[i]
            extraction = annotate(sample, template_dir=template_dir)
            candidate = _with_provenance(sample, extraction.analysis, "rules", thash, None)
            errors = lint_errors(candidate)
            if errors:
                quarantined.append(_quarantine(sample, "; ".join(errors), extraction.to_json(), failure="lint"))
            else:
                out[i] = candidate
    else:
        names = {t: [ANNOTATOR_SYSTEM, RELABEL_TEMPLATES[t], REASK_TEMPLATE] for t in types}
        hashes = {t: combined_hash(names[t], template_dir) for t in types}
        for t in sorted(types):
            for name in names[t]:
                stats.template_hashes[name] = template_hash(name, template_dir)
        stats.model = config.model
        stats.endpoint = config.public()
        jobs = (  # lazy: rendered as the queue drains
            Job(id=samples[i].id, messages=relabel_messages(samples[i], template_dir),
                template_hash=hashes[samples[i].type], validate=relabel_validator(samples[i]),
                template_dir=template_dir)
            for i in targets
        )
        cache = ResponseCache(Path(cache_path) if cache_path is not None else None)
        try:
            engine = LLMEngine(config, cache, concurrency=concurrency, max_reasks=max_reasks, progress=progress,
                               description=f"relabel {','.join(sorted(types))}")
            results = engine.run(jobs, total=len(targets))
        finally:
            cache.close()
        usage = engine.usage
        stats.engine = engine.stats
        stats.reasks = engine.stats.reasks
        stats.cost = usage.cost(config.model, config.prices)
        for i, result in zip(targets, results):
            sample = samples[i]
            if result.ok and result.validation is not None and result.validation.extraction is not None:
                out[i] = _with_provenance(sample, result.validation.extraction.analysis, "openai",
                                          hashes[sample.type], config.model)
            else:
                quarantined.append(_quarantine(
                    sample, "; ".join(result.errors) or "no reply", result.raw or "",
                    failure=result.failure, reasks=result.reasks, retries=result.retries, calls=result.calls,
                    transport_errors=result.transport_errors, model=config.model,
                ))
    stats.relabelled = sum(1 for i in targets if i in out)
    stats.quarantined = len(quarantined)
    return RelabelResult(samples=[out[i] for i in sorted(out)], quarantined=quarantined, usage=usage,
                         stats=stats, read=len(samples))
