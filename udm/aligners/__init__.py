"""Aligners: each fits a map between two embedding spaces and returns a :class:`udm.Mapping`."""
from .base import Aligner, check_embeddings
from .supervised import ProcrustesAligner, RCSLSAligner

__all__ = ["Aligner", "check_embeddings", "ProcrustesAligner", "RCSLSAligner"]
