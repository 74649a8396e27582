"""Shared helpers for the LLM tests: synthetic Type B samples and a scenario-routing script.

The samples are written here (no corpus needed): each paragraph has one core metric (毛利率) and
several drivers. The "good" reply for a sample is the offline rules annotator's analysis, which
passes the lint rules a relabel reply is held to; scenarios are picked by the chapter title.
"""

from __future__ import annotations

import json
import threading

from fake_openai import Reply, Request

from finsynth.schema import Extraction, Metric, ParagraphInput, Sample
from finsynth.synth.annotators.rules import annotate

API_KEY = "sk-test-DO-NOT-LEAK-5f3a9c1e7b"


def make_sample(index: int, scenario: str = "good") -> Sample:
    """A distinct Type B sample; `scenario` goes into the chapter title for the script to read."""
    paragraph = (
        f"受益于原材料价格大幅下降，样本{index}号公司2025H1毛利率提升至{20 + index % 17}.{index % 10}%，"
        f"同比改善{1 + index % 3}.{index % 7}个百分点。玻纤纱均价同比下降约{10 + index % 5}%，"
        f"叶腊石采购价同比下降{20 + index % 9}%，天然气价格同比下降{15 + index % 4}%。"
    )
    return Sample(
        type="B",
        input=ParagraphInput(chapter_title=f"场景{scenario}", paragraph=paragraph),
        output=Extraction(
            analysis="旧的分析",
            metrics=[Metric(metric_name="毛利率", metric_type="financial", score=1.0, reason="段落唯一的分析主体")],
        ),
    )


def good_reply(sample: Sample) -> str:
    return annotate(sample).to_json()


def scenario_of(request: Request) -> str:
    for message in request.messages:
        if message.get("role") == "user":
            content = str(message.get("content", ""))
            marker = "【章节标题】场景"
            if marker in content:
                return content.split(marker, 1)[1].split("\n", 1)[0].strip()
    return "good"


class Router:
    """Scripted behaviour per scenario; `samples_by_paragraph` supplies the good replies."""

    def __init__(self, samples: list[Sample]):
        self.samples = {" ".join(s.input.paragraph.split("\n")): s for s in samples}
        self.lock = threading.Lock()
        self.bodies: list[dict] = []

    def add(self, samples: list[Sample]) -> None:
        for s in samples:
            self.samples[" ".join(s.input.paragraph.split("\n"))] = s

    def __call__(self, request: Request) -> Reply:
        with self.lock:
            self.bodies.append(request.body)
        sample = self.samples.get(request.paragraph or "")
        if sample is None:
            return Reply(status=400, body={"error": {"message": "unknown paragraph"}})
        good = good_reply(sample)
        scenario = scenario_of(request)
        if scenario == "good":
            return Reply(content=good)
        if scenario == "fence":
            return Reply(content=f"好的，结果如下：\n```json\n{good}\n```\n")
        if scenario == "think":
            return Reply(content=f'<think>先找核心指标，再逐项排除。{{"analysis": 1}}</think>\n{good}')
        if scenario == "fixable":  # prose analysis (style-mismatch) first, fixed after the re-ask
            if request.turn == 1:
                bad = {
                    "analysis": "本段主要分析毛利率的提升，其原因是原材料价格下降。",
                    "metrics": json.loads(good)["metrics"],
                }
                return Reply(content=json.dumps(bad, ensure_ascii=False))
            return Reply(content=good)
        if scenario == "invalid":  # never valid: a score out of range every time
            return Reply(
                content=json.dumps(
                    {"analysis": "x", "metrics": [{"metric_name": "毛利率", "metric_type": "financial", "score": 7}]},
                    ensure_ascii=False,
                )
            )
        if scenario == "ratelimit":
            if request.attempt == 1:
                return Reply(
                    status=429,
                    headers={"Retry-After": "1"},
                    body={"error": {"message": "rate limited", "type": "rate_limit"}},
                )
            return Reply(content=good)
        if scenario == "boom":
            if request.attempt <= 2:
                return Reply(status=500)
            return Reply(content=good)
        if scenario == "hang":
            if request.attempt == 1:
                return Reply(hang=True)
            return Reply(content=good)
        if scenario == "reset":
            if request.attempt == 1:
                return Reply(drop=True)
            return Reply(content=good)
        if scenario == "dead":
            return Reply(status=503)
        if scenario == "slow":
            return Reply(content=good, delay=0.3)
        raise AssertionError(f"unknown scenario {scenario}")
