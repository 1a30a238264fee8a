"""udm: unsupervised distribution-matching translation between monolingual word-embedding spaces."""
from .aligners import Aligner, ProcrustesAligner, RCSLSAligner, get_aligner
from .embeddings import Embeddings
from .errors import UdmError
from .evaluate import BLIReport, evaluate_bli, evaluate_mapping
from .lexicon import Coverage, Lexicon, identical_strings
from .mapping import Mapping
from .normalize import normalize
from .procrustes import procrustes
from .refinement import induce_dictionary, refine
from .retrieval import knn_mean_similarity, retrieve
from .significance import PairedComparison, PooledComparison, compare_reports, compare_runs, compare_trainings
from .train import train_embeddings

__version__ = "0.1.0"

__all__ = [
    "Aligner", "ProcrustesAligner", "RCSLSAligner", "get_aligner", "train_embeddings", "Embeddings", "UdmError", "BLIReport", "evaluate_bli",
    "evaluate_mapping", "Coverage", "Lexicon", "identical_strings", "Mapping", "normalize", "procrustes",
    "induce_dictionary", "refine", "knn_mean_similarity", "retrieve", "compare_reports", "PairedComparison",
    "compare_runs", "compare_trainings", "PooledComparison",
]
