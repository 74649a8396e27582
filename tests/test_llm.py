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
from finsynth.synth.relabel import relabel, relabel_messages

REPO = Path(__file__).resolve().parents[1]


def config_for(server: FakeOpenAI, **overrides) -> EndpointConfig:
    settings = {"base_url": server.base_url, "api_key": API_KEY, "model": "fake-model", "timeout": 0.5,
                "backoff_base": 0.01, "backoff_max": 0.05, "max_retries": 3, "max_reasks": 2}
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
        result = relabel(samples, llm="openai", concurrency=4, cache_path=tmp_path / "cache.sqlite",
                         progress=False, config=config_for(server))
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
        result = relabel([sample], llm="openai", concurrency=2, cache_path=None, progress=False,
                         config=config_for(server))
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
        result = relabel(samples, llm="openai", concurrency=4, cache_path=None, progress=False,
                         config=config_for(server))
    assert len(result.samples) == 21
    slow_at = next(t for t, slow in arrivals if slow)
    during = [t for t, slow in arrivals if not slow and slow_at <= t < slow_at + hold]
    before = [t for t, slow in arrivals if not slow and t < slow_at]
    assert len(during) + len(before) == 20


def test_second_run_is_served_from_cache(tmp_path):
    samples = [make_sample(i, "fixable" if i % 3 == 0 else "good") for i in range(12)]
    cache_path = tmp_path / "cache.sqlite"
    with FakeOpenAI(Router(samples)) as server:
        first = relabel(samples, llm="openai", concurrency=3, cache_path=cache_path, progress=False,
                        config=config_for(server))
        calls_after_first = server.total_requests
        second = relabel(samples, llm="openai", concurrency=3, cache_path=cache_path, progress=False,
                         config=config_for(server))
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
    (custom / "relabel_b.j2").write_text("请重写。\n" + (REPO / "templates/relabel_b.j2").read_text(encoding="utf-8"),
                                         encoding="utf-8")
    cache_path = tmp_path / "cache.sqlite"
    with FakeOpenAI(Router([sample])) as server:
        relabel([sample], llm="openai", cache_path=cache_path, progress=False, config=config_for(server))
        relabel([sample], llm="openai", cache_path=cache_path, progress=False, config=config_for(server),
                template_dir=custom)
        relabel([sample], llm="openai", cache_path=cache_path, progress=False,
                config=config_for(server, temperature=0.7))
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
        env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": API_KEY,
               "FINSYNTH_MODEL": "fake-model", "FINSYNTH_TIMEOUT": "30"}
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(inputs), str(cache_path)], env=env,
                                 cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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
        result = relabel(samples, llm="openai", cache_path=out / "cache.sqlite", progress=False,
                         config=config_for(server))
        write_jsonl_atomic(out / "samples.jsonl", result.samples)
        write_jsonl_atomic(out / "quarantine.jsonl", result.quarantined)
        (out / "stats.json").write_text(result.stats.model_dump_json(), encoding="utf-8")
        (out / "repr.txt").write_text(repr(result.stats) + repr(config_for(server)) + str(config_for(server)),
                                      encoding="utf-8")
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
        '[tool.finsynth.prices.from-toml]\ninput = 1.0\noutput = 2.0\n', encoding="utf-8")
    config = load_config(env={}, directory=tmp_path)
    assert config.model == "from-pyproject" and config.timeout == 12 and not config.configured
    (tmp_path / "finsynth.toml").write_text('model = "from-toml"\nbase_url = "http://127.0.0.1:9/v1"\n',
                                            encoding="utf-8")
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
            sample.output.metrics.append(sample.output.metrics[0].model_copy(
                update={"metric_name": "叶腊石采购价", "metric_type": "business", "score": 0.5}))
    raw = tmp_path / "raw"
    write_jsonl_atomic(raw / "type_b.jsonl", samples)
    router = Router(samples)
    with FakeOpenAI(router) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "FINSYNTH_"))}
        env.update({"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": API_KEY, "FINSYNTH_MODEL": "fake-model"})
        done = subprocess.run(
            [sys.executable, "-m", "finsynth", "build", "--raw", str(raw), "--out", str(tmp_path / "built"),
             "--relabel", "B", "--llm", "openai", "--concurrency", "4", "--allow-errors", "--format", "json"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
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
D_HYBRID = ("本段核心分析对象是会员总数（4,200万，同比+18.5%，business——衡量用户运营规模，不出现在报表中）和毛利率"
            "（35.2%，同比+1.1pct，financial——利润表核心科目）。逐项排除：坪效（5.8万元/平方米）：归因项——是零售运营效率的"
            "佐证数据。段落分析框架是用户规模与盈利转化双维度。")


def test_relabel_d_is_held_to_the_hybrid_style(tmp_path):
    from finsynth.schema import Extraction, Metric, ParagraphInput, Sample

    metrics = [Metric(metric_name="会员总数", metric_type="business", score=0.93),
               Metric(metric_name="毛利率", metric_type="financial", score=0.92)]
    sample = Sample(type="D", input=ParagraphInput(chapter_title="零售", paragraph=D_PARAGRAPH),
                    output=Extraction(analysis="旧", metrics=metrics))
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
        result = relabel([sample], types={"D"}, llm="openai", cache_path=None, progress=False,
                         config=config_for(server))
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
        twins = [Job(id=f"twin-{i}", messages=[{"role": "user", "content": "same"}], template_hash="t", validate=ok)
                 for i in range(3)]
        lazy = (Job(id=f"lazy-{i}", messages=[{"role": "user", "content": f"q{i}"}], template_hash="t", validate=ok)
                for i in range(4))
        results = engine.run(twins) + engine.run(lazy)
        bad = engine.run([Job(id="bad", messages=[{"role": "user", "content": "x"}], template_hash="t",
                              validate=broken)])
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
        jobs = [Job(id=f"j{i}", messages=[{"role": "user", "content": f"q{i}"}], template_hash="t",
                    validate=needs_missing_module) for i in range(6)]
        with pytest.raises(ModuleNotFoundError, match="datasketch"):
            engine.run(jobs)


def test_parse_completion_reads_the_fields_and_survives_junk():
    from finsynth.llm.engine import parse_completion

    body = json.dumps({"choices": [{"message": {"role": "assistant", "content": "{\"a\":1}"},
                                    "finish_reason": "length"}],
                       "usage": {"prompt_tokens": 12, "completion_tokens": 3}}).encode()
    reply = parse_completion(body)
    assert (reply.content, reply.prompt_tokens, reply.completion_tokens, reply.finish_reason) == (
        '{"a":1}', 12, 3, "length")
    for junk in (b"<html>bad gateway</html>", b"[]", b'{"choices": []}', b'{"choices": [{"message": null}]}'):
        empty = parse_completion(junk)
        assert empty.content == "" and empty.prompt_tokens == 0
