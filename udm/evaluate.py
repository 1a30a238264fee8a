"""Bilingual lexicon induction (BLI) evaluation: P@1/5/10 and MRR with NN and CSLS, always with coverage."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from .embeddings import Embeddings
from .errors import UdmError
from .lexicon import Coverage, Lexicon, gold_index_lists
from .mapping import Mapping
from .retrieval import gold_ranks

DEFAULT_KS = (1, 5, 10)


@dataclass
class BLIScores:
    """Scores of one retrieval method over the covered test source words."""

    method: str
    precision: dict[int, float]
    mrr: float
    n: int
    ranks: Optional[np.ndarray] = field(default=None, repr=False)  # per covered test word, as BLIReport.words

    def hits(self, k: int = 1) -> np.ndarray:
        """Whether each covered test word has a gold translation in its top ``k`` (for paired comparisons)."""
        if self.ranks is None:
            raise UdmError("this report keeps no per-word ranks (it was loaded from JSON); evaluate the mapping again")
        return self.ranks <= k


@dataclass
class BLIReport:
    """The result of one BLI evaluation: per-method scores plus the coverage they were computed on."""

    coverage: Coverage
    scores: list[BLIScores]
    meta: dict = field(default_factory=dict)
    words: list[str] = field(default_factory=list, repr=False)  # the covered test source words, in rank order

    def get(self, method: str = "csls", k: int = 1) -> float:
        return self.method_scores(method).precision[k]

    def method_scores(self, method: str = "csls") -> BLIScores:
        """The scores of one retrieval method (KeyError when it was not evaluated)."""
        for s in self.scores:
            if s.method == method:
                return s
        raise KeyError(method)

    def to_dict(self) -> dict:
        return {
            "coverage": self.coverage.to_dict(),
            "scores": {s.method: {**{f"p@{k}": v for k, v in s.precision.items()}, "mrr": s.mrr, "n": s.n} for s in self.scores},
            "meta": self.meta,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def _rows(self) -> tuple[list[str], list[list[str]]]:
        ks = sorted(self.scores[0].precision) if self.scores else list(DEFAULT_KS)
        head = ["retrieval"] + [f"P@{k}" for k in ks] + ["MRR", "evaluated"]
        rows = [[s.method.upper()] + [f"{100 * s.precision[k]:.2f}" for k in ks] + [f"{100 * s.mrr:.2f}", str(s.n)] for s in self.scores]
        return head, rows

    def to_table(self) -> str:
        head, rows = self._rows()
        widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
        fmt = "  ".join("{:>%d}" % w for w in widths)
        lines = [fmt.format(*head)] + [fmt.format(*r) for r in rows]
        return "\n".join(lines + [str(self.coverage)])

    def to_markdown(self) -> str:
        head, rows = self._rows()
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines) + f"\n\n{self.coverage}\n"


def evaluate_bli(
    mapped_src: np.ndarray,
    tgt: np.ndarray,
    src_emb: Embeddings,
    tgt_emb: Embeddings,
    test: Lexicon,
    *,
    methods: Sequence[str] = ("nn", "csls"),
    ks: Sequence[int] = DEFAULT_KS,
    csls_k: int = 10,
    progress: bool = False,
) -> BLIReport:
    """Score translations of the covered test source words; correct when any gold is retrieved.

    ``mapped_src``/``tgt`` are the normalised, mapped vectors of ``src_emb``/``tgt_emb`` (same row order);
    the CSLS target term uses the whole mapped source vocabulary.
    """
    if mapped_src.shape[0] != len(src_emb) or tgt.shape[0] != len(tgt_emb):
        raise UdmError("mapped vectors and vocabularies must have the same number of rows")
    coverage = test.coverage(src_emb, tgt_emb)
    words, golds = gold_index_lists(test, src_emb, tgt_emb)
    if not words:
        raise UdmError(f"no test word is covered by the vocabularies ({coverage}); check the language pair and --max-vocab")
    queries = mapped_src[src_emb.indices(words)]
    scores = []
    for method in methods:
        ranks = gold_ranks(queries, tgt, golds, method=method, csls_k=csls_k, source_pool=mapped_src, progress=progress)
        scores.append(BLIScores(method, {k: float(np.mean(ranks <= k)) for k in ks}, float(np.mean(1.0 / ranks)),
                                len(words), ranks))
    return BLIReport(coverage, scores, words=list(words))


def evaluate_mapping(
    mapping: Mapping, src: Embeddings, tgt: Embeddings, test: Lexicon, **kwargs
) -> BLIReport:
    """BLI of a fitted :class:`Mapping` on two embedding sets (normalised as the mapping says)."""
    report = evaluate_bli(mapping.transform(src.vectors), mapping.prepare_target(tgt.vectors), src, tgt, test, **kwargs)
    report.meta.update({k: v for k, v in mapping.meta.items() if isinstance(v, (str, int, float, bool))})
    return report


def pack_hits(report: BLIReport, method: str = "csls", k: int = 1) -> dict:
    """A report's per-word hits at ``k`` in a few hundred characters (bits as hex, plus a hash of the test words),
    so that a stored result can be compared word by word with another without its mapping or vectors."""
    hits = report.method_scores(method).hits(k)
    return {"method": method, "k": int(k), "n": int(len(hits)), "words_sha256": words_digest(report.words),
            "bits": np.packbits(hits.astype(np.uint8)).tobytes().hex()}


def unpack_hits(packed: dict) -> np.ndarray:
    """The boolean per-word hits of :func:`pack_hits` (in the report's word order)."""
    try:
        n = int(packed["n"])
        bits = np.unpackbits(np.frombuffer(bytes.fromhex(packed["bits"]), dtype=np.uint8))
    except (KeyError, TypeError, ValueError) as exc:
        raise UdmError(f"not a packed hits record ({exc})") from None
    if len(bits) < n:
        raise UdmError(f"packed hits hold {len(bits)} bits, fewer than the {n} words they claim")
    return bits[:n].astype(bool)


def words_digest(words: Sequence[str]) -> str:
    """A short hash of an ordered test-word list (two packed hit records are comparable only when it matches)."""
    return hashlib.sha256("\n".join(words).encode("utf-8")).hexdigest()[:16]
