"""Aligners: each fits a map between two embedding spaces and returns a :class:`udm.Mapping`.

``get_aligner(name, **params)`` builds one by the name used on the command line.
"""
from __future__ import annotations

import importlib

from ..errors import UdmError
from .base import Aligner, check_embeddings
from .supervised import ProcrustesAligner, RCSLSAligner

# name -> "module:Class"; unsupervised aligners are imported only when asked for
REGISTRY: dict[str, str] = {
    "procrustes": "udm.aligners.supervised:ProcrustesAligner",
    "rcsls": "udm.aligners.supervised:RCSLSAligner",
    "gw": "udm.aligners.gw:GromovWassersteinAligner",
    "wp": "udm.aligners.wasserstein_procrustes:WassersteinProcrustesAligner",
    "adversarial": "udm.aligners.adversarial:AdversarialAligner",
    "selflearn": "udm.aligners.selflearn:SelfLearningAligner",
    "auto": "udm.aligners.auto:AutoAligner",
}


def aligner_class(name: str) -> type[Aligner]:
    """The aligner class registered under ``name``."""
    if name not in REGISTRY:
        raise UdmError(f"unknown alignment method {name!r}; choose one of {', '.join(REGISTRY)}")
    module, cls = REGISTRY[name].split(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as exc:
        raise UdmError(f"alignment method {name!r} is not available in this install ({exc})") from None


def get_aligner(name: str, **params) -> Aligner:
    """Build the aligner registered under ``name`` with keyword parameters."""
    return aligner_class(name)(**params)


__all__ = ["Aligner", "check_embeddings", "ProcrustesAligner", "RCSLSAligner", "REGISTRY", "aligner_class", "get_aligner"]
