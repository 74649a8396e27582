"""Near-duplicate search: normalisation, Jaccard, LSH blocking, the index (finsynth/neardup.py)."""

from __future__ import annotations

import itertools
import json
import random

import numpy as np
import pytest

from finsynth import neardup
from finsynth.neardup import (
    NearDupIndex,
    jaccard,
    lsh_params,
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
        chars[rng.randrange(len(chars))] = rng.choice("的是在了和有大中上为个国我以要他时来用们生到作地于出就分对成会可主发年动")
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
    top = index.nearest(edited, k=3)
    brute = sorted(((jaccard(edited, t), -i) for i, t in enumerate(texts)), reverse=True)[:3]
    assert [(i, s) for i, s in top] == [(-i, s) for s, i in brute]


def test_index_finds_duplicates_within_itself() -> None:
    texts = [BASE, "另一段完全不同的文字，讲的是银行的净息差收窄。", BASE]
    index = NearDupIndex(texts)
    assert [i for i, _ in index.query(BASE)] == [0, 2]
    assert NearDupIndex([]).query(BASE) == []
    assert NearDupIndex([]).nearest(BASE) == []


def test_signature_matrix_shape() -> None:
    sig = signatures(["", "a", BASE], num_perm=32)
    assert sig.shape == (3, 32) and sig.dtype == np.uint32
    assert (sig[0] == np.iinfo(np.uint32).max).all()
