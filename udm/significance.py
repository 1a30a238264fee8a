"""Paired significance of a BLI difference: two mappings scored on the same test words (exact McNemar test).

Two P@1 figures on 1,500 test words differ by a point or two from noise alone; the words both mappings get
right or both get wrong say nothing about which is better, so the test looks only at the discordant words.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from .errors import UdmError
from .evaluate import BLIReport


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: a fair-coin binomial test on the ``only_a + only_b`` discordant words."""
    if only_a < 0 or only_b < 0:
        raise UdmError(f"discordant counts must be non-negative, got {only_a} and {only_b}")
    n = only_a + only_b
    if n == 0:
        return 1.0
    low = min(only_a, only_b)
    log_half_n = n * math.log(0.5)
    tail = sum(math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + log_half_n)
               for i in range(low + 1))
    return min(1.0, 2.0 * tail)


@dataclass
class PairedComparison:
    """P@k of mappings A and B on the same test words, their discordant words and the exact McNemar p-value."""

    method: str
    k: int
    n: int
    p_a: float
    p_b: float
    only_a: int  # words A gets right and B does not
    only_b: int
    p_value: float

    @property
    def difference(self) -> float:
        """P@k of A minus P@k of B."""
        return self.p_a - self.p_b

    @property
    def ci95(self) -> tuple[float, float]:
        """Normal-approximation 95% interval of the paired difference in P@k."""
        n, d = self.n, (self.only_a - self.only_b) / self.n
        se = math.sqrt(max(0.0, (self.only_a + self.only_b) / n - d * d) / n)
        return d - 1.96 * se, d + 1.96 * se

    def to_dict(self) -> dict:
        return {**asdict(self), "difference": self.difference, "ci95": list(self.ci95)}

    def __str__(self) -> str:
        lo, hi = self.ci95
        return (f"{self.method.upper()} P@{self.k}: A {100 * self.p_a:.2f} vs B {100 * self.p_b:.2f} on {self.n} words "
                f"(A-B {100 * self.difference:+.2f}, 95% CI {100 * lo:+.2f} to {100 * hi:+.2f}); right only with A "
                f"{self.only_a}, only with B {self.only_b}; exact McNemar p = {self.p_value:.3g}")


def _paired_hits(a: BLIReport, b: BLIReport, method: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-word hits at ``k`` of two reports, after checking they were scored on the same words with ``method``."""
    if a.words != b.words:
        raise UdmError("the two reports were scored on different test words; evaluate both mappings on the same "
                       "vectors and test dictionary")
    try:
        return a.method_scores(method).hits(k), b.method_scores(method).hits(k)
    except KeyError:
        raise UdmError(f"retrieval {method!r} was not evaluated in both reports") from None


def compare_reports(a: BLIReport, b: BLIReport, method: str = "csls", k: int = 1) -> PairedComparison:
    """Paired comparison of two evaluations of the same test lexicon on the same vocabularies."""
    return compare_hit_pair(*_paired_hits(a, b, method, k), method, k)


def compare_hit_pair(hits_a: np.ndarray, hits_b: np.ndarray, method: str = "csls", k: int = 1) -> PairedComparison:
    """:func:`compare_reports` on two per-word hit arrays already aligned on the same test words (stored results)."""
    hits_a, hits_b = np.asarray(hits_a, dtype=bool), np.asarray(hits_b, dtype=bool)
    if hits_a.shape != hits_b.shape or hits_a.ndim != 1 or not len(hits_a):
        raise UdmError(f"two runs' hits must cover the same test words, got {hits_a.shape} and {hits_b.shape}")
    only_a, only_b = int((hits_a & ~hits_b).sum()), int((hits_b & ~hits_a).sum())
    return PairedComparison(method, k, len(hits_a), float(hits_a.mean()), float(hits_b.mean()), only_a, only_b,
                            mcnemar_exact(only_a, only_b))


@dataclass
class PooledComparison:
    """Several runs of one method (A: their per-word hit rate averaged over the runs) against one baseline B.

    The difference is the runs' mean P@k minus B's; its interval and p-value (normal approximation, two-sided)
    come from the per-word paired differences, so they answer whether these runs on average differ from B by
    more than the sampling of test words explains (the runs themselves are taken as given, not sampled)."""

    method: str
    k: int
    n: int
    runs: int
    p_a: float  # mean P@k over the runs
    p_b: float
    se: float  # standard error of the mean per-word difference

    @property
    def difference(self) -> float:
        return self.p_a - self.p_b

    @property
    def ci95(self) -> tuple[float, float]:
        return self.difference - 1.96 * self.se, self.difference + 1.96 * self.se

    @property
    def p_value(self) -> float:
        if self.se == 0:
            return 1.0 if self.difference == 0 else 0.0
        return math.erfc(abs(self.difference) / self.se / math.sqrt(2.0))

    def to_dict(self) -> dict:
        return {**asdict(self), "difference": self.difference, "ci95": list(self.ci95), "p_value": self.p_value}

    def __str__(self) -> str:
        lo, hi = self.ci95
        return (f"{self.method.upper()} P@{self.k}: mean of {self.runs} runs {100 * self.p_a:.2f} vs B "
                f"{100 * self.p_b:.2f} on {self.n} words (A-B {100 * self.difference:+.2f}, 95% CI {100 * lo:+.2f} to "
                f"{100 * hi:+.2f}; p = {self.p_value:.3g})")


def compare_runs(runs: list[BLIReport], b: BLIReport, method: str = "csls", k: int = 1) -> PooledComparison:
    """The mean of several runs (for example one method over seeds) against a baseline, paired word by word."""
    if not runs:
        raise UdmError("compare_runs needs at least one run")
    return compare_trainings([(runs, b)], method, k)


def compare_trainings(groups: Sequence[tuple[Sequence[BLIReport], BLIReport]], method: str = "csls",
                      k: int = 1) -> PooledComparison:
    """Several vector trainings' runs, each training's against its own baseline (for example its supervised map),
    pooled on the same test words with each training weighted once (:func:`compare_groups`)."""
    if not groups:
        raise UdmError("compare_trainings needs at least one training")
    words = groups[0][1].words
    hit_groups = []
    for runs, b in groups:
        if b.words != words:
            raise UdmError("the trainings were scored on different test words; pool only trainings whose "
                           "vocabularies cover the same test words")
        if not runs:
            raise UdmError("compare_trainings needs at least one run per training")
        pairs = [_paired_hits(a, b, method, k) for a in runs]
        hit_groups.append(([hits_a for hits_a, _ in pairs], pairs[0][1]))
    return compare_groups(hit_groups, method, k)


def compare_hits(runs: Sequence[np.ndarray], b: np.ndarray, method: str = "csls", k: int = 1) -> PooledComparison:
    """:func:`compare_runs` on per-word hit arrays already aligned on the same test words (for stored results)."""
    return compare_groups([(runs, b)], method, k)


def compare_groups(groups: Sequence[tuple[Sequence[np.ndarray], np.ndarray]], method: str = "csls",
                   k: int = 1) -> PooledComparison:
    """Runs grouped by vector training, each group against its own baseline, on the same test words.

    Per word, each group's difference (its runs' hit rate minus its baseline's hit) is averaged over the groups
    with equal weight, so a training counts once however many seeds it ran; A and B are the groups' mean P@k.
    As in :class:`PooledComparison`, the interval and p-value sample the test words only: the trainings and runs
    are taken as given. One group is :func:`compare_hits`.
    """
    if not len(groups):
        raise UdmError("compare_groups needs at least one group of runs")
    diffs, rates_a, rates_b = [], [], []
    shape = np.shape(groups[0][1])
    for runs, b in groups:
        if not len(runs):
            raise UdmError("compare_hits needs at least one run in every group")
        hits_b = np.asarray(b, dtype=np.float64)
        if hits_b.shape != shape or any(np.shape(h) != shape for h in runs):
            raise UdmError("every run's hits must cover the same test words as the baseline's")
        rate_a = np.mean([np.asarray(h, dtype=np.float64) for h in runs], axis=0)
        diffs.append(rate_a - hits_b)
        rates_a.append(float(rate_a.mean()))
        rates_b.append(float(hits_b.mean()))
    d = np.mean(diffs, axis=0)
    n = len(d)
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    return PooledComparison(method, k, n, sum(len(r) for r, _ in groups), float(np.mean(rates_a)),
                            float(np.mean(rates_b)), se)
