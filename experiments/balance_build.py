"""Copy a corpus build with every source cut to the same size in each language (the domain-balance probe).

The same as ``udm corpora balance BUILD OUT [--seed N]`` (``udm.corpora.balance.balance_build``), kept under this
name because the balance results' notes cite it. The copy keeps only the sources every language of the build has,
each at the smallest language's token count (a seeded random subset of the larger sides' lines, in the built
order); its manifest records the new checksums and where it came from, so ``run_bli.py --data-dir OUT --no-build``
trains and caches it apart.

Usage:
    python experiments/balance_build.py data/enes/bli/none-all-f1 data/enes-bal/bli/none-all-f1 --seed 0
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from udm.corpora.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["balance"] + sys.argv[1:]))
