"""`finsynth qa generate`: questions per chunk and grounded answers through the LLM engine, against the loopback
fake server: re-asks, quarantine, zero-question chunks, aborted runs, augmentation, determinism, the CLI."""

from __future__ import annotations

import json
import re
import socket
import threading
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, Reply, Request
from llm_helpers import API_KEY

from finsynth.cli import main
from finsynth.io import InputError, read_jsonl
from finsynth.llm.config import EndpointConfig
from finsynth.qa.generate import (
    PUNCTUATION_REMOVED,
    Chunk,
    GeneratedQuestion,
    QAGenConfig,
    answer_messages,
    augmentation_chosen,
    generate_qa,
    question_messages,
    read_chunks,
    remove_punctuation,
)
from finsynth.qa.grounding import numbers, ungrounded
from finsynth.qa.schema import QASample, Source

PASSAGE = re.compile(r"<passage>\n(.*?)\n</passage>", re.DOTALL)
QUESTION = re.compile(r"<question>(.*?)</question>", re.DOTALL)
INVENTED = "4321.97"

ZH = {
    "收入": "公司2025年上半年实现营业收入128.6亿元，同比增长12.5%，主要受益于新能源业务放量。"
    "其中储能业务收入45.2亿元，同比增长38.0%，占营业收入的比重提升至35.1%。",
    "盈利": "毛利率为24.3%，同比提升1.8个百分点，主要因为原材料价格下降和产品结构改善。"
    "归母净利润为15.7亿元，同比增长20.4%。",
}
EN = {
    "revenue": "Revenue for fiscal 2019 was $1,496.5 million, up from $1,352.4 million in 2018, driven by Fixed "
    "Price contracts. Operating income rose to $212.3 million.",
    "cash": "Cash and cash equivalents were $98.7 million at year end, compared with $76.2 million a year "
    "earlier, as collections improved.",
}
NOTHING = "以下为目录与声明页，无正文内容。"


# --- the scripted model -----------------------------------------------------------------------------


def first_sentence(text: str) -> str:
    return re.split(r"(?<=[。！？])|(?<=[.!?])\s+", text.strip(), maxsplit=1)[0]


def good_questions(passage: str, language: str) -> list[dict]:
    if language == "en":
        return [
            {"question": "What is the first figure the passage gives?", "kind": "span", "difficulty": "easy"},
            {"question": "What is the sum of the first two figures?", "kind": "arithmetic", "difficulty": "medium"},
            {"question": "What does the passage say first?", "kind": "explain", "difficulty": "easy"},
        ]
    return [
        {"question": "段落给出的第一个数值是多少？", "kind": "span", "difficulty": "easy"},
        {"question": "段落前两个数值之和是多少？", "kind": "arithmetic", "difficulty": "medium"},
        {"question": "段落第一句说明了什么？", "kind": "explain", "difficulty": "easy"},
    ]


def good_answer(passage: str, question: str) -> dict:
    found = numbers(passage)
    if "sum" in question or "之和" in question:
        a, b = found[0], found[1]
        decimals = max(a.decimals, b.decimals)
        total = f"{abs(a.written) + abs(b.written):.{decimals}f}"
        step = f"{abs(a.written):.{a.decimals}f} + {abs(b.written):.{b.decimals}f} = {total}"
        return {
            "analysis": "The question adds the first two figures."
            if "sum" in question
            else "问题要求把前两个数值相加。",
            "steps": [step],
            "answer": total,
            "spans": [total],
            "value": float(total),
            "scale": "",
            "unit": None,
        }
    if "first figure" in question or "第一个数值" in question:
        text = found[0].text
        return {
            "analysis": "The first figure is in the first sentence."
            if "figure" in question
            else "第一个数值在第一句。",
            "steps": [],
            "answer": text,
            "spans": [text],
            "value": None,
            "scale": "",
            "unit": None,
        }
    # a clause without Latin letters: `ungrounded` flags "H1" of "2025H1" today (see the xfail test below)
    sentence = next(
        (c for c in re.split(r"[，。]", first_sentence(passage)) if c and not re.search(r"\d[A-Za-z]", c)),
        first_sentence(passage),
    )
    return {
        "analysis": "The first sentence answers it." if "passage" in question else "第一句即是答案。",
        "steps": [],
        "answer": sentence,
        "spans": [sentence],
        "value": None,
        "scale": "",
        "unit": None,
    }


class Script:
    """Routes each request by its passage (a scenario per passage) and its kind (questions or answer)."""

    def __init__(self, scenarios: dict[str, str] | None = None, language: str = "zh"):
        self.scenarios = scenarios or {}
        self.language = language
        self.lock = threading.Lock()
        self.bodies: list[dict] = []

    def __call__(self, request: Request) -> Reply:
        with self.lock:
            self.bodies.append(request.body)
        first = request.messages[0]["content"]
        passage = PASSAGE.search(first).group(1)
        scenario = self.scenarios.get(passage, "good")
        asked = QUESTION.search(first)
        if scenario == "dead":
            return Reply(status=503)
        if asked is None:  # a questions job
            if scenario == "none":
                return Reply(content='{"questions": []}')
            if scenario == "malformed" and request.turn == 1:
                return Reply(content='好的：{"questions": [{"question": "段落给出的第一个数值是多少？", "kind": ')
            if scenario == "bad-kind" and request.turn == 1:
                questions = good_questions(passage, self.language)
                questions[0]["kind"] = "guess"
                return Reply(content=json.dumps({"questions": questions}, ensure_ascii=False))
            if scenario == "questions-never":
                return Reply(content="I cannot help with that.")
            questions = good_questions(passage, self.language)
            if scenario in ("invented", "stays", "unanswerable"):
                questions = questions[:1]
            return Reply(content=f"```json\n{json.dumps({'questions': questions}, ensure_ascii=False)}\n```")
        question = asked.group(1)
        answer = good_answer(passage, question)
        if scenario == "unanswerable":
            return Reply(content='{"answerable": false}')
        if scenario == "stays" or (scenario == "invented" and request.turn == 1):
            answer = {**answer, "answer": f"{INVENTED}亿元", "spans": [f"{INVENTED}亿元"]}
        return Reply(content=json.dumps(answer, ensure_ascii=False))


def chunk(chunk_id: str, text: str, file: str = "report.md", page: int | None = None) -> Chunk:
    return Chunk(id=chunk_id, text=text, source=Source(file=file, page=page, chunk_id=chunk_id))


def endpoint(server: FakeOpenAI, **overrides) -> EndpointConfig:
    return EndpointConfig(
        base_url=server.base_url, api_key=API_KEY, model="fake-model", timeout=5, **{"max_reasks": 2, **overrides}
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answer_bodies(script: Script) -> list[dict]:
    return [b for b in script.bodies if QUESTION.search(b["messages"][0]["content"])]


# --- happy paths ------------------------------------------------------------------------------------


def test_real_chinese_chunks_become_grounded_samples(corpus_dir, tmp_path):
    rows = [json.loads(line) for line in (corpus_dir / "type_a.jsonl").read_text(encoding="utf-8").splitlines()[:3]]
    chunks = [
        Chunk(
            id=f"A-{i}",
            text=row["input"]["paragraph"],
            title=row["input"]["chapter_title"],
            source=Source(file="type_a.jsonl", page=i + 1, chunk_id=f"A-{i}"),
        )
        for i, row in enumerate(rows)
    ]
    script = Script()
    with FakeOpenAI(script) as server:
        result = generate_qa(chunks, endpoint(server), QAGenConfig(), cache_path=tmp_path / "cache.sqlite")
    assert result.reconciles() and not result.quarantined, [q.reason for q in result.quarantined]
    assert result.stats.chunks == 3 and result.stats.chunks_with_questions == 3 and result.stats.questions == 9
    assert len(result.samples) == 9 and result.stats.by_kind == {"arithmetic": 3, "explain": 3, "span": 3}
    by_id = {c.id: c for c in chunks}
    for sample in result.samples:
        again = QASample.model_validate(json.loads(sample.model_dump_json()))
        source_chunk = by_id[sample.source.chunk_id]
        assert again.context.paragraphs[0].text == source_chunk.text and again.grounding.paragraphs == [source_chunk.id]
        assert sample.language == "zh" and sample.difficulty in ("easy", "medium") and sample.source.page is not None
        assert sample.reasoning.answer == sample.answer.text and sample.reasoning.analysis
        assert ungrounded(sample.answer.text, sample.context, steps=sample.reasoning.steps) == []
        prov = sample.provenance
        assert prov["generator"] == "finsynth.qa.generate" and prov["model"] == "fake-model"
        assert set(prov["templates"]) == {"qa_questions.j2", "qa_answer.j2", "qa_reask.j2"}
        assert "augmentation" not in prov
    arithmetic = [s for s in result.samples if s.kind == "arithmetic"]
    assert all(s.reasoning.steps and s.answer.value is not None for s in arithmetic)
    # each answer is a fresh conversation: one user turn holding its own chunk and no other
    bodies = answer_bodies(script)
    assert len(bodies) == 9
    for body in bodies:
        assert len(body["messages"]) == 1
        passages = PASSAGE.findall(body["messages"][0]["content"])
        assert len(passages) == 1 and sum(" ".join(c.text.split()) == passages[0] for c in chunks) == 1
    assert API_KEY not in result.model_dump_json()
    assert result.stats.endpoint["api_key_set"] is True and "api_key" not in result.stats.endpoint


def test_english_chunks_and_zero_questions(tmp_path):
    chunks = [chunk("rev", EN["revenue"]), chunk("cash", EN["cash"]), chunk("toc", "Table of contents.")]
    script = Script({"Table of contents.": "none"}, language="en")
    with FakeOpenAI(script) as server:
        result = generate_qa(chunks, endpoint(server), QAGenConfig(language="en"))
    stats = result.stats
    assert result.reconciles() and not result.quarantined, [q.reason for q in result.quarantined]
    assert (stats.chunks_with_questions, stats.chunks_without_questions, stats.chunks_quarantined) == (2, 1, 0)
    assert stats.questions == stats.answered == 6
    assert {s.source.chunk_id for s in result.samples} == {"rev", "cash"}
    assert all(s.language == "en" for s in result.samples)
    assert [s.id for s in result.samples][:3] == ["rev-q1", "rev-q2", "rev-q3"]
    explain = next(s for s in result.samples if s.id == "rev-q3")
    assert "Fixed Price" in explain.answer.text  # a name, grounded because the chunk writes it


# --- re-asks and quarantine -----------------------------------------------------------------------


def test_reasks_fix_malformed_and_ungrounded_replies_and_the_rest_is_quarantined(tmp_path):
    texts = {
        "malformed": ZH["收入"],
        "invented": ZH["盈利"],
        "stays": "营业收入为88.8亿元，同比增长6.6%。",
        "unanswerable": "净利润为12.3亿元。",
        "none": NOTHING,
        "questions-never": "库存为7.7万吨。",
        "bad-kind": "现金为3.3亿元，较年初增加0.5亿元。",
    }
    chunks = [chunk(name, text) for name, text in texts.items()]
    script = Script({text: name for name, text in texts.items()})
    with FakeOpenAI(script) as server:
        result = generate_qa(chunks, endpoint(server), QAGenConfig(), cache_path=tmp_path / "c.sqlite")
    stats = result.stats
    assert result.reconciles()
    assert stats.chunks == 7 and stats.chunks_without_questions == 1 and stats.chunks_quarantined == 1
    assert stats.chunks_with_questions == 5
    # malformed (3 questions) and bad-kind (3) fixed after one re-ask; invented fixed after one; stays and
    # unanswerable quarantined
    assert stats.questions == 3 + 1 + 1 + 1 + 3 and stats.answered == 7 and stats.questions_quarantined == 2
    assert stats.unanswerable == 1
    by_stage = {(q.stage, q.extra["chunk_id"]): q for q in result.quarantined}
    never = by_stage[("qa-questions", "questions-never")]
    assert never.field == "questions" and "invalid JSON" in never.reason and never.raw == "I cannot help with that."
    assert never.extra["reasks"] == 2 and never.extra["failure"] == "validation"
    stays = by_stage[("qa-answer", "stays")]
    assert "ungrounded" in stays.reason and INVENTED in stays.reason and INVENTED in stays.raw
    assert stays.extra["question"] == "段落给出的第一个数值是多少？" and stays.extra["reasks"] == 2
    assert "unanswerable" in by_stage[("qa-answer", "unanswerable")].reason
    invented = next(s for s in result.samples if s.source.chunk_id == "invented")
    assert INVENTED not in invented.answer.text and invented.provenance["reasks"] == {"questions": 0, "answer": 1}
    assert next(s for s in result.samples if s.source.chunk_id == "malformed").provenance["reasks"]["questions"] == 1
    # the re-ask carried the grounding error back to the model
    reasked = [b for b in answer_bodies(script) if len(b["messages"]) == 3 and INVENTED in b["messages"][1]["content"]]
    assert reasked and all("ungrounded" in b["messages"][2]["content"] for b in reasked)
    bad_kind = [b for b in script.bodies if len(b["messages"]) == 3 and "'guess'" in b["messages"][2]["content"]]
    assert bad_kind and "is not asked for" in bad_kind[0]["messages"][2]["content"]
    # engine re-asks: malformed 1, bad-kind 1, never 2 (questions); invented 1, stays 2 (answers)
    assert stats.reasks == 1 + 1 + 2 + 1 + 2


def test_the_validator_rejects_what_it_should():
    from finsynth.qa.generate import answer_validator, questions_validator

    c = chunk("c", ZH["收入"])
    validate = questions_validator(QAGenConfig(qtypes=["span"], language="zh"))
    assert validate('{"questions": []}').ok
    dup = validate(
        json.dumps(
            {
                "questions": [
                    {"question": "收入是多少？", "kind": "span", "difficulty": "easy"},
                    {"question": "收入是多少?", "kind": "span", "difficulty": "easy"},
                ]
            },
            ensure_ascii=False,
        )
    )
    assert not dup.ok and "repeats questions[1]" in dup.errors[0]
    english = validate('{"questions": [{"question": "What is revenue?", "kind": "span", "difficulty": "easy"}]}')
    assert not english.ok and "not written in Chinese" in english.errors[0]
    assert "must be a list" in validate('{"items": []}').errors[0]
    question = GeneratedQuestion(question="储能业务收入是多少？", kind="multi-span", difficulty="easy")
    answer = answer_validator(c, question)
    one_span = answer(json.dumps({"analysis": "a", "answer": "45.2亿元", "spans": ["45.2亿元"]}, ensure_ascii=False))
    assert not one_span.ok and "two or more" in one_span.errors[0]
    arithmetic = answer_validator(c, GeneratedQuestion(question="差额？", kind="arithmetic", difficulty="medium"))
    bare = arithmetic(json.dumps({"analysis": "a", "answer": "83.4亿元"}, ensure_ascii=False))
    assert not bare.ok and any("value" in e for e in bare.errors) and any("steps" in e for e in bare.errors)
    worked = arithmetic(
        json.dumps(
            {"analysis": "a", "steps": ["128.6 - 45.2 = 83.4"], "answer": "83.4亿元", "value": 83.4}, ensure_ascii=False
        )
    )
    assert worked.ok and worked.answer is not None and worked.answer.spans == ["83.4亿元"]
    named = answer(
        json.dumps({"analysis": "a", "answer": "招商银行、储能", "spans": ["招商银行", "储能"]}, ensure_ascii=False)
    )
    assert not named.ok and any("招商银行" in e for e in named.errors)


# --- transport failure and abort ------------------------------------------------------------------


def test_a_refused_connection_stops_early_and_loses_nothing():
    chunks = [chunk(f"c{i}", f"第{i}段：营业收入为{100 + i}.5亿元，同比增长{i}.2%。") for i in range(24)]
    config = EndpointConfig(
        base_url=f"http://127.0.0.1:{_closed_port()}/v1", model="m", max_retries=6, backoff_base=0.01, backoff_max=0.05
    )
    result = generate_qa(chunks, config, QAGenConfig(concurrency=8))
    assert result.stats.aborted and "no call answered" in result.stats.aborted
    assert result.reconciles() and not result.samples and result.stats.chunks_quarantined == 24
    assert {q.extra["failure"] for q in result.quarantined} <= {"transport", "aborted"}
    assert result.failure() and result.failure().startswith("stopped early")
    assert result.usage.failed_calls <= 16 + 8


def test_cli_exits_1_on_transport_failure_and_writes_every_chunk_to_quarantine(tmp_path, monkeypatch, capsys):
    path = tmp_path / "chunks.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": f"c{i}", "text": f"营业收入为{i}1.5亿元。"}, ensure_ascii=False) + "\n" for i in range(3)
        ),
        encoding="utf-8",
    )
    (tmp_path / "finsynth.toml").write_text("max_retries = 0\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with FakeOpenAI(Script({f"营业收入为{i}1.5亿元。": "dead" for i in range(3)})) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
        code = main(["qa", "generate", str(path), "--out", "out", "--format", "json"])
    assert code == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["chunks"] == 3 and summary["chunks_quarantined"] == 3 and summary["reconciles"]
    assert "3 of 3 LLM jobs failed" in summary["failure"]
    quarantine = read_jsonl(tmp_path / "out" / "quarantine.jsonl")
    assert [q["extra"]["chunk_id"] for q in quarantine] == ["c0", "c1", "c2"]
    assert all("HTTP 503" in q["reason"] or "503" in q["reason"] for q in quarantine)
    assert read_jsonl(tmp_path / "out" / "qa.jsonl") == []


# --- augmentation -------------------------------------------------------------------------------


def test_remove_punctuation_keeps_numbers_whole():
    assert remove_punctuation("收入3,260万元，同比增长12.5%。") == "收入3,260万元同比增长12.5%"
    assert remove_punctuation("Revenue was $1,496.5 million, up 10.6%.") == "Revenue was $1,496.5 million up 10.6%"
    assert remove_punctuation("亏损(1,234)万元；“十四五”规划") == "亏损(1,234)万元十四五规划"


def test_augmentation_draw_is_stable_and_near_its_rate():
    ids = [f"chunk-{i}" for i in range(2000)]
    draws = [augmentation_chosen(7, i, 0.3) for i in ids]
    assert draws == [augmentation_chosen(7, i, 0.3) for i in ids]
    assert 0.25 < sum(draws) / len(draws) < 0.35
    assert draws != [augmentation_chosen(8, i, 0.3) for i in ids]
    assert not any(augmentation_chosen(7, i, 0.0) for i in ids) and all(augmentation_chosen(7, i, 1.0) for i in ids)


def test_punctuation_rate_0_and_1(tmp_path):
    chunks = [chunk("income", ZH["收入"]), chunk("margin", ZH["盈利"]), chunk("rev", EN["revenue"])]
    script = Script()
    with FakeOpenAI(script) as server:
        plain = generate_qa(chunks, endpoint(server), QAGenConfig(punct_rate=0.0), cache_path=tmp_path / "c.sqlite")
        live = server.total_requests
        stripped = generate_qa(chunks, endpoint(server), QAGenConfig(punct_rate=1.0), cache_path=tmp_path / "c.sqlite")
        assert server.total_requests == live  # the LLM saw the original text both times: all from the cache
    assert plain.stats.augmented == 0 and all("augmentation" not in s.provenance for s in plain.samples)
    assert stripped.stats.augmented == 3 and len(stripped.samples) == len(plain.samples) == 9
    for before, after in zip(plain.samples, stripped.samples, strict=True):
        assert after.provenance["augmentation"] == PUNCTUATION_REMOVED
        text = after.context.paragraphs[0].text
        assert text == remove_punctuation(before.context.paragraphs[0].text) and "，" not in text and "。" not in text
        assert after.answer == before.answer and after.question == before.question
        # the grounding was checked against the original chunk; the numbers survive the augmentation
        assert [n.value for n in numbers(text)] == [n.value for n in numbers(before.context.paragraphs[0].text)]


# --- prompts ----------------------------------------------------------------------------------------

FIXED_COUNT = re.compile(
    r"\d|至少|最少|恰好|正好|不少于|[一二两三四五六七八九十]+\s*[个道条]问题|at least|exactly|"
    r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten)\b\s+questions?",
    re.IGNORECASE,
)


def test_the_fixed_count_check_can_fail():
    for bad in (
        "请提出3个问题",
        "至少提一个问题",
        "写出三个问题",
        "Ask at least two questions",
        "write five questions",
    ):
        assert FIXED_COUNT.search(bad), bad


@pytest.mark.parametrize("language", ["zh", "en"])
def test_question_prompt_never_fixes_a_count(language):
    c = Chunk(id="c", text="公司收入增长，毛利率改善。", title="经营", source=Source(file="f"))
    for qtypes in (["span"], ["arithmetic", "count", "explain"], None):
        for length in ("short", "medium", "long"):
            options = QAGenConfig(
                language=language, question_length=length, style="具体", **({"qtypes": qtypes} if qtypes else {})
            )
            prompt = question_messages(c, options)[0]["content"]
            assert not FIXED_COUNT.search(prompt), FIXED_COUNT.search(prompt)
            assert '{"questions": []}' in prompt  # none is a valid answer
            for kind in ("span", "multi-span", "arithmetic", "count", "explain"):
                listed = f"- {kind}:" in prompt or f"- {kind}：" in prompt
                assert listed == (kind in options.qtypes), kind
    question = GeneratedQuestion(question="收入是多少？", kind="span", difficulty="easy")
    answer = answer_messages(c, question, QAGenConfig(language=language))[0]["content"]
    assert answer.count("<passage>") == 1 and "收入是多少？" in answer


# --- input --------------------------------------------------------------------------------------


def test_read_chunks_takes_ingest_rows_and_plain_rows_and_quarantines_the_rest(tmp_path):
    ingest_row = {
        "chapter_title": "收入",
        "paragraph": ZH["收入"],
        "id": "P-1",
        "source": {
            "file": "report.pdf",
            "format": "pdf",
            "pages": [3, 4],
            "lines": [],
            "heading_path": [],
            "kind": "text",
            "index": 0,
        },
    }
    lines = [
        json.dumps(ingest_row, ensure_ascii=False),
        json.dumps({"id": "plain", "text": EN["cash"], "source": "notes.txt"}),
        json.dumps({"id": "bare", "text": "营业收入为1.5亿元。"}, ensure_ascii=False),
        "{not json",
        json.dumps({"text": "no id"}),
        json.dumps({"id": "empty", "text": "  "}),
        json.dumps({"id": "plain", "text": "repeated id"}),
        "",
        json.dumps(["a", "list"]),
    ]
    path = tmp_path / "chunks.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    read = read_chunks(path)
    assert read.reconciles() and read.read == 8
    assert [c.id for c in read.chunks] == ["P-1", "plain", "bare"]
    first = read.chunks[0]
    assert first.source == Source(file="report.pdf", page=3, chunk_id="P-1") and first.title == "收入"
    assert read.chunks[1].source.file == "notes.txt" and read.chunks[2].source.file == "chunks.jsonl"
    assert [(q.line, q.field) for q in read.quarantined] == [
        (4, "<row>"),
        (5, "id"),
        (6, "text"),
        (7, "id"),
        (9, "<row>"),
    ]
    assert "repeats the chunk of line 2" in read.quarantined[3].reason
    with pytest.raises(InputError, match="no such file"):
        read_chunks(tmp_path / "missing.jsonl")


def test_finsynth_ingest_output_is_read_as_chunks(tmp_path):
    from finsynth.ingest.models import IngestOptions
    from finsynth.ingest.run import ingest

    doc = tmp_path / "docs" / "report.md"
    doc.parent.mkdir()
    doc.write_text(f"# 经营分析\n\n## 收入\n\n{ZH['收入']}\n\n## 盈利\n\n{ZH['盈利']}\n", encoding="utf-8")
    out = tmp_path / "chunks.jsonl"
    ingest([doc.parent], IngestOptions(min_chars=20, target_chars=60, max_chars=2000), out=out)
    read = read_chunks(out)
    assert read.reconciles() and not read.quarantined
    assert [c.text for c in read.chunks] == [ZH["收入"], ZH["盈利"]]
    assert [c.title for c in read.chunks] == ["收入", "盈利"]
    assert all(c.source.file.endswith("report.md") and c.source.chunk_id == c.id for c in read.chunks)


# --- the CLI ----------------------------------------------------------------------------------------


def _write_chunks(path: Path) -> Path:
    rows = [
        {"id": "income", "text": ZH["收入"], "source": {"file": "r.pdf", "pages": [2]}},
        {"id": "margin", "text": ZH["盈利"], "source": "r.pdf"},
        {"id": "toc", "text": NOTHING},
        {"id": "stays", "text": "营业收入为88.8亿元，同比增长6.6%。"},
        "not a chunk",
    ]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_cli_without_endpoint_exits_2_with_one_line(offline, capsys):
    chunks = _write_chunks(offline / "chunks.jsonl")
    assert main(["qa", "generate", str(chunks), "--out", "out"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "needs an LLM endpoint" in err[0] and "finsynth qa tables" in err[0]
    assert not (offline / "out").exists()


def test_cli_empty_chunks_file_is_a_one_line_error(offline, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    (offline / "empty.jsonl").write_text("\n", encoding="utf-8")
    assert main(["qa", "generate", "empty.jsonl", "--out", "out"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "empty.jsonl: holds no rows" in err[0]
    assert main(["qa", "generate", "missing.jsonl", "--out", "out"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "CHUNKS missing.jsonl: no such file" in err[0]
    assert not (offline / "out").exists()


def test_cli_bad_qtype_is_a_one_line_error(offline, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    chunks = _write_chunks(offline / "chunks.jsonl")
    assert main(["qa", "generate", str(chunks), "--out", "out", "--qtypes", "span,guess"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: --qtypes") and "guess" in err[0]


def test_cli_runs_are_byte_identical_with_the_cache(offline, monkeypatch, capsys):
    chunks = _write_chunks(offline / "chunks.jsonl")
    script = Script({NOTHING: "none", "营业收入为88.8亿元，同比增长6.6%。": "stays"})
    with FakeOpenAI(script) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
        monkeypatch.setenv("FINSYNTH_MODEL", "fake-model")
        args = ["qa", "generate", str(chunks), "--punct-rate", "0.5", "--seed", "3", "--format", "json"]
        assert main([*args, "--out", "one"]) == 0
        first = json.loads(capsys.readouterr().out)
        live = server.total_requests
        assert main([*args, "--out", "two"]) == 0
        second = json.loads(capsys.readouterr().out)
        assert server.total_requests == live and second["usage"]["calls"] == 0
        assert main([*args[:-2], "--out", "three"]) == 0  # the text report, from the cache too
        text = " ".join(capsys.readouterr().out.split())
        assert server.total_requests == live
    assert (
        "4 chunk(s): 3 with questions, 1 with none, 0 quarantined" in text and "(+13 from cache)" in text
    )  # 4 + 7 asks, 2 re-asks
    assert first["reconciles"] and first["rows_read"] == 5 and first["rows_quarantined"] == 1
    assert (first["chunks"], first["chunks_with_questions"], first["chunks_without_questions"]) == (4, 3, 1)
    assert first["questions"] == 7 and first["answered"] == 6 and first["questions_quarantined"] == 1
    for name in ("qa.jsonl", "quarantine.jsonl"):
        assert (offline / "one" / name).read_bytes() == (offline / "two" / name).read_bytes(), name
    samples = [QASample.model_validate(row) for row in read_jsonl(offline / "one" / "qa.jsonl")]
    assert len(samples) == 6 and samples[0].source.file == "r.pdf" and samples[0].source.page == 2
    quarantine = read_jsonl(offline / "one" / "quarantine.jsonl")
    assert [q["stage"] for q in quarantine] == ["qa-input", "qa-answer"]
    summary = json.loads((offline / "one" / "summary.json").read_text(encoding="utf-8"))
    assert summary["samples"] == 6 and summary["endpoint"]["api_key_set"] is True
    for path in offline.rglob("*"):
        if path.is_file() and path.suffix in (".jsonl", ".json"):
            assert API_KEY not in path.read_text(encoding="utf-8"), path


def test_a_verbatim_sentence_with_a_period_code_is_grounded():
    text = "牧原股份2025H1实现生猪出栏量3,260万头，同比增长12.5%。"
    assert ungrounded(text, chunk("c", text).context()) == []
