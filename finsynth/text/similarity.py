"""Near-duplicate paragraphs: character n-gram Jaccard, MinHash signatures, LSH banding.

Texts are normalised (NFKC, lower case, whitespace removed), cut into character 3-grams, and compared
by exact Jaccard similarity. Search is sub-quadratic: identical texts meet through a hash, and other
candidates only through a shared LSH band of their MinHash signatures; every candidate is verified
with the exact Jaccard before it is reported.

Signatures are computed for many texts at once with numpy (one pass per permutation over all n-gram
hashes, 32-bit affine permutations), deterministic across runs and machines. `NearDupIndex` keeps their
LSH band keys in a dict for queries one text at a time (and an exact sparse n-gram matrix for small
all-pairs checks); `near_duplicate_pairs` bands them with a sort, which needs no Python object per
text and runs 100,000 paragraphs in seconds. This module is the one near-duplicate engine.

Pairs are quadratic in a cluster's size (a paragraph generated 140 times is ~10,000 pairs).
`near_duplicate_clusters` gives one verified link per text instead (to the earliest identical text,
else the cluster's representative, or in a chain the earlier member it is near), and `earliest_near`
matches many texts against a short list (a test set); `NearDupSearch` sketches the texts once for both.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import NamedTuple

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

DEFAULT_THRESHOLD = 0.8
DEFAULT_NUM_PERM = 64
LSH_RECALL = 0.98  # chance that a pair exactly at the threshold becomes a candidate
ESTIMATE_SLACK = 0.25  # candidates whose MinHash estimate is this far below the threshold are dropped
_SHINGLE_CACHE = 4096  # shingle sets kept while verifying candidates
DEFAULT_NGRAM = 3
_SEED = 20250601


def normalize(text: str) -> str:
    """NFKC, lower case, no whitespace: full-width and half-width spellings compare equal.
    Idempotent: normalize(normalize(t)) == normalize(t)."""
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


def shingles(text: str, n: int = DEFAULT_NGRAM) -> set[str]:
    """Character n-grams of the normalised text; a text shorter than n is its own single shingle."""
    norm = normalize(text)
    if len(norm) <= n:
        return {norm} if norm else set()
    return {norm[i : i + n] for i in range(len(norm) - n + 1)}


def jaccard(a: str | set[str] | frozenset[str], b: str | set[str] | frozenset[str], n: int = DEFAULT_NGRAM) -> float:
    """Jaccard similarity of two shingle sets (strings are shingled first). Two empty sets: 1.0."""
    sa = shingles(a, n) if isinstance(a, str) else a
    sb = shingles(b, n) if isinstance(b, str) else b
    if not sa and not sb:
        return 1.0
    inter = len(sa & sb)
    return inter / (len(sa) + len(sb) - inter)


# --- signatures ---------------------------------------------------------------------------------
#
# Normalisation, n-gram hashing and MinHash run on numpy arrays of code points for many texts at
# once. A lookup table maps each BMP character to its normalised form (NFKC + lower case, whitespace
# dropped) when that is exactly one character or nothing; a text holding any other character (one
# that NFKC expands, composes, or outside the BMP) takes `normalize()` instead, so the result always
# equals shingling `normalize(text)`.

_CHUNK_CHARS = 1 << 21  # characters per vectorised block
_CACHE_GRAMS = 1 << 15  # n-gram hashes permuted per pass (128 KiB of uint32)
_U64 = np.uint64
_SAFE_RANGES = (
    (0x20, 0x7F),
    (0xA0, 0x100),
    (0x2000, 0x2070),
    (0x2100, 0x2190),
    (0x2190, 0x2300),
    (0x2460, 0x2500),
    (0x2500, 0x2600),
    (0x3000, 0x3040),
    (0x3300, 0x3400),
    (0x3400, 0x4DC0),
    (0x4E00, 0xA000),
    (0xF900, 0xFB00),
    (0xFF00, 0xFFF0),
)


@lru_cache(maxsize=1)
def _char_table() -> tuple[np.ndarray, np.ndarray]:
    """(mapped code point or 0 to drop, needs-fallback flag) for every BMP code point."""
    table = np.zeros(0x10000, dtype=np.uint32)
    special = np.ones(0x10000, dtype=bool)
    for c in (0x09, 0x0A, 0x0B, 0x0C, 0x0D):
        special[c] = False  # whitespace: dropped (table 0)
    for lo, hi in _SAFE_RANGES:
        for c in range(lo, hi):
            norm = "".join(unicodedata.normalize("NFKC", chr(c)).lower().split())
            if len(norm) == 1 and not unicodedata.combining(norm):
                table[c], special[c] = ord(norm), False
            elif not norm:
                special[c] = False
    return table, special


@lru_cache(maxsize=4)
def _weights(size: int) -> np.ndarray:
    return np.random.default_rng(_SEED + 1).integers(0, 2**64, size=size, dtype=np.uint64) | _U64(1)


def _position_weights(length: int) -> np.ndarray:
    """Random odd 64-bit weights by position in a text (grown in powers of two, so cached)."""
    size = 1024
    while size < length:
        size *= 2
    return _weights(size)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + _U64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> _U64(27))) * _U64(0x94D049BB133111EB)
        return x ^ (x >> _U64(31))


@lru_cache(maxsize=8)
def _permutations(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(_SEED)
    a = rng.integers(1, 2**32, size=num_perm, dtype=np.uint64).astype(np.uint32) | np.uint32(1)
    b = rng.integers(0, 2**32, size=num_perm, dtype=np.uint64).astype(np.uint32)
    return a, b


def _normalized_codes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Normalised code points of `texts` concatenated, and offsets (len(texts) + 1)."""
    table, special = _char_table()
    raw = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    doc = np.repeat(np.arange(len(texts)), lengths)
    wide = raw > 0xFFFF
    bmp = np.where(wide, 0, raw)
    fallback = np.zeros(len(texts), dtype=bool)
    fallback[doc[wide | special[bmp]]] = True
    mapped = table[bmp]
    keep = (mapped != 0) & ~fallback[doc]
    parts, docs = [mapped[keep]], [doc[keep]]
    for i in np.flatnonzero(fallback):
        codes = np.frombuffer(normalize(texts[int(i)]).encode("utf-32-le"), dtype=np.uint32)
        parts.append(codes)
        docs.append(np.full(codes.size, i))
    codes, doc_of = np.concatenate(parts), np.concatenate(docs)
    if fallback.any():
        order = np.argsort(doc_of, kind="stable")
        codes, doc_of = codes[order], doc_of[order]
    counts = np.bincount(doc_of, minlength=len(texts))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    return codes, offsets


def _sketch_block(
    texts: Sequence[str], num_perm: int, n: int, present: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures and content hashes (uint64, equal for equal normalised texts)."""
    codes, offsets = _normalized_codes(texts)
    if present is not None:
        present[codes] = True
    count = len(texts)
    lengths = np.diff(offsets)
    wide = codes.astype(np.uint64)
    # content hash: position-keyed sum, so equal normalised texts (and, barring a 64-bit
    # collision, only they) hash alike
    position = np.arange(codes.size, dtype=np.int64) - np.repeat(offsets[:-1], lengths)
    with np.errstate(over="ignore"):
        mixed = (wide + _U64(1)) * _position_weights(int(lengths.max(initial=0)))[position]
    content = np.zeros(count, dtype=np.uint64)
    nonempty = lengths > 0
    if codes.size:
        with np.errstate(over="ignore"):
            content[nonempty] = np.add.reduceat(mixed, offsets[:-1][nonempty])
    content ^= _splitmix64(lengths.astype(np.uint64))
    # n-gram hashes: position k starts a gram when k + n - 1 is in the same text
    grams_per_doc = np.maximum(lengths - n + 1, 0)
    acc = np.zeros(max(codes.size - n + 1, 0), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            acc = acc * _U64(0x100000001B3) + wide[k : k + acc.size]
    starts = np.repeat(offsets[:-1], grams_per_doc)
    within = np.arange(starts.size, dtype=np.int64) - np.repeat(np.cumsum(grams_per_doc) - grams_per_doc, grams_per_doc)
    hashes = (_splitmix64(acc[starts + within]) >> _U64(32)).astype(np.uint32)
    rows = np.flatnonzero(grams_per_doc > 0)
    sig = np.full((count, num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    if hashes.size:
        a, b = _permutations(num_perm)
        gram_offsets = (np.cumsum(grams_per_doc) - grams_per_doc)[rows]
        # permute in cache-sized slices of whole texts: every pass then runs from L2
        cuts = np.searchsorted(gram_offsets, np.arange(0, hashes.size, _CACHE_GRAMS), side="left")
        cuts = np.unique(np.concatenate([cuts, [rows.size]]))
        block_sig = np.empty((num_perm, 0), dtype=np.uint32)
        with np.errstate(over="ignore"):
            for lo, hi in pairwise(cuts):
                g0 = gram_offsets[lo]
                g1 = gram_offsets[hi] if hi < rows.size else hashes.size
                part = hashes[g0:g1]
                local = gram_offsets[lo:hi] - g0
                tmp = np.empty_like(part)
                block_sig = np.empty((num_perm, hi - lo), dtype=np.uint32)
                for p in range(num_perm):
                    np.multiply(part, a[p], out=tmp)
                    np.add(tmp, b[p], out=tmp)
                    np.minimum.reduceat(tmp, local, out=block_sig[p])
                sig[rows[lo:hi]] = block_sig.T
    # texts shorter than n are one shingle: themselves
    for i in np.flatnonzero((lengths > 0) & (grams_per_doc == 0)):
        sig[i] = _short_signature(codes[offsets[i] : offsets[i + 1]], num_perm)
    return sig, content


def _short_signature(codes: np.ndarray, num_perm: int) -> np.ndarray:
    acc = _U64(0)
    with np.errstate(over="ignore"):
        for c in codes.astype(np.uint64):
            acc = acc * _U64(0x100000001B3) + c
    h = (_splitmix64(np.array([acc], dtype=np.uint64)) >> _U64(32)).astype(np.uint32)
    a, b = _permutations(num_perm)
    with np.errstate(over="ignore"):
        return h * a + b


def sketch(
    texts: Sequence[str], num_perm: int = DEFAULT_NUM_PERM, n: int = DEFAULT_NGRAM
) -> tuple[np.ndarray, np.ndarray]:
    """(MinHash signatures len(texts) x num_perm uint32, content hashes uint64) of raw texts,
    normalised as `normalize` does, in blocks of ~2M characters."""
    return _sketch(texts, num_perm, n)


def _sketch(
    texts: Sequence[str], num_perm: int, n: int, present: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """`sketch`, marking in `present` (0x110000 booleans) every normalised code point met, if given."""
    sig = np.empty((len(texts), num_perm), dtype=np.uint32)
    content = np.empty(len(texts), dtype=np.uint64)
    start = 0
    while start < len(texts):
        end, size = start, 0
        while end < len(texts) and (end == start or size + len(texts[end]) <= _CHUNK_CHARS):
            size += len(texts[end])
            end += 1
        sig[start:end], content[start:end] = _sketch_block(texts[start:end], num_perm, n, present)
        start = end
    return sig, content


def signatures(texts: Sequence[str], num_perm: int = DEFAULT_NUM_PERM, n: int = DEFAULT_NGRAM) -> np.ndarray:
    """MinHash signatures (len(texts) x num_perm, uint32) of the texts' normalised n-grams.
    An empty text gets the all-max signature."""
    return sketch(texts, num_perm, n)[0]


@lru_cache(maxsize=32)
def lsh_params(threshold: float, num_perm: int, recall: float = LSH_RECALL) -> tuple[int, int]:
    """Bands b and rows r (b*r <= num_perm) for LSH at `threshold`: among the settings under which a
    pair at exactly the threshold becomes a candidate with probability >= `recall`, the one with
    the fewest false candidates below it (candidates are verified exactly, so recall comes first;
    datasketch's default balance catches only ~40% of pairs at the threshold)."""
    s = np.linspace(0.0, 1.0, 2001)
    below = s <= threshold
    best, best_fp = None, float("inf")
    fallback, fallback_p = (num_perm, 1), -1.0
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if bands < 1:
            break
        at_threshold = 1.0 - (1.0 - threshold**rows) ** bands
        if at_threshold > fallback_p:
            fallback, fallback_p = (bands, rows), at_threshold
        if at_threshold < recall:
            continue
        for b in range(1, bands + 1):
            if 1.0 - (1.0 - threshold**rows) ** b < recall:
                continue
            p = 1.0 - (1.0 - s[below] ** rows) ** b
            fp = float(np.trapezoid(p, s[below]))
            if fp < best_fp:
                best, best_fp = (b, rows), fp
            break  # more bands only add false candidates
    return best or fallback


def _band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per (text, band): bands x len(sig)."""
    keys = np.empty((bands, sig.shape[0]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for band in range(bands):
            part = sig[:, band * rows : (band + 1) * rows].astype(np.uint64)
            acc = np.full(sig.shape[0], np.uint64(band + 1) * np.uint64(0x9E3779B97F4A7C15), dtype=np.uint64)
            for col in range(rows):
                acc = _splitmix64(acc ^ part[:, col])
            keys[band] = acc
    return keys


def _candidate_pairs(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Unique (i, j), i < j, sharing at least one band bucket, as an (m, 2) int64 array."""
    found: list[np.ndarray] = []
    keys = _band_keys(sig, bands, rows)
    for band in range(bands):
        order = np.argsort(keys[band], kind="stable")
        sorted_keys = keys[band][order]
        boundaries = np.flatnonzero(np.diff(sorted_keys)) + 1
        starts = np.concatenate([[0], boundaries])
        sizes = np.diff(np.concatenate([starts, [sorted_keys.size]]))
        shared = sizes > 1
        if not shared.any():
            continue
        # every member pairs with the members after it in its (sorted) bucket, all buckets at once
        b_starts, b_sizes = starts[shared], sizes[shared]
        members = np.repeat(b_starts, b_sizes)
        rank = np.arange(members.size) - np.repeat(np.cumsum(b_sizes) - b_sizes, b_sizes)
        members = members + rank  # positions in `order`
        partners = np.repeat(b_sizes, b_sizes) - rank - 1
        first = np.repeat(members, partners)
        step = np.arange(first.size) - np.repeat(np.cumsum(partners) - partners, partners) + 1
        a, b = order[first].astype(np.int64), order[first + step].astype(np.int64)
        found.append(np.minimum(a, b) * sig.shape[0] + np.maximum(a, b))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    codes = np.unique(np.concatenate(found))
    return np.stack([codes // sig.shape[0], codes % sig.shape[0]], axis=1)


# --- search -------------------------------------------------------------------------------------


def _identical_groups(
    texts: Sequence[str], content: np.ndarray
) -> tuple[list[int], dict[int, list[int]], Callable[[int], str]]:
    """Texts grouped by equal normalised text: (first index of every distinct text, sorted;
    {first index: all its indices} for texts that occur more than once; normalised text by index,
    cached). Equal content hashes are confirmed on the normalised strings."""
    norms: dict[int, str] = {}

    def norm(i: int) -> str:
        got = norms.get(i)
        if got is None:
            got = norms[i] = normalize(texts[i])
        return got

    groups: dict[int, list[int]] = {}
    reps: list[int] = []
    order = np.argsort(content, kind="stable")
    sorted_content = content[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(sorted_content)) + 1])
    sizes = np.diff(np.concatenate([starts, [len(texts)]]))
    reps.extend(order[starts[sizes == 1]].tolist())
    for start, size in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist(), strict=True):
        by_text: dict[str, list[int]] = {}
        for i in sorted(order[start : start + size].tolist()):
            by_text.setdefault(norm(i), []).append(i)
        for members in by_text.values():
            reps.append(members[0])
            if len(members) > 1:
                groups[members[0]] = members
    reps.sort()
    return reps, groups, norm


def near_duplicate_pairs(
    texts: Sequence[str],
    threshold: float = DEFAULT_THRESHOLD,
    num_perm: int = DEFAULT_NUM_PERM,
    n: int = DEFAULT_NGRAM,
) -> list[tuple[int, int, float]]:
    """Every pair (i, j, jaccard), i < j, whose n-gram Jaccard is >= threshold, sorted by (i, j).

    Identical normalised texts pair through a content hash (similarity 1.0); the rest through
    MinHash LSH blocking and exact verification. Sub-quadratic except for the output itself: a group
    of m identical or near-identical texts yields its m*(m-1)/2 pairs."""
    texts = list(texts)
    if len(texts) < 2:
        return []
    sig, content = sketch(texts, num_perm, n)
    reps, groups, norm = _identical_groups(texts, content)
    pairs: list[tuple[int, int, float]] = []
    for members in groups.values():
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                pairs.append((members[x], members[y], 1.0))
    if len(reps) > 1:
        bands, rows = lsh_params(threshold, num_perm)
        rep_index = np.asarray(reps)
        candidates = _candidate_pairs(sig[rep_index], bands, rows)
        if candidates.size:
            # cheap filter: the MinHash estimate; a pair at the threshold estimates this low with
            # probability < 1e-4 at 64 permutations
            left, right = rep_index[candidates[:, 0]], rep_index[candidates[:, 1]]
            estimate = (sig[left] == sig[right]).mean(axis=1)
            candidates = candidates[estimate >= threshold - ESTIMATE_SLACK]
        cache: dict[int, set[str]] = {}

        def shingle_set(i: int) -> set[str]:
            got = cache.get(i)
            if got is None:
                if len(cache) >= _SHINGLE_CACHE:
                    cache.clear()  # candidates come sorted: recent texts are the ones reused
                got = cache[i] = shingles(norm(i), n)
            return got

        for a, b in candidates.tolist():
            ia, ib = reps[a], reps[b]
            similarity = jaccard(shingle_set(ia), shingle_set(ib))
            if similarity >= threshold:
                for x in groups.get(ia, [ia]):
                    for y in groups.get(ib, [ib]):
                        pairs.append((min(x, y), max(x, y), similarity))
    pairs.sort()
    return pairs


# --- clusters -----------------------------------------------------------------------------------
#
# Repeated generation makes clusters: one paragraph copied a hundred times with a changed number.
# All pairs of a cluster of k is k*(k-1)/2 (quadratic output); a cluster is k - 1 links instead,
# each from a text to one earlier text it is verified near:
#
# 1. identical normalised texts link to the earliest of them (a content hash, confirmed);
# 2. distinct texts sharing an LSH band bucket are joined (union-find: scipy's connected
#    components) to the bucket's earliest text where their MinHash estimate passes the cheap filter;
#    every text is verified (exact Jaccard, all at once in numpy) against its component's earliest
#    text, the representative, and links to it when near;
# 3. the others (leftovers), in index order: against the representatives of the clusters their
#    earlier bucket mates are in, earliest first, then against those mates themselves (a chain: near
#    some member, not the representative), most similar by MinHash estimate first; a text that is
#    near none of them represents a new cluster.
#
# Every link is verified with the exact Jaccard. A cluster is the tree of its links, the
# representative its root (its earliest member: links point backwards). Recall is the LSH's: a
# text near some earlier text (sharing a band bucket with it, as a pair at the threshold does with
# probability LSH_RECALL) gets a link, unless (pathological data) it is near only texts further
# back in its buckets than _CHAIN_WINDOW members, or ranks below the checks allowed per text.

_REP_CHECKS = 4  # exact checks of a leftover against cluster representatives
_CHAIN_CHECKS = 8  # exact checks of a leftover against other earlier members
_CHAIN_WINDOW = 256  # earlier members per bucket a leftover is compared with
_PAIR_BLOCK = 1 << 12  # pairs verified per numpy pass
_PACK_CHARS = 1 << 18  # characters packed per numpy pass
_GRAM_BITS = 16  # bits per character rank in a packed n-gram
_ID_BITS = 3 * _GRAM_BITS
_ID_MASK = _U64((1 << _ID_BITS) - 1)
_SORT_TEXTS = (1 << (64 - _ID_BITS)) - 1  # texts per sort block: their number fits above the id


class ClusterMember(NamedTuple):
    """One non-representative member of a cluster: `anchor` is the earlier text it was verified
    against (the earliest identical text when `identical`, else the cluster's representative, or for
    a chain member the earlier member it is near), `similarity` their exact Jaccard (1.0 if identical)."""

    # the field shadows tuple.index (a public name kept as is; callers read `.index`, never call it)
    index: int  # type: ignore[assignment]
    anchor: int
    similarity: float
    identical: bool


@dataclass(frozen=True)
class Cluster:
    """Texts linked by verified near-duplicate links: `representative` is the earliest, `members`
    the others by index, each with its link."""

    representative: int
    members: tuple[ClusterMember, ...]

    @property
    def indices(self) -> tuple[int, ...]:
        """All the cluster's texts, ascending (the representative first)."""
        return (self.representative, *(m.index for m in self.members))


class _ShingleCache:
    """Shingle sets of normalised texts, least recently used dropped past `size`."""

    def __init__(self, norm: Callable[[int], str], n: int, size: int = _SHINGLE_CACHE) -> None:
        self.norm, self.n, self.size = norm, n, size
        self.sets: OrderedDict[int, set[str]] = OrderedDict()

    def __call__(self, i: int) -> set[str]:
        got = self.sets.get(i)
        if got is None:
            if len(self.sets) >= self.size:
                self.sets.popitem(last=False)
            got = self.sets[i] = shingles(self.norm(i), self.n)
        else:
            self.sets.move_to_end(i)
        return got


def _rank_table(present: np.ndarray, n: int) -> np.ndarray | None:
    """Each code point's rank (1..65535) among those `present`, for packing n-grams; None when
    n > 3 or over 65,535 distinct characters are present (exact sets are then strings)."""
    if not 1 <= n <= 3 or int(present.sum()) >= 1 << _GRAM_BITS:
        return None
    return np.cumsum(present, dtype=np.uint64)


def _packed_grams(texts: Sequence[str], rank: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact n-gram sets of the normalised texts, as sorted unique uint64 ids per text, flattened,
    and offsets (len(texts) + 1). A character becomes its `rank`, an n-gram packs the ranks in 16
    bits each, a text shorter than n packs itself (a zero top rank, so no n-gram's id). Equal ids
    are equal shingles, so set sizes and intersections give the exact Jaccard of `shingles`."""
    shift = _U64(_GRAM_BITS)
    # one output array, sized for the raw lengths (normalising rarely lengthens a text; then it grows)
    out = np.empty(sum(map(len, texts)) + len(texts), dtype=np.uint64)
    filled, count_parts = 0, []
    start = 0
    while start < len(texts):
        end, size = start, 0
        while (
            end < len(texts) and end - start < _SORT_TEXTS and (end == start or size + len(texts[end]) <= _PACK_CHARS)
        ):
            size += len(texts[end])
            end += 1
        codes, starts = _normalized_codes(texts[start:end])
        count, start = end - start, end
        lengths = np.diff(starts)
        r = rank[codes]
        grams = np.maximum(lengths - n + 1, 0)
        m = max(r.size - n + 1, 0)
        acc = np.zeros(m, dtype=np.uint64)
        for k in range(n):
            acc = (acc << shift) | r[k : k + m]
        first = np.repeat(starts[:-1], grams)
        ids = acc[first + np.arange(first.size) - np.repeat(np.cumsum(grams) - grams, grams)]
        doc = np.repeat(np.arange(count, dtype=np.uint64), grams)
        short = np.flatnonzero((lengths > 0) & (lengths < n))
        if short.size:
            packed = np.zeros(short.size, dtype=np.uint64)
            for k in range(n - 1):
                inside = k < lengths[short]
                packed[inside] = (packed[inside] << shift) | r[starts[short[inside]] + k]
            ids, doc = np.concatenate([ids, packed]), np.concatenate([doc, short.astype(np.uint64)])
        keys = (doc << _U64(_ID_BITS)) | ids
        keys.sort()
        if keys.size:
            keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]
        if filled + keys.size > out.size:
            out = np.concatenate([out[:filled], np.empty(keys.size + out.size // 2, dtype=np.uint64)])
        np.bitwise_and(keys, _ID_MASK, out=out[filled : filled + keys.size])
        filled += keys.size
        count_parts.append(np.bincount((keys >> _U64(_ID_BITS)).astype(np.int64), minlength=count))
    counts = np.concatenate(count_parts) if count_parts else np.zeros(0, dtype=np.int64)
    return out[:filled], np.concatenate([[0], np.cumsum(counts)])


class _Exact:
    """Exact n-gram Jaccard between texts (by index): packed n-gram ids (numpy), built at once for
    the `core` texts and on demand (least recently used dropped) for others; string shingle sets
    when there is no rank table."""

    def __init__(self, texts: Sequence[str], rank: np.ndarray | None, n: int, core: np.ndarray) -> None:
        self.texts, self.rank, self.n = texts, rank, n
        self.sets = None if rank is not None else _ShingleCache(lambda i: normalize(texts[i]), n)
        self.slot = np.full(len(texts), -1, dtype=np.int64)
        self.slot[core] = np.arange(core.size)
        self.other: OrderedDict[int, np.ndarray] = OrderedDict()
        if rank is not None:
            self.ids, offsets = _packed_grams([texts[i] for i in core.tolist()], rank, n)
            self.starts, self.ends, self.offsets = offsets[:-1], offsets[1:], offsets.tolist()

    def _grams(self, i: int) -> np.ndarray:
        at = int(self.slot[i])
        if at >= 0:
            return self.ids[self.offsets[at] : self.offsets[at + 1]]
        got = self.other.get(i)
        if got is None:
            if len(self.other) >= _SHINGLE_CACHE:
                self.other.popitem(last=False)
            # only reached with a rank table (without one, `sets` answers): self.rank is not None
            got = self.other[i] = _packed_grams([self.texts[i]], self.rank, self.n)[0]  # type: ignore[arg-type]
        else:
            self.other.move_to_end(i)
        return got

    def __call__(self, p: int, q: int) -> float:
        if self.sets is not None:
            return jaccard(self.sets(p), self.sets(q))
        a, b = self._grams(p), self._grams(q)
        if not a.size or not b.size:
            return 1.0 if a.size == b.size else 0.0
        at = np.searchsorted(b, a)
        np.minimum(at, b.size - 1, out=at)
        inter = int(np.count_nonzero(b[at] == a))
        return inter / (a.size + b.size - inter)

    def many(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Jaccard of each pair (left[k], right[k]) of core texts as float64, the values `__call__` gives."""
        if self.sets is not None:
            return np.array([self(p, q) for p, q in zip(left.tolist(), right.tolist(), strict=True)], dtype=np.float64)
        out = np.empty(left.size, dtype=np.float64)
        for lo in range(0, left.size, _PAIR_BLOCK):
            pl, pr = self.slot[left[lo : lo + _PAIR_BLOCK]], self.slot[right[lo : lo + _PAIR_BLOCK]]
            keys, sizes = [], []
            for side in (pl, pr):
                size = self.ends[side] - self.starts[side]
                pair = np.repeat(np.arange(side.size, dtype=np.uint64), size)
                at = np.arange(pair.size) - np.repeat(np.cumsum(size) - size, size) + np.repeat(self.starts[side], size)
                keys.append((pair << _U64(_ID_BITS)) | self.ids[at])  # ascending: pairs in order, ids sorted
                sizes.append(size)
            key_l, key_r = keys
            inter = np.zeros(pl.size, dtype=np.int64)
            if key_r.size and key_l.size:
                at = np.searchsorted(key_r, key_l)
                np.minimum(at, key_r.size - 1, out=at)
                common = key_l[key_r[at] == key_l]
                inter = np.bincount((common >> _U64(_ID_BITS)).astype(np.int64), minlength=pl.size)
            union = sizes[0] + sizes[1] - inter
            out[lo : lo + pl.size] = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        return out


def _shared_buckets(sig: np.ndarray, bands: int, rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """LSH buckets holding two or more texts, numbered 0..B-1: (bucket numbers of each text,
    flattened, and where each text's start, len(sig) + 1; members of each bucket ascending,
    flattened, and where each bucket's start, B + 1)."""
    keys = _band_keys(sig, bands, rows)
    texts, buckets, offset = [], [], 0
    for band in range(bands):
        _, inverse, counts = np.unique(keys[band], return_inverse=True, return_counts=True)
        shared = np.flatnonzero(counts[inverse] > 1)
        texts.append(shared)
        buckets.append(inverse[shared] + offset)
        offset += counts.size
    text_of = np.concatenate(texts)
    _, bucket_of = np.unique(np.concatenate(buckets), return_inverse=True)
    count = int(bucket_of.max()) + 1 if bucket_of.size else 0
    by_text = np.lexsort((bucket_of, text_of))
    text_starts = np.searchsorted(text_of[by_text], np.arange(sig.shape[0] + 1))
    by_bucket = np.lexsort((text_of, bucket_of))
    bucket_starts = np.searchsorted(bucket_of[by_bucket], np.arange(count + 1))
    return bucket_of[by_text], text_starts, text_of[by_bucket], bucket_starts


def _agreement(sig: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Signature positions equal between sig[left[k]] and sig[right[k]], in blocks."""
    out = np.empty(left.size, dtype=np.int64)
    step = 1 << 16
    for lo in range(0, left.size, step):
        out[lo : lo + step] = np.count_nonzero(sig[left[lo : lo + step]] == sig[right[lo : lo + step]], axis=1)
    return out


class NearDupSearch:
    """The texts sketched once (MinHash signatures, content hashes, the characters they use), for
    `clusters()` within them and `earliest_near(among)` against another, short list."""

    def __init__(
        self,
        texts: Iterable[str],
        threshold: float = DEFAULT_THRESHOLD,
        num_perm: int = DEFAULT_NUM_PERM,
        n: int = DEFAULT_NGRAM,
    ) -> None:
        self.texts = list(texts)
        self.threshold, self.num_perm, self.n = threshold, num_perm, n
        present = np.zeros(0x110000, dtype=bool)
        self.sig, self.content = _sketch(self.texts, num_perm, n, present)
        self._rank = _rank_table(present, n)

    def clusters(self) -> list[Cluster]:
        """Clusters of near-duplicate texts (n-gram Jaccard >= threshold along every link), by
        representative; a text near no other is in none (see `near_duplicate_clusters`)."""
        if len(self.texts) < 2:
            return []
        reps, groups, _ = _identical_groups(self.texts, self.content)
        link: list[int] = [-1] * len(reps)  # position (in reps) of the earlier distinct text linked to
        link_similarity: list[float] = [0.0] * len(reps)
        root = list(range(len(reps)))
        if len(reps) > 1:
            self._link_distinct(reps, link, link_similarity, root)
        members: dict[int, list[ClusterMember]] = {}
        for p, i in enumerate(reps):
            copies = groups.get(i)
            if link[p] < 0 and copies is None:
                continue
            cluster = members.setdefault(reps[root[p]], [])
            if link[p] >= 0:
                cluster.append(ClusterMember(i, reps[link[p]], link_similarity[p], False))
            if copies is not None:
                cluster.extend(ClusterMember(j, i, 1.0, True) for j in copies[1:])
        return [Cluster(rep, tuple(sorted(found))) for rep, found in sorted(members.items())]

    def _link_distinct(self, reps: list[int], link: list[int], link_similarity: list[float], root: list[int]) -> None:
        """Steps 2 and 3 of the comment above, over the distinct texts (positions in `reps`)."""
        count, threshold = len(reps), self.threshold
        bands, rows = lsh_params(threshold, self.num_perm)
        rep_index = np.asarray(reps, dtype=np.int64)
        rep_sig = self.sig[rep_index]
        bucket_of, text_starts, bucket_members, bucket_starts = _shared_buckets(rep_sig, bands, rows)
        if not bucket_of.size:
            return
        min_agree = (threshold - ESTIMATE_SLACK) * self.num_perm  # the cheap filter of near_duplicate_pairs
        # candidate components: each text joined to its buckets' earliest texts that pass the filter
        text_of = np.repeat(np.arange(count), np.diff(text_starts))
        head = bucket_members[bucket_starts[bucket_of]]
        edge = np.flatnonzero(head != text_of)
        edge = edge[_agreement(rep_sig, text_of[edge], head[edge]) >= min_agree]
        graph = coo_matrix((np.ones(edge.size, dtype=np.int8), (text_of[edge], head[edge])), shape=(count, count))
        _, label = connected_components(graph.tocsr(), directed=False)
        first = np.full(int(label.max()) + 1, count, dtype=np.int64)
        np.minimum.at(first, label, np.arange(count))
        representative = first[label]
        # exact n-gram sets: at once for the texts with a candidate edge, on demand for the others
        involved = np.flatnonzero(np.diff(text_starts) > 0)
        core = np.union1d(text_of[edge], head[edge])
        exact = _Exact(self.texts, self._rank, self.n, rep_index[core])
        guessed = involved[representative[involved] != involved]
        verified = dict(
            zip(
                guessed.tolist(),
                exact.many(rep_index[guessed], rep_index[representative[guessed]]).tolist(),
                strict=True,
            )
        )
        members, starts = bucket_members.tolist(), bucket_starts.tolist()
        text_buckets, text_start, rep_of = bucket_of.tolist(), text_starts.tolist(), representative.tolist()
        for p in involved.tolist():
            guess = rep_of[p]
            similarity = verified.get(p, 0.0)
            if guess != p and similarity >= threshold:
                link[p], link_similarity[p], root[p] = guess, similarity, root[guess]
                continue
            # a leftover: near the representative of an earlier bucket mate's cluster, or a mate itself
            mates: set[int] = set()
            for b in text_buckets[text_start[p] : text_start[p + 1]]:
                lo, hi = starts[b], starts[b + 1]
                end = bisect_left(members, p, lo, hi)
                mates.update(members[max(lo, end - _CHAIN_WINDOW) : end])
            mates.discard(guess)  # verified above
            if not mates:
                continue
            heads = sorted({root[c] for c in mates}.difference((guess,)))
            earlier = sorted(mates.difference(heads))
            agree = np.count_nonzero(rep_sig[heads + earlier] == rep_sig[p], axis=1).tolist()
            # `agree` also covers `earlier` (after the heads): the zip stops at the heads on purpose
            order = [h for h, a in zip(heads, agree, strict=False) if a >= min_agree][:_REP_CHECKS]  # earliest first
            chain = sorted(
                (-a, c) for c, a in zip(earlier, agree[len(heads) :], strict=True) if a >= min_agree
            )  # most similar first
            for c in order + [c for _, c in chain[:_CHAIN_CHECKS]]:
                similarity = exact(reps[p], reps[c])
                if similarity >= threshold:
                    link[p], link_similarity[p], root[p] = c, similarity, root[c]
                    break

    def earliest_near(self, among: Sequence[str]) -> list[tuple[int, float] | None]:
        """For each text, the earliest of `among` whose n-gram Jaccard with it is >= threshold, as
        (index in `among`, Jaccard), or None (see the module function `earliest_near`)."""
        among = list(among)
        out: list[tuple[int, float] | None] = [None] * len(self.texts)
        if not self.texts or not among:
            return out
        among_sig, _ = sketch(among, self.num_perm, self.n)
        bands, rows = lsh_params(self.threshold, self.num_perm)
        among_keys = _band_keys(among_sig, bands, rows)
        text_keys = _band_keys(self.sig, bands, rows)
        found: list[np.ndarray] = []
        for band in range(bands):
            order = np.argsort(among_keys[band], kind="stable")
            sorted_keys = among_keys[band][order]
            lo = np.searchsorted(sorted_keys, text_keys[band], side="left")
            hits = np.searchsorted(sorted_keys, text_keys[band], side="right") - lo
            where = np.flatnonzero(hits)
            if not where.size:
                continue
            sizes = hits[where]
            step = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
            found.append(
                np.repeat(where, sizes).astype(np.int64) * len(among) + order[np.repeat(lo[where], sizes) + step]
            )
        if not found:
            return out
        codes = np.unique(np.concatenate(found))  # by text, then by position in `among`
        text, other = codes // len(among), codes % len(among)
        keep = (self.sig[text] == among_sig[other]).mean(axis=1) >= self.threshold - ESTIMATE_SLACK
        target = _ShingleCache(lambda a: normalize(among[a]), self.n)
        current, query = -1, set()
        for t, a in zip(text[keep].tolist(), other[keep].tolist(), strict=True):
            if out[t] is not None:
                continue
            if t != current:  # candidates come by text
                current, query = t, shingles(self.texts[t], self.n)
            similarity = jaccard(query, target(a))
            if similarity >= self.threshold:
                out[t] = (a, similarity)
        return out


def near_duplicate_clusters(
    texts: Sequence[str],
    threshold: float = DEFAULT_THRESHOLD,
    num_perm: int = DEFAULT_NUM_PERM,
    n: int = DEFAULT_NGRAM,
) -> list[Cluster]:
    """Clusters of near-duplicate texts (n-gram Jaccard >= threshold along every link), by
    representative; a text near no other is in none. Linear in the number of texts on clustered
    data: each text is verified against its cluster's representative, or a few earlier texts, never
    against all of its cluster (the comment above gives the procedure and its bounds).
    Deterministic: the same texts in the same order give the same clusters.

    A chain A ~ B ~ C with A and C not near is one cluster: B links to A, C to B."""
    return NearDupSearch(texts, threshold, num_perm, n).clusters()


def earliest_near(
    texts: Sequence[str],
    among: Sequence[str],
    threshold: float = DEFAULT_THRESHOLD,
    num_perm: int = DEFAULT_NUM_PERM,
    n: int = DEFAULT_NGRAM,
) -> list[tuple[int, float] | None]:
    """For each of `texts`, the earliest of `among` whose n-gram Jaccard with it is >= threshold, as
    (index in `among`, Jaccard), or None. For a short `among` (a test set) against many texts:
    candidates come from shared LSH buckets (identical texts always share them), so the work is the
    number of texts plus the candidate pairs, never len(texts) * len(among)."""
    return NearDupSearch(texts, threshold, num_perm, n).earliest_near(among)


class NearDupIndex:
    """A MinHash LSH index over a fixed list of texts, the bands of `near_duplicate_pairs` (positions
    are the keys).

    `query(text)` returns the indexed texts whose exact n-gram Jaccard with `text` is >= the
    threshold; the LSH is tuned for the threshold given here, so a lower `threshold` at query time
    finds what the bands catch, not necessarily everything. `similarities(texts)` and
    `self_nearest()` are the exact all-pairs Jaccard through one sparse n-gram matrix (float32), for
    small sets (out-of-distribution checks)."""

    def __init__(
        self,
        texts: Iterable[str],
        threshold: float = DEFAULT_THRESHOLD,
        num_perm: int = DEFAULT_NUM_PERM,
        n: int = DEFAULT_NGRAM,
    ) -> None:
        self.texts = list(texts)
        self.threshold = threshold
        self.num_perm = num_perm
        self.n = n
        self._norms = [normalize(t) for t in self.texts]
        self._exact: dict[str, list[int]] = {}
        for i, norm in enumerate(self._norms):
            self._exact.setdefault(norm, []).append(i)
        self._shingles: dict[int, set[str]] = {}
        self._bands = lsh_params(threshold, num_perm)
        self._buckets: dict[tuple[int, int], list[int]] = {}
        if self.texts:
            keys = _band_keys(signatures(self.texts, num_perm, n), *self._bands)
            for band, row in enumerate(keys.tolist()):
                for i, key in enumerate(row):
                    self._buckets.setdefault((band, key), []).append(i)
        self._matrix: csr_matrix | None = None
        self._vocab: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.texts)

    def _shingle_set(self, i: int) -> set[str]:
        got = self._shingles.get(i)
        if got is None:
            got = self._shingles[i] = shingles(self._norms[i], self.n)
        return got

    def query(self, text: str, threshold: float | None = None) -> list[tuple[int, float]]:
        """(index, exact Jaccard) of indexed texts at or above the threshold, most similar first
        (ties by index). An identical text is always found, whatever the LSH says."""
        limit = self.threshold if threshold is None else threshold
        norm = normalize(text)
        candidates = set(self._exact.get(norm, ()))
        if self.texts:
            keys = _band_keys(signatures([norm], self.num_perm, self.n), *self._bands)[:, 0].tolist()
            for band, key in enumerate(keys):
                candidates.update(self._buckets.get((band, key), ()))
        query_set = shingles(norm, self.n)
        hits = []
        for i in candidates:
            similarity = 1.0 if self._norms[i] == norm else jaccard(query_set, self._shingle_set(i))
            if similarity >= limit:
                hits.append((i, similarity))
        hits.sort(key=lambda hit: (-hit[1], hit[0]))
        return hits

    # --- exact, all pairs -----------------------------------------------------------------------

    def _encode(self, texts: Sequence[str], grow: bool = False) -> csr_matrix:
        rows, cols = [], []
        for r, text in enumerate(texts):
            for sh in shingles(normalize(text), self.n):
                col = self._vocab.get(sh)
                if col is None:
                    if not grow:
                        continue  # an unseen n-gram still counts in the union, via the row size
                    col = self._vocab[sh] = len(self._vocab)
                rows.append(r)
                cols.append(col)
        data = np.ones(len(rows), dtype=np.float32)
        return csr_matrix((data, (rows, cols)), shape=(len(texts), max(len(self._vocab), 1)))

    def _indexed(self) -> tuple[csr_matrix, np.ndarray]:
        if self._matrix is None:
            self._matrix = self._encode(self.texts, grow=True)
        return self._matrix, np.asarray(self._matrix.sum(axis=1)).ravel()

    def similarities(self, texts: Sequence[str]) -> np.ndarray:
        """Exact Jaccard of each text (rows) against every indexed text (columns)."""
        matrix, indexed_sizes = self._indexed()
        query = self._encode(texts)
        sizes = np.array([len(shingles(normalize(t), self.n)) for t in texts], dtype=np.float32)
        inter = (query @ matrix.T).toarray()
        union = sizes[:, None] + indexed_sizes[None, :] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(union > 0, inter / union, 0.0)

    def self_nearest(self) -> np.ndarray:
        """For every indexed text, the exact Jaccard of its nearest *other* indexed text."""
        matrix, sizes = self._indexed()
        inter = (matrix @ matrix.T).toarray()
        union = sizes[:, None] + sizes[None, :] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            sims = np.where(union > 0, inter / union, 0.0)
        np.fill_diagonal(sims, -1.0)
        return sims.max(axis=1) if len(sims) > 1 else np.zeros(len(sims))
