"""Benchmark: top-10 CSLS retrieval of N x N unit vectors (synthetic, 300-d) in row blocks; prints time and peak RSS.

Target (issue 2): 200,000 x 200,000 with peak RSS under 4 GB on 2 cores. Usage:
    python experiments/bench_retrieval.py [--n 200000] [--dim 300] [--block 1024]
Writes experiments/results/retrieval_bench.md and .json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bli_core import script_command  # noqa: E402
from udm.atomic import atomic_open  # noqa: E402
from udm.normalize import normalize  # noqa: E402
from udm.retrieval import HAVE_FAISS, knn_mean_similarity, retrieve  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=300)
    ap.add_argument("--block", type=int, default=1024)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--out", default="experiments/results/retrieval_bench")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    src = normalize(rng.standard_normal((args.n, args.dim), dtype=np.float32), "unit")
    tgt = normalize(rng.standard_normal((args.n, args.dim), dtype=np.float32), "unit")
    rss_data = peak_rss_mb()
    t0 = time.perf_counter()
    r_t = knn_mean_similarity(tgt, src, args.k, block=args.block, progress=True)
    t1 = time.perf_counter()
    idx, scores = retrieve(src, tgt, k=10, method="csls", csls_k=args.k, target_r=r_t, block=args.block, progress=True)
    t2 = time.perf_counter()
    assert idx.shape == (args.n, 10) and np.all(np.diff(scores, axis=1) <= 1e-6)
    res = {
        "n": args.n, "dim": args.dim, "block": args.block, "csls_k": args.k, "top": 10,
        "seconds_target_knn": round(t1 - t0, 1), "seconds_retrieval": round(t2 - t1, 1), "seconds_total": round(t2 - t0, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1), "rss_after_data_mb": round(rss_data, 1),
        "backend": "faiss" if HAVE_FAISS else "torch", "torch_threads": torch.get_num_threads(),
        "cores": os.cpu_count(), "machine": platform.platform(), "load_average_1m_at_end": round(os.getloadavg()[0], 1),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": script_command(__file__),
    }
    print(json.dumps(res, indent=2))
    with atomic_open(args.out + ".json") as fh:
        json.dump(res, fh, indent=2)
    with atomic_open(args.out + ".md") as fh:
        fh.write(f"# Blocked CSLS retrieval benchmark\n\nCommand: `{res['command']}` (commit {res['commit']}, {res['date']}, "
                 f"{res['cores']} cores, backend {res['backend']}, synthetic unit vectors).\n\n"
                 f"| N x N | dim | block | top-k | target k-NN pass (s) | retrieval pass (s) | total (s) | peak RSS (MB) |\n"
                 f"|---|---|---|---|---|---|---|---|\n"
                 f"| {args.n:,} x {args.n:,} | {args.dim} | {args.block} | 10 | {res['seconds_target_knn']} | "
                 f"{res['seconds_retrieval']} | {res['seconds_total']} | {res['peak_rss_mb']} |\n")


if __name__ == "__main__":
    main()
