"""Relabelling: regenerate the analyses of Type B (per-item exclusion) and D (hybrid) samples.

The core metrics of a sample are kept exactly as labelled; what is regenerated is the `analysis`
in the style of its type. Two annotators:

* ``openai``: the LLM engine (`finsynth.llm.engine`) on the `relabel_<type>.j2` templates, each reply
  validated (schema + lint errors + the type's style/coverage rules + same metrics as given), with
  re-asks and a response cache;
* ``rules``: the deterministic offline annotator (`finsynth.synth.annotators.rules`), Type B only.

``auto`` picks ``openai`` when an endpoint is configured, else ``rules``, and says which and why
(`RelabelStats.annotator_reason`).

Relabelling never makes data worse:

* only the rows that need it are rewritten: a row of a relabelled type whose analysis fails its type's
  blocking lint (errors, plus the style and coverage rules at any severity: `reask.lint_errors`, the same
  check a relabelled reply must pass); `force=True` rewrites every row of the type;
* a row whose calls fail on transport after their retries, or that an aborted run never sent, keeps its
  original analysis (`provenance.relabel` says why) and is counted in `kept_on_failure`;
* a new analysis that fails validation replaces nothing: the row keeps its original when that was clean
  (a forced relabel) and goes to quarantine, with the raw reply and the errors, when the original had lint
  errors of its own;
* the engine stops early (`stats.aborted`) at a 401/403, when no call is ever answered, or when most jobs
  fail on transport; the caller (the build) turns that into a non-zero exit that says what to check.

Every input row ends in `samples` or in `quarantined` (`RelabelResult.reconciles()`), and every target
row has one `RelabelChange` (changed, kept, kept_on_failure or quarantined) with before and after, which
the build writes to `relabel.diff.jsonl` and the review page.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from finsynth.errors import ConfigError
from finsynth.io import QuarantineRow, Record, UserError
from finsynth.llm.cache import ResponseCache
from finsynth.llm.config import EndpointConfig, load_config
from finsynth.llm.engine import Job, LLMEngine
from finsynth.llm.usage import Usage
from finsynth.prompts import DEFAULT_TEMPLATES, Templates
from finsynth.schema import Extraction, RelabelChange, Sample, row_content_hash
from finsynth.synth.run import RunResult, RunStats
from finsynth.synth.validate import (
    REASK_TEMPLATE,
    REPLY_RULES,
    Validation,
    blocking_findings,
    finding_messages,
    lint_errors,
    reasker,
    validate_extraction,
)

if TYPE_CHECKING:
    from finsynth.audit.lint import Finding

ANNOTATOR_SYSTEM = "annotator_system.j2"
RELABEL_TEMPLATES = {"B": "relabel_b.j2", "D": "relabel_d.j2"}
LLMChoice = Literal["auto", "rules", "openai"]


class RelabelStats(RunStats):
    """What a relabel run did."""

    annotator: str
    annotator_reason: str = ""
    forced: bool = False
    requested: int = 0  # rows of the relabelled types
    needed: int = 0  # of those, rows failing their type's rules (all of them with force)
    relabelled: int = 0  # rows whose analysis was rewritten
    kept_clean: int = 0  # rows that passed their rules and were left as they were
    kept_on_failure: int = 0  # rows that keep their original because the relabel failed
    kept_on_failure_by_reason: dict[str, int] = Field(default_factory=dict)
    passed_through: int = 0  # rows of other types
    reasks: int = 0
    aborted: str | None = None


class RelabelResult(RunResult):
    """Relabelled (and passed-through) samples in input order, plus quarantine, usage and stats."""

    stats: RelabelStats
    read: int = 0
    changes: list[RelabelChange] = Field(default_factory=list)

    def reconciles(self) -> bool:
        return self.read == len(self.samples) + len(self.quarantined)


def annotator_choice(llm: str, config: EndpointConfig) -> tuple[str, str]:
    """(annotator, why): which annotator `--llm` selects here, in words a user can act on."""
    if llm not in ("auto", "rules", "openai"):
        raise ConfigError(f"llm must be auto, rules or openai, not {llm!r}", setting="llm")
    if llm == "openai" and not config.configured:
        raise ConfigError("llm openai needs an endpoint: set OPENAI_BASE_URL and/or OPENAI_API_KEY", setting="llm")
    if llm == "rules":
        return "rules", "--llm rules: the offline rules annotator (Type B)"
    endpoint = f"{config.base_url or 'the OpenAI API'} (model {config.model})"
    if llm == "openai":
        return "openai", f"--llm openai: {endpoint}"
    if config.configured:
        return "openai", f"--llm auto: an endpoint is configured, {endpoint}"
    return "rules", (
        "--llm auto: no endpoint configured (OPENAI_BASE_URL / OPENAI_API_KEY unset), so the offline "
        "rules annotator runs"
    )


def mention_hints(sample: Sample) -> list[str]:
    """The quantitative items of the paragraph, as hints to cover, excluding the core metrics' own."""
    from finsynth.text.mentions import extract_mentions

    hints = []
    for mention in extract_mentions(sample.input.paragraph):
        label = f"{mention.subject}（{mention.text}）" if mention.subject else mention.text
        if label not in hints:
            hints.append(label)
    return hints


def exclusion_categories() -> list[str]:
    from finsynth.text.style import EXCLUSION_CATEGORIES

    return list(EXCLUSION_CATEGORIES)


def relabel_messages(sample: Sample, templates: Templates = DEFAULT_TEMPLATES) -> list[dict[str, str]]:
    """System + user messages asking for a new analysis of `sample` in its type's style."""
    name = RELABEL_TEMPLATES[sample.type]
    metrics = [m.model_dump() for m in sample.output.metrics]
    user = templates.render(
        name,
        chapter_title=sample.input.chapter_title,
        paragraph=" ".join(sample.input.paragraph.split("\n")),
        metrics=metrics,
        metrics_json=json.dumps(metrics, ensure_ascii=False),
        mentions=mention_hints(sample),
        categories=exclusion_categories(),
    )
    return [{"role": "system", "content": templates.render(ANNOTATOR_SYSTEM)}, {"role": "user", "content": user}]


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
        return validate_extraction(
            raw,
            sample.type,
            sample.input,
            checks=[_same_metrics(sample)],
            transform=_keep_metrics(sample),
            sample_id=sample.id,
        )

    return validate


def _quarantine(sample: Sample, reason: str, raw: str, **extra: object) -> QuarantineRow:
    """A relabel that failed on a broken row: the row as it was read, with the model's reply as `raw`."""
    where = Record(path=sample.provenance.source or "<relabel>", line=sample.provenance.line, item=sample)
    return QuarantineRow.of(
        where, reason, "relabel", field="output.analysis", raw=raw, **{"id": sample.id, "type": sample.type, **extra}
    )


def _kept(sample: Sample, why: str) -> Sample:
    """The original row, its provenance saying why the relabel left it as it was."""
    provenance = sample.provenance.model_copy(update={"relabel": why})
    return sample.model_copy(update={"provenance": provenance})


def needs_relabel(sample: Sample) -> list[Finding]:
    """The blocking findings that make `sample` a relabel target (empty: it passes its type's rules)."""
    return blocking_findings(sample)


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
    templates: Templates = DEFAULT_TEMPLATES,
    progress: bool = True,
    config: EndpointConfig | None = None,
    max_reasks: int | None = None,
    force: bool = False,
    engine_options: dict | None = None,
    annotator_model: str | os.PathLike[str] | None = None,
) -> RelabelResult:
    """Regenerate the analyses of the samples of `types` that need it (all of them with `force`).

    Samples keep their ids; relabelled ones get `provenance.annotator`, `.template_hash` and `.model`;
    rows left as they were get `provenance.relabel` when a failure kept them (see the module docstring).
    """
    types = {t.upper() for t in types}
    unknown = types - set(RELABEL_TEMPLATES)
    if unknown:
        raise ConfigError(f"relabel supports types {sorted(RELABEL_TEMPLATES)}, not {sorted(unknown)}")
    config = config or load_config()
    annotator, why = annotator_choice(llm, config)
    if annotator == "rules" and types - {"B"}:
        raise ConfigError("the offline rules annotator relabels Type B only; configure an endpoint for D")
    of_type = [i for i, s in enumerate(samples) if s.type in types]
    needed = {i: needs_relabel(samples[i]) for i in of_type}
    targets = [i for i in of_type if force or needed[i]]
    stats = RelabelStats(
        annotator=annotator,
        annotator_reason=why,
        forced=force,
        requested=len(of_type),
        needed=len(targets),
        kept_clean=len(of_type) - len(targets),
        passed_through=len(samples) - len(of_type),
    )
    target_set = set(targets)
    out: dict[int, Sample] = {i: s for i, s in enumerate(samples) if i not in target_set}
    quarantined: list[QuarantineRow] = []
    changes: dict[int, RelabelChange] = {}
    usage = Usage()

    def change(
        i: int, status: Literal["changed", "kept", "kept_on_failure", "quarantined"], reason: str, after: Sample | None
    ) -> None:
        sample = samples[i]
        changes[i] = RelabelChange(
            id=sample.id,
            type=sample.type,
            source=sample.provenance.source,
            line=sample.provenance.line,
            status=status,
            reason=reason,
            before=sample.output.analysis,
            after=(after or sample).output.analysis,
            needed=finding_messages(needed[i]),
            content_hash=row_content_hash(after or sample),
        )

    def failed(i: int, reason: str, raw: str, transport: bool, **extra: object) -> None:
        """A relabel that did not produce a valid analysis: keep the original unless it is itself broken."""
        sample = samples[i]
        broken = any(f.severity == "error" for f in needed[i])
        if transport or not broken:
            kind = "transport" if transport else "invalid relabel"
            out[i] = _kept(sample, f"kept original ({kind}): {reason}"[:500])
            stats.kept_on_failure += 1
            stats.kept_on_failure_by_reason[kind] = stats.kept_on_failure_by_reason.get(kind, 0) + 1
            change(i, "kept_on_failure", reason, out[i])
        else:
            quarantined.append(_quarantine(sample, reason, raw, **extra))
            change(i, "quarantined", reason, None)

    if annotator == "rules":
        from finsynth.synth.annotators.model import DEFAULT_MODEL_PATH, load_model
        from finsynth.synth.annotators.rules import RULES_TEMPLATE, annotate

        # the user's own fitted category model (`finsynth annotator fit`): the one given, else the default file
        model_path = Path(annotator_model) if annotator_model is not None else DEFAULT_MODEL_PATH
        if annotator_model is not None and not model_path.is_file():
            raise UserError(f"{model_path}: no annotator model there; fit one with `finsynth annotator fit`")
        model = load_model(model_path) if model_path.is_file() else None
        if model is not None:
            stats.annotator_reason += f"; with the fitted category model {model_path}"
        thash = templates.combined_hash([RULES_TEMPLATE])
        stats.template_hashes = {RULES_TEMPLATE: templates.hash(RULES_TEMPLATE)}
        for i in targets:
            sample = samples[i]
            extraction = annotate(sample, templates=templates, model=model)
            candidate = _with_provenance(sample, extraction.analysis, "rules", thash, None)
            errors = lint_errors(candidate, REPLY_RULES)
            if errors:
                failed(i, "; ".join(errors), extraction.to_json(), transport=False, failure="lint")
            else:
                out[i] = candidate
                change(
                    i,
                    "changed" if candidate.output.analysis != sample.output.analysis else "kept",
                    "rules annotator",
                    candidate,
                )
    else:
        names = {t: [ANNOTATOR_SYSTEM, RELABEL_TEMPLATES[t], REASK_TEMPLATE] for t in types}
        hashes = {t: templates.combined_hash(names[t]) for t in types}
        for t in sorted(types):
            for name in names[t]:
                stats.template_hashes[name] = templates.hash(name)
        stats.model = config.model
        stats.endpoint = config.public()
        reask = reasker(templates)
        jobs = (  # lazy: rendered as the queue drains
            Job(
                id=samples[i].id,
                messages=relabel_messages(samples[i], templates),
                template_hash=hashes[samples[i].type],
                validate=relabel_validator(samples[i]),
                reask=reask,
            )
            for i in targets
        )
        cache = ResponseCache(Path(cache_path) if cache_path is not None else None)
        try:
            engine = LLMEngine(
                config,
                cache,
                concurrency=concurrency,
                max_reasks=max_reasks,
                progress=progress,
                description=f"relabel {','.join(sorted(types))}",
                **(engine_options or {}),
            )
            results = engine.run(jobs, total=len(targets))
        finally:
            cache.close()
        usage = engine.usage
        stats.engine = engine.stats
        stats.reasks = engine.stats.reasks
        stats.cost = usage.cost(config.model, config.prices)
        stats.aborted = engine.stats.aborted
        for i, result in zip(targets, results, strict=True):
            sample = samples[i]
            if result.ok and result.validation is not None and result.validation.extraction is not None:
                out[i] = _with_provenance(
                    sample, result.validation.extraction.analysis, "openai", hashes[sample.type], config.model
                )
                change(
                    i,
                    "changed" if out[i].output.analysis != sample.output.analysis else "kept",
                    f"openai {config.model}",
                    out[i],
                )
            else:
                failed(
                    i,
                    "; ".join(result.errors) or "no reply",
                    result.raw or "",
                    transport=result.failure in ("transport", "aborted"),
                    failure=result.failure,
                    reasks=result.reasks,
                    retries=result.retries,
                    calls=result.calls,
                    transport_errors=result.transport_errors,
                    model=config.model,
                )
    stats.relabelled = sum(1 for c in changes.values() if c.status == "changed")
    stats.quarantined = len(quarantined)
    return RelabelResult(
        samples=[out[i] for i in sorted(out)],
        quarantined=quarantined,
        usage=usage,
        stats=stats,
        read=len(samples),
        changes=[changes[i] for i in sorted(changes)],
    )
