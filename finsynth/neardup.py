"""Near-duplicate paragraphs: character n-gram Jaccard, MinHash signatures, LSH banding.

Texts are normalised (NFKC, lower case, whitespace removed), cut into character 3-grams, and compared
by exact Jaccard similarity. Search is sub-quadratic: identical texts meet through a hash, and other
candidates only through a shared LSH band of their MinHash signatures; every candidate is verified
with the exact Jaccard before it is reported.

Signatures are computed for many texts at once with numpy (one pass per permutation over all n-gram
hashes, 32-bit affine permutations), deterministic across runs and machines. `NearDupIndex` keeps them
in a `datasketch.MinHashLSH`; `near_duplicate_pairs` bands them with a sort, which needs no Python
object per text and runs 100,000 paragraphs in seconds.
"""

from __future__ import annotations

import heapq
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import pairwise

import numpy as np
from datasketch import LeanMinHash, MinHashLSH

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
    return {norm[i:i + n] for i in range(len(norm) - n + 1)}


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
    (0x20, 0x7F), (0xA0, 0x100), (0x2000, 0x2070), (0x2100, 0x2190), (0x2190, 0x2300), (0x2460, 0x2500),
    (0x2500, 0x2600), (0x3000, 0x3040), (0x3300, 0x3400), (0x3400, 0x4DC0), (0x4E00, 0xA000),
    (0xF900, 0xFB00), (0xFF00, 0xFFF0),
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
        codes = np.frombuffer(normalize(texts[i]).encode("utf-32-le"), dtype=np.uint32)
        parts.append(codes)
        docs.append(np.full(codes.size, i))
    codes, doc_of = np.concatenate(parts), np.concatenate(docs)
    if fallback.any():
        order = np.argsort(doc_of, kind="stable")
        codes, doc_of = codes[order], doc_of[order]
    counts = np.bincount(doc_of, minlength=len(texts))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    return codes, offsets


def _sketch_block(texts: Sequence[str], num_perm: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures and content hashes (uint64, equal for equal normalised texts)."""
    codes, offsets = _normalized_codes(texts)
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
            acc = acc * _U64(0x100000001B3) + wide[k:k + acc.size]
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
        sig[i] = _short_signature(codes[offsets[i]:offsets[i + 1]], num_perm)
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


def sketch(texts: Sequence[str], num_perm: int = DEFAULT_NUM_PERM, n: int = DEFAULT_NGRAM) -> tuple[np.ndarray, np.ndarray]:
    """(MinHash signatures len(texts) x num_perm uint32, content hashes uint64) of raw texts,
    normalised as `normalize` does, in blocks of ~2M characters."""
    sig = np.empty((len(texts), num_perm), dtype=np.uint32)
    content = np.empty(len(texts), dtype=np.uint64)
    start = 0
    while start < len(texts):
        end, size = start, 0
        while end < len(texts) and (end == start or size + len(texts[end]) <= _CHUNK_CHARS):
            size += len(texts[end])
            end += 1
        sig[start:end], content[start:end] = _sketch_block(texts[start:end], num_perm, n)
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
            part = sig[:, band * rows:(band + 1) * rows].astype(np.uint64)
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
    norms: dict[int, str] = {}

    def norm(i: int) -> str:
        got = norms.get(i)
        if got is None:
            got = norms[i] = normalize(texts[i])
        return got

    # exact duplicates: equal content hash, confirmed on the normalised strings
    groups: dict[int, list[int]] = {}
    reps: list[int] = []
    order = np.argsort(content, kind="stable")
    sorted_content = content[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(sorted_content)) + 1])
    sizes = np.diff(np.concatenate([starts, [len(texts)]]))
    reps.extend(order[starts[sizes == 1]].tolist())
    for start, size in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist()):
        by_text: dict[str, list[int]] = {}
        for i in sorted(order[start:start + size].tolist()):
            by_text.setdefault(norm(i), []).append(i)
        for members in by_text.values():
            reps.append(members[0])
            if len(members) > 1:
                groups[members[0]] = members
    reps.sort()
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


class NearDupIndex:
    """A MinHash LSH index over a fixed list of texts (datasketch `MinHashLSH`, keys = positions).

    `query(text)` returns the indexed texts whose exact n-gram Jaccard with `text` is >= the
    threshold; the LSH is tuned for the threshold given here, so a lower `threshold` at query time
    finds what the bands catch, not necessarily everything. `nearest(text, k)` is an exact linear
    top-k, for small sets (out-of-distribution checks)."""

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
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, params=lsh_params(threshold, num_perm))
        sig = signatures(self.texts, num_perm, n)
        for i in range(len(self.texts)):
            self._lsh.insert(i, self._minhash(sig[i]), check_duplication=False)

    def __len__(self) -> int:
        return len(self.texts)

    @staticmethod
    def _minhash(row: np.ndarray) -> LeanMinHash:
        return LeanMinHash(seed=_SEED, hashvalues=row, scheme="affine32")

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
            candidates.update(self._lsh.query(self._minhash(signatures([norm], self.num_perm, self.n)[0])))
        query_set = shingles(norm, self.n)
        hits = []
        for i in candidates:
            similarity = 1.0 if self._norms[i] == norm else jaccard(query_set, self._shingle_set(i))
            if similarity >= limit:
                hits.append((i, similarity))
        hits.sort(key=lambda hit: (-hit[1], hit[0]))
        return hits

    def nearest(self, text: str, k: int = 1) -> list[tuple[int, float]]:
        """The k most similar indexed texts by exact Jaccard (linear scan), most similar first."""
        query_set = shingles(text, self.n)
        scored = ((jaccard(query_set, self._shingle_set(i)), i) for i in range(len(self.texts)))
        best = heapq.nlargest(k, scored, key=lambda item: (item[0], -item[1]))
        return [(i, similarity) for similarity, i in best]
