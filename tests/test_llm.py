"""The LLM engine against a real OpenAI-compatible HTTP server on 127.0.0.1 (no client mocks).

Covers: replies in code fences and after `<think>` blocks, validation re-asks (fixed and never
fixed), transport retries (429 + Retry-After, 500, hang past the timeout, connection reset, a server
that stays down), quarantine with raw replies, the response cache (second run makes no call), a run
killed mid-way and restarted (no duplicate call, no lost row), and the API key in no written file.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, Reply, answer_script
from llm_helpers import API_KEY, Router, good_reply, make_sample, scenario_of

from finsynth.io import write_jsonl_atomic
from finsynth.llm.cache import ResponseCache, cache_key
from finsynth.llm.config import EndpointConfig, load_config
from finsynth.llm.retry import RetryDecision, RetryPolicy
from finsynth.prompts import Templates
from finsynth.synth.relabel import relabel, relabel_messages

REPO = Path(__file__).resolve().parents[1]


def config_for(server: FakeOpenAI, **overrides) -> EndpointConfig:
    settings = {
        "base_url": server.base_url,
        "api_key": API_KEY,
        "model": "fake-model",
        "timeout": 0.5,
        "backoff_base": 0.01,
        "backoff_max": 0.05,
        "max_retries": 3,
        "max_reasks": 2,
    }
    settings.update(overrides)
    return EndpointConfig(**settings)


@pytest.fixture
def scenario_samples():
    scenarios = ["good", "fence", "think", "fixable", "invalid", "ratelimit", "boom", "hang", "reset", "dead"]
    return {name: make_sample(i, name) for i, name in enumerate(scenarios)}


def test_scripted_scenarios_end_to_end(tmp_path, scenario_samples):
    samples = list(scenario_samples.values()) + [make_sample(100 + i) for i in range(6)]
    router = Router(samples)
    with FakeOpenAI(router) as server:
        result = relabel(
            samples,
            llm="openai",
            concurrency=4,
            cache_path=tmp_path / "cache.sqlite",
            progress=False,
            config=config_for(server),
        )
        outcomes = server.outcomes()
    # nothing vanishes: every row is relabelled, kept or quarantined
    assert result.reconciles()
    by_id = {s.id: s for s in result.samples}
    quarantined = {q.extra["id"]: q for q in result.quarantined}
    assert set(by_id) | set(quarantined) == {s.id for s in samples}
    assert set(quarantined) == {scenario_samples["invalid"].id}
    for name in ("good", "fence", "think", "fixable", "ratelimit", "boom", "hang", "reset"):
        sample = by_id[scenario_samples[name].id]
        assert sample.output.analysis == json.loads(good_reply(scenario_samples[name]))["analysis"], name
        assert sample.output.metrics == scenario_samples[name].output.metrics
        assert sample.provenance.annotator == "openai" and sample.provenance.model == "fake-model"
        assert sample.provenance.template_hash and len(sample.provenance.template_hash) == 64
    # validation failure: quarantined with the raw reply, the errors and the re-asks spent
    invalid = quarantined[scenario_samples["invalid"].id]
    assert invalid.stage == "relabel" and invalid.extra["failure"] == "validation"
    assert '"score": 7' in invalid.raw and "less than or equal to 1" in invalid.reason
    assert invalid.extra["reasks"] == 2 and invalid.extra["calls"] == 3
    # transport failure after max_retries: the row keeps its original analysis, marked and counted
    dead = by_id[scenario_samples["dead"].id]
    assert dead.output == scenario_samples["dead"].output
    assert dead.provenance.relabel.startswith("kept original (transport):") and "HTTP 503" in dead.provenance.relabel
    assert result.stats.kept_on_failure == 1 and result.stats.kept_on_failure_by_reason == {"transport": 1}
    change = next(c for c in result.changes if c.id == dead.id)
    assert change.status == "kept_on_failure" and change.after == change.before and "HTTP 503" in change.reason
    # re-asks: exactly one for "fixable" (plus two for "invalid"), and the errors went back to the model
    assert result.stats.reasks == 3
    reasks = [b for b in router.bodies if len(b["messages"]) > 2]
    assert any("style-mismatch" in b["messages"][-1]["content"] for b in reasks)
    assert all(b["messages"][-2]["role"] == "assistant" for b in reasks)
    # transport retries, kept apart from re-asks
    engine = result.stats.engine
    assert engine.retries_by_kind == {"rate_limit": 1, "http_500": 2, "timeout": 1, "connection": 1, "http_503": 3}
    assert outcomes["hang"] == 1 and outcomes["drop"] == 1 and outcomes["http_429"] == 1
    # usage per attempt, re-asks included: every 200 reply is counted once
    assert result.usage.calls == outcomes["ok"] == engine.live_calls
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    assert result.usage.failed_calls == 1 + 2 + 1 + 1 + 4


def test_retry_after_is_honoured(tmp_path, monkeypatch):
    waits: list[tuple[str, float | None, float]] = []
    policy_delay = RetryPolicy.delay

    def recorded(self, retry_number, decision, rng):
        wait = policy_delay(self, retry_number, decision, rng)
        waits.append((decision.kind, decision.retry_after, wait))
        return wait

    monkeypatch.setattr(RetryPolicy, "delay", recorded)
    sample = make_sample(1, "ratelimit")
    with FakeOpenAI(Router([sample])) as server:
        result = relabel(
            [sample], llm="openai", concurrency=2, cache_path=None, progress=False, config=config_for(server)
        )
    assert len(result.samples) == 1
    assert [entry.outcome for entry in server.log] == ["http_429", "ok"]
    # the one retry waited what the server's Retry-After asked (1 s), not the backoff (<= 0.01 s)
    assert waits == [("rate_limit", 1.0, 1.0)]


def test_backoff_policy_and_classification():
    import random

    policy = RetryPolicy(max_retries=3, base=0.5, cap=4.0, retry_after_max=10)
    rng = random.Random(0)
    plain = RetryDecision(retryable=True, kind="http_500", message="HTTP 500")
    for n in range(1, 8):
        assert 0 <= policy.delay(n, plain, rng) <= min(4.0, 0.5 * 2 ** (n - 1))
    assert policy.delay(1, plain.model_copy(update={"retry_after": 3}), rng) == 3
    assert policy.delay(1, plain.model_copy(update={"retry_after": 500}), rng) == 10  # capped
    assert policy.should_retry(2, plain) and not policy.should_retry(3, plain)
    fatal = RetryDecision(retryable=False, kind="http_401", message="HTTP 401")
    assert not policy.should_retry(0, fatal)


def test_client_errors_are_not_retried(tmp_path):
    sample = make_sample(3)
    with FakeOpenAI(lambda request: Reply(status=401, body={"error": {"message": "bad key"}})) as server:
        result = relabel([sample], llm="openai", cache_path=None, progress=False, config=config_for(server))
        assert server.total_requests == 1
    # a 401 is not retried, stops the run (every call would fail the same way) and loses no row
    assert result.stats.aborted and "authentication failed (HTTP 401)" in result.stats.aborted
    assert not result.quarantined and result.samples[0].output == sample.output
    assert result.samples[0].provenance.relabel.startswith("kept original (transport)")


def test_slow_call_does_not_stall_the_others(tmp_path):
    """One call is held for 2 s; with a queue the 20 fast ones are all sent while it is held, not behind it
    (batch-and-wait in fours would send at most 3 more). An ordering property, not a timing bound."""
    samples = [make_sample(0, "slow")] + [make_sample(i) for i in range(1, 21)]
    router = Router(samples)
    arrivals: list[tuple[float, bool]] = []
    hold = 2.0
    with FakeOpenAI(router) as server:
        original = router.__call__

        def script(request):
            reply = original(request)
            slow = scenario_of(request) == "slow"
            arrivals.append((time.monotonic(), slow))
            reply.delay = hold if slow else 0.01
            return reply

        server.script = script
        result = relabel(
            samples, llm="openai", concurrency=4, cache_path=None, progress=False, config=config_for(server)
        )
    assert len(result.samples) == 21
    slow_at = next(t for t, slow in arrivals if slow)
    during = [t for t, slow in arrivals if not slow and slow_at <= t < slow_at + hold]
    before = [t for t, slow in arrivals if not slow and t < slow_at]
    assert len(during) + len(before) == 20


def test_second_run_is_served_from_cache(tmp_path):
    samples = [make_sample(i, "fixable" if i % 3 == 0 else "good") for i in range(12)]
    cache_path = tmp_path / "cache.sqlite"
    with FakeOpenAI(Router(samples)) as server:
        first = relabel(
            samples, llm="openai", concurrency=3, cache_path=cache_path, progress=False, config=config_for(server)
        )
        calls_after_first = server.total_requests
        second = relabel(
            samples, llm="openai", concurrency=3, cache_path=cache_path, progress=False, config=config_for(server)
        )
        assert server.total_requests == calls_after_first  # zero calls
    assert calls_after_first == 12 + 4  # 4 re-asks
    assert [s.model_dump() for s in first.samples] == [s.model_dump() for s in second.samples]
    assert second.usage.calls == 0 and second.usage.cached_calls == 16
    assert second.stats.engine.cache_hits == 16 and second.stats.reasks == 4


def test_cache_key_covers_model_template_and_params(tmp_path):
    sample = make_sample(5)
    messages = relabel_messages(sample)
    base = cache_key("m", "t", messages, {"temperature": 0.2})
    assert base == cache_key("m", "t", json.loads(json.dumps(messages)), {"temperature": 0.2})
    assert base != cache_key("m2", "t", messages, {"temperature": 0.2})
    assert base != cache_key("m", "t2", messages, {"temperature": 0.2})
    assert base != cache_key("m", "t", messages, {"temperature": 0.3})
    assert base != cache_key("m", "t", messages[:1], {"temperature": 0.2})
    # an edited template (user --templates DIR) means new requests, not stale cache hits
    custom = tmp_path / "templates"
    custom.mkdir()
    for path in (REPO / "templates").glob("*.j2"):
        (custom / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (custom / "relabel_b.j2").write_text(
        "请重写。\n" + (REPO / "templates/relabel_b.j2").read_text(encoding="utf-8"), encoding="utf-8"
    )
    cache_path = tmp_path / "cache.sqlite"
    with FakeOpenAI(Router([sample])) as server:
        relabel([sample], llm="openai", cache_path=cache_path, progress=False, config=config_for(server))
        relabel(
            [sample],
            llm="openai",
            cache_path=cache_path,
            progress=False,
            config=config_for(server),
            templates=Templates(custom),
        )
        relabel(
            [sample], llm="openai", cache_path=cache_path, progress=False, config=config_for(server, temperature=0.7)
        )
        relabel([sample], llm="openai", cache_path=cache_path, progress=False, config=config_for(server))
        assert server.total_requests == 3


CHILD = """
import json, sys
from finsynth.synth.relabel import relabel
from finsynth.schema import Sample
samples = [Sample.model_validate_json(line) for line in open(sys.argv[1], encoding="utf-8")]
result = relabel(samples, llm="openai", concurrency=4, cache_path=sys.argv[2], progress=False)
print(json.dumps({"ok": len(result.samples), "quarantined": len(result.quarantined)}))
"""


def test_killed_run_resumes_without_duplicates_or_losses(tmp_path):
    import threading

    samples = [make_sample(i) for i in range(30)]
    answers = {" ".join(s.input.paragraph.split("\n")): good_reply(s) for s in samples}
    gate = threading.Event()
    admitted = 12
    script = answer_script(answers, gate=gate, gate_after=admitted)
    inputs = write_jsonl_atomic(tmp_path / "in.jsonl", samples)
    cache_path = tmp_path / "cache.sqlite"
    with FakeOpenAI(script) as server:
        env = {
            **os.environ,
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": API_KEY,
            "FINSYNTH_MODEL": "fake-model",
            "FINSYNTH_TIMEOUT": "30",
        }
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(inputs), str(cache_path)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            stored = 0
            while time.monotonic() < deadline:
                if cache_path.exists():
                    try:
                        with sqlite3.connect(cache_path) as db:
                            stored = db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
                    except sqlite3.OperationalError:
                        stored = 0
                if stored >= admitted and len(server.served) >= admitted:
                    break
                assert child.poll() is None, child.communicate()
                time.sleep(0.05)
            assert stored == admitted
            # the child now has 4 requests hanging on the gate: kill it mid-way
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        finally:
            if child.poll() is None:
                child.kill()
        served_before = dict(server.served)
        assert len(served_before) == admitted
        gate.set()
        config = EndpointConfig(base_url=server.base_url, api_key=API_KEY, model="fake-model", timeout=5)
        result = relabel(samples, llm="openai", concurrency=4, cache_path=cache_path, progress=False, config=config)
        served_after = dict(server.served)
    # no row lost
    assert result.reconciles() and len(result.samples) == 30 and not result.quarantined
    assert [s.id for s in result.samples] == [s.id for s in samples]
    # nothing done twice: every conversation got exactly one complete reply across both runs
    assert len(served_after) == 30 and set(served_after.values()) == {1}
    # the restart called only for the 18 rows the killed run had not finished, and took 12 from cache
    assert result.usage.calls == 30 - admitted and result.usage.cached_calls == admitted
    with ResponseCache(cache_path) as cache:
        assert len(cache) == 30


def test_api_key_appears_in_no_written_file(tmp_path):
    samples = [make_sample(i, name) for i, name in enumerate(["good", "invalid", "dead", "fixable", "ratelimit"])]
    out = tmp_path / "out"
    out.mkdir()
    with FakeOpenAI(Router(samples)) as server:
        result = relabel(
            samples, llm="openai", cache_path=out / "cache.sqlite", progress=False, config=config_for(server)
        )
        write_jsonl_atomic(out / "samples.jsonl", result.samples)
        write_jsonl_atomic(out / "quarantine.jsonl", result.quarantined)
        (out / "stats.json").write_text(result.stats.model_dump_json(), encoding="utf-8")
        (out / "repr.txt").write_text(
            repr(result.stats) + repr(config_for(server)) + str(config_for(server)), encoding="utf-8"
        )
        # the key did reach the server: it was used, just never written
        assert f"Bearer {API_KEY}" in server.auth_headers
    assert result.quarantined  # the quarantine file has content worth checking
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.startswith("cache.sqlite") for p in written)
    for path in written:
        assert API_KEY.encode() not in path.read_bytes(), path
    assert "api_key" not in result.stats.endpoint and result.stats.endpoint["api_key_set"] is True
    assert API_KEY not in json.dumps(result.stats.model_dump(mode="json"))


def test_config_sources_and_precedence(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.finsynth]\nmodel = "from-pyproject"\ntimeout = 12\nconcurrency = 5\n'
        "[tool.finsynth.prices.from-toml]\ninput = 1.0\noutput = 2.0\n",
        encoding="utf-8",
    )
    config = load_config(env={}, directory=tmp_path)
    assert config.model == "from-pyproject" and config.timeout == 12 and not config.configured
    (tmp_path / "finsynth.toml").write_text(
        'model = "from-toml"\nbase_url = "http://127.0.0.1:9/v1"\n', encoding="utf-8"
    )
    config = load_config(env={}, directory=tmp_path)
    assert config.model == "from-toml" and config.configured and config.concurrency == 5
    config = load_config(env={"FINSYNTH_MODEL": "from-env", "OPENAI_API_KEY": API_KEY}, directory=tmp_path)
    assert config.model == "from-env" and config.secret() == API_KEY
    assert API_KEY not in repr(config) and API_KEY not in json.dumps(config.public())
    assert config.prices["from-toml"].output == 2.0
    assert load_config(env={}, directory=tmp_path, model="from-flag", concurrency=None).model == "from-flag"
    (tmp_path / "finsynth.toml").write_text(f'api_key = "{API_KEY}"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="must not be stored"):
        load_config(env={}, directory=tmp_path)
    (tmp_path / "finsynth.toml").write_text('api_key_env = "MY_KEY"\n', encoding="utf-8")
    assert load_config(env={"MY_KEY": "k2"}, directory=tmp_path).secret() == "k2"


def test_usage_is_priced(tmp_path):
    sample = make_sample(7, "fixable")
    with FakeOpenAI(Router([sample])) as server:
        config = config_for(server, prices={"fake-model": {"input": 2.0, "output": 8.0}})
        result = relabel([sample], llm="openai", cache_path=None, progress=False, config=config)
    usage = result.usage
    assert usage.calls == 2  # first ask + one re-ask, both counted
    expected = (usage.prompt_tokens * 2.0 + usage.completion_tokens * 8.0) / 1e6
    assert result.stats.cost == pytest.approx(expected) and expected > 0
    summary = usage.summary("fake-model", config.prices)
    assert summary["cost"] == pytest.approx(expected, abs=1e-6) and summary["total_tokens"] == usage.total_tokens


def test_auto_without_endpoint_uses_rules():
    samples = [make_sample(i) for i in range(3)]
    result = relabel(samples, llm="auto", progress=False, config=EndpointConfig())
    assert result.stats.annotator == "rules" and len(result.samples) == 3
    assert all(s.provenance.annotator == "rules" for s in result.samples)
    with pytest.raises(ValueError, match="needs an endpoint"):
        relabel(samples, llm="openai", progress=False, config=EndpointConfig())


@pytest.mark.slow
def test_build_relabel_through_the_endpoint(tmp_path):
    """`finsynth build --relabel B --llm openai` end to end: rows relabelled, the failure quarantined
    with its raw reply, usage in the manifest, and the key in no file the build wrote."""
    samples = [make_sample(i, "invalid" if i == 0 else "good") for i in range(8)]
    for i, sample in enumerate(samples[:4]):  # vary the count so the set is not fixed-count
        if i % 2:
            sample.output.metrics.append(
                sample.output.metrics[0].model_copy(
                    update={"metric_name": "叶腊石采购价", "metric_type": "business", "score": 0.5}
                )
            )
    raw = tmp_path / "raw"
    write_jsonl_atomic(raw / "type_b.jsonl", samples)
    router = Router(samples)
    with FakeOpenAI(router) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "FINSYNTH_"))}
        env.update({"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": API_KEY, "FINSYNTH_MODEL": "fake-model"})
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "finsynth",
                "build",
                "--raw",
                str(raw),
                "--out",
                str(tmp_path / "built"),
                "--relabel",
                "B",
                "--llm",
                "openai",
                "--concurrency",
                "4",
                "--allow-errors",
                "--format",
                "json",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert f"Bearer {API_KEY}" in server.auth_headers
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    relabel_info = manifest["relabel"]
    assert relabel_info["llm"] == "openai" and relabel_info["quarantined"] == 1
    assert relabel_info["usage"]["calls"] == 7 + 3  # the invalid row: first ask + 2 re-asks
    assert API_KEY not in done.stdout + done.stderr
    written = [p for p in (tmp_path / "built").rglob("*") if p.is_file()]
    assert any(p.name.endswith(".sqlite") for p in written)
    for path in written:
        assert API_KEY.encode() not in path.read_bytes(), path
    quarantine = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in written if "quarantine" in p.name)
    assert '\\"score\\": 7' in quarantine  # the refused reply, kept as an escaped JSON string in its row


D_PARAGRAPH = "2025年公司会员总数突破4,200万，同比增长18.5%。毛利率为35.2%，同比提升1.1个百分点。坪效为5.8万元/平方米。"
D_HYBRID = (
    "本段核心分析对象是会员总数（4,200万，同比+18.5%，business——衡量用户运营规模，不出现在报表中）和毛利率"
    "（35.2%，同比+1.1pct，financial——利润表核心科目）。逐项排除：坪效（5.8万元/平方米）：归因项——是零售运营效率的"
    "佐证数据。段落分析框架是用户规模与盈利转化双维度。"
)


def test_relabel_d_is_held_to_the_hybrid_style(tmp_path):
    from finsynth.schema import Extraction, Metric, ParagraphInput, Sample

    metrics = [
        Metric(metric_name="会员总数", metric_type="business", score=0.93),
        Metric(metric_name="毛利率", metric_type="financial", score=0.92),
    ]
    sample = Sample(
        type="D",
        input=ParagraphInput(chapter_title="零售", paragraph=D_PARAGRAPH),
        output=Extraction(analysis="旧", metrics=metrics),
    )
    metrics_json = [m.model_dump() for m in metrics]
    # first reply: exclusion list without the financial/business rationale (B style), then hybrid
    b_style = D_HYBRID.replace("，business——衡量用户运营规模，不出现在报表中", "").replace(
        "，financial——利润表核心科目", ""
    )
    seen = []

    def script(request):
        seen.append(request.turn)
        analysis = b_style if request.turn == 1 else D_HYBRID
        return Reply(content=json.dumps({"analysis": analysis, "metrics": metrics_json}, ensure_ascii=False))

    with FakeOpenAI(script) as server:
        result = relabel(
            [sample], types={"D"}, llm="openai", cache_path=None, progress=False, config=config_for(server)
        )
    assert seen == [1, 2] and result.stats.reasks == 1
    assert result.samples[0].output.analysis == D_HYBRID and result.samples[0].type == "D"
    # the rules annotator does not pretend to do D
    with pytest.raises(ValueError, match="Type B only"):
        relabel([sample], types={"D"}, llm="rules", progress=False, config=EndpointConfig())


def test_engine_edge_cases(tmp_path):
    from finsynth.llm.engine import Job, LLMEngine
    from finsynth.schema import Extraction
    from finsynth.synth.validate import Validation

    def ok(raw: str) -> Validation:
        return Validation(extraction=Extraction(analysis=raw))

    def broken(raw: str) -> Validation:
        raise RuntimeError("validator bug")

    with FakeOpenAI(lambda request: Reply(content="fine")) as server:
        engine = LLMEngine(config_for(server), concurrency=2, progress=True)
        assert engine.run([]) == []
        twins = [
            Job(id=f"twin-{i}", messages=[{"role": "user", "content": "same"}], template_hash="t", validate=ok)
            for i in range(3)
        ]
        lazy = (
            Job(id=f"lazy-{i}", messages=[{"role": "user", "content": f"q{i}"}], template_hash="t", validate=ok)
            for i in range(4)
        )
        results = engine.run(twins) + engine.run(lazy)
        bad = engine.run(
            [Job(id="bad", messages=[{"role": "user", "content": "x"}], template_hash="t", validate=broken)]
        )
        assert server.total_requests == 1 + 4 + 1  # identical conversations are asked once
    assert [r.id for r in results] == ["twin-0", "twin-1", "twin-2"] + [f"lazy-{i}" for i in range(4)]
    assert all(r.ok for r in results)
    assert not bad[0].ok and bad[0].failure == "error" and "validator bug" in bad[0].errors[0]
    assert bad[0].raw == "fine"  # the reply is kept for the quarantine


def test_missing_dependency_stops_the_run_instead_of_quarantining_everything():
    from finsynth.llm.engine import Job, LLMEngine
    from finsynth.synth.validate import Validation

    def needs_missing_module(raw: str) -> Validation:
        raise ModuleNotFoundError("No module named 'datasketch'")

    with FakeOpenAI(lambda request: Reply(content="fine")) as server:
        engine = LLMEngine(config_for(server), concurrency=4)
        jobs = [
            Job(
                id=f"j{i}",
                messages=[{"role": "user", "content": f"q{i}"}],
                template_hash="t",
                validate=needs_missing_module,
            )
            for i in range(6)
        ]
        with pytest.raises(ModuleNotFoundError, match="datasketch"):
            engine.run(jobs)


def test_parse_completion_reads_the_fields_and_survives_junk():
    from finsynth.llm.engine import parse_completion

    body = json.dumps(
        {
            "choices": [{"message": {"role": "assistant", "content": '{"a":1}'}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3},
        }
    ).encode()
    reply = parse_completion(body)
    assert (reply.content, reply.prompt_tokens, reply.completion_tokens, reply.finish_reason) == (
        '{"a":1}',
        12,
        3,
        "length",
    )
    for junk in (b"<html>bad gateway</html>", b"[]", b'{"choices": []}', b'{"choices": [{"message": null}]}'):
        empty = parse_completion(junk)
        assert empty.content == "" and empty.prompt_tokens == 0


# --- the circuit breaker (issue 24): transient faults never trip it, persistent failure does -------------


def _ok_job(i: int, prefix: str = "q"):
    from finsynth.llm.engine import Job
    from finsynth.schema import Extraction
    from finsynth.synth.validate import Validation

    def ok(raw: str) -> Validation:
        return Validation(extraction=Extraction(analysis=raw))

    return Job(
        id=f"{prefix}{i}", messages=[{"role": "user", "content": f"{prefix}{i}"}], template_hash="t", validate=ok
    )


def _engine_config(server: FakeOpenAI, **overrides) -> EndpointConfig:
    return config_for(server, **{"timeout": 5, "max_retries": 6, **overrides})


def _instant_fault(request, salt: str) -> Reply:
    """A transport fault that comes back at once, as a gateway's: 429 with Retry-After 0, 503, or a reset."""
    from fake_openai import _fraction

    kind = int(_fraction(request.key, request.attempt, salt) * 3)
    if kind == 0:
        return Reply(status=429, headers={"Retry-After": "0"}, body={"error": {"message": "slow down"}})
    if kind == 1:
        return Reply(status=503)
    return Reply(drop=True)


def test_a_429_burst_and_10pc_instant_faults_at_high_concurrency_never_trip_the_breaker():
    """The benchmark's failure mode, made certain: the first 48 requests of a run get 429 with Retry-After 0
    (a burst at the start of a large run is normal), then 10% of requests fail at once (429, 503, reset) while
    answers take 0.3 s. At concurrency 128 every early attempt to *complete* is a failure; each is retried, so
    none may stop the run: every job is answered, once."""
    import threading

    from fake_openai import _fraction

    from finsynth.llm.engine import LLMEngine

    lock = threading.Lock()
    received = [0]

    def script(request):
        with lock:
            received[0] += 1
            burst = received[0] <= 48
        if burst:
            return Reply(status=429, headers={"Retry-After": "0"}, body={"error": {"message": "burst"}})
        if _fraction(request.key, request.attempt, "fault") < 0.1:
            return _instant_fault(request, "kind")
        return Reply(content=f"answer {request.messages[0]['content']}", delay=0.3)

    jobs = [_ok_job(i) for i in range(256)]
    with FakeOpenAI(script) as server:
        engine = LLMEngine(_engine_config(server), concurrency=128)
        results = engine.run(jobs)
        served = dict(server.served)
        outcomes = server.outcomes()
    stats = engine.stats
    assert stats.aborted is None
    assert all(r.ok for r in results) and [r.raw for r in results] == [f"answer q{i}" for i in range(256)]
    assert stats.live_calls == 256 and stats.failed == 0 and stats.transport_failed == 0
    assert len(served) == 256 and set(served.values()) == {1}  # every job answered exactly once
    # the faults did happen and were all retried
    assert outcomes["http_429"] >= 48 and stats.retries == engine.usage.failed_calls == sum(
        n for outcome, n in outcomes.items() if outcome != "ok"
    )


@pytest.mark.parametrize("failing_first", [True, False])
def test_a_minority_of_jobs_failing_after_their_retries_does_not_stop_the_run(failing_first):
    """20 of 50 jobs always get an instant 503 (their retries are spent before any answer comes back); 30 are
    answered after 0.3 s. 40% is not most jobs, whichever end first: the run goes on, the 30 are answered and
    the 20 end on transport failure, each with its reason."""
    from finsynth.llm.engine import LLMEngine

    doomed = {f"d{i}" for i in range(20)}
    jobs = [_ok_job(i, "d") for i in range(20)] + [_ok_job(i) for i in range(30)]
    if not failing_first:
        jobs.reverse()

    def script(request):
        if request.messages[0]["content"] in doomed:
            return Reply(status=503)
        return Reply(content="fine", delay=0.3)

    with FakeOpenAI(script) as server:
        engine = LLMEngine(_engine_config(server, max_retries=2), concurrency=8)
        results = engine.run(jobs)
    assert engine.stats.aborted is None
    by_id = {r.id: r for r in results}
    assert all(by_id[f"q{i}"].ok for i in range(30))
    assert all(
        by_id[job].failure == "transport" and "HTTP 503 after 2 retries" in by_id[job].errors[0] for job in doomed
    )
    assert engine.stats.transport_failed == 20


@pytest.mark.parametrize("failing_first", [True, False])
def test_most_jobs_failing_after_their_retries_stops_the_run_in_any_order(failing_first):
    from finsynth.llm.engine import LLMEngine

    doomed = {f"d{i}" for i in range(30)}
    jobs = [_ok_job(i, "d") for i in range(30)] + [_ok_job(i) for i in range(20)]
    if not failing_first:
        jobs.reverse()

    def script(request):
        if request.messages[0]["content"] in doomed:
            return Reply(status=503)
        return Reply(content="fine", delay=0.05)

    with FakeOpenAI(script) as server:
        engine = LLMEngine(_engine_config(server, max_retries=2), concurrency=8)
        results = engine.run(jobs)
    aborted = engine.stats.aborted
    assert aborted and "26 of 50 jobs failed on transport after their retries" in aborted
    assert "HTTP 503" in aborted and "check the server, its rate limits and --concurrency" in aborted
    assert len(results) == 50 and all(r.ok or r.failure in ("transport", "aborted") for r in results)


def test_an_endpoint_that_never_answers_stops_the_run_within_one_timeout():
    """Nothing answers within the 0.3 s timeout: the run stops at the first wave's timeouts, without retrying
    them (16 attempts in waves of 4 before the fix)."""
    from finsynth.llm.engine import LLMEngine

    with FakeOpenAI(lambda request: Reply(hang=True)) as server:
        engine = LLMEngine(_engine_config(server, timeout=0.3, max_retries=3), concurrency=4)
        results = engine.run([_ok_job(i) for i in range(12)])
        requests = server.total_requests
    assert engine.stats.aborted and "no call answered within the 0.3 s timeout" in engine.stats.aborted
    assert "check OPENAI_BASE_URL" in engine.stats.aborted
    assert requests == 4 and engine.stats.retries == 0
    assert {r.failure for r in results} == {"transport", "aborted"} and not any(r.ok for r in results)


@pytest.mark.parametrize("status", [401, 403])
def test_an_auth_error_stops_the_run_even_during_a_burst_of_transient_faults(status):
    import threading

    from finsynth.llm.engine import LLMEngine

    lock = threading.Lock()
    received = [0]

    def script(request):
        with lock:
            received[0] += 1
            n = received[0]
        if n <= 10:
            return Reply(status=429, headers={"Retry-After": "0"})
        return Reply(status=status, body={"error": {"message": "bad key"}})

    with FakeOpenAI(script) as server:
        engine = LLMEngine(_engine_config(server), concurrency=8)
        results = engine.run([_ok_job(i) for i in range(40)])
        requests = server.total_requests
    assert engine.stats.aborted and f"authentication failed (HTTP {status})" in engine.stats.aborted
    assert requests <= 10 + 8  # the burst, then at most one wave of 401s: nothing is retried after
    assert not any(r.ok for r in results)


def test_a_refused_connection_is_unreachable_and_a_reset_is_not():
    """What the breaker's `unreachable` rule counts: a connection that could not be made, never a reset."""
    import socket

    from finsynth.llm.engine import Job, LLMEngine

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = EndpointConfig(
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key=API_KEY,
        model="m",
        max_retries=6,
        backoff_base=0.01,
        backoff_max=0.02,
    )
    engine = LLMEngine(config, concurrency=4)
    results = engine.run([_ok_job(i) for i in range(8)])
    assert engine.stats.aborted and "16 attempts could not connect" in engine.stats.aborted
    assert results[0].transport_errors[0] == "unreachable"
    with FakeOpenAI(lambda request: Reply(drop=True) if request.attempt == 1 else Reply(content="ok")) as server:
        engine = LLMEngine(_engine_config(server), concurrency=2)
        (result,) = engine.run(
            [Job(id="r", messages=[{"role": "user", "content": "x"}], template_hash="t", validate=_ok_job(0).validate)]
        )
    assert result.ok and result.transport_errors == ["connection"]


# the breaker's decision as a pure function, over any order of attempt completions

TRANSIENT = [
    RetryDecision(retryable=True, kind="rate_limit", message="HTTP 429", retry_after=0.0),
    RetryDecision(retryable=True, kind="http_503", message="HTTP 503"),
    RetryDecision(retryable=True, kind="http_500", message="HTTP 500"),
    RetryDecision(retryable=True, kind="connection", message="connection error: reset"),
]


def _interleave(data, plans: list[list[RetryDecision | None]]) -> list[tuple[int, RetryDecision | None, bool]]:
    """One order in which the jobs' attempts complete (each job's own attempts stay in order):
    (job, outcome, last attempt of the job) with outcome None for an answer."""
    from hypothesis import strategies as st

    slots = [job for job, plan in enumerate(plans) for _ in plan]
    slots = data.draw(st.permutations(slots))
    taken = [0] * len(plans)
    events = []
    for job in slots:
        step = taken[job]
        taken[job] += 1
        events.append((job, plans[job][step], taken[job] == len(plans[job])))
    return events


def _replay(events, jobs: int, limits) -> list:
    from finsynth.llm.breaker import Tally, decide

    tally = Tally(jobs=jobs)
    decisions = []
    for _, outcome, last in events:
        if outcome is None:
            tally.attempt_answered()
        else:
            tally.attempt_failed(outcome)
            if last:
                tally.job_failed()
        decisions.append(decide(tally, limits))
    return decisions


def _plans(data, max_retries: int, allow_exhausted: bool):
    """Per job: some transient faults then an answer, or (when allowed) max_retries + 1 faults (retries spent)."""
    from hypothesis import strategies as st

    n_jobs = data.draw(st.integers(1, 30), label="jobs")
    fault = st.sampled_from(TRANSIENT)
    plans = []
    for _ in range(n_jobs):
        if allow_exhausted and data.draw(st.booleans()):
            plans.append(data.draw(st.lists(fault, min_size=max_retries + 1, max_size=max_retries + 1)))
        else:
            plans.append([*data.draw(st.lists(fault, max_size=max_retries)), None])
    return plans


def test_transient_faults_never_trip_the_breaker_in_any_completion_order():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from finsynth.llm.breaker import Limits

    @settings(max_examples=100, deadline=None)
    @given(st.data(), st.integers(0, 6), st.integers(1, 32))
    def check(data, max_retries, min_jobs):
        plans = _plans(data, max_retries, allow_exhausted=False)
        events = _interleave(data, plans)
        decisions = _replay(events, len(plans), Limits(min_jobs=min_jobs))
        assert decisions == [None] * len(events)

    check()


def test_the_breaker_decision_depends_only_on_the_jobs_final_outcomes():
    """Jobs answered after transient faults, and jobs whose retries are all spent, completing in any order:
    the breaker trips in a given order exactly when most of the run's jobs end failed, and then from the
    moment that count is crossed, in every order."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from finsynth.llm.breaker import Limits

    @settings(max_examples=150, deadline=None)
    @given(st.data(), st.integers(0, 4), st.integers(1, 32))
    def check(data, max_retries, min_jobs):
        plans = _plans(data, max_retries, allow_exhausted=True)
        limits = Limits(min_jobs=min_jobs)
        failed = sum(1 for plan in plans if plan[-1] is not None)
        expected = len(plans) >= min_jobs and failed > limits.failed_share * len(plans)
        events = _interleave(data, plans)
        decisions = _replay(events, len(plans), limits)
        assert (decisions[-1] == "failing") == expected
        assert set(decisions) <= {None, "failing"}
        if expected:  # tripped at the job that crossed the line, and never before
            finals = [i for i, (_, outcome, last) in enumerate(events) if last and outcome is not None]
            crossing = finals[int(limits.failed_share * len(plans))]
            assert decisions.index("failing") == crossing

    check()


def test_the_breaker_trips_on_persistent_evidence():
    from finsynth.llm.breaker import Limits, Tally, decide

    limits = Limits(unreachable_attempts=16, min_jobs=4)
    auth = Tally(jobs=100, responses=50)
    auth.attempt_failed(RetryDecision(retryable=False, kind="http_401", message="HTTP 401"))
    assert decide(auth, limits) == "auth" and auth.auth == "HTTP 401"
    refused = Tally(jobs=100)
    for _ in range(16):
        assert decide(refused, limits) is None
        refused.attempt_failed(RetryDecision(retryable=True, kind="unreachable", message="connection failed"))
    assert decide(refused, limits) == "unreachable"
    refused.attempt_answered()  # something answers: the address is served after all
    assert decide(refused, limits) is None
    silent = Tally(jobs=100)
    silent.attempt_failed(RetryDecision(retryable=True, kind="timeout", message="request timed out"))
    assert decide(silent, limits) == "silent"
    busy = Tally(jobs=100)  # a 429 is an answer: a timeout beside it does not mean nothing answers
    busy.attempt_failed(TRANSIENT[0])
    busy.attempt_failed(RetryDecision(retryable=True, kind="timeout", message="request timed out"))
    assert decide(busy, limits) is None
    small = Tally(jobs=3, failed_jobs=3)  # a run too small to judge: its failures are reported, not an abort
    assert decide(small, limits) is None


# --- the CLI exits 2 when the breaker stops the run ---------------------------------------------------


def _unauthorized(request):
    return Reply(status=401, body={"error": {"message": "bad key"}})


@pytest.mark.parametrize("command", ["qa generate", "generate"])
def test_a_stopped_llm_run_exits_2_with_one_line_saying_what_to_check(command, tmp_path, monkeypatch, capsys):
    from finsynth.cli import main

    monkeypatch.chdir(tmp_path)
    if command == "qa generate":
        chunks = tmp_path / "chunks.jsonl"
        chunks.write_text(
            "".join(
                json.dumps({"id": f"c{i}", "text": f"营业收入为{i}1.5亿元。"}, ensure_ascii=False) + "\n"
                for i in range(3)
            ),
            encoding="utf-8",
        )
        argv = ["qa", "generate", str(chunks), "--out", "out", "--cache", "c.sqlite"]
        rows = tmp_path / "out" / "quarantine.jsonl"
    else:
        paragraphs = tmp_path / "paragraphs.txt"
        paragraphs.write_text(
            "公司毛利率为35.2%，同比提升1.1个百分点。\n营业收入为128.6亿元，同比增长12.0%。\n", encoding="utf-8"
        )
        argv = [
            "generate",
            "--type",
            "B",
            "--n",
            "2",
            "--from-paragraphs",
            str(paragraphs),
            "--examples",
            str(REPO / "data" / "raw"),
            "--out",
            "gen",
            "--quarantine-dir",
            "rejected",
            "--cache",
            "c.sqlite",
        ]
        rows = tmp_path / "rejected"
    with FakeOpenAI(_unauthorized) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
        monkeypatch.setenv("FINSYNTH_MODEL", "fake-model")
        code = main([*argv, "--format", "json"])
    assert code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err[-1].startswith(f"error: {command} stopped early: authentication failed (HTTP 401)")
    assert "check OPENAI_API_KEY" in err[-1] and API_KEY not in err[-1]
    assert rows.exists()  # what the run could not do is written down, not lost
