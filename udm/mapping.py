"""A fitted cross-lingual map: normalise the source space, multiply by W. Can transform, save, load and export.

A map from the multi-step final step (``udm.reweighting``) also transforms the target space (``W_tgt``) and
unit-normalises both sides after mapping (``mapped_norm``); an orthogonal map leaves the target as it is.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from .atomic import atomic_path
from .embeddings import Embeddings
from .errors import UdmError
from .lexicon import Lexicon
from .normalize import DEFAULT_SPEC, normalize, parse_spec
from .refinement import induce_dictionary

ArrayOrEmb = Union[np.ndarray, Embeddings]


@dataclass
class Mapping:
    """``f(x) = normalize(x, src_norm) @ W``; the target space is compared after ``normalize(y, tgt_norm)``
    (then ``@ W_tgt`` when the map has one); both sides get ``mapped_norm`` after mapping.

    Normalisation steps such as ``center`` use statistics of the whole matrix given to :meth:`transform`,
    so transform a whole vocabulary (or pass ``normalized=True`` with vectors prepared by :meth:`prepare_source`).
    """

    W: np.ndarray
    src_norm: str = DEFAULT_SPEC
    tgt_norm: str = DEFAULT_SPEC
    meta: dict[str, Any] = field(default_factory=dict)
    W_tgt: Optional[np.ndarray] = None
    mapped_norm: str = "none"

    def __post_init__(self) -> None:
        self.W = np.asarray(self.W, dtype=np.float32)
        if self.W.ndim != 2:
            raise UdmError(f"mapping matrix must be 2-D, got shape {self.W.shape}")
        if self.W_tgt is not None:
            self.W_tgt = np.asarray(self.W_tgt, dtype=np.float32)
            if self.W_tgt.ndim != 2 or self.W_tgt.shape[1] != self.W.shape[1]:
                raise UdmError(f"the target matrix must be 2-D with {self.W.shape[1]} columns like W, got shape {self.W_tgt.shape}")
        parse_spec(self.mapped_norm)

    @property
    def failed(self) -> bool:
        """True when the aligner's own dictionary-free check judged this run a failure."""
        return bool(self.meta.get("failed", False))

    def prepare_source(self, x: ArrayOrEmb) -> np.ndarray:
        return normalize(_matrix(x), self.src_norm)

    def prepare_target(self, y: ArrayOrEmb, *, normalized: bool = False) -> np.ndarray:
        """The target vectors as mapped source vectors are compared with them (``normalized=True``: ``y`` is
        already normalised with ``tgt_norm``)."""
        out = _matrix(y) if normalized else normalize(_matrix(y), self.tgt_norm)
        if self.W_tgt is None:
            return out
        if out.shape[1] != self.W_tgt.shape[0]:
            raise UdmError(f"target vectors have {out.shape[1]} dims but the mapping expects {self.W_tgt.shape[0]}")
        return self._post(out @ self.W_tgt)

    def transform(self, x: ArrayOrEmb, *, normalized: bool = False) -> ArrayOrEmb:
        """Map source vectors into the target space; returns the same type it was given."""
        mat = _matrix(x)
        if mat.shape[1] != self.W.shape[0]:
            raise UdmError(f"vectors have {mat.shape[1]} dims but the mapping expects {self.W.shape[0]}")
        mapped = self._post((mat if normalized else self.prepare_source(mat)) @ self.W)
        return x.with_vectors(mapped) if isinstance(x, Embeddings) else mapped

    def _post(self, mapped: np.ndarray) -> np.ndarray:
        """``mapped_norm`` applied to mapped vectors (a no-op for orthogonal maps, whose default is ``none``)."""
        return normalize(mapped, self.mapped_norm) if parse_spec(self.mapped_norm) else mapped

    # -- persistence ----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write an ``.npz`` holding W, the normalisation specs and JSON metadata (atomically)."""
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                extra = {} if self.W_tgt is None else {"W_tgt": self.W_tgt}
                np.savez(fh, W=self.W, src_norm=self.src_norm, tgt_norm=self.tgt_norm, mapped_norm=self.mapped_norm,
                         meta=json.dumps(self.meta, default=_json_default), **extra)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Mapping":
        path = Path(path)
        if not path.is_file():
            raise UdmError(f"{path}: no such mapping file (expected the mapping.npz written by 'udm align')")
        try:
            with np.load(path, allow_pickle=False) as d:
                return cls(W=d["W"], src_norm=str(d["src_norm"]), tgt_norm=str(d["tgt_norm"]), meta=json.loads(str(d["meta"])),
                           W_tgt=d["W_tgt"] if "W_tgt" in d.files else None,
                           mapped_norm=str(d["mapped_norm"]) if "mapped_norm" in d.files else "none")
        except (OSError, ValueError, KeyError) as exc:
            raise UdmError(f"{path}: not a udm mapping file ({exc})") from None

    def induced_lexicon(self, src: Embeddings, tgt: Embeddings, *, max_rank: Optional[int] = 15000, csls_k: int = 10,
                        mode: str = "mutual") -> Lexicon:
        """The dictionary this map induces, as the shared refinement induces one: CSLS mutual nearest neighbours
        (``mode``) among the ``max_rank`` most frequent words of each side. Pass the vocabularies the map was fitted
        on (centring uses the whole matrix). Save it with :meth:`Lexicon.save` (MUSE format), e.g. to seed a
        supervised fit on other vectors of the same two languages."""
        pairs = induce_dictionary(self.transform(src.vectors), self.prepare_target(tgt.vectors), max_rank=max_rank,
                                  csls_k=csls_k, mode=mode)
        return Lexicon((src.words[i], tgt.words[j]) for i, j in pairs)

    def export_vec(self, src: Embeddings, path: str | os.PathLike) -> None:
        """Write the mapped source vocabulary as a ``.vec``/``.npz`` file in the target space."""
        self.transform(src).save(path)


def _matrix(x: ArrayOrEmb) -> np.ndarray:
    mat = x.vectors if isinstance(x, Embeddings) else np.asarray(x, dtype=np.float32)
    if mat.ndim != 2:
        raise UdmError(f"expected a 2-D matrix of vectors, got shape {mat.shape}")
    return mat


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
