"""Paired significance of a BLI difference: two mappings scored on the same test words (exact McNemar test).

Two P@1 figures on 1,500 test words differ by a point or two from noise alone; the words both mappings get
right or both get wrong say nothing about which is better, so the test looks only at the discordant words.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

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


def compare_reports(a: BLIReport, b: BLIReport, method: str = "csls", k: int = 1) -> PairedComparison:
    """Paired comparison of two evaluations of the same test lexicon on the same vocabularies."""
    if a.words != b.words:
        raise UdmError("the two reports were scored on different test words; evaluate both mappings on the same "
                       "vectors and test dictionary")
    try:
        hits_a, hits_b = a.method_scores(method).hits(k), b.method_scores(method).hits(k)
    except KeyError:
        raise UdmError(f"retrieval {method!r} was not evaluated in both reports") from None
    only_a, only_b = int((hits_a & ~hits_b).sum()), int((hits_b & ~hits_a).sum())
    return PairedComparison(method, k, len(hits_a), float(hits_a.mean()), float(hits_b.mean()), only_a, only_b,
                            mcnemar_exact(only_a, only_b))
