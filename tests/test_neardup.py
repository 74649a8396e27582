"""Near-duplicate search: normalisation, Jaccard, LSH blocking, clusters, the index (finsynth/neardup.py)."""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import subprocess
import sys

import numpy as np
import pytest

from finsynth.text import similarity as neardup
from finsynth.text.similarity import (
    NearDupIndex,
    NearDupSearch,
    earliest_near,
    jaccard,
    lsh_params,
    near_duplicate_clusters,
    near_duplicate_pairs,
    normalize,
    shingles,
    signatures,
    sketch,
)

BASE = "受益于原材料价格大幅下降，中国巨石2025H1毛利率提升至31.2%，同比改善4.6个百分点。玻纤纱均价同比下降约12%。"


def _paragraphs(corpus_dir, limit: int | None = None) -> list[str]:
    out = []
    for name in ("type_a.jsonl", "type_b.jsonl", "type_c.jsonl", "type_d.jsonl"):
        for line in (corpus_dir / name).read_text(encoding="utf-8").splitlines():
            out.append(json.loads(line)["input"]["paragraph"])
    return out[:limit]


def _edit(text: str, rng: random.Random, changes: int) -> str:
    chars = list(text)
    for _ in range(changes):
        chars[rng.randrange(len(chars))] = rng.choice(
            "的是在了和有大中上为个国我以要他时来用们生到作地于出就分对成会可主发年动"
        )
    return "".join(chars)


def test_normalize_is_idempotent_and_folds_width_case_space() -> None:
    assert normalize("ＲＯＥ　为 21.4％，Ａｂ") == "roe为21.4%,ab"
    for text in (BASE, "ＡＢＣ　毛利率", "e\u0301clair", "😀 x"):
        assert normalize(normalize(text)) == normalize(text)


def test_shingles_and_jaccard() -> None:
    assert shingles("毛利率提升") == {"毛利率", "利率提", "率提升"}
    assert shingles("ab") == {"ab"} and shingles("") == set()
    assert jaccard(BASE, BASE) == 1.0
    assert jaccard("", "") == 1.0
    assert jaccard("毛利率提升", "营业收入增长") == 0.0
    a, b = shingles("毛利率提升明显"), shingles("毛利率提升显著")
    assert jaccard(a, b) == pytest.approx(len(a & b) / len(a | b))
    assert jaccard("毛利率提升明显", "毛利率提升显著") == jaccard(a, b)


def test_signatures_are_deterministic_and_equal_for_equal_normalised_text() -> None:
    texts = [BASE, BASE.replace("，", ","), "ＡＢＣ毛利率　31.2%", "abc毛利率31.2%", "e\u0301clair 毛利率", "😀毛利率"]
    sig1, content1 = sketch(texts)
    sig2, content2 = sketch(list(texts))
    assert (sig1 == sig2).all() and (content1 == content2).all()
    assert (sig1[0] == sig1[1]).all() and content1[0] == content1[1]  # NFKC folds the full-width comma
    assert (sig1[2] == sig1[3]).all() and content1[2] == content1[3]
    assert content1[0] != content1[2]
    # the vectorised path equals shingling normalize(text), fallback texts included
    for text in texts:
        assert (signatures([text]) == signatures([normalize(text)])).all()


def test_lsh_params_favour_recall_at_the_threshold() -> None:
    bands, rows = lsh_params(0.8, 64)
    assert bands * rows <= 64
    assert 1 - (1 - 0.8**rows) ** bands >= 0.98
    assert 1 - (1 - 0.3**rows) ** bands < 0.05


def test_exact_and_near_duplicates_are_found() -> None:
    rng = random.Random(1)
    near = _edit(BASE, rng, 1)
    far = "公司在手订单充足，海外收入占比提升至45%，毛利率受汇率波动影响有所下滑。"
    texts = [BASE, far, BASE, near, "  " + BASE.replace("，", ",")]
    pairs = near_duplicate_pairs(texts, threshold=0.8)
    found = {(i, j): s for i, j, s in pairs}
    assert found[(0, 2)] == 1.0 and found[(0, 4)] == 1.0 and found[(2, 4)] == 1.0
    assert found[(0, 3)] == pytest.approx(jaccard(BASE, near))
    assert all(i < j for i, j, _ in pairs) and pairs == sorted(pairs)
    assert not any(1 in (i, j) for i, j, _ in pairs)
    assert near_duplicate_pairs(texts, threshold=0.8) == pairs  # deterministic
    assert near_duplicate_pairs([]) == [] and near_duplicate_pairs([BASE]) == []


def test_threshold_is_respected() -> None:
    rng = random.Random(2)
    texts = [BASE] + [_edit(BASE, rng, k) for k in (1, 3, 6, 12)]
    for threshold in (0.5, 0.7, 0.9):
        for i, j, similarity in near_duplicate_pairs(texts, threshold=threshold):
            assert similarity >= threshold
            assert similarity == pytest.approx(jaccard(texts[i], texts[j]))


def test_matches_brute_force_on_perturbed_corpus(corpus_dir) -> None:
    """Recall against the exact all-pairs answer, on corpus paragraphs with light and heavy edits."""
    rng = random.Random(3)
    base = _paragraphs(corpus_dir, 120)
    texts = list(base)
    for text in base:
        texts.append(_edit(text, rng, rng.choice([1, 2, 4, 8, 30])))
    sets = [shingles(t) for t in texts]
    truth = {(i, j) for i, j in itertools.combinations(range(len(texts)), 2) if jaccard(sets[i], sets[j]) >= 0.8}
    found = {(i, j) for i, j, _ in near_duplicate_pairs(texts, threshold=0.8)}
    assert found <= truth  # verified: no false positives
    assert len(truth) > 40
    assert len(found) >= 0.95 * len(truth)


def test_search_is_sub_quadratic(corpus_dir, monkeypatch) -> None:
    """Exact Jaccard is computed for LSH candidates only, never for all pairs."""
    calls = {"n": 0}
    real = neardup.jaccard

    def counting(a, b, n=3):
        calls["n"] += 1
        return real(a, b, n)

    monkeypatch.setattr(neardup, "jaccard", counting)
    rng = random.Random(4)
    texts = [_edit(t, rng, 25) for t in _paragraphs(corpus_dir) for _ in range(3)]  # 2,100 texts
    near_duplicate_pairs(texts, threshold=0.8)
    all_pairs = len(texts) * (len(texts) - 1) // 2
    assert calls["n"] < 0.01 * all_pairs


def test_index_query_and_nearest(corpus_dir) -> None:
    rng = random.Random(5)
    texts = _paragraphs(corpus_dir, 200)
    index = NearDupIndex(texts)
    assert len(index) == 200
    assert index.query(texts[7])[0] == (7, 1.0)
    edited = _edit(texts[7], rng, 1)
    hits = index.query(edited)
    assert hits and hits[0][0] == 7 and hits[0][1] == pytest.approx(jaccard(edited, texts[7]))
    assert index.query(edited, threshold=1.0) == []
    assert index.query("完全无关的一句话，没有任何相似内容。") == []


def test_index_exact_similarities_agree_with_jaccard(corpus_dir) -> None:
    rng = random.Random(1)
    texts = [*_paragraphs(corpus_dir, 30), "短"]
    index = NearDupIndex(texts)
    queries = [_edit(texts[0], rng, 8), "完全不同的文字内容", texts[-1]]
    sims = index.similarities(queries)
    assert sims.shape == (len(queries), len(texts))
    for q, row in zip(queries, sims, strict=True):
        for t, value in zip(texts, row, strict=True):
            assert value == pytest.approx(jaccard(q, t), abs=1e-6)
    nn = index.self_nearest()
    for i in (0, 5, len(texts) - 1):
        assert nn[i] == pytest.approx(max(jaccard(texts[i], t) for j, t in enumerate(texts) if j != i), abs=1e-6)


def test_index_finds_duplicates_within_itself() -> None:
    texts = [BASE, "另一段完全不同的文字，讲的是银行的净息差收窄。", BASE]
    index = NearDupIndex(texts)
    assert [i for i, _ in index.query(BASE)] == [0, 2]
    assert NearDupIndex([]).query(BASE) == []
    assert NearDupIndex([]).similarities([BASE]).shape == (1, 0) and len(NearDupIndex([]).self_nearest()) == 0


def test_signature_matrix_shape() -> None:
    sig = signatures(["", "a", BASE], num_perm=32)
    assert sig.shape == (3, 32) and sig.dtype == np.uint32
    assert (sig[0] == np.iinfo(np.uint32).max).all()


# --- clusters (repeated generation: one paragraph copied many times) ----------------------------

LONG = (
    "受益于原材料价格大幅下降，中国巨石2025H1毛利率提升至31.2%，同比改善4.6个百分点。玻纤纱均价同比下降约12%，"
    "但原材料成本降幅更大，叶腊石采购价同比下降22%，天然气价格同比下降18%。"
)
PREFIXES = ("据公司公告，", "据年报披露，", "公告显示，", "据悉，", "报告期内，", "数据显示，", "据半年报，")


def _copies(text: str, k: int, number: str) -> list[str]:
    """k distinct copies of `text`, each with a prefix and `number` changed, as generation repeats them."""
    return [PREFIXES[i % len(PREFIXES)] + text.replace(number, f"{i // len(PREFIXES) + 40}.{i % 10}") for i in range(k)]


def test_cluster_of_copies_is_one_link_per_member() -> None:
    texts = [LONG, *_copies(LONG, 49, "31.2")]
    assert len(set(texts)) == 50
    (cluster,) = near_duplicate_clusters(texts)
    assert cluster.representative == 0 and cluster.indices == tuple(range(50))
    assert [m.index for m in cluster.members] == list(range(1, 50))
    for m in cluster.members:
        assert m.anchor < m.index and m.anchor in cluster.indices and not m.identical
        assert m.similarity >= 0.8 and m.similarity == pytest.approx(jaccard(texts[m.index], texts[m.anchor]))
    # the all-pairs answer for the same texts: every pair, k*(k-1)/2 of them
    assert len(near_duplicate_pairs(texts)) == 50 * 49 // 2


def test_cluster_of_copies_gives_one_finding_per_member() -> None:
    from finsynth.audit.lint import lint_records
    from finsynth.io import Record
    from finsynth.schema import Sample

    def row(paragraph: str) -> Sample:
        return Sample(
            type="A",
            input={"chapter_title": "盈利能力", "paragraph": paragraph},
            output={
                "analysis": "段落分析玻纤龙头的盈利弹性，毛利率是核心。",
                "metrics": [{"metric_name": "毛利率", "metric_type": "financial", "score": 1.0, "reason": "r"}],
            },
        )

    texts = [LONG, *_copies(LONG, 49, "31.2")]
    records = [Record(path="train.jsonl", line=i, item=row(t)) for i, t in enumerate(texts, start=1)]
    result = lint_records(records, rules={"duplicate", "near-duplicate", "label-conflict"})
    assert len(result.findings) == 49 and {f.rule for f in result.findings} == {"near-duplicate"}
    assert sorted(f.line for f in result.findings) == list(range(2, 51))
    assert all(f.related is not None and 1 <= f.related.line < f.line for f in result.findings)


def test_unrelated_clusters_never_merge(corpus_dir) -> None:
    first, second = [p for p in _paragraphs(corpus_dir) if len(p) > 120 and re.search(r"\d+\.\d", p)][:2]
    number_a, number_b = re.search(r"\d+\.\d", first).group(), re.search(r"\d+\.\d", second).group()
    group_a, group_b = [first, *_copies(first, 30, number_a)], [second, *_copies(second, 30, number_b)]
    texts = [t for pair in zip(group_a, group_b, strict=True) for t in pair]  # interleaved, as repeated runs write them
    assert jaccard(first, second) < 0.3
    clusters = near_duplicate_clusters(texts)
    assert [c.indices for c in clusters] == [tuple(range(0, 62, 2)), tuple(range(1, 62, 2))]
    for cluster in clusters:
        assert all(m.anchor in cluster.indices for m in cluster.members)


def test_chain_links_to_the_member_it_is_near() -> None:
    """A ~ B ~ C with A and C not near: one cluster (representative A); B links to A, C to B, the
    earlier member it is near, since it fails verification against the representative."""
    a = LONG
    b = a.replace("大幅下降", "明显回落").replace("31.2%", "31.5%")
    c = b.replace("约12%", "约9%").replace("降幅更大", "降得更多")
    assert jaccard(a, b) >= 0.8 and jaccard(b, c) >= 0.8 and jaccard(a, c) < 0.8
    far = "公司在手订单充足，海外收入占比提升至45%，毛利率受汇率波动影响有所下滑。"
    (cluster,) = near_duplicate_clusters([a, far, b, c])
    assert cluster.representative == 0
    assert [(m.index, m.anchor) for m in cluster.members] == [(2, 0), (3, 2)]
    assert cluster.members[1].similarity == pytest.approx(jaccard(b, c))


def test_identical_copies_link_to_the_earliest_copy() -> None:
    near = LONG.replace("31.2%", "31.5%")
    texts = [LONG, near, " " + LONG.replace("，", ","), near, "毫不相关的一句话。"]
    (cluster,) = near_duplicate_clusters(texts)
    assert cluster.indices == (0, 1, 2, 3)
    assert [(m.index, m.anchor, m.identical) for m in cluster.members] == [(1, 0, False), (2, 0, True), (3, 1, True)]
    assert cluster.members[1].similarity == 1.0


def test_clusters_match_the_all_pairs_answer(corpus_dir) -> None:
    """A text gets a link exactly when the all-pairs search finds it near some earlier text, and
    every link is an exact verified Jaccard."""
    rng = random.Random(6)
    base = _paragraphs(corpus_dir, 150)
    texts = list(base)
    for text in base:
        texts += [_edit(text, rng, rng.choice([1, 2, 4, 8, 30])) for _ in range(3)]
    texts += base[:20]  # exact copies
    with_earlier = {j for _, j, _ in near_duplicate_pairs(texts)}
    links = {m.index: m for c in near_duplicate_clusters(texts) for m in c.members}
    assert set(links) == with_earlier and len(links) > 100
    for m in links.values():
        assert m.similarity == pytest.approx(jaccard(texts[m.index], texts[m.anchor])) and m.similarity >= 0.8
    # the string-set path (n > 3 cannot be packed) agrees with its own all-pairs answer
    with_earlier4 = {j for _, j, _ in near_duplicate_pairs(texts, threshold=0.7, n=4)}
    links4 = {m.index: m for c in near_duplicate_clusters(texts, threshold=0.7, n=4) for m in c.members}
    assert set(links4) == with_earlier4
    assert all(m.similarity == pytest.approx(jaccard(texts[m.index], texts[m.anchor], n=4)) for m in links4.values())


def test_packed_exact_jaccard_equals_string_shingles() -> None:
    texts = [
        BASE,
        BASE.replace("31.2", "31.9"),
        "ab",
        "abc",
        "",
        "ＡＢＣ　毛利率",
        "😀毛利率上升",
        "😀毛利率上升了",
        "e\u0301clair 毛利率",
        "a",
        "x",
    ]
    rank = NearDupSearch(texts)._rank
    assert rank is not None
    every = np.arange(len(texts))
    exact = neardup._Exact(texts, rank, 3, core=every)
    on_demand = neardup._Exact(texts, rank, 3, core=every[::2])  # the others packed when first needed
    left, right = np.repeat(every, len(texts)), np.tile(every, len(texts))
    for (p, q), value in zip(
        zip(left.tolist(), right.tolist(), strict=True), exact.many(left, right).tolist(), strict=True
    ):
        assert value == exact(p, q) == on_demand(p, q) == jaccard(texts[p], texts[q]), (texts[p], texts[q])


def test_earliest_near_matches_brute_force(corpus_dir) -> None:
    rng = random.Random(7)
    among = _paragraphs(corpus_dir, 40)
    texts = [_edit(t, rng, rng.choice([1, 3, 30])) for t in among for _ in range(2)] + among[:5] + ["无关的一句话。"]
    found = earliest_near(texts, among)
    for t, hit in zip(texts, found, strict=True):
        truth = [(a, jaccard(t, s)) for a, s in enumerate(among) if jaccard(t, s) >= 0.8]
        assert (hit[0] if hit else None) == (truth[0][0] if truth else None)
        assert hit is None or hit[1] == pytest.approx(truth[0][1])
    assert sum(hit is not None for hit in found) > 40
    assert earliest_near(texts, []) == [None] * len(texts) and earliest_near([], among) == []


def test_clusters_are_deterministic_across_processes(corpus_dir) -> None:
    """Same texts, same clusters: in this process and in fresh ones with other string-hash seeds."""
    rng = random.Random(8)
    texts = [t for p in _paragraphs(corpus_dir, 60) for t in [p, *_copies(p, 4, (re.findall(r"\d+", p) or ["0"])[0])]]
    texts += [_edit(t, rng, 3) for t in texts[:100]]
    first = near_duplicate_clusters(texts)
    assert near_duplicate_clusters(list(texts)) == first
    script = (
        "import json, sys; from finsynth.text.similarity import near_duplicate_clusters as c; "
        "print(json.dumps([[k.representative, [list(m) for m in k.members]] for k in c(json.load(sys.stdin))]))"
    )
    expected = [[k.representative, [list(m) for m in k.members]] for k in first]
    for seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps(texts),
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
            timeout=120,
        )
        assert json.loads(done.stdout) == expected
    assert near_duplicate_clusters([]) == [] and near_duplicate_clusters([BASE]) == []
    assert near_duplicate_clusters(["完全不同的第一段。", "另一段毫无关系的文字。"]) == []
