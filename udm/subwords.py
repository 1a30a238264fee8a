"""fastText-style character n-grams: ``<word>`` cut into n-grams, hashed (FNV-1a, as fastText) into buckets.

Only buckets that occur in the training vocabulary get a row in the model ("compact buckets"), so the
``--buckets`` range can be large (fastText's 2,000,000) without allocating 2M x dim floats. An unseen word's
vector is the mean of the rows of those of its n-grams that were seen in training.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from .errors import UdmError

__all__ = ["parse_ngram_range", "char_ngrams", "fnv1a", "ngram_buckets", "SubwordIndex"]

DEFAULT_BUCKETS = 2_000_000


def parse_ngram_range(spec: str | Sequence[int] | None) -> tuple[int, int] | None:
    """``"3-6"`` -> (3, 6); ``"4"`` -> (4, 4); None/""/"0"/"none" -> None (no subwords)."""
    if spec is None:
        return None
    if isinstance(spec, (tuple, list)):
        lo, hi = int(spec[0]), int(spec[1])
    else:
        s = str(spec).strip().lower()
        if s in ("", "0", "none", "off"):
            return None
        try:
            lo, _, hi = s.partition("-")
            lo, hi = int(lo), int(hi or lo)
        except ValueError:
            raise UdmError(f"bad --subwords value {spec!r}: use a range like 3-6") from None
    if lo < 1 or hi < lo:
        raise UdmError(f"bad --subwords range {spec!r}: need 1 <= min <= max, e.g. 3-6")
    return lo, hi


def char_ngrams(word: str, minn: int, maxn: int) -> list[str]:
    """The character n-grams of ``<word>`` with minn <= n <= maxn (the whole ``<word>`` is not included)."""
    w = f"<{word}>"
    out = []
    for n in range(minn, maxn + 1):
        for i in range(len(w) - n + 1):
            g = w[i:i + n]
            if g == w:
                continue
            out.append(g)
    return out


def fnv1a(s: str) -> int:
    """32-bit FNV-1a hash of the UTF-8 bytes (fastText's dictionary hash)."""
    h = 2166136261
    for b in s.encode("utf-8"):
        h ^= b
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def ngram_buckets(word: str, minn: int, maxn: int, buckets: int) -> list[int]:
    """Bucket ids (0 <= id < buckets) of the n-grams of ``word``, duplicates removed, order kept."""
    seen: dict[int, None] = {}
    for g in char_ngrams(word, minn, maxn):
        seen.setdefault(fnv1a(g) % buckets, None)
    return list(seen)


class SubwordIndex:
    """For each vocabulary word, the model rows of its n-gram buckets, in CSR form.

    Rows ``0..V-1`` of the input table are the words; rows ``V..V+B-1`` are the buckets used by the vocabulary
    (``bucket_rows[b]`` is the row of bucket ``b`` or -1).
    """

    def __init__(self, words: Sequence[str], minn: int, maxn: int, buckets: int):
        if buckets < 1:
            raise UdmError(f"--buckets must be at least 1, got {buckets}")
        self.minn, self.maxn, self.buckets = minn, maxn, buckets
        V = len(words)
        per_word = [ngram_buckets(w, minn, maxn, buckets) for w in words]
        used = np.unique(np.fromiter((b for bs in per_word for b in bs), dtype=np.int64)) if V else np.zeros(0, np.int64)
        self.used_buckets = used  # sorted bucket ids that own a row
        lookup = {int(b): V + i for i, b in enumerate(used)}
        self.n_rows = V + len(used)
        # CSR: word i -> [i, rows of its n-grams]
        lens = np.array([1 + len(bs) for bs in per_word], dtype=np.int64)
        self.offsets = np.zeros(V + 1, dtype=np.int64)
        np.cumsum(lens, out=self.offsets[1:])
        comp = np.empty(int(self.offsets[-1]), dtype=np.int64)
        for i, bs in enumerate(per_word):
            o = self.offsets[i]
            comp[o] = i
            comp[o + 1:o + 1 + len(bs)] = [lookup[b] for b in bs]
        self.components = comp
        self.lengths = lens

    def bucket_row(self, bucket: int) -> int:
        """The model row of ``bucket``, or -1 when no training word had that bucket."""
        j = np.searchsorted(self.used_buckets, bucket)
        if j < len(self.used_buckets) and self.used_buckets[j] == bucket:
            return len(self.offsets) - 1 + int(j)
        return -1

    def gather(self, word_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flattened component rows of ``word_ids`` and, for each, which of the words it belongs to."""
        lens = self.lengths[word_ids]
        starts = self.offsets[word_ids]
        owner = np.repeat(np.arange(len(word_ids), dtype=np.int64), lens)
        # position within each word's component list
        csum = np.cumsum(lens)
        within = np.arange(int(csum[-1]) if len(csum) else 0, dtype=np.int64) - np.repeat(csum - lens, lens)
        return self.components[np.repeat(starts, lens) + within], owner

    def oov_rows(self, word: str) -> list[int]:
        """Model rows of the seen n-grams of an arbitrary word."""
        rows = [self.bucket_row(b) for b in ngram_buckets(word, self.minn, self.maxn, self.buckets)]
        return [r for r in rows if r >= 0]


def mean_rows(table: np.ndarray, rows: Iterable[int]) -> np.ndarray | None:
    rows = list(rows)
    if not rows:
        return None
    return table[rows].mean(axis=0)
