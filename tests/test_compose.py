"""`finsynth build --compose`: count composition of the training split (finsynth.synth.compose).

Deterministic, reaches the test prior on the real corpus, explicit shares, the upsample cap and its
warning, slices, replay, row accounting, one-line errors for bad compose files, and the LLaMA-Factory
translation (the composed file is the mixture)."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from finsynth.build import BuildConfig, build, stratified_split
from finsynth.cli import main
from finsynth.export import export
from finsynth.io import UserError, load_paths, read_jsonl
from finsynth.synth.compose import (
    COPY_SUFFIX,
    REPLAY_SUFFIX,
    cell_weights,
    compose,
    load_compose_config,
    parse_compose_config,
)

OUTPUTS = (
    "train.jsonl",
    "val.jsonl",
    "test.jsonl",
    "quarantine.jsonl",
    "composed_out.jsonl",
    "report.md",
    "report.html",
    "manifest.json",
)
CORPUS_FILES = ("type_a.jsonl", "type_b.jsonl", "type_c.jsonl", "type_d.jsonl", "test_cases.jsonl")


def _write_yaml(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture()
def raw_copy(raw_dir: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "raw"
    shutil.copytree(raw_dir, dest, ignore=shutil.ignore_patterns("generated"))
    return dest


@pytest.fixture(scope="module")
def starter(raw_dir: Path):
    """The starter corpus split as the build splits it: (train records, val records, test cases)."""
    loaded = load_paths([raw_dir])
    samples = [r for r in loaded.records if r.item.type != "test"]
    tests = [r.item for r in loaded.records if r.item.type == "test"]
    train, val = stratified_split(samples, 0.1, 13)
    return train, val, tests


def _base_id(sample_id: str) -> str:
    return sample_id.split(COPY_SUFFIX)[0]


def _shares(records) -> dict[int, float]:
    counts = Counter(r.item.count for r in records)
    return {c: counts.get(c, 0) / len(records) for c in range(5)}


# --- the compose function ---------------------------------------------------------------------------


def test_match_test_reaches_the_test_prior_on_the_starter_split(starter):
    train, _val, tests = starter
    result = compose(train, parse_compose_config({"match": "test"}), seed=13, tests=tests)
    prior = {c: sum(t.count == c for t in tests) / len(tests) for c in range(5)}
    reached = _shares(result.records)
    assert all(abs(reached[c] - prior[c]) <= 0.02 for c in range(5)), (reached, prior)
    assert result.summary.after_ratio == pytest.approx(1.0, abs=0.03)
    assert result.summary.before_ratio > 1.1
    assert not result.warnings
    # accounting inside the composition: every input row is kept once or composed out, never both
    kept = {r.item.id for r in result.records if COPY_SUFFIX not in r.item.id}
    out = {q.extra["id"] for q in result.composed_out}
    assert kept | out == {r.item.id for r in train} and not kept & out
    assert result.summary.kept + result.summary.copies == len(result.records)
    assert all(q.stage == "compose" and q.reason.startswith("composition:") for q in result.composed_out)
    # copies are whole rows, traceable to their original
    by_id = {r.item.id: r.item for r in result.records}
    copies = [r.item for r in result.records if COPY_SUFFIX in r.item.id]
    assert copies and len(by_id) == len(result.records)
    for copy in copies:
        original = by_id[copy.provenance.model_extra["compose"]["copy_of"]]
        assert copy.input == original.input and copy.output == original.output and copy.type == original.type


def test_explicit_shares_and_determinism(starter):
    train, _val, tests = starter
    shares = {0: 0.1, 1: 0.45, 2: 0.3, 3: 0.1, 4: 0.05}
    config = parse_compose_config({"counts": shares})
    first = compose(train, config, seed=5, tests=tests)
    reached = _shares(first.records)
    assert all(abs(reached[c] - shares[c]) <= 0.02 for c in shares), reached
    assert first.summary.target_source == "explicit" and first.summary.target == shares
    again = compose(train, config, seed=5, tests=tests)
    assert [r.model_dump() for r in again.records] == [r.model_dump() for r in first.records]
    other = compose(train, config, seed=6, tests=tests)
    assert {r.item.id for r in other.records} != {r.item.id for r in first.records}


def test_upsample_cap_warns_with_the_reached_distribution(starter):
    train, _val, tests = starter
    config = parse_compose_config({"counts": {0: 0.6, 1: 0.4}, "size": 200, "max_upsample": 2})
    result = compose(train, config, seed=13, tests=tests)
    copies = Counter(_base_id(r.item.id) for r in result.records)
    assert max(copies.values()) <= 2  # no row more than max_upsample times
    assert len(result.records) < 200
    capped = [w for w in result.warnings if "max_upsample 2x stops" in w]
    assert capped and "reached" in capped[0] and "against the target" in capped[0]
    # the automatic size shrinks instead, and says so
    auto = compose(train, parse_compose_config({"counts": {0: 0.6, 1: 0.4}, "max_upsample": 2}), 13, tests=tests)
    assert any(m.startswith("size: ") for m in auto.warnings + auto.notes)
    assert max(Counter(_base_id(r.item.id) for r in auto.records).values()) <= 2
    assert abs(_shares(auto.records)[0] - 0.6) <= 0.02


def test_unreachable_count_is_a_warning_not_silent(starter):
    train, _val, tests = starter
    no_fours = [r for r in train if r.item.count != 4]
    result = compose(no_fours, parse_compose_config({"counts": {1: 0.5, 4: 0.5}}), 13, tests=tests)
    assert any("target count(s) 4" in w and "cannot be reached" in w for w in result.warnings)
    assert result.summary.reachable_target[1] == 1.0 and _shares(result.records)[1] == 1.0


def test_type_constraints(starter):
    train, _val, tests = starter
    keep = compose(train, parse_compose_config({"match": "test", "types": "keep"}), 13, tests=tests)
    before = Counter(r.item.type for r in train)
    after = Counter(r.item.type for r in keep.records)
    for t in before:  # each type's share held (within rounding) and the count prior still reached
        assert abs(after[t] / len(keep.records) - before[t] / len(train)) <= 0.05, (t, after, before)
    assert keep.summary.after_ratio == pytest.approx(1.0, abs=0.05)
    # type B holds every count-0 row: 90% count 0 cannot live with B at 10%; the counts win, with a warning
    clash = compose(
        train, parse_compose_config({"counts": {0: 0.9, 1: 0.1}, "types": {"A": 0.9, "B": 0.1}}), 13, tests=tests
    )
    assert any(w.startswith("types: the count target takes precedence") for w in clash.warnings)


def test_slices_are_raised_to_their_share_and_capped(starter):
    train, _val, tests = starter
    boundary = {"name": "boundary", "where": {"type": "B", "count": [1, 2]}, "share": 0.35}
    result = compose(train, parse_compose_config({"match": "test", "slices": [boundary]}), 13, tests=tests)
    (reached,) = result.summary.slices
    assert reached.before < 0.3 and reached.added > 0 and reached.reached >= 0.35 - 0.005
    in_slice = [r for r in result.records if r.item.type == "B" and r.item.count in (1, 2)]
    assert abs(len(in_slice) / len(result.records) - reached.reached) < 1e-3
    # slices move the count distribution, and the composition says so
    assert [w for w in result.warnings if not w.endswith("(slices)")] == []
    # a share the cap cannot reach is a warning, and a later slice diluting an earlier one too
    config = parse_compose_config(
        {"match": "test", "slices": [boundary, {"name": "background", "where": {"count": 0}, "share": 0.6}]}
    )
    result = compose(train, config, 13, tests=tests)
    assert any(w.startswith("slice background: reached") and "max_upsample 3x" in w for w in result.warnings)
    assert any(w.startswith("slice boundary: diluted") for w in result.warnings)
    assert max(Counter(_base_id(r.item.id) for r in result.records).values()) <= 3
    # a slice already above its share is left alone, with a note
    calm = compose(
        train,
        parse_compose_config({"match": "test", "slices": [{"name": "b", "where": {"type": "B"}, "share": 0.05}]}),
        13,
        tests=tests,
    )
    assert calm.summary.slices[0].added == 0 and any("already" in n for n in calm.notes)


def test_replay_share_ids_and_leak_guard(starter, tmp_path):
    train, val, tests = starter
    # an older version of six training rows (not validation rows: those would be dropped as leaks too)
    rows = [r.item.model_dump(mode="json", exclude={"provenance"}) for r in train if r.item.type == "A"][:6]
    replay = []
    for i, row in enumerate(rows):
        row = dict(row, id=f"old-{i}")
        row["input"] = dict(row["input"], paragraph=row["input"]["paragraph"] + f"（旧版本样本{i}，补充说明{i * 7}）")
        replay.append(row)
    leak = dict(rows[0], id="old-leak", input=tests[0].input.model_dump())
    (tmp_path / "old.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in [*replay, leak]), encoding="utf-8"
    )
    compose_file = _write_yaml(tmp_path / "mix.yaml", {"match": "test", "replay": {"path": "old.jsonl", "share": 0.1}})
    config = load_compose_config(compose_file)  # the replay path is relative to the compose file
    result = compose(train, config, 13, tests=tests, holdout=[r.item for r in val] + list(tests))
    replayed = [r for r in result.records if REPLAY_SUFFIX in r.item.id]
    assert abs(len(replayed) / len(result.records) - 0.1) <= 0.01
    assert not any("old-leak" in r.item.id for r in replayed)
    assert result.replay["leaking_dropped"] == 1 and any("dropped" in w for w in result.warnings)
    assert result.summary.replay_rows == len(replayed)
    assert result.summary.kept + result.summary.copies + result.summary.replay_rows == len(result.records)
    assert len({r.item.id for r in result.records}) == len(result.records)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"match": "test", "max_upsample": 0.5}, "max_upsample"),
        ({"match": "test", "shares": {1: 1.0}}, "shares"),
        ({"counts": {1: 0.7, 2: 0.6}}, "counts"),
        ({"counts": {7: 1.0}}, "counts.7"),
        ({"match": "test", "counts": {1: 1.0}}, "<file>"),
        ({"match": "train"}, "match"),
        ({"match": "test", "slices": [{"name": "x", "where": {}, "share": 0.1}]}, "slices.0.where"),
        ({"match": "test", "replay": {"path": "x.jsonl", "share": 1.5}}, "replay.share"),
        ({"match": "test", "types": {"E": 1.0}}, "types"),
    ],
)
def test_bad_compose_fields_are_one_line_user_errors(doc, field):
    with pytest.raises(UserError) as info:
        parse_compose_config(doc, "mix.yaml")
    message = str(info.value)
    assert "\n" not in message and message.startswith("mix.yaml: ")
    assert f"`{field}" in message, message


def test_bad_compose_file_on_the_command_line(raw_copy, tmp_path, capsys):
    bad = _write_yaml(tmp_path / "bad.yaml", {"match": "test", "max_upsample": "lots"})
    assert main(["build", "--raw", str(raw_copy), "--out", str(tmp_path / "out"), "--compose", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "max_upsample" in err and "bad.yaml" in err
    assert not (tmp_path / "out").exists()  # it failed before any work
    broken = tmp_path / "broken.yaml"
    broken.write_text("match: test\ncounts: {1: 0.5\n", encoding="utf-8")
    assert main(["build", "--raw", str(raw_copy), "--out", str(tmp_path / "out"), "--compose", str(broken)]) == 2
    assert "not valid YAML at line" in capsys.readouterr().err
    assert main(["build", "--raw", str(raw_copy), "--compose", str(tmp_path / "missing.yaml")]) == 2


# --- the build --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_composed_build_is_deterministic_reconciles_and_keeps_val(raw_copy, tmp_path):
    (tmp_path / "old.jsonl").write_text(
        (raw_copy / "type_d.jsonl").read_text(encoding="utf-8").replace('"id": "', '"id": "old-'), encoding="utf-8"
    )
    compose_file = _write_yaml(
        tmp_path / "mix.yaml",
        {
            "match": "test",
            "slices": [{"name": "background", "where": {"count": 0}, "share": 0.15}],
            "replay": {"path": "old.jsonl", "share": 0.05},
        },
    )
    for name in ("a", "b"):
        build(BuildConfig(raw_dir=raw_copy, out_dir=tmp_path / name, seed=7, compose=compose_file))
    for name in OUTPUTS:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text(encoding="utf-8"))
    counts, comp = manifest["counts"], manifest["composition"]
    assert counts["reconciles"]
    # read = kept train + val + test + quarantined + composed out; train rows = kept + copies + replay
    c = counts["composition"]
    assert (
        counts["read"]
        == c["kept"] + counts["val"]["total"] + counts["test"]["total"] + counts["quarantined"] + counts["composed_out"]
    )
    assert counts["train"]["total"] == c["kept"] + c["copies"] + c["replay_rows"] == c["train_rows"]
    assert c["train_before"] == c["kept"] + c["composed_out"]
    assert len(read_jsonl(tmp_path / "a" / "composed_out.jsonl")) == counts["composed_out"]
    assert len(read_jsonl(tmp_path / "a" / "train.jsonl")) == counts["train"]["total"]
    assert "composed_out.jsonl" in manifest["outputs"] and not any(
        q["stage"] == "compose" for q in read_jsonl(tmp_path / "a" / "quarantine.jsonl")
    )
    # the manifest records the config, its hash, the target and before/after per type x count
    assert comp["config"]["match"] == "test" and len(comp["config_sha256"]) == 64
    assert comp["target"]["source"] == "test" and set(comp["before"]) >= {"A", "B", "all"}
    assert sum(comp["after"]["all"].values()) == counts["train"]["total"]
    assert comp["replay"]["rows"] == c["replay_rows"] > 0 and comp["slices"][0]["name"] == "background"
    # validation keeps the natural distribution: the very rows of a build without --compose
    build(BuildConfig(raw_dir=raw_copy, out_dir=tmp_path / "plain", seed=7))
    assert (tmp_path / "plain" / "val.jsonl").read_bytes() == (tmp_path / "a" / "val.jsonl").read_bytes()
    assert not (tmp_path / "plain" / "composed_out.jsonl").exists()
    # a different seed draws other rows
    build(BuildConfig(raw_dir=raw_copy, out_dir=tmp_path / "c", seed=8, compose=compose_file))
    assert (tmp_path / "c" / "train.jsonl").read_bytes() != (tmp_path / "a" / "train.jsonl").read_bytes()
    # rebuilding into a composed directory without --compose removes the stale composed_out.jsonl
    build(BuildConfig(raw_dir=raw_copy, out_dir=tmp_path / "a", seed=7))
    assert not (tmp_path / "a" / "composed_out.jsonl").exists()


@pytest.fixture(scope="module")
def corpus_build(corpus_dir: Path, tmp_path_factory, repo_root: Path):
    raw = tmp_path_factory.mktemp("corpus_raw")
    for name in CORPUS_FILES:
        shutil.copy(corpus_dir / name, raw / name)
    out = tmp_path_factory.mktemp("corpus_built")
    # the corpus's type C rows all open with a count anchor: --allow-errors quarantines them
    result = build(
        BuildConfig(
            raw_dir=raw, out_dir=out, allow_errors=True, compose=repo_root / "data" / "compose" / "match_test.yaml"
        )
    )
    return result, out


def test_real_corpus_match_test_reaches_the_prior(corpus_build):
    result, out = corpus_build
    manifest = result.manifest.to_json()
    comp = manifest["composition"]
    prior = {"0": 5 / 50, "1": 23 / 50, "2": 17 / 50, "3": 5 / 50, "4": 0.0}
    assert comp["target"]["counts"] == pytest.approx(prior)
    after = comp["after"]["all"]
    total = sum(after.values())
    for c, share in prior.items():
        assert abs(after.get(c, 0) / total - share) <= 0.02, (c, after)
    assert comp["mean_ratio"]["before"] == pytest.approx(1.48, abs=0.02)
    assert comp["mean_ratio"]["after"] == pytest.approx(1.0, abs=0.03)
    assert manifest["counts"]["reconciles"] and manifest["counts"]["composed_out"] > 0
    train = read_jsonl(out / "train.jsonl")
    assert max(Counter(_base_id(r["id"]) for r in train).values()) <= 3
    # the report shows before, after and the target, and the ratio before/after
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Count composition (training split)" in report
    assert "1.48 before, 1.00 after" in report
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '"composition":' in html and '"after_ratio":1.0' in html.replace(" ", "")


def test_llamafactory_export_says_the_file_is_the_mixture(corpus_build, tmp_path):
    _result, out = corpus_build
    export(out, "llamafactory", tmp_path / "lf")
    text = (tmp_path / "lf" / "qwen3_lora_sft_8bit.yaml").read_text(encoding="utf-8")
    assert "# composition: finsynth_train is already the composed mixture" in text
    cfg = yaml.safe_load(text)
    assert cfg["mix_strategy"] == "concat" and "interleave_probs" not in cfg and cfg["dataset"] == "finsynth_train"
    info = json.loads((tmp_path / "lf" / "dataset_info.json").read_text(encoding="utf-8"))
    assert not any("num_samples" in entry for entry in info.values())
    assert len(read_jsonl(tmp_path / "lf" / "finsynth_train.jsonl")) == len(read_jsonl(out / "train.jsonl"))


@pytest.mark.slow
def test_uncomposed_export_has_no_composition_note(raw_copy, tmp_path):
    build(BuildConfig(raw_dir=raw_copy, out_dir=tmp_path / "out"))
    export(tmp_path / "out", "llamafactory", tmp_path / "lf")
    text = (tmp_path / "lf" / "qwen3_lora_sft_8bit.yaml").read_text(encoding="utf-8")
    assert "composition" not in text and "mix_strategy" not in yaml.safe_load(text)


def test_shipped_sample_compose_file_is_valid(repo_root):
    config = load_compose_config(repo_root / "data" / "compose" / "match_test.yaml")
    assert config.match == "test" and config.max_upsample == 3


# --- mode: weight (every row kept once, a loss weight per row) --------------------------------------


def _weights(records) -> list[float]:
    return [r.item.provenance.model_extra["compose"]["weight"] for r in records]


def _weighted_shares(records) -> dict[int, float]:
    weights = _weights(records)
    return {
        c: sum(w for r, w in zip(records, weights, strict=True) if r.item.count == c) / sum(weights) for c in range(5)
    }


def test_weight_mode_keeps_every_row_and_reaches_the_prior_by_weight(starter):
    train, _val, tests = starter
    result = compose(train, parse_compose_config({"match": "test", "mode": "weight"}), seed=13, tests=tests)
    # every row kept once, as it was apart from its weight: no copy, no drop
    assert sorted(r.item.id for r in result.records) == sorted(r.item.id for r in train)
    assert not result.composed_out and result.summary.copies == 0 and result.summary.composed_out == 0
    assert result.summary.kept == result.summary.rows_after == len(train)
    by_id = {r.item.id: r.item for r in train}
    assert all(
        r.item.input == by_id[r.item.id].input and r.item.output == by_id[r.item.id].output for r in result.records
    )
    weights = _weights(result.records)
    assert sum(weights) / len(weights) == pytest.approx(1.0, abs=1e-5) and max(weights) <= 3
    # the weighted count distribution is the test prior, and so is the weighted mean count
    prior = {c: sum(t.count == c for t in tests) / len(tests) for c in range(5)}
    reached = _weighted_shares(result.records)
    assert all(abs(reached[c] - prior[c]) <= 1e-3 for c in range(5)), (reached, prior)
    test_mean = sum(t.count for t in tests) / len(tests)
    weighted_mean = sum(r.item.count * w for r, w in zip(result.records, weights, strict=True)) / sum(weights)
    assert weighted_mean == pytest.approx(test_mean, abs=1e-3)
    assert result.summary.after_mean == pytest.approx(test_mean, abs=1e-3) and result.summary.after_ratio == 1.0
    assert result.summary.before_ratio > 1.1 and not result.warnings
    assert any(n.startswith("mode: weight: all") for n in result.notes)
    # rows of one cell weigh alike; deterministic
    assert len({(r.item.type, r.item.count, w) for r, w in zip(result.records, weights, strict=True)}) == len(
        {(r.item.type, r.item.count) for r in train}
    )
    again = compose(train, parse_compose_config({"match": "test", "mode": "weight"}), seed=13, tests=tests)
    assert [r.model_dump() for r in again.records] == [r.model_dump() for r in result.records]


def test_weight_mode_with_the_cap_binding_warns(starter):
    train, _val, tests = starter
    result = compose(
        train, parse_compose_config({"counts": {0: 0.6, 1: 0.4}, "mode": "weight", "max_upsample": 2}), 13, tests=tests
    )
    weights = _weights(result.records)
    assert max(weights) <= 2 and len(result.records) == len(train)
    assert any("off the target" in w and "(max_upsample)" in w for w in result.warnings)


@settings(max_examples=200, deadline=None)
@given(
    cells=st.lists(
        st.tuples(st.integers(1, 60), st.one_of(st.just(0.0), st.floats(1e-6, 1.0))), min_size=1, max_size=12
    ),
    cap=st.floats(1.0, 6.0),
)
def test_cell_weights_hold_the_mean_under_the_cap(cells, cap):
    available = {("A", i): a for i, (a, _s) in enumerate(cells)}
    total = sum(s for _a, s in cells)
    assume(total > 0)
    q = {("A", i): s / total for i, (_a, s) in enumerate(cells)}
    weights = cell_weights(available, q, cap)
    rows = sum(available.values())
    assert all(0 <= w <= cap + 1e-9 for w in weights.values())
    assert all(weights[k] == 0 for k in q if q[k] == 0)
    mean = sum(available[k] * weights[k] for k in available) / rows
    positive = [k for k in q if q[k] > 0]
    if sum(available[k] for k in positive) * cap >= rows * (1 + 1e-9):  # the cap leaves room for mean 1
        assert mean == pytest.approx(1.0, rel=1e-9)
    else:
        assert mean <= 1 + 1e-9
    # unclipped cells keep the ratio target share / natural share between them
    free = [k for k in positive if weights[k] < cap - 1e-9]
    ratios = [weights[k] / (q[k] * rows / available[k]) for k in free]
    assert all(r == pytest.approx(ratios[0], rel=1e-9) for r in ratios)


@pytest.mark.parametrize(
    "extra",
    [
        {"slices": [{"name": "bg", "where": {"count": 0}, "share": 0.2}]},
        {"replay": {"path": "old.jsonl", "share": 0.1}},
        {"size": 50},
    ],
)
def test_weight_mode_refuses_the_copy_settings(extra):
    with pytest.raises(UserError) as info:
        parse_compose_config({"match": "test", "mode": "weight", **extra}, "mix.yaml")
    message = str(info.value)
    assert "\n" not in message and f"`{next(iter(extra))}`" in message and "mode: copies" in message


def test_copies_config_dumps_and_hashes_as_before_the_mode_existed():
    config = parse_compose_config({"match": "test"})
    assert config.mode == "copies" and "mode" not in config.model_dump(mode="json")
    # the hash a `match: test` compose file had before `mode` was added (manifests of copies builds are unchanged)
    assert config.sha256() == "69936274fc20ea212d60dec1b5412a42d169c517ed551ac6232090d6b9fe8a49"
    assert parse_compose_config({"match": "test", "mode": "weight"}).model_dump(mode="json")["mode"] == "weight"


def test_real_corpus_weight_mode_reaches_the_prior(corpus_dir):
    loaded = load_paths([corpus_dir / name for name in CORPUS_FILES])
    samples = [r for r in loaded.records if r.item.type != "test"]
    tests = [r.item for r in loaded.records if r.item.type == "test"]
    train, _val = stratified_split(samples, 0.1, 13)
    result = compose(train, parse_compose_config({"match": "test", "mode": "weight"}), 13, tests=tests)
    assert len(result.records) == len(train) and not result.composed_out
    prior = {0: 5 / 50, 1: 23 / 50, 2: 17 / 50, 3: 5 / 50, 4: 0.0}
    reached = _weighted_shares(result.records)
    assert all(abs(reached[c] - prior[c]) <= 0.02 for c in prior), reached
    assert result.summary.before_ratio == pytest.approx(1.45, abs=0.05) and result.summary.after_ratio == pytest.approx(
        1.0, abs=0.02
    )
    weights = _weights(result.records)
    assert sum(weights) / len(weights) == pytest.approx(1.0, abs=1e-5)
    assert sum(w == 0 for w in weights) == sum(r.item.count == 4 for r in train) > 0  # no 4-metric test case


@pytest.mark.slow
def test_weighted_build_keeps_every_row_reconciles_and_is_deterministic(raw_copy, tmp_path, repo_root):
    compose_file = repo_root / "data" / "compose" / "match_test_weighted.yaml"
    for name in ("a", "b"):
        build(BuildConfig(raw_dir=raw_copy, out_dir=tmp_path / name, seed=7, compose=compose_file))
    for name in OUTPUTS:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text(encoding="utf-8"))
    counts, comp = manifest["counts"], manifest["composition"]
    assert counts["reconciles"] and counts["composed_out"] == 0 and comp["config"]["mode"] == "weight"
    assert counts["composition"]["kept"] == counts["composition"]["train_before"] == counts["train"]["total"]
    assert counts["composition"]["copies"] == 0 and read_jsonl(tmp_path / "a" / "composed_out.jsonl") == []
    # the very training rows of a build without --compose, each with its weight
    build(BuildConfig(raw_dir=raw_copy, out_dir=tmp_path / "plain", seed=7))
    plain, weighted = read_jsonl(tmp_path / "plain" / "train.jsonl"), read_jsonl(tmp_path / "a" / "train.jsonl")
    assert [r["id"] for r in weighted] == [r["id"] for r in plain]
    weights = [r["sample"]["provenance"].pop("compose")["weight"] for r in weighted]
    assert weighted == plain and sum(weights) / len(weights) == pytest.approx(1.0, abs=1e-5)
    assert (tmp_path / "plain" / "val.jsonl").read_bytes() == (tmp_path / "a" / "val.jsonl").read_bytes()
