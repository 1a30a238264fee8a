"""The embedding store: words in frequency order, a float32 matrix, and a word -> row index.

Reads and writes word2vec/fastText text (``.vec``) and a fast binary format (``.npz``: vectors + vocabulary).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .atomic import atomic_open, atomic_path
from .errors import UdmError

log = logging.getLogger(__name__)

BINARY_SUFFIXES = (".npz",)


class Embeddings:
    """A vocabulary in frequency order with one float32 row per word (like gensim's KeyedVectors)."""

    def __init__(self, words: Sequence[str], vectors: np.ndarray, *, copy: bool = False):
        vectors = np.array(vectors, dtype=np.float32, copy=copy) if copy else np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise UdmError(f"embedding matrix must be 2-D (words x dims), got shape {vectors.shape}")
        words = list(words)
        if len(words) != vectors.shape[0]:
            raise UdmError(f"{len(words)} words but {vectors.shape[0]} vectors: the two must match")
        index: dict[str, int] = {}
        for i, w in enumerate(words):
            if w in index:
                raise UdmError(f"duplicate word {w!r} at rows {index[w]} and {i}")
            index[w] = i
        self.words = words
        self.vectors = vectors
        self.index = index

    # -- basic protocol -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        try:
            return self.vectors[self.index[word]]
        except KeyError:
            raise KeyError(f"word {word!r} is not in the vocabulary") from None

    def __repr__(self) -> str:
        return f"Embeddings({len(self)} words, dim={self.dim})"

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def indices(self, words: Iterable[str]) -> np.ndarray:
        """Row indices of ``words`` (all must be present)."""
        return np.array([self.index[w] for w in words], dtype=np.int64)

    def top(self, n: int | None) -> "Embeddings":
        """The ``n`` most frequent words (the first ``n`` rows); all of them when ``n`` is None."""
        if n is None or n >= len(self):
            return self
        return Embeddings(self.words[:n], self.vectors[:n])

    def with_vectors(self, vectors: np.ndarray) -> "Embeddings":
        """The same vocabulary with new vectors (for example mapped or normalised ones)."""
        return Embeddings(self.words, vectors)

    # -- I/O ----------------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        max_vocab: int | None = None,
        lower: bool = False,
        on_error: str = "raise",
    ) -> "Embeddings":
        """Read a ``.vec`` text file (header optional) or an ``.npz`` store.

        ``lower=True`` lowercases words and keeps the first (most frequent) occurrence, as MUSE does.
        ``on_error="skip"`` skips malformed lines (wrong length, NaN/inf, duplicates) and logs how many;
        the default ``"raise"`` stops with a UdmError naming file and line.
        """
        path = Path(path)
        if on_error not in ("raise", "skip"):
            raise UdmError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if not path.is_file():
            raise UdmError(f"{path}: no such embedding file")
        if path.suffix in BINARY_SUFFIXES:
            emb = _load_npz(path)
            if lower:
                emb = _lowercase_keep_first(emb)
            return emb.top(max_vocab)
        return _load_text(path, max_vocab=max_vocab, lower=lower, on_error=on_error)

    def save(self, path: str | os.PathLike, *, fmt: str | None = None, precision: int = 6) -> None:
        """Write ``.vec`` text (with a ``count dim`` header) or ``.npz``, atomically; format from the suffix."""
        path = Path(path)
        fmt = fmt or ("npz" if path.suffix in BINARY_SUFFIXES else "vec")
        if fmt == "npz":
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, vectors=self.vectors, words=np.array(self.words, dtype=object).astype(str))
        elif fmt == "vec":
            for w in self.words:
                if not w or any(c.isspace() for c in w):
                    raise UdmError(f"word {w!r} is empty or contains whitespace and cannot be written to a .vec file")
            with atomic_open(path, "w") as fh:
                fh.write(f"{len(self)} {self.dim}\n")
                fmt_row = " ".join([f"%.{precision}g"] * self.dim)
                for w, row in zip(self.words, self.vectors):
                    fh.write(w + " " + (fmt_row % tuple(row.tolist())) + "\n")
        else:
            raise UdmError(f"unknown embedding format {fmt!r}: use 'vec' or 'npz'")


def _load_npz(path: Path) -> Embeddings:
    try:
        with np.load(path, allow_pickle=False) as data:
            vectors = data["vectors"].astype(np.float32, copy=False)
            words = [str(w) for w in data["words"]]
    except (OSError, ValueError, KeyError) as exc:
        raise UdmError(f"{path}: not a udm .npz embedding store ({exc})") from None
    if not np.isfinite(vectors).all():
        bad = int(np.where(~np.isfinite(vectors).all(axis=1))[0][0])
        raise UdmError(f"{path}: row {bad} ({words[bad]!r}) contains NaN or inf")
    return Embeddings(words, vectors)


def _lowercase_keep_first(emb: Embeddings) -> Embeddings:
    seen: set[str] = set()
    keep, words = [], []
    for i, w in enumerate(emb.words):
        lw = w.lower()
        if lw not in seen:
            seen.add(lw)
            keep.append(i)
            words.append(lw)
    return Embeddings(words, emb.vectors[keep])


def _load_text(path: Path, *, max_vocab: int | None, lower: bool, on_error: str) -> Embeddings:
    skip = on_error == "skip"
    words: list[str] = []
    rows: list[np.ndarray] = []
    seen: set[str] = set()
    dim: int | None = None
    skipped = 0
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if max_vocab is not None and len(words) >= max_vocab:
                break
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                if skip:
                    skipped += 1
                    continue
                raise UdmError(f"{path}:{lineno}: not valid UTF-8 ({exc.reason} at byte {exc.start}); re-encode the file as UTF-8") from None
            parts = line.rstrip("\r\n").rstrip(" ").split(" ")
            if lineno == 1 and len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                dim = int(parts[1])
                continue
            if len(parts) < 2 or (len(parts) == 1 and not parts[0]):
                if not line.strip():
                    continue  # blank line
                if skip:
                    skipped += 1
                    continue
                raise UdmError(f"{path}:{lineno}: expected a word followed by numbers, got {line.strip()[:40]!r}")
            word = parts[0]
            if dim is None:
                dim = len(parts) - 1
            if len(parts) - 1 != dim:
                if skip:
                    skipped += 1
                    continue
                raise UdmError(f"{path}:{lineno}: word {word!r} has {len(parts) - 1} values, expected {dim}")
            try:
                vec = np.array(parts[1:], dtype=np.float32)
            except ValueError:
                if skip:
                    skipped += 1
                    continue
                raise UdmError(f"{path}:{lineno}: word {word!r} has a value that is not a number") from None
            if not np.isfinite(vec).all():
                if skip:
                    skipped += 1
                    continue
                raise UdmError(f"{path}:{lineno}: word {word!r} has NaN or inf values")
            if lower:
                word = word.lower()
                if word in seen:
                    continue  # MUSE convention: keep the first (most frequent) casing
            elif word in seen:
                if skip:
                    skipped += 1
                    continue
                raise UdmError(f"{path}:{lineno}: duplicate word {word!r}; pass on_error='skip' (--skip-bad-lines) to keep the first")
            seen.add(word)
            words.append(word)
            rows.append(vec)
    if skipped:
        log.warning("%s: skipped %d malformed line(s)", path, skipped)
    if not words:
        raise UdmError(f"{path}: no word vectors found (empty file?)")
    return Embeddings(words, np.stack(rows))

