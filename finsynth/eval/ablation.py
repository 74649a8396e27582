"""Ablation recipes: data variants as build settings, and the paired statistics that turn their runs into evidence.

A recipe (YAML, `data/recipes/*.yaml`) names variants and a baseline:

    name: count-anchor
    baseline: corpus
    seeds: [0, 1, 2]
    variants:
      corpus:  {source: corpus}                                  # the corpus as it is
      default: {}                                                # `finsynth build` with its defaults
      cut:     {source: corpus, fix: [count-anchor:cut], measures: {rule: count-anchor, kind: fix}}
      move:    {source: corpus, fix: [count-anchor:move], measures: {rule: count-anchor, kind: fix}}

A variant is either the corpus rendered as it is (`source: corpus`: every schema-valid row, the build's stratified
split and seed, nothing dropped; optionally with autofixes or a mutation applied to it alone, so the change is
isolated) or a `finsynth build` (`source: build`) with the settings a data engineer has: which autofixes (`fix`,
`no_fix`), the quarantine policy (`quarantine: stop | errors`), relabel types and annotator (`relabel`,
`annotator`, `annotator_model`), a compose file and extra raw rows. `benchmarks/outcome.py --recipe FILE` prepares
every variant here (CPU), runs variant x seed cells on the device (several at once on one GPU), and reports per
variant the mean/min/max of the scores and a paired comparison with the baseline: Δ total with a bootstrap
interval over seeds x cases. `--write-evidence` records the comparisons of variants that say what they `measure`
in `finsynth/audit/evidence.json`, which the lint rules and the build's defaults read.

Stages are plain functions; only `prepare_variant` writes files.
"""

from __future__ import annotations

import json
import math
import random
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from finsynth.audit.evidence import ChangeKind, EvidenceFile, Measurement, load_evidence
from finsynth.io import (
    InputError,
    Record,
    UserError,
    field_path,
    read_yaml,
    write_json_atomic,
    write_jsonl_atomic,
    write_text_atomic,
)

ENUM_TYPES = ("A", "C")
DEFAULT_BOOTSTRAP = 4000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Measures(_Strict):
    """What a variant's comparison with the baseline is evidence of: a rule's fix, quarantine or fault."""

    rule: str | None = None
    kind: ChangeKind = "recipe"
    change: str | None = None  # default: derived from the variant's settings


class Variant(_Strict):
    """One data variant, as build settings (see the module docstring)."""

    description: str = ""
    source: Literal["corpus", "build", "zero-shot"] = "build"  # zero-shot: the base model, no training
    data_from: str = "corpus"  # zero-shot: the variant whose test split it reads
    fix: list[str] | None = None  # None: no autofix; []: the build's default selection; else rule[:strategy]
    no_fix: list[str] = Field(default_factory=list)
    quarantine: Literal["stop", "errors"] = "stop"  # build: lint errors stop it, or quarantine their rows
    relabel: list[str] = Field(default_factory=list)
    force_relabel: bool = False
    annotator: Literal["auto", "rules", "openai"] = "rules"
    annotator_model: str | None = None  # a fitted model file, or "fit": fit one on the corpus's own rows first
    compose: str | None = None
    extra_rows: list[str] = Field(default_factory=list)  # more raw sample files (e.g. reviewed `generate` output)
    mutate: Literal["bad-enum"] | None = None  # corpus only: lesson 6's enumerated analyses in A and C
    # corpus only: rows added to the training split from its own rows (`background`: synth.background's 0-metric
    # paragraphs from B rows' macro sentences), after the split, so a derived row never lands in validation
    augment: list[Literal["background"]] = Field(default_factory=list)
    measures: Measures | None = None

    @model_validator(mode="after")
    def _coherent(self) -> Variant:
        if self.source == "corpus" and (self.relabel or self.compose or self.quarantine != "stop"):
            raise ValueError(
                "a corpus variant takes fix and mutate only; use source: build for relabel, compose "
                "or a quarantine policy"
            )
        if self.source != "corpus" and (self.mutate or self.augment):
            raise ValueError("mutate and augment apply to source: corpus")
        if self.source == "zero-shot" and (self.fix is not None or self.relabel or self.compose or self.extra_rows):
            raise ValueError("a zero-shot variant trains nothing: it takes no data settings")
        return self

    def change(self) -> str:
        """The variant's settings in words, for the evidence record."""
        if self.measures and self.measures.change:
            return self.measures.change
        parts = []
        if self.fix is not None:
            parts.append("fix " + (" ".join(self.fix) if self.fix else "(default selection)"))
        if self.mutate:
            parts.append(f"mutate {self.mutate}")
        if self.augment:
            parts.append("augment " + ", ".join(self.augment))
        if self.source == "build":
            parts.append("build" + (" --allow-errors" if self.quarantine == "errors" else ""))
        if self.relabel:
            parts.append(
                f"relabel {','.join(self.relabel)} ({self.annotator}"
                + (f" + model {self.annotator_model}" if self.annotator_model else "")
                + ")"
            )
        if self.compose:
            parts.append(f"compose {Path(self.compose).name}")
        if self.extra_rows:
            parts.append("extra rows " + ", ".join(Path(p).name for p in self.extra_rows))
        if self.source == "zero-shot":
            return "the base model, no adapter"
        return "; ".join(parts) or "corpus as it is"


class Recipe(_Strict):
    name: str
    description: str = ""
    baseline: str
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    build_seed: int = 13
    variants: dict[str, Variant]
    path: Path | None = None

    @model_validator(mode="after")
    def _baseline_known(self) -> Recipe:
        if self.baseline not in self.variants:
            raise ValueError(f"baseline {self.baseline!r} is not one of the variants ({', '.join(self.variants)})")
        for name, v in self.variants.items():
            if v.source == "zero-shot" and (
                v.data_from not in self.variants or self.variants[v.data_from].source == "zero-shot"
            ):
                raise ValueError(f"variant {name}: data_from {v.data_from!r} is not a variant with data")
        return self

    def resolve(self, value: str) -> Path:
        """A path in the recipe, relative to the recipe file (or the working directory)."""
        p = Path(value)
        if p.is_absolute() or self.path is None:
            return p
        return self.path.parent / p


def load_recipe(path: str | Path) -> Recipe:
    path = Path(path)
    data = read_yaml(path, "recipe", InputError, hint="; see data/recipes/ for examples")
    try:
        return Recipe.model_validate({**(data or {}), "path": path})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = field_path(err["loc"], "recipe")
        raise InputError(f"{path}: {where}: {err['msg']}") from exc


# --- data (CPU) ------------------------------------------------------------------------------------


def corpus_files(corpus: Path) -> list[Path]:
    """The corpus's sample rows: type_*.jsonl and test_cases.jsonl (not the predictions or TAT-QA)."""
    files = sorted(corpus.glob("type_*.jsonl")) + sorted(corpus.glob("test_cases.jsonl"))
    if not files:
        raise InputError(f"{corpus}: no type_*.jsonl / test_cases.jsonl here; pass the corpus directory")
    return files


def load_corpus(corpus: Path) -> tuple[list[Record], list[Record], int]:
    """Schema-valid corpus rows (training records, test records sorted by id) and how many did not load."""
    from finsynth.io import load_file
    from finsynth.schema import Sample, TestCase

    records: list[Record] = []
    bad = 0
    for path in corpus_files(corpus):
        loaded = load_file(path)
        records.extend(loaded.records)
        bad += len(loaded.quarantined)
    train = [r for r in records if isinstance(r.item, Sample)]
    tests = sorted((r for r in records if isinstance(r.item, TestCase)), key=lambda r: r.item.id)
    return train, tests, bad


def enumerate_analysis(sample: Any, index: int) -> str:
    """Lesson 6's bad styles: 'X——理由；Y——理由' after a lead-in (v12.1), a numbered list for one metric (v12)."""
    metrics = sample.output.metrics
    title = sample.input.chapter_title or "本段"

    def item(m: Any) -> str:
        reason = (m.reason or "段落重点分析").rstrip("。；;")
        return f"{m.metric_name}——{reason}"

    if len(metrics) >= 2 and index % 2 == 0:
        return f"段落分析{title}。核心指标：" + "；".join(item(m) for m in metrics) + "。"
    items = [item(m) for m in metrics] + (["其余数字——规模背景或历史参照，不是分析主体"] if len(metrics) < 2 else [])
    numbered = "".join(f"{i}. {text}；" for i, text in enumerate(items, 1)).rstrip("；")
    return f"段落分析{title}。核心指标：{numbered}。"


def _mutate_bad_enum(records: list[Record]) -> tuple[list[Record], int]:
    out, k = [], 0
    for r in records:
        item = r.item
        if item.type in ENUM_TYPES and item.output.metrics:
            output = item.output.model_copy(update={"analysis": enumerate_analysis(item, k)})
            item = item.model_copy(update={"output": output})
            k += 1
        out.append(r.model_copy(update={"item": item}))
    return out, k


def write_variant_rows(
    out: Path, train: Sequence[Record], val: Sequence[Record], tests: Sequence[Record], info: dict[str, Any]
) -> dict[str, Any]:
    """train/val/test.jsonl as the build writes them (`prompts.chat_row`) and the variant's manifest."""
    from finsynth.prompts import chat_row

    out.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(out / "train.jsonl", [chat_row(r.item) for r in train])
    write_jsonl_atomic(out / "val.jsonl", [chat_row(r.item) for r in val])
    write_jsonl_atomic(out / "test.jsonl", [chat_row(r.item) for r in tests])
    manifest = {
        "counts": {"train": len(train), "val": len(val), "test": len(tests)},
        "mean_train_count": round(sum(r.item.count for r in train) / max(len(train), 1), 3),
        **info,
    }
    write_json_atomic(out / "manifest.json", manifest)
    return manifest


def prepare_corpus_variant(name: str, variant: Variant, corpus: Path, out: Path, build_seed: int) -> dict[str, Any]:
    """The corpus as it is (split like the build), with the variant's fixes or mutation on its rows alone."""
    from finsynth.audit.lint import fix_records, plan_fixes
    from finsynth.build import stratified_split
    from finsynth.schema import Sample

    records, tests, bad = load_corpus(corpus)
    info: dict[str, Any] = {
        "variant": name,
        "source": "corpus",
        "change": variant.change(),
        "seed": build_seed,
        "unloadable_rows": bad,
    }
    if variant.fix is not None:
        plan = plan_fixes(variant.fix or None, variant.no_fix)
        records, fixes = fix_records(records, plan.apply)
        info["fixed"] = len(fixes)
        info["fix_plan"] = plan.model_dump()
    if variant.mutate == "bad-enum":
        records, info["mutated"] = _mutate_bad_enum(records)
    train, val = stratified_split(records, 0.1, build_seed)  # ids, types and counts unchanged: the corpus split
    if "background" in variant.augment:
        from finsynth.synth.background import background_samples

        made = background_samples([r.item for r in train if isinstance(r.item, Sample)])
        train = [*train, *(Record(path=r.provenance.source, line=r.provenance.line, item=r) for r in made)]
        info["augmented"] = {"background": len(made)}
    return write_variant_rows(out, train, val, tests, info)


def prepare_build_variant(name: str, variant: Variant, recipe: Recipe, corpus: Path, out: Path) -> dict[str, Any]:
    """`finsynth build` over the corpus rows (plus the variant's extra rows) with the variant's settings."""
    from finsynth.build import BuildConfig, BuildError, build
    from finsynth.schema import Sample

    raw = out.parent / f"_raw_{name}"  # the build reads a directory: only sample rows, not the predictions/TAT-QA
    if raw.exists():
        shutil.rmtree(raw)
    raw.mkdir(parents=True)
    for f in corpus_files(corpus):
        shutil.copyfile(f, raw / f.name)
    for i, extra in enumerate(variant.extra_rows):
        src = recipe.resolve(extra)
        if not src.is_file():
            raise InputError(f"variant {name}: extra_rows: {src}: no such file")
        shutil.copyfile(src, raw / f"extra_{i}_{src.name}")
    model_path = None
    if variant.annotator_model == "fit":
        from finsynth.synth.annotators.model import fit_model, save_model

        loaded_train, _tests, _bad = load_corpus(corpus)
        samples = [r.item for r in loaded_train if isinstance(r.item, Sample)]
        model_path = save_model(fit_model(samples), out.parent / f"_model_{name}.json")
    elif variant.annotator_model:
        model_path = recipe.resolve(variant.annotator_model)
    config = BuildConfig(
        raw_dir=raw,
        out_dir=out,
        seed=recipe.build_seed,
        val_fraction=0.1,
        allow_errors=variant.quarantine == "errors",
        fix=variant.fix is not None,
        fix_select=variant.fix or None,
        no_fix=variant.no_fix,
        relabel=[t.upper() for t in variant.relabel],
        force_relabel=variant.force_relabel,
        llm=variant.annotator,
        annotator_model=model_path,
        compose=recipe.resolve(variant.compose) if variant.compose else None,
    )
    try:
        result = build(config)
    except BuildError as exc:
        raise UserError(f"variant {name}: the build stopped: {exc}") from exc
    finally:
        shutil.rmtree(raw, ignore_errors=True)
    manifest = result.manifest
    train_rows = [json.loads(ln) for ln in (out / "train.jsonl").read_text(encoding="utf-8").splitlines() if ln]
    counts = [len(r["sample"]["output"]["metrics"]) for r in train_rows]
    # a `mode: weight` build keeps every row once with a loss weight: its count is the weighted mean
    weights = [((r["sample"].get("provenance") or {}).get("compose") or {}).get("weight", 1.0) for r in train_rows]
    weighted_mean = sum(w * c for w, c in zip(weights, counts, strict=True)) / max(sum(weights), 1e-9)
    info = {
        "variant": name,
        "source": "build",
        "change": variant.change(),
        "counts": {
            "read": manifest.counts.read,
            "quarantined": manifest.counts.quarantined,
            "quarantined_by_stage": manifest.counts.quarantined_by_stage,
        },
        "fixed": manifest.fixed,
        "train": len(train_rows),
        "mean_train_count": round(weighted_mean if train_rows else 0.0, 3),
    }
    write_json_atomic(out / "outcome_variant.json", info)
    return info


def prepare_variant(name: str, recipe: Recipe, corpus: Path, out: Path) -> dict[str, Any]:
    variant = recipe.variants[name]
    if variant.source == "corpus":
        return prepare_corpus_variant(name, variant, corpus, out, recipe.build_seed)
    return prepare_build_variant(name, variant, recipe, corpus, out)


# --- statistics --------------------------------------------------------------------------------------


def case_scores(eval_report: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Per test case id: (counts towards total, counts towards strict) from a `finsynth eval --format json` report."""
    return {
        c["id"]: (int(c["verdict"] in ("strict", "loose")), int(c["verdict"] == "strict")) for c in eval_report["cases"]
    }


class Comparison(BaseModel):
    """A variant against the baseline, paired by seed and case."""

    variant: str
    baseline: str
    seeds: list[int]
    cases: int
    baseline_total: list[float]
    variant_total: list[float]
    delta_total: float
    interval: tuple[float, float]
    delta_strict: float
    strict_interval: tuple[float, float]
    method: str
    confidence: float = 0.95


def paired_bootstrap(
    variant: dict[int, dict[str, tuple[int, int]]],
    baseline: dict[int, dict[str, tuple[int, int]]],
    *,
    variant_name: str = "variant",
    baseline_name: str = "baseline",
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    confidence: float = 0.95,
) -> Comparison:
    """Δ mean total (and strict) of `variant` over `baseline`, each `{seed: {case id: (total, strict)}}`, on the
    seeds and cases both have, with a percentile bootstrap interval that resamples seeds and cases (with
    replacement, independently): the seed-to-seed spread and the case-to-case spread both enter the interval."""
    seeds = sorted(set(variant) & set(baseline))
    if not seeds:
        raise ValueError(f"{variant_name} and {baseline_name} share no seed")
    cases = sorted(set.intersection(*(set(variant[s]) & set(baseline[s]) for s in seeds)))
    if not cases:
        raise ValueError(f"{variant_name} and {baseline_name} share no test case")
    # d[s][c] = (Δ total, Δ strict) of case c under seed s
    d = [[(variant[s][c][0] - baseline[s][c][0], variant[s][c][1] - baseline[s][c][1]) for c in cases] for s in seeds]
    n_s, n_c = len(seeds), len(cases)

    def stat(seed_idx: Sequence[int], case_idx: Sequence[int], k: int) -> float:
        return sum(sum(d[s][c][k] for c in case_idx) for s in seed_idx) / len(seed_idx) * (n_c / len(case_idx))

    rng = random.Random(seed)
    boots: tuple[list[float], list[float]] = ([], [])
    for _ in range(n_boot):
        s_idx = [rng.randrange(n_s) for _ in range(n_s)]
        c_idx = [rng.randrange(n_c) for _ in range(n_c)]
        for k in (0, 1):
            boots[k].append(stat(s_idx, c_idx, k))
    alpha = (1 - confidence) / 2

    def interval(values: list[float]) -> tuple[float, float]:
        values = sorted(values)
        lo = values[max(0, math.floor(alpha * len(values)))]
        hi = values[min(len(values) - 1, math.ceil((1 - alpha) * len(values)) - 1)]
        return round(lo, 2), round(hi, 2)

    every_seed, every_case = range(n_s), range(n_c)
    return Comparison(
        variant=variant_name,
        baseline=baseline_name,
        seeds=seeds,
        cases=n_c,
        baseline_total=[float(sum(baseline[s][c][0] for c in cases)) for s in seeds],
        variant_total=[float(sum(variant[s][c][0] for c in cases)) for s in seeds],
        delta_total=round(stat(every_seed, every_case, 0), 2),
        interval=interval(boots[0]),
        delta_strict=round(stat(every_seed, every_case, 1), 2),
        strict_interval=interval(boots[1]),
        method=f"paired bootstrap over {n_s} seed(s) x {n_c} cases ({n_boot} resamples, percentile)",
        confidence=confidence,
    )


def seed_interval(
    baseline: Sequence[float], variant: Sequence[float], confidence: float = 0.95
) -> tuple[float, tuple[float, float]]:
    """Δ mean and a paired t interval over seeds alone, for measurements whose per-case verdicts were not kept
    (wider than the bootstrap over cases: it knows only the seed-to-seed spread of the totals)."""
    from scipy import stats

    if len(baseline) != len(variant) or len(baseline) < 2:
        raise ValueError("a seed interval needs the same two or more seeds on both sides")
    diffs = [v - b for b, v in zip(baseline, variant, strict=True)]
    mean = sum(diffs) / len(diffs)
    sd = math.sqrt(sum((x - mean) ** 2 for x in diffs) / (len(diffs) - 1))
    half = float(stats.t.ppf(1 - (1 - confidence) / 2, len(diffs) - 1)) * sd / math.sqrt(len(diffs))
    return round(mean, 2), (round(mean - half, 2), round(mean + half, 2))


def measurement(
    recipe: Recipe,
    comparison: Comparison,
    *,
    model: str,
    device: str,
    versions: str,
    date: str,
    count_ratio: tuple[float | None, float | None] | None = None,
    data: str = "",
) -> Measurement:
    """The evidence record of a variant's comparison (its `measures` say which rule and kind)."""
    variant = recipe.variants[comparison.variant]
    measures = variant.measures or Measures()
    recipe_path = recipe.path.as_posix() if recipe.path else recipe.name
    return Measurement(
        rule=measures.rule,
        change=measures.change or variant.change(),
        kind=measures.kind,
        variant=comparison.variant,
        baseline=comparison.baseline,
        model=model,
        device=device,
        versions=versions,
        data=data or f"shared corpus, build seed {recipe.build_seed}",
        cases=comparison.cases,
        seeds=comparison.seeds,
        baseline_total=comparison.baseline_total,
        variant_total=comparison.variant_total,
        delta_total=comparison.delta_total,
        interval=comparison.interval,
        interval_method=comparison.method,
        confidence=comparison.confidence,
        delta_strict=comparison.delta_strict,
        count_ratio=count_ratio,
        recipe=recipe_path,
        date=date,
    )


def merge_evidence(evidence: EvidenceFile, new: Sequence[Measurement]) -> EvidenceFile:
    """The evidence with `new` replacing any earlier record of the same (rule, change, model, recipe)."""

    def key(m: Measurement) -> tuple:
        return (m.rule, m.change, m.model, m.recipe, m.variant, m.baseline)

    fresh = {key(m) for m in new}
    kept = [m for m in evidence.measurements if key(m) not in fresh]
    return EvidenceFile(measurements=[*kept, *new])


def write_evidence(path: Path, new: Sequence[Measurement]) -> EvidenceFile:
    merged = merge_evidence(load_evidence(path), new)
    write_json_atomic(path, merged.model_dump(mode="json"))
    return merged


# --- the bad-case -> data plan loop ------------------------------------------------------------------


def plan_recipe(diagnosis: Any, out_dir: Path, baseline_recipe: str = "count_anchor") -> tuple[Path, list[str]]:
    """Turn `finsynth diagnose`'s data plan into a recipe the outcome harness measures: its "add N rows of type T
    with k metrics" and "rebalance" items become compose slices (the corpus's own rows of that cell up-sampled
    to the share the plan asks for), so the plan is tested on the model before anyone writes new data. Items
    that copies cannot realise (label conflicts to review, new topics) are listed in the returned notes.
    Writes OUT_DIR/plan_compose.yaml and OUT_DIR/plan.yaml; returns the recipe's path and the notes."""
    import yaml

    tie = diagnosis.count_tie
    have: dict[tuple[str, int], int] = {
        (t, int(k)): n for t, dist in tie.by_type_distribution.items() for k, n in dist.items()
    }
    total = sum(have.values())
    added = sum(item.count for item in diagnosis.plan if item.action in ("add", "rebalance") and item.metric_counts)
    wanted: dict[tuple[tuple[str, ...], tuple[int, ...]], list[int]] = {}  # cell -> [rows to add, first item]
    notes: list[str] = []
    for i, item in enumerate(diagnosis.plan):
        if item.action in ("add", "rebalance") and item.metric_counts:
            key = (tuple(item.sample_type.split(",")), tuple(item.metric_counts))
            if not sum(n for (t, k), n in have.items() if t in key[0] and k in key[1]):
                notes.append(
                    f"plan item {i + 1} ({item.action} {item.count} type {item.sample_type}): the corpus has "
                    "no such row to up-sample; it needs new data (finsynth generate)"
                )
                continue
            wanted.setdefault(key, [0, i + 1])[0] += item.count
        elif item.action != "review":
            notes.append(
                f"plan item {i + 1} ({item.action} {item.count} type {item.sample_type}) is not realised "
                "by copies: " + item.reason[:160]
            )
    slices = []
    for (types, ks), (n_add, first) in wanted.items():
        cell = sum(n for (t, k), n in have.items() if t in types and k in ks)
        slices.append(
            {
                "name": f"plan-{first}-{''.join(types)}-{''.join(map(str, ks))}",
                "where": {
                    "type": list(types) if len(types) > 1 else types[0],
                    "count": list(ks) if len(ks) > 1 else ks[0],
                },
                "share": round(min(0.9, (cell + n_add) / (total + added)), 4),
            }
        )
    counts: dict[int, float] = {}
    for (_t, k), n in have.items():
        counts[k] = counts.get(k, 0) + n
    compose = {
        "counts": {k: round(n / total, 4) for k, n in sorted(counts.items())},
        "types": "free",
        "max_upsample": 3,
        "slices": slices,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    compose_path = out_dir / "plan_compose.yaml"
    write_text_atomic(
        compose_path,
        "# written by finsynth diagnose --recipe-out: the data plan as compose slices\n"
        + yaml.safe_dump(compose, allow_unicode=True, sort_keys=False),
    )
    recipe = {
        "name": "diagnose-plan",
        "description": "finsynth diagnose's data plan, realised by up-sampling the "
        "corpus's own rows of the cells it names",
        "baseline": "corpus",
        "seeds": [0, 1, 2],
        "variants": {
            "corpus": {"source": "corpus"},
            "plan": {
                "compose": compose_path.name,
                "measures": {"kind": "recipe", "change": "diagnose data plan"},
                "description": "; ".join(s["name"] for s in slices) or "no realisable item",
            },
        },
    }
    recipe_path = out_dir / "plan.yaml"
    write_text_atomic(
        recipe_path,
        "# written by finsynth diagnose --recipe-out; run it with benchmarks/outcome.py "
        "--recipe\n" + yaml.safe_dump(recipe, allow_unicode=True, sort_keys=False),
    )
    return recipe_path, notes
