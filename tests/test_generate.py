"""`generate`: new candidates (and annotations of given paragraphs) through the engine, validated,
linted, written for review; `--dry-run` renders the first prompt without any endpoint."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, Reply, Request
from llm_helpers import API_KEY

from finsynth.audit.lint import lint_sample
from finsynth.io import load_paths, write_jsonl_atomic
from finsynth.llm.config import EndpointConfig
from finsynth.schema import Extraction, Metric, ParagraphInput, Sample
from finsynth.synth.annotators.rules import annotate
from finsynth.synth.generate import build_jobs, generate

REPO = Path(__file__).resolve().parents[1]
INDEX = re.compile(r"这是第 (\d+) 条")
FIXED_COUNT = re.compile(r"(?:提取|输出|给出|恰好|正好)\s*[0-9一二两三四五]+\s*个")


def c_reply(index: int, enumerated: bool = False) -> str:
    paragraph = (
        f"样本{index}公司2025H1营业收入{100 + index}亿元，同比增长{10 + index}%，主要受益于新品放量。"
        f"毛利率为{30 + index}.5%，同比提升1.2个百分点，产品结构持续改善。"
    )
    analysis = (
        "段落围绕营业收入和毛利率展开，收入增长来自新品放量，毛利率提升反映产品结构改善，其余数字是对这两项指标的佐证。"
    )
    if enumerated:  # lesson 6's numbered list: an error a re-ask must fix
        analysis = "核心指标：1. 营业收入——新品放量；2. 毛利率——产品结构改善。"
    return json.dumps(
        {
            "chapter_title": "经营分析",
            "paragraph": paragraph,
            "analysis": analysis,
            "metrics": [
                {"metric_name": "营业收入", "metric_type": "financial", "score": 0.95, "reason": "收入增长是主线"},
                {"metric_name": "毛利率", "metric_type": "financial", "score": 0.9, "reason": "盈利能力的核心"},
            ],
        },
        ensure_ascii=False,
    )


def c_script(request: Request) -> Reply:
    index = int(INDEX.search(request.messages[1]["content"]).group(1))
    if index == 3 and request.turn == 1:
        return Reply(content=c_reply(index, enumerated=True))  # numbered-list: fixed after the re-ask
    if index == 5:  # zero metrics is outside C's range, every time
        data = json.loads(c_reply(index))
        data["metrics"] = []
        return Reply(content=json.dumps(data, ensure_ascii=False))
    return Reply(content=f"```json\n{c_reply(index)}\n```")


def raw_examples(root: Path) -> Path:
    rows = []
    for i in range(3):
        rows.append(
            Sample(
                type="C",
                input=ParagraphInput(chapter_title="示例", paragraph=f"示例段落{i}，净利润增长{i}0%。"),
                output=Extraction(
                    analysis=f"本段有{i + 1}个指标被深度分析。示例分析{i}，净利润是分析主体。"
                    if i == 1
                    else f"示例分析{i}，净利润是分析主体。",
                    metrics=[Metric(metric_name="净利润", metric_type="financial", score=0.9)],
                ),
            )
        )
    write_jsonl_atomic(root / "raw" / "type_c.jsonl", rows)
    return root / "raw"


def test_generate_new_candidates(tmp_path):
    examples = raw_examples(tmp_path)
    with FakeOpenAI(c_script) as server:
        config = EndpointConfig(base_url=server.base_url, api_key=API_KEY, model="fake-model", timeout=2, max_reasks=2)
        result = generate(
            "C",
            6,
            examples_dir=examples,
            out_dir=tmp_path / "generated",
            quarantine_dir=tmp_path / "quarantine",
            config=config,
            cache_path=tmp_path / "c.sqlite",
            progress=False,
            concurrency=3,
        )
        requests = server.total_requests
    assert result.stats.accepted == 5 and result.stats.quarantined == 1
    assert result.stats.engine.reasks == 1 + 2  # index 3 fixed once; index 5 used both re-asks
    assert requests == 6 + 3
    loaded = load_paths([result.out_path])
    assert not loaded.quarantined and len(loaded.samples) == 5
    assert Path(result.out_path).parent == tmp_path / "generated" and Path(result.out_path).name.startswith("type_c-")
    for sample in loaded.samples:
        assert (
            sample.type == "C" and sample.provenance.annotator == "openai" and sample.provenance.model == "fake-model"
        )
        assert not [f for f in lint_sample(sample) if f.severity == "error"]
        assert not sample.output.analysis.startswith("本段有")
    rejected = [json.loads(line) for line in Path(result.quarantine_path).read_text(encoding="utf-8").splitlines()]
    assert len(rejected) == 1 and rejected[0]["extra"]["index"] == 5
    assert "takes 1-4 metrics" in rejected[0]["reason"] and '"metrics": []' in rejected[0]["raw"]
    # the prompts: few-shot examples from the raw set, rotating topics, never a fixed count
    jobs, items = build_jobs("C", 6, examples_dir=examples)
    prompts = [job.messages[1]["content"] for job in jobs]
    assert all("【示例1】" in p and "示例段落" in p for p in prompts)
    assert len({item.industry for item in items}) == 6 and len(set(prompts)) == 6
    assert not any(FIXED_COUNT.search(p) for p in prompts)
    # an example's count-announcing opening (GUIDE lesson 5) is cut before it is shown
    assert any("示例分析1" in p for p in prompts) and not any("个指标被深度分析。示例" in p for p in prompts)
    # a re-run is served from the cache and writes the same file
    with FakeOpenAI(c_script) as server:
        config = EndpointConfig(base_url=server.base_url, api_key=API_KEY, model="fake-model", timeout=2)
        again = generate(
            "C",
            6,
            examples_dir=examples,
            out_dir=tmp_path / "generated",
            quarantine_dir=tmp_path / "quarantine",
            config=config,
            cache_path=tmp_path / "c.sqlite",
            progress=False,
        )
        assert server.total_requests == 0
    assert again.out_path == result.out_path and again.usage.calls == 0


def b_script(request: Request) -> Reply:
    paragraph = request.paragraph
    core = "逆变器出货量" if "逆变器" in paragraph else "毛利率"
    sample = Sample(
        type="B",
        input=ParagraphInput(paragraph=paragraph),
        output=Extraction(
            analysis="-",
            metrics=[Metric(metric_name=core, metric_type="business" if core != "毛利率" else "financial", score=1.0)],
        ),
    )
    return Reply(content=annotate(sample).to_json())


def cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "FINSYNTH_"))}
    return subprocess.run(
        [sys.executable, "-m", "finsynth", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_generate_from_paragraphs_cli_and_no_key_leak(tmp_path):
    paragraphs = tmp_path / "paragraphs.jsonl"
    paragraphs.write_text(
        json.dumps(
            {
                "chapter_title": "盈利能力",
                "paragraph": "受益于原材料价格下降，公司毛利率提升至31.2%。天然气价格同比下降18%。",
            },
            ensure_ascii=False,
        )
        + "\n"
        + "受益于储能市场爆发，公司逆变器出货量达68GW，同比增长42%。据BNEF统计全球新增装机约310GW。\n",
        encoding="utf-8",
    )
    with FakeOpenAI(b_script) as server:
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": API_KEY, "FINSYNTH_MODEL": "fake-model"}
        done = cli(
            ["generate", "--type", "B", "--from-paragraphs", str(paragraphs), "--n", "5", "--format", "json"],
            tmp_path,
            env,
        )
        assert f"Bearer {API_KEY}" in server.auth_headers
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["accepted"] == 2 and summary["requested"] == 2 and summary["usage"]["calls"] == 2
    rows = load_paths([tmp_path / summary["out"]]).samples
    assert [s.input.chapter_title for s in rows] == ["盈利能力", ""]
    assert rows[1].output.metrics[0].metric_name == "逆变器出货量"
    assert (tmp_path / "data/raw/generated").is_dir() and (tmp_path / ".finsynth/llm-cache.sqlite").is_file()
    assert API_KEY not in done.stdout + done.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert API_KEY.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_dry_run_needs_no_endpoint(tmp_path):
    raw_examples(tmp_path)
    done = cli(["generate", "--type", "C", "--n", "3", "--dry-run", "--examples", str(tmp_path / "raw")], tmp_path, {})
    assert done.returncode == 0, done.stderr
    assert "--- system ---" in done.stdout and "--- user ---" in done.stdout
    assert "这是第 1 条" in done.stdout and "【示例1】" in done.stdout and "数量" in done.stdout
    assert not (tmp_path / "data").exists()  # nothing written
    as_json = cli(["generate", "--type", "D", "--dry-run", "--format", "json"], tmp_path, {})
    messages = json.loads(as_json.stdout)["messages"]
    assert messages[0]["role"] == "system" and "financial" in messages[1]["content"]


@pytest.mark.slow
def test_generate_without_endpoint_is_an_error(tmp_path):
    done = cli(["generate", "--type", "A", "--n", "2"], tmp_path, {})
    assert done.returncode == 2 and "needs an endpoint" in done.stderr
