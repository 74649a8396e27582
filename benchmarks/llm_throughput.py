"""LLM engine throughput against the loopback OpenAI-compatible server, with injected faults.

Runs `finsynth.synth.relabel.relabel` (the real path: render, call, validate with lint, cache, quarantine)
on N Type B relabel requests against `tests/fake_openai.py` started as a separate process with a
fixed per-request latency, and measures:

* concurrent, no faults: N requests at concurrency C;
* concurrent, with faults: the same with `--fault-rate` of the requests failing in transport
  (500, 503, 429 with Retry-After: 0, connection reset; chosen by hash, so reproducible);
* cached re-run: the faulted run again on its cache, against a fresh server that counts calls;
* sequential: one request at a time (on `--sequential-requests` of them, extrapolated as a rate);
* batch-and-wait: batches of `--batch` that wait for their slowest call, with the same faults.

ideal_rps = concurrency / latency. Every figure is read from the library's own stats (`RelabelStats`,
`EngineStats`), never inferred from the rows returned, and every run is checked: the engine did not stop
(`aborted` is None), each request was one live call or one cache hit (plus re-asks), no row was lost, and
the cached re-run made no call. A failed check is listed in `failed_checks` and the script exits 1 after
printing the report. Prints a human summary to stderr and one JSON object on the last line of stdout:
{"requests", "concurrency", "latency_ms", "achieved_rps", "ideal_rps", "ratio", "relabelled", "lost",
"quarantined", "retries", "cached_rerun_calls", "cached_rerun_s", "failed_checks", ...}; the headline
fields are for the faulted run, `no_faults`, `sequential` and `batch_and_wait` sit beside it.

    python benchmarks/llm_throughput.py [--requests 1000] [--concurrency 64] [--latency-ms 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CORPUS

from finsynth.io import load_paths, write_jsonl_atomic
from finsynth.llm.config import EndpointConfig
from finsynth.schema import Extraction, Metric, ParagraphInput, Sample
from finsynth.synth.annotators.rules import annotate
from finsynth.synth.relabel import relabel

CORPUS_B = CORPUS / "type_b.jsonl"


def make_samples(n: int) -> tuple[list[Sample], str]:
    """n distinct Type B samples: the real corpus' B paragraphs (with numbered chapter titles so every
    request is distinct), or synthetic ones when the corpus is absent."""
    base: list[Sample] = []
    source = "synthetic"
    if CORPUS_B.is_file():
        base = [s for s in load_paths([CORPUS_B]).samples if annotate(s).analysis]
        source = str(CORPUS_B)
    out = []
    for i in range(n):
        if base:
            s = base[i % len(base)]
            title = f"{s.input.chapter_title}（{i // len(base) + 1}）"
            out.append(
                s.model_copy(
                    update={
                        "id": f"bench-{i}",
                        "input": ParagraphInput(chapter_title=title, paragraph=s.input.paragraph),
                    }
                )
            )
        else:
            paragraph = (
                f"受益于原材料价格下降，样本{i}号公司毛利率提升至{20 + i % 17}.{i % 10}%。"
                f"天然气价格同比下降{15 + i % 4}%，叶腊石采购价同比下降{20 + i % 9}%。"
            )
            out.append(
                Sample(
                    id=f"bench-{i}",
                    type="B",
                    input=ParagraphInput(paragraph=paragraph),
                    output=Extraction(
                        analysis="-", metrics=[Metric(metric_name="毛利率", metric_type="financial", score=1.0)]
                    ),
                )
            )
    return out, source


class Server:
    """tests/fake_openai.py in its own process (its CPU is not the client's)."""

    def __init__(self, answers: Path, latency_ms: float, fault_rate: float, workdir: Path, name: str):
        self.port_file = workdir / f"{name}.port"
        self.log = workdir / f"{name}.log.json"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "tests" / "fake_openai.py"),
                "--answers",
                str(answers),
                "--latency-ms",
                str(latency_ms),
                "--fault-rate",
                str(fault_rate),
                "--port-file",
                str(self.port_file),
                "--log",
                str(self.log),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while not self.port_file.exists() or not self.port_file.read_text().strip():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"fake server did not start: {self.proc.stderr.read().decode()}")
            time.sleep(0.02)
        self.base_url = f"http://127.0.0.1:{self.port_file.read_text().strip()}/v1"

    def stop(self) -> dict:
        self.proc.terminate()
        self.proc.wait(30)
        return json.loads(self.log.read_text()) if self.log.exists() else {}


def run(samples: list[Sample], base_url: str, concurrency: int, cache: Path | None, args) -> dict:
    config = EndpointConfig(
        base_url=base_url,
        api_key="sk-bench",
        model="bench-model",
        timeout=30,
        backoff_base=args.backoff_ms / 1000,
        backoff_max=2.0,
        max_retries=8,
    )
    started = time.perf_counter()
    # force: every sample is a relabel request (the default would skip the rows already passing their rules)
    result = relabel(
        samples, llm="openai", concurrency=concurrency, cache_path=cache, progress=False, config=config, force=True
    )
    elapsed = time.perf_counter() - started
    stats = result.stats
    engine = stats.engine
    assert engine is not None  # an openai relabel always runs the engine
    return {
        "requests": len(samples),
        "elapsed_s": round(elapsed, 3),
        "achieved_rps": round(len(samples) / elapsed, 1),
        "engine_s": engine.elapsed_s,
        "relabelled": stats.relabelled,  # rows whose analysis the endpoint rewrote
        "kept_unchanged": sum(1 for c in result.changes if c.status == "kept"),  # answered, same analysis
        "kept_on_failure": stats.kept_on_failure,
        "kept_on_failure_by_reason": stats.kept_on_failure_by_reason,
        "quarantined": len(result.quarantined),
        "lost": len(samples) - len(result.samples) - len(result.quarantined),
        "aborted": stats.aborted,
        "jobs_ok": engine.ok,
        "jobs_failed": engine.failed,
        "retries": engine.retries,
        "retries_by_kind": engine.retries_by_kind,
        "live_calls": engine.live_calls,
        "cache_hits": engine.cache_hits,
        "reasks": engine.reasks,
    }


def check(name: str, run_stats: dict, failures: list[str]) -> None:
    """What every run must show: the engine did not stop, each request was one call or one cache hit (plus
    its re-asks), every job was answered, and every row came back or was quarantined."""
    if run_stats["aborted"] is not None:
        failures.append(f"{name}: the engine stopped: {run_stats['aborted']}")
    calls = run_stats["live_calls"] + run_stats["cache_hits"]
    if calls != run_stats["requests"] + run_stats["reasks"]:
        failures.append(
            f"{name}: {run_stats['live_calls']} live calls + {run_stats['cache_hits']} cache hits for "
            f"{run_stats['requests']} requests and {run_stats['reasks']} re-asks"
        )
    if run_stats["jobs_failed"] or run_stats["kept_on_failure"]:
        failures.append(
            f"{name}: {run_stats['jobs_failed']} job(s) failed, {run_stats['kept_on_failure']} row(s) "
            f"kept on failure ({run_stats['kept_on_failure_by_reason']})"
        )
    if run_stats["lost"]:
        failures.append(f"{name}: {run_stats['lost']} row(s) lost")


def client_ceiling(base_url: str, concurrency: int, requests: int) -> float:
    """Requests/s of the engine's own client stack (the SDK on aiohttp, uvloop, raw bytes back) against a
    zero-latency server with nothing else to do: the most any scheduling can reach on this machine,
    whatever the latency (CPU and syscalls, not waiting)."""
    import asyncio

    from finsynth.llm.engine import make_client, run_coroutine

    messages = [{"role": "user", "content": "【段落内容】ceiling\n" + "x" * 1500}]
    config = EndpointConfig(base_url=base_url, api_key="sk-bench", model="ceiling", timeout=30)

    async def go() -> float:
        client = make_client(config)
        remaining = [requests]

        async def worker() -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                await client.post("/chat/completions", body={"model": "ceiling", "messages": messages}, cast_to=bytes)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        await client.close()
        return requests / elapsed

    return round(run_coroutine(go()), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--fault-rate", type=float, default=0.10)
    parser.add_argument("--backoff-ms", type=float, default=100.0, help="backoff base (full jitter) for retries")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--sequential-requests", type=int, default=50)
    parser.add_argument(
        "--also-latency-ms",
        type=float,
        default=1000.0,
        help="repeat the concurrent runs at this latency (0 to skip): an ideal rate below the "
        "client ceiling, so the ratio measures scheduling rather than this machine's CPU",
    )
    args = parser.parse_args()

    load_start = [round(x, 2) for x in os.getloadavg()]  # other work on the box skews every rate
    failures: list[str] = []
    samples, source = make_samples(args.requests)
    ideal = args.concurrency / (args.latency_ms / 1000)
    log = sys.stderr
    with tempfile.TemporaryDirectory(prefix="finsynth-bench-") as tmp:
        work = Path(tmp)
        answers = write_jsonl_atomic(
            work / "answers.jsonl",
            [{"paragraph": " ".join(s.input.paragraph.split("\n")), "content": annotate(s).to_json()} for s in samples]
            + [{"paragraph": "ceiling", "content": "ok"}],
        )

        server = Server(answers, 0.0, 0.0, work, "ceiling")
        try:
            ceiling = client_ceiling(server.base_url, args.concurrency, 500)
        finally:
            server.stop()
        print(f"client ceiling: {ceiling:7.1f} rps (bare client, zero latency)", file=log)

        server = Server(answers, args.latency_ms, 0.0, work, "clean")
        try:
            no_faults = run(samples, server.base_url, args.concurrency, work / "clean.sqlite", args)
        finally:
            server.stop()
        no_faults["ratio"] = round(no_faults["achieved_rps"] / ideal, 3)
        check("no faults", no_faults, failures)
        print(f"no faults     : {no_faults['achieved_rps']:7.1f} rps  ratio {no_faults['ratio']:.3f}", file=log)

        server = Server(answers, args.latency_ms, args.fault_rate, work, "faults")
        try:
            faulted = run(samples, server.base_url, args.concurrency, work / "faults.sqlite", args)
            sequential = run(samples[: args.sequential_requests], server.base_url, 1, None, args)
            batches = []
            started = time.perf_counter()
            for i in range(0, len(samples), args.batch):
                batches.append(run(samples[i : i + args.batch], server.base_url, args.batch, None, args))
            batch_elapsed = time.perf_counter() - started
        finally:
            server.stop()
        faulted["ratio"] = round(faulted["achieved_rps"] / ideal, 3)
        check("faults", faulted, failures)
        check("sequential", sequential, failures)
        for number, one in enumerate(batches):
            check(f"batch {number}", one, failures)
        print(
            f"{args.fault_rate:.0%} faults    : {faulted['achieved_rps']:7.1f} rps  ratio {faulted['ratio']:.3f}"
            f"  retries {faulted['retries']}  live calls {faulted['live_calls']}  relabelled "
            f"{faulted['relabelled']}  aborted {faulted['aborted']}",
            file=log,
        )
        batch = {
            "batch": args.batch,
            "requests": len(samples),
            "elapsed_s": round(batch_elapsed, 3),
            "achieved_rps": round(len(samples) / batch_elapsed, 1),
            "retries": sum(b["retries"] for b in batches),
            "lost": sum(b["lost"] for b in batches),
        }
        batch["ratio_vs_ideal"] = round(batch["achieved_rps"] / ideal, 3)
        sequential["ratio_vs_ideal"] = round(sequential["achieved_rps"] / ideal, 4)
        print(f"sequential    : {sequential['achieved_rps']:7.1f} rps", file=log)
        print(f"batch-and-wait: {batch['achieved_rps']:7.1f} rps (batches of {args.batch})", file=log)

        server = Server(answers, args.latency_ms, 0.0, work, "rerun")
        try:
            rerun = run(samples, server.base_url, args.concurrency, work / "faults.sqlite", args)
        finally:
            served = server.stop()
        rerun_calls = sum(served.get("counts", {}).values())
        check("cached re-run", rerun, failures)
        if rerun_calls or rerun["live_calls"]:
            failures.append(f"cached re-run: {rerun_calls} calls reached the server ({rerun['live_calls']} live)")
        print(f"cached re-run : {rerun_calls} calls in {rerun['elapsed_s']} s", file=log)

        slow = {}
        if args.also_latency_ms:
            slow_ideal = args.concurrency / (args.also_latency_ms / 1000)
            for name, rate in (("no_faults", 0.0), ("faults", args.fault_rate)):
                server = Server(answers, args.also_latency_ms, rate, work, f"slow-{name}")
                try:
                    slow[name] = run(samples, server.base_url, args.concurrency, None, args)
                finally:
                    server.stop()
                slow[name]["ratio"] = round(slow[name]["achieved_rps"] / slow_ideal, 3)
                check(f"{args.also_latency_ms:.0f} ms {name}", slow[name], failures)
                print(
                    f"{args.also_latency_ms:.0f} ms {name:9}: {slow[name]['achieved_rps']:7.1f} rps"
                    f"  ratio {slow[name]['ratio']:.3f}",
                    file=log,
                )
            slow = {"latency_ms": args.also_latency_ms, "ideal_rps": round(slow_ideal, 1), **slow}

    report = {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "latency_ms": args.latency_ms,
        "achieved_rps": faulted["achieved_rps"],
        "ideal_rps": round(ideal, 1),
        "ratio": faulted["ratio"],
        "relabelled": faulted["relabelled"],
        "live_calls": faulted["live_calls"],
        "aborted": faulted["aborted"],
        "lost": faulted["lost"],
        "quarantined": faulted["quarantined"],
        "retries": faulted["retries"],
        "cached_rerun_calls": rerun_calls,
        "cached_rerun_s": rerun["elapsed_s"],
        "fault_rate": args.fault_rate,
        "backoff_ms": args.backoff_ms,
        "faults": faulted,
        "no_faults": no_faults,
        "sequential": sequential,
        "batch_and_wait": batch,
        "cached_rerun": rerun,
        "client_ceiling_rps": ceiling,
        "ratio_vs_ceiling": round(faulted["achieved_rps"] / min(ideal, ceiling), 3),
        "at_also_latency": slow,
        "samples": source,
        "cpus": os.cpu_count(),
        "loadavg_start": load_start,
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "failed_checks": failures,
    }
    for failure in failures:
        print(f"check failed: {failure}", file=log)
    print(json.dumps(report, ensure_ascii=False))
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
