"""Build the small real embedding fixtures of tests/test_adversarial_selflearn.py (files tests/data/as_*.npz).

Vectors are trained separately on the English Bible fixture and on its ciphered copy (every word type replaced
by a code word, lines shuffled), with identical settings except the seed (see main), then cut to the most frequent words.
Uses ``udm.train.train_embeddings`` when it exists, gensim Word2Vec (single thread, fixed seed) otherwise.

    python tests/data/make_as_embeddings.py [--dim 50] [--top 2000]
"""
from __future__ import annotations

import argparse
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "corpora" / "fixtures"
OUT = Path(__file__).resolve().parent


def _hash(s: str) -> int:
    """A process-independent hash for gensim's per-word initial vectors (Python's str hash is salted)."""
    return zlib.crc32(s.encode("utf-8"))


def train(corpus: Path, *, dim: int, seed: int, epochs: int, min_count: int = 3):
    """Embeddings of ``corpus`` (one tokenised sentence per line); returns ``(words, vectors, trainer_name)``."""
    try:
        from udm.train import train_embeddings  # type: ignore
    except ImportError:
        train_embeddings = None
    if train_embeddings is not None:
        emb = train_embeddings(corpus, lang="xx", dim=dim, window=5, negative=5, min_count=min_count,
                               epochs=epochs, threads=1, seed=seed, progress=False)
        return emb.words, emb.vectors, "udm.train.train_embeddings"
    from gensim.models import Word2Vec

    sentences = [line.split() for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    model = Word2Vec(sentences, vector_size=dim, window=5, negative=5, min_count=min_count, epochs=epochs,
                     sg=1, workers=1, seed=seed, hashfxn=_hash, sorted_vocab=1)
    words = list(model.wv.index_to_key)
    return words, model.wv.vectors.astype(np.float32), f"gensim {__import__('gensim').__version__} Word2Vec skip-gram"


def save(path: Path, words, vectors) -> None:
    """Write a udm .npz embedding store (compressed; ``Embeddings.load`` reads it)."""
    np.savez_compressed(path, vectors=np.asarray(vectors, dtype=np.float32), words=np.array(words).astype(str))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=50)
    ap.add_argument("--top", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    # different seeds per side: gensim draws initial vectors by vocabulary rank from one seeded generator, so
    # with one seed the i-th most frequent word of both texts would start from the same vector, and the
    # identity map would already align the two spaces partly (a leak for methods that start from identity)
    for name, corpus, seed in (("as_cipher_en", "bible.en.txt", args.seed), ("as_cipher_code", "cipher.code.txt", args.seed + 1)):
        words, vectors, trainer = train(FIXTURES / corpus, dim=args.dim, seed=seed, epochs=args.epochs)
        save(OUT / f"{name}.npz", words[: args.top], vectors[: args.top])
        print(f"{name}.npz: {min(args.top, len(words))} of {len(words)} words, {args.dim} dims, from {corpus} by {trainer}")


if __name__ == "__main__":
    main()
