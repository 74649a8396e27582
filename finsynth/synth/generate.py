"""Generation of new candidate samples of type A-D through the LLM engine, for human review.

Two modes:

* new paragraphs: the model writes a paragraph (rotating industry and paragraph structure, with
  few-shot examples of the type drawn deterministically from the raw set) and annotates it;
* `--from-paragraphs FILE`: the model annotates given paragraphs (JSONL of {chapter_title,
  paragraph} or plain text, one paragraph a line).

The count of metrics is always left to the paragraph, never fixed by the prompt. Every reply is
validated and linted like any other row (schema, lint errors, the type's style rules, the type's count
range) with re-asks; accepted candidates go to `data/raw/generated/type_<t>-<run>.jsonl` (which the
build skips unless told to include them) and failures to a quarantine file outside `data/raw`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from pathlib import Path
from typing import cast

from pydantic import BaseModel

from finsynth.errors import ConfigError
from finsynth.io import QuarantineRow, expand_paths, load_file, write_jsonl_atomic
from finsynth.llm.cache import ResponseCache
from finsynth.llm.config import EndpointConfig, load_config
from finsynth.llm.engine import Job, LLMEngine
from finsynth.parsing import find_json_object, strip_wrappers
from finsynth.prompts import DEFAULT_TEMPLATES, Templates
from finsynth.schema import Extraction, ParagraphInput, Provenance, Sample, SampleType
from finsynth.synth.relabel import ANNOTATOR_SYSTEM, exclusion_categories
from finsynth.synth.run import RunResult, RunStats
from finsynth.synth.validate import REASK_TEMPLATE, Validation, lint_errors, reasker, validate_extraction

GENERATE_TEMPLATES = {t: f"generate_{t.lower()}.j2" for t in "ABCD"}
SHARED_TEMPLATE = "_generate_rules.j2"
COUNT_RANGE = {"A": (1, 3), "B": (0, 2), "C": (1, 4), "D": (2, 3)}
INDUSTRIES = [
    "白酒",
    "光伏",
    "储能",
    "动力电池",
    "半导体设备",
    "创新药",
    "医疗器械",
    "银行",
    "保险",
    "证券",
    "煤炭",
    "火电",
    "水电",
    "钢铁",
    "化工",
    "玻纤",
    "水泥",
    "工程机械",
    "汽车整车",
    "汽车零部件",
    "家电",
    "消费电子",
    "零售",
    "餐饮连锁",
    "调味品",
    "乳制品",
    "养殖",
    "物流快递",
    "航空",
    "航运",
    "港口",
    "高速公路",
    "房地产开发",
    "物业管理",
    "建筑央企",
    "云计算",
    "软件SaaS",
    "游戏",
    "广告营销",
    "通信运营",
    "光模块",
    "军工电子",
    "环保水务",
    "燃气",
    "电网设备",
    "风电整机",
    "锂矿",
    "黄金",
    "铜冶炼",
    "跨境电商",
]
FOCUS = {
    "A": [
        "围绕一两个经营结果展开，给出原因与趋势",
        "先给结论再用数据支撑，分析集中在少数指标",
        "对比分析几个相互关联的财务结果",
    ],
    "B": [
        "数字很多但只有一个结果被深入分析，其余是原因、拆分或背景",
        "以行业与宏观数据为主、公司指标只是顺带提及",
        "纯背景介绍段落，罗列规模与历史数据但不做深入分析",
        "一个结果配大量归因数据和子项拆分",
    ],
    "C": [
        "只围绕一个指标做深入的归因分析，其他数字都是佐证",
        "并列深入分析几个相互关联的指标，每个都有原因和趋势",
        "先总后分：一个总量指标加上被单独深入分析的几个关键分项",
        "分析的深度集中在两三个指标上，穿插少量背景数据",
    ],
    "D": [
        "同时深入分析一个财务指标和一个经营指标，并说明二者关系",
        "经营数据驱动财务结果，两类指标都被展开分析",
        "财务指标为主线，辅以被深入分析的经营效率指标",
    ],
}


class GenerateStats(RunStats):
    """What a generate run did."""

    type: str
    requested: int
    accepted: int = 0
    mode: str = "new"


class GenerateResult(RunResult):
    """Accepted candidates, rejects, usage and stats; where they were written."""

    stats: GenerateStats
    out_path: str | None = None
    quarantine_path: str | None = None


class GenerateItem(BaseModel):
    """One generation request before rendering."""

    index: int
    input: ParagraphInput | None = None
    industry: str = ""
    focus: str = ""
    source: str = ""
    line: int = 0


def read_paragraphs(path: str | os.PathLike[str]) -> list[GenerateItem]:
    """Paragraphs to annotate: JSONL rows with `paragraph` (and `chapter_title`, or a whole sample's
    `input`), or plain text with one paragraph a line."""
    items: list[GenerateItem] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            if text.startswith("{"):
                row = json.loads(text)
                row = row.get("input", row)
                inp = ParagraphInput(chapter_title=row.get("chapter_title", ""), paragraph=row["paragraph"])
            else:
                inp = ParagraphInput(paragraph=text)
            items.append(GenerateItem(index=len(items) + 1, input=inp, source=str(path), line=number))
    return items


_COUNT_OPENING = re.compile(r"^\s*(?:本段|该段|此段|段落)[^。，]{0,8}?(?:\d+|[一二两三四])\s*个[^。]*。\s*")


def clean_example(sample: Sample) -> Sample | None:
    """The sample as a few-shot example, or None when unfit: an opening sentence that announces a
    count ("本段只有1个指标被深度分析。", in every C row of the reference corpus) is cut, since a model
    copies it (GUIDE lesson 5); what remains must be lint-clean for its type."""
    analysis = _COUNT_OPENING.sub("", sample.output.analysis, count=1).strip()
    if not analysis:
        return None
    cleaned = sample.model_copy(update={"output": sample.output.model_copy(update={"analysis": analysis})})
    return None if lint_errors(cleaned) else cleaned


def load_examples(sample_type: str, examples_dir: str | os.PathLike[str] | None) -> list[Sample]:
    """Clean samples of `sample_type` from the raw set (generated candidates excluded), by id."""
    if examples_dir is None or not Path(examples_dir).exists():
        return []
    found = []
    for path in expand_paths([examples_dir]):
        if "generated" in path.parts:
            continue
        for record in load_file(path).records:
            if isinstance(record.item, Sample) and record.item.type == sample_type:
                cleaned = clean_example(record.item)
                if cleaned is not None:
                    found.append(cleaned)
    return sorted(found, key=lambda s: s.id)


def pick_examples(pool: list[Sample], index: int, seed: int, k: int = 2) -> list[dict]:
    """`k` examples for item `index`, chosen deterministically from (seed, index)."""
    if not pool:
        return []
    rng = random.Random(f"{seed}:{index}")
    chosen = rng.sample(pool, min(k, len(pool)))
    return [
        {"chapter_title": s.input.chapter_title, "paragraph": s.input.paragraph, "output": s.output.to_json()}
        for s in chosen
    ]


def generate_messages(
    sample_type: str, item: GenerateItem, examples: list[dict], templates: Templates = DEFAULT_TEMPLATES
) -> list[dict[str, str]]:
    """System + user messages for one generation request."""
    mentions: list[str] = []
    if item.input is not None and sample_type in ("B", "D"):
        from finsynth.synth.relabel import mention_hints

        mentions = mention_hints(
            Sample(type=cast(SampleType, sample_type), input=item.input, output=Extraction(analysis="-"))
        )
    user = templates.render(
        GENERATE_TEMPLATES[sample_type],
        examples=examples,
        index=item.index,
        industry=item.industry,
        focus=item.focus,
        chapter_title=item.input.chapter_title if item.input else "",
        paragraph=" ".join(item.input.paragraph.split("\n")) if item.input else "",
        mentions=mentions,
        categories=exclusion_categories(),
    )
    return [{"role": "system", "content": templates.render(ANNOTATOR_SYSTEM)}, {"role": "user", "content": user}]


def _count_check(sample_type: str):
    low, high = COUNT_RANGE[sample_type]

    def check(extraction: Extraction) -> list[str]:
        n = len(extraction.metrics)
        if not low <= n <= high:
            return [f"type {sample_type} takes {low}-{high} metrics as the paragraph warrants; got {n}"]
        return []

    return check


def generate_validator(sample_type: str, item: GenerateItem):
    """Validate one generation reply: the paragraph (given or written), then schema, count range, lint."""

    def validate(raw: str) -> Validation:
        if item.input is not None:
            return validate_extraction(raw, sample_type, item.input, checks=[_count_check(sample_type)])
        try:
            data = find_json_object(strip_wrappers(raw))
        except json.JSONDecodeError as exc:
            return Validation(errors=[f"invalid JSON: {exc.msg}"])
        paragraph = str(data.pop("paragraph", "") or "").strip()
        title = str(data.pop("chapter_title", "") or "").strip()
        if not paragraph:
            return Validation(errors=["missing field: paragraph"], json_valid=True, data=data)
        verdict = validate_extraction(
            json.dumps(data, ensure_ascii=False),
            sample_type,
            ParagraphInput(chapter_title=title, paragraph=paragraph),
            checks=[_count_check(sample_type)],
        )
        if verdict.data is not None:
            verdict.data = {"chapter_title": title, "paragraph": paragraph, **verdict.data}
        return verdict

    return validate


def plan_items(
    sample_type: str, n: int, from_paragraphs: str | os.PathLike[str] | None, seed: int
) -> list[GenerateItem]:
    """The requests of a run: the given paragraphs (first `n`), or `n` new ones with rotating hints."""
    if from_paragraphs is not None:
        items = read_paragraphs(from_paragraphs)
        return items[:n] if n else items
    rng = random.Random(f"plan:{seed}:{sample_type}")
    industries = INDUSTRIES[:]
    rng.shuffle(industries)
    focus = FOCUS[sample_type]
    return [
        GenerateItem(
            index=i + 1, industry=industries[i % len(industries)], focus=focus[i % len(focus)], source="generated"
        )
        for i in range(n)
    ]


def run_id(sample_type: str, jobs: list[Job], model: str) -> str:
    """A deterministic run id from the type, the model and every request."""
    digest = hashlib.sha256(f"{sample_type}:{model}".encode())
    for job in jobs:
        digest.update(job.template_hash.encode())
        digest.update(json.dumps(job.messages, ensure_ascii=False, sort_keys=True).encode())
    return digest.hexdigest()[:12]


def generate(
    sample_type: str,
    n: int,
    *,
    from_paragraphs: str | os.PathLike[str] | None = None,
    examples_dir: str | os.PathLike[str] | None = "data/raw",
    out_dir: str | os.PathLike[str] = "data/raw/generated",
    quarantine_dir: str | os.PathLike[str] = "data/quarantine/generated",
    config: EndpointConfig | None = None,
    concurrency: int | None = None,
    cache_path: str | os.PathLike[str] | None = ".finsynth/llm-cache.sqlite",
    templates: Templates = DEFAULT_TEMPLATES,
    progress: bool = True,
    seed: int = 0,
    max_reasks: int | None = None,
    write: bool = True,
) -> GenerateResult:
    """Generate (or annotate) `n` candidates of `sample_type`, validate them, and write them out."""
    sample_type = sample_type.upper()
    if sample_type not in GENERATE_TEMPLATES:
        raise ConfigError(f"sample_type must be one of A, B, C, D, not {sample_type!r}", setting="sample_type")
    config = config or load_config()
    if not config.configured:
        raise ConfigError(
            "generate needs an endpoint: set OPENAI_BASE_URL and/or OPENAI_API_KEY, or base_url in a "
            "finsynth.toml (copy finsynth.example.toml, which documents every key)"
        )
    jobs, items = build_jobs(
        sample_type, n, from_paragraphs=from_paragraphs, examples_dir=examples_dir, templates=templates, seed=seed
    )
    names = [ANNOTATOR_SYSTEM, GENERATE_TEMPLATES[sample_type], SHARED_TEMPLATE, REASK_TEMPLATE]
    stats = GenerateStats(
        type=sample_type,
        requested=len(jobs),
        mode="annotate" if from_paragraphs else "new",
        model=config.model,
        endpoint=config.public(),
        template_hashes={name: templates.hash(name) for name in names},
    )
    cache = ResponseCache(cache_path)
    try:
        engine = LLMEngine(
            config,
            cache,
            concurrency=concurrency,
            max_reasks=max_reasks,
            progress=progress,
            description=f"generate {sample_type}",
        )
        results = engine.run(jobs)
    finally:
        cache.close()
    thash = jobs[0].template_hash if jobs else templates.combined_hash(names)
    rid = run_id(sample_type, jobs, config.model)
    samples: list[Sample] = []
    quarantined: list[QuarantineRow] = []
    for item, result in zip(items, results, strict=True):
        validation = result.validation
        if result.ok and validation is not None and validation.extraction is not None:
            inp = item.input or ParagraphInput(
                chapter_title=validation.data.get("chapter_title", ""), paragraph=validation.data["paragraph"]
            )
            samples.append(
                Sample(
                    type=cast(SampleType, sample_type),
                    input=inp,
                    output=validation.extraction,
                    provenance=Provenance(
                        source=item.source or "generated",
                        line=item.line,
                        annotator="openai",
                        template_hash=thash,
                        model=config.model,
                        run=rid,
                        index=item.index,
                    ),
                )
            )
        else:
            quarantined.append(
                QuarantineRow(
                    path=item.source or "generated",
                    line=item.line or item.index,
                    field="output",
                    stage="generate",
                    reason="; ".join(result.errors) or "no reply",
                    raw=result.raw or "",
                    extra={
                        "type": sample_type,
                        "index": item.index,
                        "failure": result.failure,
                        "reasks": result.reasks,
                        "retries": result.retries,
                        "transport_errors": result.transport_errors,
                        "model": config.model,
                    },
                )
            )
    stats.accepted, stats.quarantined = len(samples), len(quarantined)
    stats.engine = engine.stats
    stats.cost = engine.usage.cost(config.model, config.prices)
    out = GenerateResult(samples=samples, quarantined=quarantined, usage=engine.usage, stats=stats)
    if write:
        stem = f"type_{sample_type.lower()}-{rid}"
        out.out_path = str(write_jsonl_atomic(Path(out_dir) / f"{stem}.jsonl", samples))
        if quarantined:
            out.quarantine_path = str(write_jsonl_atomic(Path(quarantine_dir) / f"{stem}.jsonl", quarantined))
    return out


def build_jobs(
    sample_type: str,
    n: int,
    *,
    from_paragraphs=None,
    examples_dir="data/raw",
    templates: Templates = DEFAULT_TEMPLATES,
    seed: int = 0,
) -> tuple[list[Job], list[GenerateItem]]:
    """The engine jobs of a generation run (also what `--dry-run` renders)."""
    sample_type = sample_type.upper()
    names = [ANNOTATOR_SYSTEM, GENERATE_TEMPLATES[sample_type], SHARED_TEMPLATE, REASK_TEMPLATE]
    thash = templates.combined_hash(names)
    pool = load_examples(sample_type, examples_dir)
    items = plan_items(sample_type, n, from_paragraphs, seed)
    reask = reasker(templates)
    jobs = [
        Job(
            id=f"{sample_type}-{item.index}",
            messages=generate_messages(sample_type, item, pick_examples(pool, item.index, seed), templates),
            template_hash=thash,
            validate=generate_validator(sample_type, item),
            reask=reask,
        )
        for item in items
    ]
    return jobs, items
