"""Bilingual lexicons in MUSE format (``src tgt`` per line, several golds per source word), coverage and splits.

Out-of-vocabulary pairs are never dropped silently: :meth:`Lexicon.coverage` counts them and every report prints it.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Container, Iterable, Mapping

import numpy as np

from .atomic import atomic_open
from .embeddings import Embeddings
from .errors import UdmError

MUSE_TEST_OFFSET = 5000  # MUSE: train = the 5,000 most frequent source words, test = the next 1,500


@dataclass(frozen=True)
class Coverage:
    """How much of a lexicon the two vocabularies can use."""

    source_words: int  # distinct source words in the lexicon
    covered_words: int  # source words in the source vocabulary with at least one gold in the target vocabulary
    pairs: int
    covered_pairs: int
    oov_source_words: int  # source words missing from the source vocabulary
    oov_target_only_words: int  # source words present whose golds are all missing from the target vocabulary

    @property
    def ratio(self) -> float:
        return self.covered_words / self.source_words if self.source_words else 0.0

    def __str__(self) -> str:
        return (f"coverage {self.covered_words}/{self.source_words} source words ({100 * self.ratio:.1f}%), "
                f"{self.covered_pairs}/{self.pairs} pairs; {self.oov_source_words} source words not in the source "
                f"vocabulary, {self.oov_target_only_words} with no gold in the target vocabulary")

    def to_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


class Lexicon:
    """An ordered list of (source, target) word pairs; a source word may have several gold targets."""

    def __init__(self, pairs: Iterable[tuple[str, str]]):
        seen: set[tuple[str, str]] = set()
        self.pairs: list[tuple[str, str]] = []
        for p in pairs:
            p = (str(p[0]), str(p[1]))
            if p not in seen:
                seen.add(p)
                self.pairs.append(p)
        self.golds: "OrderedDict[str, list[str]]" = OrderedDict()
        for s, t in self.pairs:
            self.golds.setdefault(s, []).append(t)

    def __len__(self) -> int:
        return len(self.pairs)

    def __repr__(self) -> str:
        return f"Lexicon({len(self.pairs)} pairs, {len(self.golds)} source words)"

    @property
    def sources(self) -> list[str]:
        return list(self.golds)

    # -- I/O ----------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike, *, lower: bool = False) -> "Lexicon":
        """Read a MUSE dictionary: one ``src tgt`` pair per line, separated by a tab or spaces."""
        path = Path(path)
        if not path.is_file():
            raise UdmError(f"{path}: no such dictionary file")
        pairs = []
        with open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                try:
                    line = raw.decode("utf-8").strip()
                except UnicodeDecodeError as exc:
                    raise UdmError(f"{path}:{lineno}: not valid UTF-8 ({exc.reason}); re-encode the dictionary as UTF-8") from None
                if not line or line.startswith("#"):
                    continue
                parts = line.split("\t") if "\t" in line else line.split()
                parts = [p.strip() for p in parts if p.strip()]
                if len(parts) != 2:
                    raise UdmError(f"{path}:{lineno}: expected 'source target' (2 fields), got {len(parts)}: {line[:60]!r}")
                if lower:
                    parts = [p.lower() for p in parts]
                pairs.append((parts[0], parts[1]))
        if not pairs:
            raise UdmError(f"{path}: the dictionary holds no pairs (empty file?)")
        return cls(pairs)

    def save(self, path: str | os.PathLike) -> None:
        """Write MUSE format (``src tgt`` per line), atomically."""
        with atomic_open(path) as fh:
            for s, t in self.pairs:
                fh.write(f"{s} {t}\n")

    # -- vocabulary --------------------------------------------------------------------------
    def coverage(self, src: Embeddings, tgt: Embeddings) -> Coverage:
        covered_words = oov_src = oov_tgt = covered_pairs = 0
        for s, ts in self.golds.items():
            if s not in src:
                oov_src += 1
                continue
            n = sum(t in tgt for t in ts)
            covered_pairs += n
            if n:
                covered_words += 1
            else:
                oov_tgt += 1
        return Coverage(len(self.golds), covered_words, len(self.pairs), covered_pairs, oov_src, oov_tgt)

    def restrict(self, src: Embeddings, tgt: Embeddings) -> "Lexicon":
        """Only the pairs whose two words are in the vocabularies (report :meth:`coverage` alongside)."""
        return Lexicon((s, t) for s, t in self.pairs if s in src and t in tgt)

    def index_pairs(self, src: Embeddings, tgt: Embeddings) -> np.ndarray:
        """Covered pairs as an ``(n, 2)`` array of row indices (source, target)."""
        idx = [(src.index[s], tgt.index[t]) for s, t in self.pairs if s in src and t in tgt]
        return np.array(idx, dtype=np.int64).reshape(-1, 2)

    def covered_sources_by_rank(self, src: Embeddings, tgt: Embeddings) -> list[str]:
        """Covered source words, most frequent (lowest source row) first."""
        words = [s for s, ts in self.golds.items() if s in src and any(t in tgt for t in ts)]
        return sorted(words, key=lambda w: src.index[w])

    def subset_sources(self, words: Iterable[str]) -> "Lexicon":
        keep = set(words)
        return Lexicon((s, t) for s, t in self.pairs if s in keep)

    def most_frequent(self, n: int, src: Embeddings, tgt: Embeddings) -> "Lexicon":
        """Covered pairs of the ``n`` most frequent covered source words (a seed dictionary of size ~n)."""
        words = self.covered_sources_by_rank(src, tgt)[:n]
        return self.subset_sources(words).restrict(src, tgt)

    def split(
        self, src: Embeddings, tgt: Embeddings, *, test_size: int = 1500, method: str = "muse",
        offset: int = MUSE_TEST_OFFSET,
    ) -> tuple["Lexicon", "Lexicon"]:
        """Train/test split by source frequency rank with disjoint source words (see :func:`split_by_rank`)."""
        train, test, _ = split_by_rank(self, src.index, tgt.index, test_size=test_size, method=method, offset=offset)
        return train, test


SPLIT_METHODS = ("muse", "spread", "top")


def split_by_rank(
    lexicon: Lexicon,
    src_rank: Mapping[str, int],
    tgt_vocab: Container[str],
    *,
    test_size: int = 1500,
    method: str = "muse",
    offset: int = MUSE_TEST_OFFSET,
) -> tuple[Lexicon, Lexicon, dict]:
    """MUSE-style disjoint train/test split; the one implementation in udm. Returns (train, test, info).

    Eligible source words have a rank in ``src_rank`` (lower = more frequent) and a gold in ``tgt_vocab``.
    ``method``: ``muse`` takes ``test_size`` eligible words starting at rank position ``offset`` (MUSE: train on
    the 5,000 most frequent, test on the next 1,500; moved earlier when too few remain), ``spread`` takes every
    k-th eligible word so the test spans all frequencies, ``top`` the most frequent. Both files keep only
    in-vocabulary pairs; no source word is in both.
    """
    if method not in SPLIT_METHODS:
        raise UdmError(f"unknown split method {method!r}; use one of {', '.join(SPLIT_METHODS)}")
    if test_size < 1:
        raise UdmError(f"test size must be positive, got {test_size}")
    golds = {s: [t for t in ts if t in tgt_vocab] for s, ts in lexicon.golds.items() if s in src_rank}
    eligible = sorted((s for s, ts in golds.items() if ts), key=src_rank.__getitem__)
    if not eligible:
        raise UdmError("no lexicon source word has a gold inside the target vocabulary; check the vocabularies and the pair direction")
    n_test = min(test_size, len(eligible))
    if method == "top" or n_test == len(eligible):
        test_words = eligible[:n_test]
    elif method == "spread":
        step = len(eligible) / n_test
        test_words = [eligible[int(i * step)] for i in range(n_test)]
    else:
        start = max(0, min(offset, len(eligible) - n_test))
        test_words = eligible[start : start + n_test]
    chosen = set(test_words)
    test = Lexicon((s, t) for s in test_words for t in golds[s])
    train = Lexicon((s, t) for s in eligible if s not in chosen for t in golds[s])
    info = {"eligible_source_words": len(eligible), "requested_test_words": test_size, "test_words": len(test_words),
            "test_pairs": len(test), "train_words": len(eligible) - len(test_words), "train_pairs": len(train),
            "method": method}
    return train, test, info


def identical_strings(src: Embeddings, tgt: Embeddings, max_rank: int | None = None, min_length: int = 1) -> Lexicon:
    """Seed pairs of words spelled identically in both vocabularies (Søgaard et al. 2018)."""
    s_words = src.words[:max_rank] if max_rank else src.words
    t_vocab = set(tgt.words[:max_rank] if max_rank else tgt.words)
    return Lexicon((w, w) for w in s_words if w in t_vocab and len(w) >= min_length)


def gold_index_lists(lexicon: Lexicon, src: Embeddings, tgt: Embeddings) -> tuple[list[str], list[list[int]]]:
    """Covered source words (lexicon order) and, for each, its gold target row indices."""
    words, golds = [], []
    for s, ts in lexicon.golds.items():
        if s in src:
            g = [tgt.index[t] for t in ts if t in tgt]
            if g:
                words.append(s)
                golds.append(g)
    return words, golds

