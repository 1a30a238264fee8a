"""Seed dictionaries for supervised and weakly supervised alignment: a file, its N most frequent pairs, or identical strings."""
from __future__ import annotations

from typing import Optional

from .embeddings import Embeddings
from .errors import UdmError
from .lexicon import Lexicon, identical_strings


def seed_dictionary(spec: str, src: Embeddings, tgt: Embeddings, lexicon: Optional[Lexicon] = None,
                    *, max_rank: Optional[int] = None) -> Lexicon:
    """Build a seed lexicon from ``spec``: ``"all"`` (every covered pair of ``lexicon``), ``"frequent:N"`` (the
    covered pairs of its N most frequent source words) or ``"identical"`` (identically spelled words)."""
    kind, _, arg = spec.partition(":")
    if kind == "identical":
        seeds = identical_strings(src, tgt, max_rank=max_rank)
    elif kind in ("all", "frequent"):
        if lexicon is None:
            raise UdmError(f"seed {spec!r} needs a dictionary file (--dict FILE)")
        if kind == "all":
            seeds = lexicon.restrict(src, tgt)
        else:
            try:
                n = int(arg)
            except ValueError:
                raise UdmError(f"seed {spec!r}: write frequent:N with N a whole number, e.g. frequent:500") from None
            seeds = lexicon.most_frequent(n, src, tgt)
    else:
        raise UdmError(f"unknown seed {spec!r}; use all, frequent:N or identical")
    if len(seeds) == 0:
        raise UdmError(f"seed {spec!r} gives no usable pair for these vocabularies")
    return seeds
